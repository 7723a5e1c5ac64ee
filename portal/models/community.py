from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models._time import utcnow

# Team and service categories (DESIGN.md). Keys are stored; labels are translated.
CATEGORIES = (
    "poverty_relief",
    "psychological",
    "emergency",
    "sanitation",
    "patrol",
    "elder_care",
)


DEFAULT_STORAGE_CAP = 1500 * 60
# 1★ 100 h, 2★ 300 h, 3★ 600 h, 4★ 1,000 h, 5★ 1,500 h.
DEFAULT_STAR_MINUTES = "6000,18000,36000,60000,90000"


class Community(db.Model):
    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    name_en: Mapped[str | None] = mapped_column(String(100))
    # How far back a volunteer may log service, in days.
    log_window_days: Mapped[int] = mapped_column(default=30)
    # Minimum age to pay for a request with banked hours (None: no minimum).
    redemption_min_age: Mapped[int | None]
    gift_yearly_cap_minutes: Mapped[int | None]
    # Storage cap (Nanjing's 1,500 h): no member account of the community holds more. A
    # credit beyond it is refused, or the excess goes to the public-welfare pool (公益池)
    # when the member chose so. None: no cap.
    storage_cap_minutes: Mapped[int | None] = mapped_column(
        default=DEFAULT_STORAGE_CAP, server_default=str(DEFAULT_STORAGE_CAP)
    )
    # Star levels: minutes of approved service needed for 1★ … 5★, ascending, comma-separated.
    star_minutes: Mapped[str] = mapped_column(
        String(80), default=DEFAULT_STAR_MINUTES, server_default=DEFAULT_STAR_MINUTES
    )
    # The street office (街道) above the community: escalated requests reach it.
    street_office_id: Mapped[int | None] = mapped_column(ForeignKey("street_offices.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint("log_window_days BETWEEN 1 AND 366", name="log_window"),
        CheckConstraint(
            "storage_cap_minutes IS NULL OR storage_cap_minutes > 0", name="storage_cap"
        ),
    )

    def display_name(self, locale: str) -> str:
        return self.name_en if locale == "en" and self.name_en else self.name

    @property
    def star_thresholds(self) -> list[int]:
        try:
            return sorted(int(n) for n in self.star_minutes.split(",") if n.strip())
        except ValueError:
            return [int(n) for n in DEFAULT_STAR_MINUTES.split(",")]


class Service(db.Model):
    """An entry of a community's service catalogue (服务项目)."""

    __tablename__ = "services"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str | None] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    typical_minutes: Mapped[int] = mapped_column(default=60)
    redeemable: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (CheckConstraint("typical_minutes BETWEEN 1 AND 720", name="typical_minutes"),)

    def display_name(self, locale: str) -> str:
        return self.name_en if locale == "en" and self.name_en else self.name
