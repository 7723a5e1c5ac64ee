"""Star levels (星级志愿者): 1★ … 5★ by approved service, thresholds set per community."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BindParameter, Select, func, select

from portal.extensions import db
from portal.models import HourLog, Member

MAX_STARS = 5


@dataclass(frozen=True)
class Stars:
    level: int  # 0–5
    earned: int  # minutes of approved service, ever
    next_at: int | None  # minutes for the next star; None at 5★

    @property
    def shown(self) -> str:
        return "★" * self.level + "☆" * (MAX_STARS - self.level)


def level(member: Member) -> Stars:
    return levels([member])[member.id]


def earned_select(member_id: int | BindParameter[int]) -> Select[tuple[int]]:
    """The member's approved minutes ever, as a select that can ride in another statement
    (the dashboard's top-bar statement)."""
    return select(func.coalesce(func.sum(HourLog.minutes), 0)).where(
        HourLog.member_id == member_id, HourLog.status == "approved"
    )


def from_earned(member: Member, minutes: int) -> Stars:
    thresholds = member.community.star_thresholds[:MAX_STARS]
    reached = sum(1 for t in thresholds if minutes >= t)
    return Stars(reached, minutes, thresholds[reached] if reached < len(thresholds) else None)


def levels(members: list[Member]) -> dict[int, Stars]:
    """Stars of several members (a team's sheet of cards) in one query."""
    ids = [m.id for m in members]
    earned = dict(
        db.session.execute(
            select(HourLog.member_id, func.sum(HourLog.minutes))
            .where(HourLog.member_id.in_(ids), HourLog.status == "approved")
            .group_by(HourLog.member_id)
        ).all()
    )
    result = {}
    for member in members:
        result[member.id] = from_earned(member, int(earned.get(member.id) or 0))
    return result
