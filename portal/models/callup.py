"""Emergency call-ups (紧急召集): "need 6 people at the east gate by 19:00".

Times are the city's local wall-clock time (like activities), taken from portal.clock so
tests can move it. The timeline of a call-up is its audit log (subject "callups").
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models._time import utcnow
from portal.models.community import Service
from portal.models.grid import Grid
from portal.models.member import Member
from portal.models.team import Team

# open → stood_down ("enough, stand down the rest": no more calls) → closed (attendance
# credited); open → closed directly too.
CALLUP_STATUSES = ("open", "stood_down", "closed")
# Who a group calls: a team's members, all volunteers of the community, or its confirmed
# party members (党员) — all of them, or those of one grid with its micro-grids (grid_id).
GROUP_KINDS = ("team", "community", "party")
ANSWERS = ("none", "coming", "late", "cannot")
LATE_MINUTES = (10, 20, 30)


class CallUp(db.Model):
    __tablename__ = "callups"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    # The coordinating team: its coordinators run the board, and the hours are logged to it.
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    what: Mapped[str] = mapped_column(String(200))
    place: Mapped[str] = mapped_column(String(200))
    needed_by: Mapped[datetime]
    needed: Mapped[int]
    # The escalation rule: when a group has been called this many minutes and fewer than
    # `needed` have said yes (coming or late), the next group is called.
    escalate_after: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    stood_down_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))

    team: Mapped[Team] = relationship()
    service: Mapped[Service] = relationship()
    created_by: Mapped[Member] = relationship(foreign_keys=[created_by_id])

    __table_args__ = (
        CheckConstraint("status IN ('open', 'stood_down', 'closed')", name="status"),
        CheckConstraint("needed BETWEEN 1 AND 500", name="needed"),
        CheckConstraint("escalate_after BETWEEN 1 AND 1440", name="escalate_after"),
        CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name="closed"),
        Index(None, "community_id", "status"),
    )


class CallUpGroup(db.Model):
    """One group of a call-up, called in `position` order. `called_at` is set exactly once,
    by a conditional UPDATE: that is what makes an escalation fire once, whichever process
    or page view gets there first."""

    __tablename__ = "callup_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    callup_id: Mapped[int] = mapped_column(ForeignKey("callups.id"))
    position: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    # Kind "party" only: the grid whose party members are called (None: the whole community).
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"))
    called_at: Mapped[datetime | None]
    # "escalation" (the rule fired), "hand" (call more), "start".
    called_how: Mapped[str | None] = mapped_column(String(16))

    team: Mapped[Team | None] = relationship()
    grid: Mapped[Grid | None] = relationship()

    __table_args__ = (
        UniqueConstraint("callup_id", "position"),
        CheckConstraint("kind IN ('team', 'community', 'party')", name="kind"),
        CheckConstraint("(kind = 'team') = (team_id IS NOT NULL)", name="team"),
        CheckConstraint("grid_id IS NULL OR kind = 'party'", name="grid"),
        CheckConstraint(
            "called_how IS NULL OR called_how IN ('start', 'escalation', 'hand')",
            name="called_how",
        ),
    )


class CallUpPerson(db.Model):
    """A person called: when, their answer, and at close whether they came and for how long."""

    __tablename__ = "callup_people"

    id: Mapped[int] = mapped_column(primary_key=True)
    callup_id: Mapped[int] = mapped_column(ForeignKey("callups.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    group_id: Mapped[int] = mapped_column(ForeignKey("callup_groups.id"))
    called_at: Mapped[datetime]
    answer: Mapped[str] = mapped_column(String(8), default="none")
    late_minutes: Mapped[int | None]
    answered_at: Mapped[datetime | None]
    # Told "not needed" by "enough, stand down the rest".
    stood_down_at: Mapped[datetime | None]
    # Ticked on site by the coordinator.
    arrived_at: Mapped[datetime | None]
    minutes: Mapped[int | None]
    hour_log_id: Mapped[int | None] = mapped_column(ForeignKey("hour_logs.id"), unique=True)

    member: Mapped[Member] = relationship()

    __table_args__ = (
        UniqueConstraint("callup_id", "member_id"),
        CheckConstraint("answer IN ('none', 'coming', 'late', 'cannot')", name="answer"),
        CheckConstraint("(answer = 'late') = (late_minutes IS NOT NULL)", name="late_minutes"),
        CheckConstraint("late_minutes IS NULL OR late_minutes IN (10, 20, 30)", name="late"),
        # The banner on every page: a member's call-ups.
        Index(None, "member_id", "callup_id"),
    )
