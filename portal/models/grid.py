"""Grids (网格), micro-grids, who looks after them, and the grid register (一网格一档)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models._time import utcnow

# Who a grid appointment makes a member: its full-time grid worker (网格员), or the head of
# one of its buildings (楼长).
APPOINTMENT_ROLES = ("grid_worker", "building_head")
# The register's fixed categories of people who need looking after.
CARE_CATEGORIES = ("alone", "over_80", "disabled", "low_income")


class StreetOffice(db.Model):
    """A street office (街道) above several communities."""

    __tablename__ = "street_offices"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Grid(db.Model):
    """A grid of a community (about 300 households), or a micro-grid inside one (about 50)."""

    __tablename__ = "grids"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    # Set for a micro-grid: the grid it is part of (one level only).
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    # The buildings it covers, one name per line ("3号楼").
    buildings: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    parent: Mapped[Grid | None] = relationship(remote_side=[id])

    __table_args__ = (
        UniqueConstraint("community_id", "name"),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
    )

    @property
    def building_list(self) -> list[str]:
        return [b.strip() for b in self.buildings.splitlines() if b.strip()]

    @property
    def top_id(self) -> int:
        return self.parent_id or self.id


class GridAppointment(db.Model):
    """A grid worker of a grid, or a building head of one building in it."""

    __tablename__ = "grid_appointments"

    id: Mapped[int] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    building: Mapped[str] = mapped_column(String(50), default="")
    appointed_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("grid_id", "member_id", "role", "building"),
        CheckConstraint("role IN ('grid_worker', 'building_head')", name="role"),
    )


class Household(db.Model):
    """One household of the grid register (一网格一档)."""

    __tablename__ = "households"

    id: Mapped[int] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"))
    building: Mapped[str] = mapped_column(String(50))
    unit: Mapped[str] = mapped_column(String(20), default="")
    door: Mapped[str] = mapped_column(String(20), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    last_visit_at: Mapped[datetime | None]
    last_visit_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    people: Mapped[list[CarePerson]] = relationship(
        back_populates="household", order_by="CarePerson.id"
    )

    __table_args__ = (Index("ix_households_grid", "grid_id", "building", "unit", "door", "id"),)


class CarePerson(db.Model):
    """A person of a household in the register who needs looking after."""

    __tablename__ = "care_people"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    # Comma-separated keys of CARE_CATEGORIES.
    categories: Mapped[str] = mapped_column(String(100), default="")
    # When the person is also a member: their open requests show in the register.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)

    household: Mapped[Household] = relationship(back_populates="people")

    @property
    def category_list(self) -> list[str]:
        return [c for c in self.categories.split(",") if c]
