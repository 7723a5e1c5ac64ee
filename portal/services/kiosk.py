"""The kiosk's rules: devices, identification between screens, check-in and check-out,
forgotten check-outs, who is here, the rotating place code and offline delivery.

Check-in times are the city's wall-clock time (naive), like activities; device contact
times are naive UTC, like every other timestamp. Services flush, never commit.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import Activity, CheckIn, HourLog, KioskDevice, Member, Service, Team
from portal.models._time import utcnow
from portal.services import audit, cards, ledger, teams
from portal.services import hours as hour_service
from portal.services.errors import DomainError, Forbidden
from portal.services.locking import lock_row

ENROL_VALID = timedelta(days=7)
SEEN_EVERY = timedelta(minutes=1)
OPENS_BEFORE = timedelta(hours=1)
WALK_IN_LONGEST = timedelta(hours=4)
SHORT_VISIT = timedelta(minutes=5)
LATE_SYNC = timedelta(hours=12)
CODE_WINDOW_SECONDS = 30


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _setting(name: str, default: int) -> int:
    return int(current_app.config.get(name, default))


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


# --- who is at the screen (between two taps, never a login) ------------------------------


def _who() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="kiosk-who")


def who_token(member: Member, device: KioskDevice) -> str:
    return _who().dumps([member.id, device.id, member.card_version])


def who_from(token: str, device: KioskDevice) -> Member | None:
    """The member identified at this device within the last KIOSK_IDENTIFY_SECONDS."""
    try:
        member_id, device_id, version = _who().loads(
            token or "", max_age=_setting("KIOSK_IDENTIFY_SECONDS", 20)
        )
    except (BadSignature, ValueError, TypeError):
        return None
    member = db.session.get(Member, member_id)
    if device_id != device.id or member is None or not member.active:
        return None
    if member.card_version != version or member.community_id != device.community_id:
        return None
    return member


def identify_by_card(device: KioskDevice, token: str) -> Member | None:
    member = cards.member_from_card(token)
    if member is None or member.community_id != device.community_id:
        return None
    return member


def identify_by_pin(device: KioskDevice, member_no: str, pin: str, now: datetime) -> Member | None:
    member = cards.member_by_pin(member_no, pin, now=now)
    if member is None or member.community_id != device.community_id:
        return None
    return member


# --- what a member may check in to here -------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """One big button on the member's screen: an activity here today, open or not."""

    activity: Activity
    open_check_in: CheckIn | None


def open_check_ins(member: Member) -> list[CheckIn]:
    return list(
        db.session.scalars(
            select(CheckIn).where(
                CheckIn.member_id == member.id,
                CheckIn.checked_out_at.is_(None),
                CheckIn.cancelled_at.is_(None),
            )
        )
    )


def choices_here(member: Member, place: str, now: datetime) -> tuple[list[Choice], list[CheckIn]]:
    """Today's activities of the member's teams at this place (from an hour before the
    start to the end), each with the member's open check-in if any; and the member's open
    walk-ins here."""
    team_ids = [t.id for t in teams.active_teams_of(member)]
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    found = (
        list(
            db.session.scalars(
                select(Activity)
                .where(
                    Activity.team_id.in_(team_ids),
                    Activity.place == place,
                    Activity.cancelled.is_(False),
                    Activity.starts_at >= day_start,
                    Activity.starts_at < day_start + timedelta(days=1),
                )
                .order_by(Activity.starts_at)
            )
        )
        if team_ids
        else []
    )
    open_ones = open_check_ins(member)
    by_activity = {c.activity_id: c for c in open_ones if c.activity_id is not None}
    result = [
        Choice(a, by_activity.get(a.id))
        for a in found
        if a.id in by_activity or a.starts_at - OPENS_BEFORE <= now <= a.ends_at
    ]
    walk_ins = [c for c in open_ones if c.activity_id is None and c.place == place]
    return result, walk_ins


def walk_in_options(member: Member) -> tuple[list[Team], list[Service]]:
    member_teams = teams.active_teams_of(member)
    services = list(
        db.session.scalars(
            select(Service)
            .where(Service.community_id == member.community_id, Service.active.is_(True))
            .order_by(Service.name)
        )
    )
    return member_teams, services


# --- check in, check out ----------------------------------------------------------------


@dataclass(frozen=True)
class Where:
    """Where a check-in happens: an enrolled kiosk, or a place code on the member's phone."""

    community_id: int
    place: str
    device: KioskDevice | None
    source: str = "kiosk"

    @classmethod
    def kiosk(cls, device: KioskDevice) -> Where:
        return cls(device.community_id, device.place, device, "kiosk")


def _late(happened: datetime, received: datetime | None) -> bool:
    return received is not None and received - happened > LATE_SYNC


def check_in(
    member: Member,
    where: Where,
    *,
    at: datetime,
    key: str,
    activity_id: int | None = None,
    team_id: int | None = None,
    service_id: int | None = None,
    received: datetime | None = None,
) -> CheckIn:
    """Check a member in. `key` is the client's idempotency key: the same key again
    returns the first check-in. `received` (for offline delivery) flags a late arrival."""
    earlier = db.session.scalar(select(CheckIn).where(CheckIn.client_key == key))
    if earlier is not None:
        if earlier.member_id != member.id:
            raise DomainError(_l("That check-in was already used."))
        return earlier
    lock_row(Member, member.id)  # one open check-in per member, even for two fast taps
    if activity_id is not None:
        activity = db.session.get(Activity, activity_id)
        if (
            activity is None
            or activity.cancelled
            or activity.place != where.place
            or not teams.is_active_member(member, activity.team_id)
            or not activity.starts_at - OPENS_BEFORE <= at <= activity.ends_at
        ):
            raise DomainError(_l("This activity is not open for check-in here now."))
        team_id, service_id = activity.team_id, activity.service_id
    else:
        team = db.session.get(Team, team_id) if team_id else None
        if team is None or team.archived or not teams.is_active_member(member, team.id):
            raise DomainError(_l("Choose one of your teams."), field="team")
        service = db.session.get(Service, service_id) if service_id else None
        if service is None or service.community_id != member.community_id or not service.active:
            raise DomainError(_l("Choose a service from the list."), field="service")
    for other in open_check_ins(member):
        if other.activity_id == activity_id and other.place == where.place:
            return other  # already in: a second tap changes nothing
    visit = CheckIn(
        member_id=member.id,
        device_id=where.device.id if where.device else None,
        community_id=where.community_id,
        place=where.place,
        activity_id=activity_id,
        team_id=team_id,
        service_id=service_id,
        checked_in_at=at,
        source=where.source,
        client_key=key,
        flag="late_sync" if _late(at, received) else None,
    )
    db.session.add(visit)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise DomainError(_l("That check-in was already used.")) from None
    return visit


def counted_minutes(visit: CheckIn, out: datetime) -> int:
    """Early arrival counts from the scheduled start, late arrival from arrival; rounded to
    KIOSK_ROUND_MINUTES (5)."""
    start = visit.checked_in_at
    if visit.activity is not None and start < visit.activity.starts_at:
        start = visit.activity.starts_at
    step = _setting("KIOSK_ROUND_MINUTES", 5)
    minutes = max((out - start).total_seconds() / 60, 0)
    return int((minutes + step / 2) // step) * step


class TooShort(DomainError):
    """Checked out within 5 minutes of checking in: the kiosk offers to cancel instead."""


def _locked_visit(member: Member, visit_id: int) -> CheckIn:
    visit = lock_row(CheckIn, visit_id)
    if visit is None or visit.member_id != member.id:
        raise DomainError(_l("That check-in does not exist."))
    return visit


def check_out(
    member: Member,
    visit_id: int,
    *,
    at: datetime,
    key: str,
    device: KioskDevice | None = None,
    allow_short: bool = False,
    received: datetime | None = None,
) -> CheckIn:
    """Close a check-in and create its hour log (source "kiosk") through the hours service,
    which applies the 1–720 minute and day limits. A replayed key changes nothing."""
    visit = _locked_visit(member, visit_id)
    if visit.checkout_key == key or visit.checked_out_at is not None:
        return visit
    if visit.cancelled_at is not None:
        raise DomainError(_l("This check-in was cancelled."))
    if at < visit.checked_in_at:
        at = visit.checked_in_at
    if at - visit.checked_in_at < SHORT_VISIT and not allow_short:
        raise TooShort(_l("You checked in less than 5 minutes ago."))
    if visit.activity_id is not None and _attendance_logged(visit.activity_id, member.id):
        raise DomainError(
            _l("Your hours for this activity are already recorded by the coordinator.")
        )
    minutes = counted_minutes(visit, at)
    if minutes < 1:
        raise DomainError(
            _l("The activity has not started yet: nothing to count."), field="minutes"
        )
    log = hour_service.log_hours(
        member,
        hour_service.LogRequest(
            team_id=visit.team_id,
            service_id=visit.service_id,
            service_date=visit.checked_in_at.date(),
            minutes=minutes,
            note=visit.place,
        ),
        today=max(at.date(), visit.checked_in_at.date()),
        source="kiosk",
    )
    visit.checked_out_at = at
    visit.checkout_key = key
    visit.hour_log_id = log.id
    if _late(at, received):
        visit.flag = "late_sync"
    team = db.session.get(Team, visit.team_id)
    if device is not None and team is not None and team.kiosk_auto_approve and visit.flag is None:
        hour_service.approve_by_device(log.id, device)
    db.session.flush()
    return visit


def _attendance_logged(activity_id: int, member_id: int) -> bool:
    return (
        db.session.scalar(
            select(HourLog.id).where(
                HourLog.activity_id == activity_id,
                HourLog.member_id == member_id,
                HourLog.status.in_(("pending", "approved")),
            )
        )
        is not None
    )


def logged_at_kiosk(activity_id: int, member_id: int) -> bool:
    """Whether the member's hours for this activity came from a kiosk check-out (marking
    attendance then must not credit them a second time)."""
    return (
        db.session.scalar(
            select(CheckIn.id)
            .join(HourLog, HourLog.id == CheckIn.hour_log_id)
            .where(
                CheckIn.activity_id == activity_id,
                CheckIn.member_id == member_id,
                HourLog.status.in_(("pending", "approved")),
            )
            .limit(1)
        )
        is not None
    )


def cancel_check_in(member: Member, visit_id: int) -> CheckIn:
    visit = _locked_visit(member, visit_id)
    if visit.checked_out_at is None and visit.cancelled_at is None:
        visit.cancelled_at = visit.checked_out_at = max(utcnow_local(), visit.checked_in_at)
    db.session.flush()
    return visit


def utcnow_local() -> datetime:
    from portal.clock import now_local

    return now_local()


def log_of(visit: CheckIn) -> HourLog | None:
    return db.session.get(HourLog, visit.hour_log_id) if visit.hour_log_id else None


def balance(member: Member) -> int:
    return ledger.balance_of(member)


# --- forgotten check-outs ---------------------------------------------------------------


def close_open(now: datetime) -> list[CheckIn]:
    """Close every check-in still open past its activity's end (a walk-in after 4 hours):
    the scheduled time is logged as pending, and the check-in flagged for the coordinator."""
    closed: list[CheckIn] = []
    candidates = db.session.scalars(
        select(CheckIn.id).where(
            CheckIn.checked_out_at.is_(None),
            CheckIn.cancelled_at.is_(None),
            CheckIn.checked_in_at <= now - timedelta(minutes=1),
        )
    ).all()
    for visit_id in candidates:
        visit = lock_row(CheckIn, visit_id)
        if visit is None or visit.checked_out_at is not None:
            continue
        end = visit.activity.ends_at if visit.activity else visit.checked_in_at + WALK_IN_LONGEST
        if now < end:
            continue
        member = db.session.get(Member, visit.member_id)
        assert member is not None
        visit.flag = "forgotten_checkout"
        try:
            with db.session.begin_nested():
                check_out(member, visit.id, at=end, key=f"close-open:{visit.id}", allow_short=True)
        except DomainError:
            # No hours fit (the day limit, or nothing to count): closed without a log.
            visit.checked_out_at = end
            visit.checkout_key = f"close-open:{visit.id}"
        visit.flag = "forgotten_checkout"
        db.session.flush()
        closed.append(visit)
    return closed


EARLIER_CHOICES = (0, 30, 60)


def correction_due(member: Member) -> CheckIn | None:
    """A forgotten check-out whose pending log the member has not corrected yet."""
    return db.session.scalar(
        select(CheckIn)
        .join(HourLog, HourLog.id == CheckIn.hour_log_id)
        .where(
            CheckIn.member_id == member.id,
            CheckIn.flag == "forgotten_checkout",
            CheckIn.corrected_at.is_(None),
            HourLog.status == "pending",
        )
        .order_by(CheckIn.id)
        .limit(1)
    )


def correct_leaving(member: Member, visit_id: int, minutes_earlier: int) -> CheckIn:
    """ "上次您几点离开？" — the member says they left at the scheduled end, or 30 or 60
    minutes earlier; the pending log is corrected (or cancelled when nothing is left)."""
    if minutes_earlier not in EARLIER_CHOICES:
        raise DomainError(_l("Choose one of the three times."))
    visit = _locked_visit(member, visit_id)
    log = lock_row(HourLog, visit.hour_log_id) if visit.hour_log_id else None
    if visit.corrected_at is not None or log is None or log.status != "pending":
        return visit
    assert visit.checked_out_at is not None
    left = visit.checked_out_at - timedelta(minutes=minutes_earlier)
    minutes = counted_minutes(visit, max(left, visit.checked_in_at))
    before = log.minutes
    if minutes < 1:
        log.status = "cancelled"
        log.decided_at = utcnow()
    else:
        log.minutes = minutes
    visit.checked_out_at = max(left, visit.checked_in_at)
    visit.corrected_at = utcnow()
    audit.record(
        None,
        "hour_log.kiosk_correct",
        log,
        community_id=log.community_id,
        before=before,
        after=minutes,
        check_in=visit.id,
    )
    db.session.flush()
    return visit


# --- who is here now --------------------------------------------------------------------


def places_for(coordinator: Member) -> list[str]:
    """The kiosk places of the coordinator's (or admin's) community."""
    return list(
        db.session.scalars(
            select(KioskDevice.place)
            .where(KioskDevice.community_id == coordinator.community_id)
            .distinct()
            .order_by(KioskDevice.place)
        )
    )


def may_oversee(member: Member) -> bool:
    return member.is_admin or bool(teams.coordinated_team_ids(member))


def here_now(community_id: int, place: str) -> list[CheckIn]:
    return list(
        db.session.scalars(
            select(CheckIn)
            .where(
                CheckIn.community_id == community_id,
                CheckIn.place == place,
                CheckIn.checked_out_at.is_(None),
            )
            .order_by(CheckIn.checked_in_at)
        )
    )


def flagged(community_id: int, place: str, limit: int = 50) -> list[CheckIn]:
    """Check-ins a coordinator should look at (forgotten check-outs, late offline
    deliveries) whose hour log still waits for a decision."""
    return list(
        db.session.scalars(
            select(CheckIn)
            .join(HourLog, HourLog.id == CheckIn.hour_log_id)
            .where(
                CheckIn.community_id == community_id,
                CheckIn.place == place,
                CheckIn.flag.is_not(None),
                HourLog.status == "pending",
            )
            .order_by(CheckIn.id.desc())
            .limit(limit)
        )
    )


def check_out_everyone(coordinator: Member, place: str, now: datetime) -> int:
    """The end of an event: everyone at the place is checked out now (the coordinator
    witnesses nothing here: the logs stay pending unless the team auto-approves)."""
    if not may_oversee(coordinator):
        raise Forbidden(_l("Only a coordinator or admin can check everyone out."))
    count = 0
    for visit in here_now(coordinator.community_id, place):
        member = db.session.get(Member, visit.member_id)
        assert member is not None
        try:
            with db.session.begin_nested():
                check_out(member, visit.id, at=now, key=f"all:{visit.id}", allow_short=True)
        except DomainError:
            visit.checked_out_at = max(now, visit.checked_in_at)
            visit.cancelled_at = visit.checked_out_at
        count += 1
    audit.record(
        coordinator,
        "kiosk.check_out_everyone",
        coordinator,
        community_id=coordinator.community_id,
        place=place,
        count=count,
    )
    db.session.flush()
    return count


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


# --- offline delivery -------------------------------------------------------------------


def deliver_offline(
    member: Member, device: KioskDevice, *, key: str, at: datetime, received: datetime
) -> str:
    """A card scan an offline kiosk kept: it checks the member out of their open visit
    here, or into the activity open here at that time. Returns "in", "out" or "already"
    (the same key delivered again)."""
    done = db.session.scalar(
        select(CheckIn.id).where((CheckIn.client_key == key) | (CheckIn.checkout_key == key))
    )
    if done is not None:
        return "already"
    where = Where.kiosk(device)
    for visit in open_check_ins(member):
        if visit.place == device.place:
            check_out(
                member, visit.id, at=at, key=key, device=device, allow_short=True, received=received
            )
            return "out"
    choices, _walk_ins = choices_here(member, device.place, at)
    if not choices:
        raise DomainError(_l("No activity of yours was open here at that time."))
    check_in(member, where, at=at, key=key, activity_id=choices[0].activity.id, received=received)
    return "in"
