from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models._time import utcnow
from portal.models.community import Service
from portal.models.member import Member
from portal.models.team import Team

# approved → reversed when a coordinator or admin corrects the record: the ledger keeps both
# the credit and the reversing entry (append-only); the log names the reversing entry.
LOG_STATUSES = ("pending", "approved", "rejected", "cancelled", "reversed")
# "correction": a replacement entered with a correction, approved by the corrector.
LOG_SOURCES = ("self", "kiosk", "request", "activity", "correction", "callup")
# Why a log that would otherwise have been credited at once waits for a coordinator.
REVIEW_REASONS = ("unverified_resident", "over_estimate", "forgotten_checkout", "late_sync")
MAX_LOG_MINUTES = 720
MAX_DAY_MINUTES = 24 * 60


class HourLog(db.Model):
    """A volunteer's claim of service (服务记录)."""

    __tablename__ = "hour_logs"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    service_date: Mapped[date]
    minutes: Mapped[int]
    note: Mapped[str] = mapped_column(Text, default="")
    beneficiary_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    source: Mapped[str] = mapped_column(String(16), default="self")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reject_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    # Set for logs created by marking an activity's attendance: one per member and activity.
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activities.id"))
    # The person served, when registered, may confirm the service (or a linked relative).
    beneficiary_confirmed_at: Mapped[datetime | None]
    beneficiary_confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    # Set when a request's confirmation could not credit the hours itself (see REVIEW_REASONS):
    # the approval queue shows it so the coordinator knows what to check.
    review_reason: Mapped[str | None] = mapped_column(String(32))
    # A correction: the entry that reversed this log's credit (its memo is the reason, its
    # actor the corrector, its time when), and on a replacement log the log it corrects.
    reversal_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("journal_entries.id"), unique=True
    )
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("hour_logs.id"), unique=True)

    member: Mapped[Member] = relationship(foreign_keys=[member_id])
    decided_by: Mapped[Member | None] = relationship(foreign_keys=[decided_by_id])
    beneficiary: Mapped[Member | None] = relationship(foreign_keys=[beneficiary_id])
    team: Mapped[Team] = relationship()
    service: Mapped[Service] = relationship()

    __table_args__ = (
        CheckConstraint("minutes BETWEEN 1 AND 720", name="minutes"),
        CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'cancelled', 'reversed')",
            name="status",
        ),
        CheckConstraint(
            "source IN ('self', 'kiosk', 'request', 'activity', 'correction', 'callup')",
            name="source",
        ),
        CheckConstraint(
            "status NOT IN ('approved', 'reversed') OR entry_id IS NOT NULL",
            name="approved_posted",
        ),
        # Reversed exactly when a reversing entry is named.
        CheckConstraint(
            "(status = 'reversed') = (reversal_entry_id IS NOT NULL)", name="reversed_posted"
        ),
        CheckConstraint("(source = 'correction') = (corrects_id IS NOT NULL)", name="correction"),
        CheckConstraint(
            "review_reason IS NULL OR review_reason IN "
            "('unverified_resident', 'over_estimate', 'forgotten_checkout', 'late_sync', "
            "'printed_code')",
            name="review_reason",
        ),
        UniqueConstraint("activity_id", "member_id"),
        # The approval queue: a team's pending logs, oldest first.
        Index(None, "team_id", "status", "id"),
        # A member's own list, newest first, and the per-day total.
        Index(None, "member_id", "id"),
        # The per-day total; and a roster row's last service in the team, newest first with
        # the team and status in the index (no row fetched per log of other teams: 86 ms
        # cold for a page of 51 members of a team of 4,132 at 10M entries).
        Index("ix_hour_logs_member_day", "member_id", "service_date", "team_id", "status"),
        # The dashboard's "waiting for approval" sum: a member's few pending logs, without
        # walking all their approved ones (benchmarks/pages.py, GET /me); with `minutes` in it,
        # the stars' sum of approved minutes reads the index alone (11.5 → 1.2 ms for the
        # demo volunteer's 10,000 logs on SQLite).
        Index(None, "member_id", "status", "minutes"),
        # "Service to you, not yet confirmed" on the dashboard: a beneficiary's logs, newest
        # first (without it GET /me scans every log: 130–220 ms at 1M logs).
        Index(None, "beneficiary_id", "id"),
        # A team's minutes this month (the teams list, the roster): a range of this month's
        # approved logs, not every approved log of the team's history (35 ms for a demo team
        # of 6,500 approved logs at 100k, growing with the books).
        Index(None, "team_id", "status", "service_date"),
        # /reports, the liability view and the public page: a community's approved service
        # in a date range (a full scan of hour_logs took 300–400 ms a figure at 1M logs).
        Index(None, "community_id", "status", "service_date"),
    )
