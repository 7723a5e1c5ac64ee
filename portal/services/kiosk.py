"""The kiosk's rules for a visit: identification between screens, check-in and check-out,
and offline delivery. The devices themselves and the rotating place code are in
portal/services/devices.py; forgotten check-outs and who is here in
portal/services/presence.py.

Check-in times are the city's wall-clock time (naive), like activities; device contact
times are naive UTC, like every other timestamp. Services flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import Activity, CheckIn, HourLog, KioskDevice, Member, Service, Team
from portal.models.hours import MAX_LOG_MINUTES
from portal.services import audit, cards, ledger, teams
from portal.services import hours as hour_service
from portal.services.errors import DomainError
from portal.services.locking import lock_row

OPENS_BEFORE = timedelta(hours=1)
WALK_IN_LONGEST = timedelta(hours=4)
SHORT_VISIT = timedelta(minutes=5)
LATE_SYNC = timedelta(hours=12)
OFFLINE_PIN_REFUSED = "kiosk.offline_pin_refused"


def _setting(name: str, default: int) -> int:
    return int(current_app.config.get(name, default))


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


def choices_here(
    member: Member, place: str, now: datetime, member_teams: list[Team] | None = None
) -> tuple[list[Choice], list[CheckIn]]:
    """The activities of the member's teams at this place that are on now (from an hour
    before the start to the end, also across midnight) and any activity here the member is
    still checked in to, each with the member's open check-in if any; and the member's open
    walk-ins here. `member_teams`: `teams.active_teams_of(member)` when the caller has read
    them already."""
    if member_teams is None:
        member_teams = teams.active_teams_of(member)
    team_ids = [t.id for t in member_teams]
    found = (
        list(
            db.session.scalars(
                select(Activity)
                .where(
                    Activity.team_id.in_(team_ids),
                    Activity.place == place,
                    Activity.cancelled.is_(False),
                    # (team_id, starts_at) index: an activity lasts at most a log's length.
                    Activity.starts_at > now - timedelta(minutes=MAX_LOG_MINUTES),
                    Activity.starts_at <= now + OPENS_BEFORE,
                    Activity.ends_at >= now,
                )
                .order_by(Activity.starts_at)
            )
        )
        if team_ids
        else []
    )
    open_ones = open_check_ins(member)
    by_activity = {c.activity_id: c for c in open_ones if c.activity_id is not None}
    # An activity the member is still checked in to after its end (a check-out forgotten,
    # or one after midnight): it is no longer on, but its check-out must be offered.
    overnight = set(by_activity) - {a.id for a in found}
    if overnight:
        found += db.session.scalars(
            select(Activity).where(Activity.id.in_(overnight), Activity.place == place)
        )
        found.sort(key=lambda a: a.starts_at)
    result = [
        Choice(a, by_activity.get(a.id))
        for a in found
        if a.id in by_activity or a.starts_at - OPENS_BEFORE <= now <= a.ends_at
    ]
    walk_ins = [c for c in open_ones if c.activity_id is None and c.place == place]
    return result, walk_ins


def walk_in_options(
    member: Member, member_teams: list[Team] | None = None
) -> tuple[list[Team], list[Service]]:
    """The member's teams (`member_teams` when read already) and the services they may
    check in for."""
    if member_teams is None:
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
        flag=_check_in_flag(where, at, received),
    )
    db.session.add(visit)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise DomainError(_l("That check-in was already used.")) from None
    return visit


def _check_in_flag(where: Where, at: datetime, received: datetime | None) -> str | None:
    if where.source == "printed_code":
        # A printed code can be photographed and scanned from home: no device saw the
        # member there, so the hours wait for the coordinator, flagged.
        return "printed_code"
    return "late_sync" if _late(at, received) else None


def counted_until(visit: CheckIn, out: datetime) -> datetime:
    """Where the counting stops: at check-out, but never past the activity's scheduled end
    (a member who checks out two hours after the end is credited up to the end), and a
    walk-in never past 4 hours after check-in (the same rule that closes it when
    forgotten)."""
    if visit.activity is not None:
        return min(out, visit.activity.ends_at)
    return min(out, visit.checked_in_at + WALK_IN_LONGEST)


def counted_minutes(visit: CheckIn, out: datetime) -> int:
    """Early arrival counts from the scheduled start, late arrival from arrival; the count
    stops at the scheduled end (counted_until); rounded to KIOSK_ROUND_MINUTES (5)."""
    start = visit.checked_in_at
    if visit.activity is not None and start < visit.activity.starts_at:
        start = visit.activity.starts_at
    step = _setting("KIOSK_ROUND_MINUTES", 5)
    minutes = max((counted_until(visit, out) - start).total_seconds() / 60, 0)
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
    flag: str | None = None,
) -> CheckIn:
    """Close a check-in and create its hour log (source "kiosk") through the hours service,
    which applies the 1–720 minute and day limits. A replayed key changes nothing. `flag`
    marks a check-out nobody witnessed (by printed code) for the coordinator."""
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
    if flag is not None:
        visit.flag = flag
    # The coordinator's queue says why this log needs a look (HourLog.review_reason).
    log.review_reason = visit.flag
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


def refuse_offline_pin(device: KioskDevice, *, member_no: str, at: datetime, key: str) -> None:
    """A number + PIN an offline kiosk kept that the server does not accept (wrong, locked,
    or no such number): nothing is credited, and the coordinator sees it on "who is here"
    (presence.refused_offline_pins) — someone typed at the kiosk and went home thinking they
    were checked in, or someone tried a PIN that is not theirs. The PIN is not written."""
    audit.record(
        None,
        OFFLINE_PIN_REFUSED,
        device,
        community_id=device.community_id,
        member_no=member_no,
        at=at.isoformat(timespec="minutes"),
        key=key,
    )
