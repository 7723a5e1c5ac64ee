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
    # The street office (街道) above the community: escalated requests reach it.
    street_office_id: Mapped[int | None] = mapped_column(ForeignKey("street_offices.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (CheckConstraint("log_window_days BETWEEN 1 AND 366", name="log_window"),)

    def display_name(self, locale: str) -> str:
        return self.name_en if locale == "en" and self.name_en else self.name


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
