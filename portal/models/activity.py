from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models._time import utcnow
from portal.models.community import Service
from portal.models.member import Member
from portal.models.team import Team


class Activity(db.Model):
    """A team's dated event (活动). Times are the city's local wall-clock time."""

    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    title: Mapped[str] = mapped_column(String(100))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    place: Mapped[str] = mapped_column(String(200))
    capacity: Mapped[int]
    cancelled: Mapped[bool] = mapped_column(default=False)
    attendance_marked_at: Mapped[datetime | None]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    team: Mapped[Team] = relationship()
    service: Mapped[Service] = relationship()

    __table_args__ = (
        CheckConstraint("capacity BETWEEN 1 AND 1000", name="capacity"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index(None, "team_id", "starts_at"),
    )


class ActivitySignup(db.Model):
    __tablename__ = "activity_signups"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    # signed_up → cancelled (by the member); attended is set when attendance is marked.
    status: Mapped[str] = mapped_column(String(16), default="signed_up")
    attended: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    member: Mapped[Member] = relationship()

    __table_args__ = (
        UniqueConstraint("activity_id", "member_id"),
        CheckConstraint("status IN ('signed_up', 'cancelled')", name="status"),
    )


class Notification(db.Model):
    """A message inside the portal (no e-mail or SMS)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[str] = mapped_column(Text, default="{}")  # JSON for the message
    link: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_notifications_inbox", "member_id", "read_at", "id"),)
