"""Kiosk devices: registration by an admin, one-time enrolment, the long-lived device token
(only its hash is stored), last contact, revocation; the rotating place code a device
shows for members' phones; and the printed place code for a post without a screen.
Services flush, never commit."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer
from sqlalchemy import select

from portal.extensions import db
from portal.models import KioskDevice, Member, PrintedPlaceCode
from portal.models._time import utcnow
from portal.services import audit
from portal.services.errors import DomainError, Forbidden

ENROL_VALID = timedelta(days=7)
SEEN_EVERY = timedelta(minutes=1)
CODE_WINDOW_SECONDS = 30


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- devices ----------------------------------------------------------------------------


def register_device(admin: Member, place: str) -> tuple[KioskDevice, str]:
    """A new device for a place; returns it and its one-time enrolment token (shown once)."""
    if not admin.is_admin:
        raise Forbidden(_l("Only an admin can register a kiosk."))
    place = (place or "").strip()
    if not 1 <= len(place) <= 200:
        raise DomainError(_l("Enter the place (up to 200 characters)."), field="place")
    token = secrets.token_urlsafe(24)
    device = KioskDevice(
        community_id=admin.community_id,
        place=place,
        enrol_token_hash=_hash(token),
        enrol_expires_at=utcnow() + ENROL_VALID,
        created_by_id=admin.id,
    )
    db.session.add(device)
    db.session.flush()
    audit.record(admin, "kiosk.register", device, community_id=device.community_id, place=place)
    return device, token


def enrol(enrol_token: str) -> tuple[KioskDevice, str]:
    """Spend a one-time enrolment token; returns the device and its long-lived token."""
    device = db.session.scalar(
        select(KioskDevice).where(KioskDevice.enrol_token_hash == _hash(enrol_token or ""))
    )
    if device is None or device.revoked or (device.enrol_expires_at or utcnow()) < utcnow():
        raise DomainError(_l("This enrolment link is used, expired or unknown."))
    token = secrets.token_urlsafe(32)
    device.token_hash = _hash(token)
    device.enrol_token_hash = None
    device.enrol_expires_at = None
    device.enrolled_at = device.last_seen_at = utcnow()
    db.session.flush()
    return device, token


def device_by_token(token: str | None) -> KioskDevice | None:
    """The enrolled, unrevoked device with this token; notes the contact (at most once a
    minute, to save a write on every tap)."""
    if not token:
        return None
    device = db.session.scalar(select(KioskDevice).where(KioskDevice.token_hash == _hash(token)))
    if device is None or device.revoked:
        return None
    now = utcnow()
    if device.last_seen_at is None or now - device.last_seen_at >= SEEN_EVERY:
        device.last_seen_at = now
    return device


def revoke(admin: Member, device_id: int) -> KioskDevice:
    device = db.session.get(KioskDevice, device_id)
    if device is None or not admin.is_admin or device.community_id != admin.community_id:
        raise Forbidden(_l("Only an admin of its community can revoke a kiosk."))
    if device.revoked_at is None:
        device.revoked_at = utcnow()
        device.token_hash = None
        device.enrol_token_hash = None
        audit.record(admin, "kiosk.revoke", device, community_id=device.community_id)
    db.session.flush()
    return device


def devices_of(admin: Member) -> list[KioskDevice]:
    return list(
        db.session.scalars(
            select(KioskDevice)
            .where(KioskDevice.community_id == admin.community_id)
            .order_by(KioskDevice.revoked_at.is_not(None), KioskDevice.place, KioskDevice.id)
        )
    )


def places_for(coordinator: Member) -> list[str]:
    """The kiosk places of the coordinator's (or admin's) community, and the posts with a
    printed place code."""
    kiosks = select(KioskDevice.place).where(KioskDevice.community_id == coordinator.community_id)
    posts = select(PrintedPlaceCode.place).where(
        PrintedPlaceCode.community_id == coordinator.community_id
    )
    return sorted(set(db.session.scalars(kiosks)) | set(db.session.scalars(posts)))


# --- the rotating place code ------------------------------------------------------------


def _codes() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="place-code")


def window(now_epoch: float) -> int:
    return int(now_epoch // CODE_WINDOW_SECONDS)


def place_code(device: KioskDevice, now_epoch: float) -> str:
    return _codes().dumps([device.id, window(now_epoch)])


class CodeExpired(DomainError):
    pass


def device_from_code(code: str, now_epoch: float, *, grace_windows: int = 1) -> KioskDevice:
    """The place a code names, if it was shown in this window or the one before (a code
    scanned just before it rotated still works; a screenshot of an older one does not)."""
    try:
        device_id, shown = _codes().loads(code or "")
    except (BadSignature, SignatureExpired, ValueError, TypeError):
        raise DomainError(_l("This code is not valid.")) from None
    if window(now_epoch) - int(shown) > grace_windows:
        raise CodeExpired(_l("This code has expired. Scan the code on the screen again."))
    device = db.session.get(KioskDevice, device_id)
    if device is None or device.revoked:
        raise DomainError(_l("This code is not valid."))
    return device


# --- the printed place code --------------------------------------------------------------


def _printed() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="printed-place-code")


def printed_code(printed: PrintedPlaceCode) -> str:
    """What the printed QR code carries: the place and the sheet's version."""
    return _printed().dumps([printed.id, printed.version])


def print_place_code(admin: Member, place: str) -> PrintedPlaceCode:
    """The printed code of a place of the admin's community (made on first use)."""
    if not admin.is_admin:
        raise Forbidden(_l("Only an admin can print a place code."))
    place = (place or "").strip()
    if not 1 <= len(place) <= 200:
        raise DomainError(_l("Enter the place (up to 200 characters)."), field="place")
    found = db.session.scalar(
        select(PrintedPlaceCode).where(
            PrintedPlaceCode.community_id == admin.community_id, PrintedPlaceCode.place == place
        )
    )
    if found is not None:
        return found
    found = PrintedPlaceCode(community_id=admin.community_id, place=place, created_by_id=admin.id)
    db.session.add(found)
    db.session.flush()
    audit.record(admin, "kiosk.print_code", found, community_id=found.community_id, place=place)
    return found


def printed_code_of(admin: Member, printed_id: int) -> PrintedPlaceCode:
    found = db.session.get(PrintedPlaceCode, printed_id)
    if found is None or not admin.is_admin or found.community_id != admin.community_id:
        raise Forbidden(_l("Only an admin of its community can print this code."))
    return found


def reissue_printed_code(admin: Member, printed_id: int) -> PrintedPlaceCode:
    """A new sheet for the place: the old printed code (and any photo of it) stops working."""
    found = printed_code_of(admin, printed_id)
    found.version += 1
    found.reissued_at = utcnow()
    audit.record(
        admin, "kiosk.reissue_code", found, community_id=found.community_id, version=found.version
    )
    db.session.flush()
    return found


def printed_codes_of(admin: Member) -> list[PrintedPlaceCode]:
    return list(
        db.session.scalars(
            select(PrintedPlaceCode)
            .where(PrintedPlaceCode.community_id == admin.community_id)
            .order_by(PrintedPlaceCode.place)
        )
    )


@dataclass(frozen=True)
class Spot:
    """Where a member's phone scanned a code: a kiosk's rotating code ("place_code") or a
    printed one ("printed_code", which no device witnesses)."""

    community_id: int
    place: str
    source: str


def spot_from_code(code: str, now_epoch: float, *, grace_windows: int = 1) -> Spot:
    """The place a scanned code names: a printed code of the current sheet, or a rotating
    code of this window (see device_from_code)."""
    try:
        printed_id, version = _printed().loads(code or "")
    except (BadSignature, ValueError, TypeError):
        device = device_from_code(code, now_epoch, grace_windows=grace_windows)
        return Spot(device.community_id, device.place, "place_code")
    printed = db.session.get(PrintedPlaceCode, printed_id)
    if printed is None:
        raise DomainError(_l("This code is not valid."))
    if printed.version != version:
        raise CodeExpired(_l("This printed code was replaced by a new one. Scan the new sheet."))
    return Spot(printed.community_id, printed.place, "printed_code")
