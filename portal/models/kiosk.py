"""The community-centre kiosk: enrolled devices and check-ins (DESIGN.md, "Kiosk")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models._time import utcnow
from portal.models.activity import Activity
from portal.models.member import Member

CHECKIN_SOURCES = ("kiosk", "place_code", "printed_code")
# Why a coordinator should look at a check-in: nobody checked out (closed by
# `flask kiosk close-open`), an offline kiosk delivered it more than 12 hours late, or it was
# made with a printed place code, which no device witnessed (a photo of it works anywhere).
CHECKIN_FLAGS = ("forgotten_checkout", "late_sync", "printed_code")


class KioskDevice(db.Model):
    """A shared touch screen at a place. Only hashes of its tokens are stored."""

    __tablename__ = "kiosk_devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    place: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    enrol_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    enrol_expires_at: Mapped[datetime | None]
    enrolled_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class PrintedPlaceCode(db.Model):
    """A printed QR code for a fixed post without a screen (a patrol post, a canteen door):
    a logged-in member scanning it checks in or out there. Reprinting raises `version`,
    which the code carries, so the old sheet stops working."""

    __tablename__ = "printed_place_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    place: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(default=1)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reissued_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("community_id", "place"),
        CheckConstraint("version >= 1", name="version_positive"),
    )


class CheckIn(db.Model):
    """One visit: checked in at a place (to an activity, or walk-in work for a team's
    service), later checked out, which creates the hour log. Times are the city's wall
    clock, like activities."""

    __tablename__ = "check_ins"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("kiosk_devices.id"))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    place: Mapped[str] = mapped_column(String(200))
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activities.id"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    checked_in_at: Mapped[datetime]
    checked_out_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    hour_log_id: Mapped[int | None] = mapped_column(ForeignKey("hour_logs.id"), unique=True)
    source: Mapped[str] = mapped_column(String(16), default="kiosk")
    # The client's idempotency keys: a replayed check-in or check-out acts once.
    client_key: Mapped[str] = mapped_column(String(64), unique=True)
    checkout_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    flag: Mapped[str | None] = mapped_column(String(32))
    # When the member answered "上次您几点离开？" for a forgotten check-out.
    corrected_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    member: Mapped[Member] = relationship()
    activity: Mapped[Activity | None] = relationship()

    __table_args__ = (
        CheckConstraint("source IN ('kiosk', 'place_code', 'printed_code')", name="source"),
        CheckConstraint(
            "flag IS NULL OR flag IN ('forgotten_checkout', 'late_sync', 'printed_code')",
            name="flag",
        ),
        CheckConstraint(
            "checked_out_at IS NULL OR checked_out_at >= checked_in_at", name="out_after_in"
        ),
        # "Who is here now" at a place, and a member's open check-in.
        Index("ix_check_ins_here", "community_id", "place", "checked_out_at"),
        Index("ix_check_ins_member_open", "member_id", "checked_out_at"),
    )
