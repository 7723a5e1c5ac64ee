"""The public-welfare pool (公益池): whom a community's pool may pay for, and its statement.

The pool is fed by members' donated excess (ledger caps). A community names who it may
serve — whole categories of the grid register (80 or older, living alone, disabled, low
income) or residents one by one — and a coordinator approves each request it pays
(requests.approve_pool), as the witness of the credit that follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    Account,
    CarePerson,
    Grid,
    Household,
    JournalEntry,
    Member,
    PoolBeneficiary,
    Posting,
)
from portal.models.grid import CARE_CATEGORIES
from portal.services import audit, members, teams
from portal.services.errors import DomainError, Forbidden

OVER_80 = 80


def may_manage(actor: Member, community_id: int) -> bool:
    """The community's admins name whom the pool serves."""
    return actor.is_admin and actor.community_id == community_id


def may_see(actor: Member, community_id: int) -> bool:
    """Its admins and coordinators see the list and the pool's statement."""
    return actor.community_id == community_id and (
        actor.is_admin or bool(teams.coordinated_team_ids(actor))
    )


def named(community_id: int) -> list[PoolBeneficiary]:
    return list(
        db.session.scalars(
            select(PoolBeneficiary)
            .where(PoolBeneficiary.community_id == community_id)
            .order_by(PoolBeneficiary.id)
        )
    )


def register_categories(member: Member, community_id: int) -> set[str]:
    """The member's categories in the community's grid register (plus 80 or older, which
    the birth year already says)."""
    rows = db.session.scalars(
        select(CarePerson.categories)
        .join(Household, Household.id == CarePerson.household_id)
        .join(Grid, Grid.id == Household.grid_id)
        .where(CarePerson.member_id == member.id, Grid.community_id == community_id)
    )
    found = {c for row in rows for c in row.split(",") if c}
    if members.age_in(member.birth_year) >= OVER_80:
        found.add("over_80")
    return found


def serves(community_id: int, member: Member) -> bool:
    """Whether the community's pool may pay for this member's requests."""
    entries = named(community_id)
    if any(e.member_id == member.id for e in entries):
        return True
    categories = {e.category for e in entries if e.category}
    return bool(categories & register_categories(member, community_id))


def check_serves(community_id: int, member: Member) -> None:
    if not serves(community_id, member):
        raise DomainError(
            _l(
                "The community's public-welfare pool does not pay for %(name)s: the "
                "community has not named them (by a category of the grid register or one "
                "by one). The community can still fund this request.",
                name=member.masked_name,
            ),
            field="ask_pool",
        )


def name_category(actor: Member, category: str | None) -> PoolBeneficiary:
    if not may_manage(actor, actor.community_id):
        raise Forbidden(_l("Only an admin of the community names whom the pool serves."))
    if category not in CARE_CATEGORIES:
        raise DomainError(_l("Choose a category from the list."), field="category")
    return _add(actor, PoolBeneficiary(community_id=actor.community_id, category=category))


def name_member(actor: Member, member_no: str) -> PoolBeneficiary:
    if not may_manage(actor, actor.community_id):
        raise Forbidden(_l("Only an admin of the community names whom the pool serves."))
    member = db.session.scalar(select(Member).where(Member.member_no == member_no.strip()))
    if member is None or member.community_id != actor.community_id:
        raise DomainError(_l("No member of this community has that member number."), field="member")
    return _add(actor, PoolBeneficiary(community_id=actor.community_id, member_id=member.id))


def _add(actor: Member, line: PoolBeneficiary) -> PoolBeneficiary:
    exists = db.session.scalar(
        select(PoolBeneficiary.id).where(
            PoolBeneficiary.community_id == line.community_id,
            PoolBeneficiary.category == line.category
            if line.category
            else PoolBeneficiary.member_id == line.member_id,
        )
    )
    if exists is not None:
        raise DomainError(_l("The pool already serves them."))
    line.named_by_id = actor.id
    db.session.add(line)
    db.session.flush()
    audit.record(
        actor,
        "pool.name",
        line,
        community_id=line.community_id,
        category=line.category,
        member_id=line.member_id,
    )
    return line


def unname(actor: Member, line_id: int) -> None:
    line = db.session.get(PoolBeneficiary, line_id)
    if line is None or not may_manage(actor, line.community_id):
        raise Forbidden(_l("Only an admin of the community names whom the pool serves."))
    audit.record(
        actor,
        "pool.unname",
        line,
        community_id=line.community_id,
        category=line.category,
        member_id=line.member_id,
    )
    db.session.delete(line)
    db.session.flush()


@dataclass(frozen=True)
class PoolLine:
    entry_id: int
    at: datetime
    kind: str
    memo: str
    amount: int
    balance_after: int


def balance(community_id: int) -> int:
    """What the pool holds (a read: no account is made for a pool never fed)."""
    held = db.session.scalar(select(Account.balance).where(Account.code == f"pool:{community_id}"))
    return held or 0


def statement(community_id: int, *, before: int | None = None, size: int = 50) -> list[PoolLine]:
    """The pool's postings, newest first, a keyset page (`before` an entry id)."""
    account_id = db.session.scalar(select(Account.id).where(Account.code == f"pool:{community_id}"))
    if account_id is None:
        return []
    stmt = (
        select(
            Posting.entry_id,
            JournalEntry.created_at,
            JournalEntry.kind,
            JournalEntry.memo,
            Posting.amount,
            Posting.balance_after,
        )
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(Posting.account_id == account_id)
        .order_by(Posting.id.desc())
        .limit(size)
    )
    if before is not None:
        stmt = stmt.where(Posting.entry_id < before)
    return [PoolLine(*row) for row in db.session.execute(stmt)]
