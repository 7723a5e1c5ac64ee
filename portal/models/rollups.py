from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.hours import HourLog

# grid_id of members without a grid: the key is a primary key (so an upsert can name it),
# and a primary key column cannot be NULL.
NO_GRID = 0


class MonthlyHours(db.Model):
    """Approved service (hour logs with status "approved") summed by community, month (its
    first day), team, service, whether the volunteer is a party member, and the volunteer's
    grid. Kept exact in the transaction that approves, corrects or moves a log, or changes a
    member's party mark or grid (portal/services/rollups.py); `flask reports check-rollups`
    compares it with the raw rows and `flask reports rebuild-rollups` recomputes it."""

    __tablename__ = "monthly_hours"

    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id"), primary_key=True, autoincrement=False
    )
    month: Mapped[date] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id"), primary_key=True, autoincrement=False
    )
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id"), primary_key=True, autoincrement=False
    )
    party: Mapped[bool] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    minutes: Mapped[int] = mapped_column(default=0)
    logs: Mapped[int] = mapped_column(default=0)

    __table_args__ = (CheckConstraint("minutes >= 0 AND logs >= 0", name="not_negative"),)


class MonthlyBalance(db.Model):
    """The net minutes posted to member accounts, by the account's community, the owner's
    birth year and the month of the entry (its UTC time): what the liability view reads for
    the banked hours outstanding by age (the sum over every month is the balances) and the
    60+ growth over the last 12 months. Kept exact like MonthlyHours, from every posting
    the ledger writes (portal/services/rollups.py)."""

    __tablename__ = "monthly_balances"

    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id"), primary_key=True, autoincrement=False
    )
    birth_year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    month: Mapped[date] = mapped_column(primary_key=True)
    minutes: Mapped[int] = mapped_column(default=0)  # net: may be below zero in a month
    postings: Mapped[int] = mapped_column(default=0)


# "Active members" counts the distinct volunteers of a range's approved logs: with the
# member id in the index the count reads the index alone (PostgreSQL's index-only scan,
# SQLite's covering index) instead of fetching every log of the range.
ACTIVE_MEMBERS_INDEX = Index(
    "ix_hour_logs_community_status_date_member",
    HourLog.community_id,
    HourLog.status,
    HourLog.service_date,
    HourLog.member_id,
)


class MemberLastServed(db.Model):
    """Each volunteer's latest day of approved service in a team (the service date of their
    latest hour log with status "approved" there; the team's community alongside); no row
    when they have none. What "active members" reads for a range that reaches today: the
    members whose latest day is inside the range, plus the few whose latest day is after
    its end but who also served inside it — a row per member and team instead of every log
    of the range, for a community (by community_id) or a coordinator's teams (by team_id).
    Kept exact like MonthlyHours (portal/services/rollups.py: an approval moves the day on,
    a reversal or correction recomputes the member's rows from their logs)."""

    __tablename__ = "member_last_served"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id"), primary_key=True, autoincrement=False
    )
    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id"), primary_key=True, autoincrement=False
    )
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    service_date: Mapped[date]

    __table_args__ = (
        # The range counts read these indexes alone: community or team, the day, the member.
        Index(
            "ix_member_last_served_community_date_member",
            "community_id",
            "service_date",
            "member_id",
        ),
        Index("ix_member_last_served_team_date_member", "team_id", "service_date", "member_id"),
    )
