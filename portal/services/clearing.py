"""Each community's net position against the others (通存通兑), for the city and the
street offices.

The ledger keeps a clearing account per community (ledger._cleared): every entry that
moves hours between communities posts to them, so a community's own accounts always sum
to zero and its clearing balance is exactly what it owes the others (positive) or is owed
(negative). Read here the other way round, as people say it: what the community is owed
for service it delivered with other communities' hours.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Account, Community, Member
from portal.services import grids


@dataclass(frozen=True)
class Position:
    community_id: int
    name: str
    name_en: str | None
    # Positive: the others owe this community; negative: it owes them.
    minutes: int

    def display_name(self, locale: str) -> str:
        return self.name_en if locale == "en" and self.name_en else self.name


def may_see(actor: Member) -> bool:
    return actor.role in ("city_admin", "street_admin")


def positions(community_ids: list[int] | None = None) -> list[Position]:
    """Every community (or those given) with its net position; one row per community,
    bounded by the city's tens of communities."""
    balance = (
        select(Account.community_id, func.sum(Account.balance).label("balance"))
        .where(Account.kind == "clearing")
        .group_by(Account.community_id)
        .subquery()
    )
    stmt = (
        select(Community.id, Community.name, Community.name_en, balance.c.balance)
        .outerjoin(balance, balance.c.community_id == Community.id)
        .order_by(Community.name)
    )
    if community_ids is not None:
        stmt = stmt.where(Community.id.in_(community_ids))
    return [
        Position(row.id, row.name, row.name_en, -int(row.balance or 0))
        for row in db.session.execute(stmt)
    ]


def positions_for(actor: Member) -> list[Position]:
    """The city admin sees every community, a street-office admin their office's."""
    return positions(None if actor.role == "city_admin" else grids.overseen_community_ids(actor))
