"""Registration, credentials and preferences of members."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, exists, func, select
from sqlalchemy.exc import IntegrityError

from portal.clock import today_local
from portal.extensions import db
from portal.models import (
    Account,
    CallUp,
    CallUpPerson,
    Community,
    GridAppointment,
    Member,
    Notification,
    TeamMembership,
)
from portal.services import audit, ledger
from portal.services.errors import DomainError

PHONE_PATTERN = re.compile(r"^1[3-9]\d{9}$")
MIN_PASSWORD = 8
# From this age a new member starts in 长辈版 (born 1961 or earlier, in 2026).
ELDER_MODE_FROM_AGE = 65
MAX_PASSWORD = 128
# The password hash of a member who cannot log in yet (a resident who posted from a poster).
NO_LOGIN = "!"


def _hasher() -> PasswordHasher:
    params = current_app.config["PASSWORD_HASH"]
    return PasswordHasher(type=Type.ID, **params)


def hash_secret(secret: str) -> str:
    return _hasher().hash(secret)


def check_secret(stored: str | None, secret: str) -> bool:
    if not stored:
        # Spend the same time as a real check so a missing account is not revealed.
        _hasher().hash(secret)
        return False
    try:
        return _hasher().verify(stored, secret)
    except (VerificationError, InvalidHashError):
        return False


def normalise_phone(raw: str) -> str:
    """Accept spaces, dashes and a +86 prefix; return 11 digits."""
    digits = re.sub(r"[\s\-]", "", raw or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    return digits


def valid_phone(phone: str) -> bool:
    return bool(PHONE_PATTERN.match(phone))


def age_in(birth_year: int) -> int:
    return today_local().year - birth_year


def _new_member_no() -> str:
    # Eight digits, not sequential: a member number on a lost card reveals nothing.
    while True:
        candidate = f"{secrets.randbelow(90_000_000) + 10_000_000}"
        if db.session.scalar(select(Member.id).where(Member.member_no == candidate)) is None:
            return candidate


@dataclass(frozen=True)
class Registration:
    name: str
    phone: str
    password: str
    community_id: int
    birth_year: int
    locale: str = "zh_CN"
    elder_mode: bool = False


def register(reg: Registration, *, password_hash: str | None = None) -> Member:
    name = reg.name.strip()
    phone = normalise_phone(reg.phone)
    if not 1 <= len(name) <= 50:
        raise DomainError(_l("Enter your name (up to 50 characters)."), field="name")
    if not valid_phone(phone):
        raise DomainError(
            _l("Enter an 11-digit mainland mobile number, such as 13812345678."), field="phone"
        )
    if password_hash is None:
        check_password_strength(reg.password, field="password")
    if db.session.get(Community, reg.community_id) is None:
        raise DomainError(_l("Choose your community."), field="community")
    existing = db.session.scalar(select(Member).where(Member.phone == phone))
    if existing is not None and existing.pending_resident and existing.password_hash == NO_LOGIN:
        # A resident who posted from a building poster registers now: the same member, with
        # their requests; still unverified until a grid worker or coordinator has met them.
        existing.password_hash = password_hash or hash_secret(reg.password)
        existing.name = name
        existing.birth_year = reg.birth_year
        return existing
    if existing is not None:
        raise DomainError(
            _l("This mobile number is already registered. Log in instead."), field="phone"
        )
    member = Member(
        name=name,
        phone=phone,
        password_hash=password_hash or hash_secret(reg.password),
        member_no=_new_member_no(),
        birth_year=reg.birth_year,
        community_id=reg.community_id,
        locale=reg.locale,
        # Older members start in 长辈版 (larger text and buttons); they can turn it off.
        elder_mode=reg.elder_mode or age_in(reg.birth_year) >= ELDER_MODE_FROM_AGE,
    )
    try:
        with db.session.begin_nested():
            db.session.add(member)
    except IntegrityError as exc:
        raise DomainError(
            _l("This mobile number is already registered. Log in instead."), field="phone"
        ) from exc
    ledger.member_account(member)
    return member


def check_password_strength(password: str, *, field: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise DomainError(_l("Use at least 8 characters for the password."), field=field)
    if len(password) > MAX_PASSWORD:
        raise DomainError(_l("Use at most 128 characters for the password."), field=field)


def authenticate(phone_raw: str, password: str) -> Member | None:
    phone = normalise_phone(phone_raw)
    member = db.session.scalar(select(Member).where(Member.phone == phone))
    ok = check_secret(member.password_hash if member else None, password)
    if member is None or not ok or not member.active:
        return None
    return member


def change_password(member: Member, current: str, new: str) -> None:
    if not check_secret(member.password_hash, current):
        raise DomainError(_l("The current password is not right."), field="current_password")
    check_password_strength(new, field="new_password")
    member.password_hash = hash_secret(new)
    # Every other session of this member ends.
    member.session_version += 1
    audit.record(member, "member.password_change", member, community_id=member.community_id)


def end_sessions(member: Member) -> None:
    member.session_version += 1


def set_preferences(
    member: Member,
    *,
    locale: str | None = None,
    elder_mode: bool | None = None,
    share_phone: bool | None = None,
    donate_excess: bool | None = None,
) -> None:
    if locale is not None:
        if locale not in current_app.config["LANGUAGES"]:
            raise DomainError(_l("Choose a language from the list."), field="locale")
        member.locale = locale
    if elder_mode is not None:
        member.elder_mode = elder_mode
    if share_phone is not None:
        member.share_phone = share_phone
    if donate_excess is not None:
        member.donate_excess = donate_excess


def make_admin(member: Member, actor: Member | None = None) -> None:
    member.role = "admin"
    audit.record(
        actor, "member.role_change", member, community_id=member.community_id, role="admin"
    )


def top_bar_figures(member_id: int, *more: Select) -> tuple[Any, ...]:
    """What the top bar of every page shows: the balance in minutes, the unread messages,
    whether the member coordinates a team or holds a grid post, whether a call-up awaits them —
    one statement
    (scalar subqueries, each an index lookup) instead of four round trips per page. `more`
    single-value selects ride along in the same statement (the dashboard's pending and
    reserved minutes)."""
    balance = select(Account.balance).where(Account.member_id == member_id).scalar_subquery()
    unread = (
        select(func.count(Notification.id))
        .where(Notification.member_id == member_id, Notification.read_at.is_(None))
        .scalar_subquery()
    )
    coordinates = exists().where(
        TeamMembership.member_id == member_id,
        TeamMembership.status == "active",
        TeamMembership.role == "coordinator",
    )
    called = exists().where(
        CallUpPerson.member_id == member_id,
        CallUpPerson.stood_down_at.is_(None),
        CallUpPerson.callup_id == CallUp.id,
        CallUp.status != "closed",
    )
    grid_role = exists().where(GridAppointment.member_id == member_id)
    extra = [stmt.scalar_subquery() for stmt in more]
    row = db.session.execute(
        select(balance, unread, coordinates, called, grid_role, *extra)
    ).one()
    return (
        int(row[0] or 0),
        int(row[1] or 0),
        bool(row[2]),
        bool(row[3]),
        bool(row[4]),
        *(int(v or 0) for v in row[5:]),
    )
