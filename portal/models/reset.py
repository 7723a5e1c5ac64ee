"""One-time password reset codes (no SMS here: a trusted person issues one in person)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.member import Member


class PasswordResetCode(db.Model):
    """A code a relative, coordinator or admin read out to a member who forgot their
    password. Only its hash is stored; it works once, for 15 minutes, for a few tries.
    Times are the city's wall clock (portal.clock), so tests can move them."""

    __tablename__ = "password_reset_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    code_hash: Mapped[str] = mapped_column(String(255))
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # Wrong codes typed against this one: past the limit it is spent.
    tries: Mapped[int] = mapped_column(default=0)
    # Set when used, or when a newer code replaced it, or after too many wrong tries.
    spent_at: Mapped[datetime | None]

    member: Mapped[Member] = relationship(foreign_keys=[member_id])
    issued_by: Mapped[Member] = relationship(foreign_keys=[issued_by_id])

    __table_args__ = (
        CheckConstraint("member_id <> issued_by_id", name="not_for_oneself"),
        CheckConstraint("tries >= 0", name="tries"),
    )
