from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models._time import utcnow
from portal.models.member import Member


class Team(db.Model):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    kiosk_auto_approve: Mapped[bool] = mapped_column(default=False)
    # ordinary, or a party members' 党员先锋岗 (vanguard post) or 党员突击队 (shock team).
    kind: Mapped[str] = mapped_column(String(16), default="ordinary", server_default="ordinary")
    archived: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("community_id", "name"),
        CheckConstraint("kind IN ('ordinary', 'vanguard', 'shock')", name="kind"),
    )


class TeamMembership(db.Model):
    __tablename__ = "team_memberships"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    role: Mapped[str] = mapped_column(String(16), default="member")
    # pending (asked to join) → active | declined; active → removed.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    team: Mapped[Team] = relationship()
    member: Mapped[Member] = relationship()

    __table_args__ = (
        UniqueConstraint("team_id", "member_id"),
        # "Is this member an active volunteer of a team of that community?" — asked per
        # candidate by the dispatch list — answered from the index alone. (On member_id
        # alone, PostgreSQL hashed every membership of the community instead: 5 ms at
        # 5,000 volunteers, against 1 ms.)
        Index("ix_team_memberships_member", "member_id", "status", "team_id"),
        CheckConstraint("role IN ('member', 'coordinator')", name="role"),
        CheckConstraint("status IN ('pending', 'active', 'declined', 'removed')", name="status"),
    )
