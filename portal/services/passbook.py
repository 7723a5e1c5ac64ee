"""The passbook (存折): a member's statement as printed A4 pages, each page carrying a QR
code that anyone can check at /verify/<token>.

A page's token is signed with the app's secret (itsdangerous, salt "passbook") and holds
the member, the first and last posting on the page, the balance after the last one, the
day it was printed and a digest of the page's lines. Verifying checks the signature, then
recomputes the digest from the books: a page whose token was altered, or whose lines no
longer match the ledger, is "not genuine".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from portal.extensions import db
from portal.models import Account, Member, Posting, TeamMembership
from portal.services import statement, teams
from portal.services.statement import StatementLine

# Large print: 12 lines fit an A4 page at 20 pt with the heading and the QR code.
LINES_PER_PAGE = 12
# One print run is bounded (the most recent pages); older pages come from `before`.
MAX_PAGES = 5


@dataclass(frozen=True)
class PassbookPage:
    number: int
    lines: list[StatementLine]  # oldest first, as a passbook is read
    balance: int
    token: str


@dataclass(frozen=True)
class Verified:
    member: Member
    balance: int
    printed_on: date
    lines: int


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="passbook")


def _digest(member_id: int, rows: list[tuple[int, int, int]]) -> str:
    """(posting id, amount, balance after) of each line, oldest first."""
    text = f"{member_id}|" + ";".join(f"{p},{a},{b}" for p, a, b in rows)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def may_print_for(actor: Member, member: Member) -> bool:
    """The member, an admin of their community, or a coordinator of a team they are in —
    who may see the member's statement (DESIGN.md, Roles)."""
    if actor.id == member.id:
        return True
    if teams.is_admin_of(actor, member.community_id):
        return True
    coordinated = teams.coordinated_team_ids(actor)
    if not coordinated:
        return False
    return (
        db.session.scalar(
            select(TeamMembership.id).where(
                TeamMembership.member_id == member.id,
                TeamMembership.team_id.in_(coordinated),
                TeamMembership.status == "active",
            )
        )
        is not None
    )


def pages(
    member: Member, *, printed_on: date, before: int | None = None
) -> tuple[list[PassbookPage], int | None]:
    """The most recent MAX_PAGES pages (older than posting `before`), oldest page first,
    and the cursor of the pages before them."""
    lines, next_cursor = statement.page(member, before=before, size=LINES_PER_PAGE * MAX_PAGES)
    lines.reverse()
    # Pages are cut from the oldest line so that page 1 is always the oldest printed.
    chunks = [lines[i : i + LINES_PER_PAGE] for i in range(0, len(lines), LINES_PER_PAGE)]
    result = []
    for number, chunk in enumerate(chunks, start=1):
        rows = [(line.posting_id, line.minutes, line.balance_after) for line in chunk]
        balance = chunk[-1].balance_after
        token = _signer().dumps(
            [
                member.id,
                chunk[0].posting_id,
                chunk[-1].posting_id,
                balance,
                printed_on.isoformat(),
                _digest(member.id, rows),
            ]
        )
        result.append(PassbookPage(number, chunk, balance, token))
    return result, next_cursor


def verify(token: str) -> Verified | None:
    """What a genuine page says, or None for anything altered, forged or unknown."""
    try:
        member_id, first, last, balance, printed, digest = _signer().loads(token or "")
        printed_on = date.fromisoformat(printed)
    except (BadSignature, ValueError, TypeError):
        return None
    if not all(isinstance(n, int) for n in (member_id, first, last, balance)):
        return None
    member = db.session.get(Member, member_id)
    if member is None:
        return None
    rows = [
        tuple(row)
        for row in db.session.execute(
            select(Posting.id, Posting.amount, Posting.balance_after)
            .join(Account, Account.id == Posting.account_id)
            .where(
                Account.member_id == member_id,
                Posting.id >= first,
                Posting.id <= last,
            )
            .order_by(Posting.id)
            .limit(LINES_PER_PAGE + 1)
        )
    ]
    if not rows or rows[-1][2] != balance or _digest(member_id, rows) != digest:  # type: ignore[arg-type]
        return None
    return Verified(member, balance, printed_on, len(rows))
