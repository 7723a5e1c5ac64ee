from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models._time import utcnow
from portal.models.community import Community, Service
from portal.models.grid import Grid
from portal.models.member import Member

# A paid request posted on someone's behalf waits for that person's consent before it
# reserves their hours or reaches volunteers.
REQUEST_STATUSES = (
    "awaiting_consent",
    "open",
    "dispatched",
    "accepted",
    "done",
    "confirmed",
    "cancelled",
)
ACTIVE_STATUSES = ("awaiting_consent", "open", "dispatched", "accepted", "done")


class ServiceRequest(db.Model):
    """A resident's need (点单): open → dispatched/taken → accepted → done → confirmed."""

    __tablename__ = "service_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    posted_by_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    wanted_at: Mapped[datetime]  # when the service is wanted, city-local wall-clock time
    place: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    estimate_minutes: Mapped[int]
    pay_with_hours: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="open")
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    minutes_spent: Mapped[int | None]
    # The day the work was done (set when marked done): it counts towards the volunteer's
    # 24 hours of that day from then on, and the hour log carries it.
    service_date: Mapped[date | None]
    rating: Mapped[int | None]
    comment: Mapped[str] = mapped_column(Text, default="")
    # Redemption: the hold (member → escrow) and the one entry that resolves it
    # (settled to the volunteer, or released back). Resolved exactly once.
    held_minutes: Mapped[int] = mapped_column(default=0)
    hold_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    resolution_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("journal_entries.id"), unique=True
    )
    # 通存通兑: the community whose escrow holds the requester's hours when they are a member
    # of another community than the one the service is in (None: the request's own).
    funding_community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"))
    # The public-welfare pool (公益池) pays: "asked" by the resident or on their behalf,
    # "approved" by a coordinator, who is then its witness (the pool's hold is made).
    pool_status: Mapped[str | None] = mapped_column(String(8))
    pool_approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    hour_log_id: Mapped[int | None] = mapped_column(ForeignKey("hour_logs.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # 派单 by grid: the (micro-)grid the need is in. Its grid worker sees it first; until
    # `party_until` only the grid's party members see it on the board (党员接单); it stays
    # within the grid until its worker opens it to the community (or it escalates).
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"))
    party_until: Mapped[datetime | None]
    open_to_community: Mapped[bool] = mapped_column(default=True, server_default="1")
    # A team the grid worker routed it to: its members see it too.
    routed_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    # 0 its grid worker, 1 the community's coordinators, 2 the street office.
    escalation_level: Mapped[int] = mapped_column(default=0, server_default="0")
    escalated_at: Mapped[datetime | None]
    # Checked without an account (点单 from a poster): the follow-up number.
    follow_up_no: Mapped[str | None] = mapped_column(String(12), unique=True)
    # 群众评单: a low rating or a complaint opens a follow-up the grid worker closes with
    # an outcome; the request is closed only then.
    complaint: Mapped[str] = mapped_column(Text, default="", server_default="")
    followup_status: Mapped[str | None] = mapped_column(String(8))
    followup_outcome: Mapped[str] = mapped_column(Text, default="", server_default="")
    followup_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    followup_at: Mapped[datetime | None]

    requester: Mapped[Member] = relationship(foreign_keys=[requester_id])
    posted_by: Mapped[Member] = relationship(foreign_keys=[posted_by_id])
    assignee: Mapped[Member | None] = relationship(foreign_keys=[assignee_id])
    grid: Mapped[Grid | None] = relationship()
    service: Mapped[Service] = relationship()
    funding_community: Mapped[Community | None] = relationship(foreign_keys=[funding_community_id])

    __table_args__ = (
        CheckConstraint(
            "status IN ('awaiting_consent', 'open', 'dispatched', 'accepted', 'done', "
            "'confirmed', 'cancelled')",
            name="status",
        ),
        CheckConstraint("estimate_minutes BETWEEN 1 AND 720", name="estimate"),
        CheckConstraint("minutes_spent IS NULL OR minutes_spent BETWEEN 1 AND 720", name="spent"),
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating"),
        CheckConstraint("held_minutes >= 0", name="held"),
        CheckConstraint("escalation_level BETWEEN 0 AND 2", name="escalation_level"),
        CheckConstraint(
            "followup_status IS NULL OR followup_status IN ('open', 'closed')",
            name="followup_status",
        ),
        Index("ix_service_requests_grid", "grid_id", "status", "id"),
        Index("ix_service_requests_escalation", "status", "escalation_level", "created_at"),
        CheckConstraint(
            "pay_with_hours OR pool_status = 'approved' OR held_minutes = 0",
            name="held_only_when_paid",
        ),
        CheckConstraint(
            "pool_status IS NULL OR (pool_status IN ('asked', 'approved') AND NOT pay_with_hours)",
            name="pool_status",
        ),
        Index("ix_service_requests_board", "community_id", "status", "id"),
        Index("ix_service_requests_requester", "requester_id", "id"),
        Index("ix_service_requests_assignee", "assignee_id", "id"),
        # The volunteer's day total counts their done, not yet confirmed requests.
        Index("ix_service_requests_assignee_day", "assignee_id", "service_date"),
    )


class RequestEvent(db.Model):
    """One step of a request's timeline."""

    __tablename__ = "request_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("service_requests.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    actor: Mapped[Member | None] = relationship()


class FamilyLink(db.Model):
    """A family tie (a daughter and her mother): proposed by one, accepted by the other."""

    __tablename__ = "family_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposer_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    relative_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]

    proposer: Mapped[Member] = relationship(foreign_keys=[proposer_id])
    relative: Mapped[Member] = relationship(foreign_keys=[relative_id])

    __table_args__ = (
        UniqueConstraint("proposer_id", "relative_id"),
        CheckConstraint("proposer_id <> relative_id", name="not_self"),
        CheckConstraint("status IN ('pending', 'accepted', 'declined')", name="status"),
    )
