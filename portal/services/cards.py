"""Member cards and kiosk PINs: the two ways a member is identified at a kiosk.

A card carries a signed token of (member id, card version), never the phone number;
reissuing bumps the version so a lost card stops working. A PIN is 4–6 digits, hashed like
a password; five wrong tries lock that member's PIN (not their card) for 15 minutes.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import lru_cache

import segno
from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from portal.extensions import db
from portal.models import Member
from portal.services import audit, members
from portal.services.errors import DomainError, Forbidden
from portal.services.locking import lock_row

PIN_PATTERN = re.compile(r"^\d{4,6}$")
PIN_TRIES = 5
PIN_LOCK = timedelta(minutes=15)


def _cards() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="member-card")


def card_token(member: Member) -> str:
    return _cards().dumps([member.id, member.card_version])


def member_from_card(token: str) -> Member | None:
    """The active member a card names, or None for a forged, reissued or unknown card."""
    try:
        member_id, version = _cards().loads((token or "").strip())
    except (BadSignature, ValueError, TypeError):
        return None
    member = db.session.get(Member, member_id)
    if member is None or not member.active or member.card_version != version:
        return None
    return member


def reissue_card(actor: Member, member: Member) -> Member:
    member.card_version += 1
    audit.record(actor, "member.card_reissue", member, community_id=member.community_id)
    db.session.flush()
    return member


# Encoding a QR code costs ~10 ms of Python (segno tries all eight masks). The kiosk's code
# screen shows the same rotating code for a whole window (devices.CODE_WINDOW_SECONDS) and
# is reloaded by every kiosk in that window: kept per process, a few recent codes.
@lru_cache(maxsize=64)
def qr_svg(data: str, scale: int = 4, *, fluid: bool = False) -> str:
    """An inline SVG QR code (the CSP allows no third-party image and no script). `fluid`
    gives it a viewBox instead of a fixed size, so CSS can make it as large as the screen
    or the sheet allows (without one the code keeps its size in a larger box)."""
    return segno.make(data, error="m").svg_inline(
        scale=scale, dark="#000", light="#fff", omitsize=fluid
    )


def set_pin(member: Member, pin: str) -> None:
    if not PIN_PATTERN.match(pin or ""):
        raise DomainError(_l("A PIN is 4 to 6 digits."), field="pin")
    member.pin_hash = members.hash_secret(pin)
    member.pin_failures = 0
    member.pin_locked_until = None
    db.session.flush()


def reset_pin(admin: Member, member: Member) -> None:
    """An admin clears a member's PIN (they set a new one on their phone); audited."""
    if not admin.is_admin or admin.community_id != member.community_id:
        raise Forbidden(_l("Only an admin of the member's community can reset a PIN."))
    member.pin_hash = None
    member.pin_failures = 0
    member.pin_locked_until = None
    audit.record(admin, "member.pin_reset", member, community_id=member.community_id)
    db.session.flush()


def member_by_pin(member_no: str, pin: str, *, now: datetime) -> Member | None:
    """The member with this number and PIN, or None — for a wrong number, a wrong PIN or a
    locked PIN alike, so nothing tells whether a number exists. Wrong tries are counted and
    must be committed even though nobody is identified."""
    member_id = db.session.scalar(select(Member.id).where(Member.member_no == member_no.strip()))
    member = lock_row(Member, member_id) if member_id is not None else None
    if member is None or not member.active:
        members.check_secret(None, pin)  # the same time as a real check
        return None
    if member.pin_locked_until is not None and member.pin_locked_until > now:
        members.check_secret(None, pin)
        return None
    if members.check_secret(member.pin_hash, pin):
        member.pin_failures = 0
        member.pin_locked_until = None
        db.session.flush()
        return member
    member.pin_failures += 1
    if member.pin_failures >= PIN_TRIES:
        member.pin_failures = 0
        member.pin_locked_until = now + PIN_LOCK
    db.session.flush()
    return None
