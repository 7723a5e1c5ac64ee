"""Who a community's public-welfare pool (公益池) may pay for: whole categories of the grid
register (80+, living alone, …) or residents named one by one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models._time import utcnow
from portal.models.member import Member


class PoolBeneficiary(db.Model):
    """One line of a community's pool list: a register category, or one member."""

    __tablename__ = "pool_beneficiaries"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    # A key of grid.CARE_CATEGORIES, or None when a member is named.
    category: Mapped[str | None] = mapped_column(String(16))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    named_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    member: Mapped[Member | None] = relationship(foreign_keys=[member_id])

    __table_args__ = (
        CheckConstraint("(category IS NULL) <> (member_id IS NULL)", name="one_kind"),
        UniqueConstraint("community_id", "category"),
        UniqueConstraint("community_id", "member_id"),
    )
