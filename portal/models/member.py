from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models._time import utcnow
from portal.models.community import Community

# street_admin: an admin of a street office (街道) above communities; city_admin: the
# settings shared across the city's communities.
ROLES = ("member", "admin", "street_admin", "city_admin")


class Member(UserMixin, db.Model):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str] = mapped_column(String(11), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Printed on the member card and typed at the kiosk.
    member_no: Mapped[str] = mapped_column(String(12), unique=True)
    pin_hash: Mapped[str | None] = mapped_column(String(255))
    # Reissuing the member card bumps it: the old card's signed token stops working.
    card_version: Mapped[int] = mapped_column(default=1, server_default="1")
    # Five wrong kiosk PINs lock the PIN (not the card) for 15 minutes.
    pin_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    pin_locked_until: Mapped[datetime | None]
    birth_year: Mapped[int]
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    locale: Mapped[str] = mapped_column(String(8), default="zh_CN")
    elder_mode: Mapped[bool] = mapped_column(default=False)
    # The party mark (党员): a plain column so reports and call-ups can query "party members
    # of a community or grid". Set only by an admin's confirmation (who and when below).
    party_member: Mapped[bool] = mapped_column(default=False)
    party_confirmed_at: Mapped[datetime | None]
    party_confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    # 亮身份 is the member's choice: the 党员 badge shows only when they opt in.
    shows_party_badge: Mapped[bool] = mapped_column(default=False, server_default="0")
    # Home: building and unit, and so the (micro-)grid covering that building.
    building: Mapped[str | None] = mapped_column(String(50))
    unit: Mapped[str | None] = mapped_column(String(20))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"))
    # A resident who posted a need from a building poster without registering: no password
    # yet, and not verified until a grid worker has met them.
    pending_resident: Mapped[bool] = mapped_column(default=False, server_default="0")
    # For a street-office admin: the street office they administer.
    street_office_id: Mapped[int | None] = mapped_column(ForeignKey("street_offices.id"))
    # The residents this member serves may see their mobile number once a request is accepted.
    share_phone: Mapped[bool] = mapped_column(default=False)
    # At the community's storage cap, credit the excess to the public-welfare pool (公益池)
    # instead of refusing it.
    donate_excess: Mapped[bool] = mapped_column(default=False, server_default=false())
    role: Mapped[str] = mapped_column(String(16), default="member")
    active: Mapped[bool] = mapped_column(default=True)
    # Bumped on logout and password change: every older session cookie stops working.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Seen in person by a coordinator or admin: only then does a confirmation by this
    # member credit community-funded hours without a coordinator's approval (the witness rule).
    verified_at: Mapped[datetime | None]
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))

    community: Mapped[Community] = relationship(lazy="joined")

    __table_args__ = (
        CheckConstraint("role IN ('member', 'admin', 'street_admin', 'city_admin')", name="role"),
        CheckConstraint("birth_year BETWEEN 1900 AND 2100", name="birth_year"),
        CheckConstraint("locale IN ('zh_CN', 'en')", name="locale"),
        # The dispatch list's "elsewhere in the community": party members, then the rest,
        # in name order, read in index order and stopped at the page size.
        Index("ix_members_dispatch", "community_id", "party_member", "name", "id"),
        # The members of a grid (its prefix), and the dispatch list's pages of a grid's
        # volunteers read from the index alone: PostgreSQL otherwise walked the whole table
        # by primary key to merge it with the memberships (5 ms, against 0.2 ms).
        Index(
            "ix_members_grid",
            "grid_id",
            "party_member",
            "name",
            "id",
            "shows_party_badge",
            "active",
        ),
    )

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.active

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def party_badge(self) -> bool:
        """The 党员 badge: a confirmed party member who chose to show it (亮身份)."""
        return self.party_member and self.shows_party_badge

    @property
    def masked_name(self) -> str:
        """王** — what a shared screen may show."""
        return self.name[:1] + "*" * max(len(self.name) - 1, 1)
