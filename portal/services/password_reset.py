"""Forgot password, without SMS: someone the member trusts issues a one-time code.

A linked relative, a coordinator of a team the member is in, or the community's admin
presses one button and reads the code on their screen to the member (in person or on the
phone). The member types their phone, the code and a new password on /password/forgot.
The code is 8 digits, hashed like a password, valid 15 minutes, used once, spent after
5 wrong tries (and the page is rate-limited per phone and per address); a new code
replaces the last. Every code issued and every reset is audited. On a reset every session
of the member ends (the session version).

Who may issue is one function, `may_issue_reset`: a grid worker (网格员) is added there.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.clock import now_local
from portal.extensions import db
from portal.models import Member, PasswordResetCode, TeamMembership
from portal.services import audit, family, grids, members, teams
from portal.services.errors import DomainError, Forbidden

CODE_DIGITS = 8
VALID_FOR = timedelta(minutes=15)
MAX_TRIES = 5

# One message for every way a code can fail — unknown phone, wrong, expired, used,
# replaced, too many tries — so the page tells a guesser nothing.
CODE_REFUSED = _l(
    "That code does not work. Codes work once, for 15 minutes. "
    "Ask your relative, coordinator or community for a new one."
)


def may_issue_reset(actor: Member, member: Member) -> bool:
    """Whether `actor` may give `member` a reset code: never themselves; a linked
    relative, a coordinator of a team the member is active in, the grid worker of the
    member's home grid, or their community's admin."""
    if actor.id == member.id or not actor.active or not member.active:
        return False
    if teams.is_admin_of(actor, member.community_id):
        return True
    if family.linked(actor, member.id):
        return True
    if grids.is_grid_worker_of(actor, member.grid_id):
        return True
    coordinated = teams.coordinated_team_ids(actor)
    return coordinated != [] and (
        db.session.scalar(
            select(TeamMembership.id).where(
                TeamMembership.member_id == member.id,
                TeamMembership.team_id.in_(coordinated),
                TeamMembership.status == "active",
            )
        )
        is not None
    )


@dataclass(frozen=True)
class IssuedCode:
    member: Member
    code: str  # shown once on the issuer's screen; only its hash is kept
    expires_at: datetime


def _live(member_id: int) -> list[PasswordResetCode]:
    return list(
        db.session.scalars(
            select(PasswordResetCode).where(
                PasswordResetCode.member_id == member_id, PasswordResetCode.spent_at.is_(None)
            )
        )
    )


def issue_reset_code(actor: Member, member_id: int) -> IssuedCode:
    member = db.session.get(Member, member_id)
    if member is None or not may_issue_reset(actor, member):
        raise Forbidden(_l("You may not give this member a reset code."))
    now = now_local()
    for earlier in _live(member.id):
        earlier.spent_at = now  # a new code replaces the last one
    code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
    row = PasswordResetCode(
        member_id=member.id,
        issued_by_id=actor.id,
        code_hash=members.hash_secret(code),
        issued_at=now,
        expires_at=now + VALID_FOR,
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        actor, "member.reset_code_issue", member, community_id=member.community_id, code=row.id
    )
    return IssuedCode(member, code, row.expires_at)


def reset_password(phone: str, code: str, new_password: str) -> Member | None:
    """The member's new password, if `code` is their live code: every session ends. None
    for any failed code (a wrong try is counted: the caller commits either way)."""
    members.check_password_strength(new_password, field="new_password")
    member = db.session.scalar(select(Member).where(Member.phone == members.normalise_phone(phone)))
    now = now_local()
    live = [row for row in (_live(member.id) if member is not None else []) if row.expires_at > now]
    typed = "".join(code.split())
    if not live or not typed.isdigit() or len(typed) != CODE_DIGITS:
        members.check_secret(None, typed)  # the same time as a real check
        return None
    row = live[-1]
    if not members.check_secret(row.code_hash, typed):
        row.tries += 1
        if row.tries >= MAX_TRIES:
            row.spent_at = now
        return None
    assert member is not None
    row.spent_at = now
    member.password_hash = members.hash_secret(new_password)
    members.end_sessions(member)
    audit.record(
        member,
        "member.password_reset",
        member,
        community_id=member.community_id,
        code=row.id,
        issued_by=row.issued_by_id,
    )
    return member


def refuse_code() -> DomainError:
    return DomainError(CODE_REFUSED, field="code")
