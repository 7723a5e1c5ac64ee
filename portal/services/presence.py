"""Who is at a place now, and the check-outs people forget: `flask kiosk close-open` closes
them at the activity's end (walk-ins after 4 hours) as pending, flagged logs, and the kiosk
asks the member "上次您几点离开？" at their next visit. Services flush, never commit."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, CheckIn, HourLog, KioskDevice, Member
from portal.models._time import utcnow
from portal.services import audit, kiosk, teams
from portal.services.errors import DomainError, Forbidden
from portal.services.locking import lock_row

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
        end = (
            visit.activity.ends_at
            if visit.activity
            else visit.checked_in_at + kiosk.WALK_IN_LONGEST
        )
        if now < end:
            continue
        member = db.session.get(Member, visit.member_id)
        assert member is not None
        visit.flag = "forgotten_checkout"
        try:
            with db.session.begin_nested():
                kiosk.check_out(
                    member, visit.id, at=end, key=f"close-open:{visit.id}", allow_short=True
                )
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
    visit = kiosk._locked_visit(member, visit_id)
    log = lock_row(HourLog, visit.hour_log_id) if visit.hour_log_id else None
    if visit.corrected_at is not None or log is None or log.status != "pending":
        return visit
    assert visit.checked_out_at is not None
    left = visit.checked_out_at - timedelta(minutes=minutes_earlier)
    minutes = kiosk.counted_minutes(visit, max(left, visit.checked_in_at))
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


@dataclass(frozen=True)
class RefusedPin:
    """A number + PIN an offline kiosk kept that the server refused on delivery."""

    member_no: str
    at: str
    received_at: datetime


def refused_offline_pins(community_id: int, place: str, limit: int = 20) -> list[RefusedPin]:
    """The latest offline number + PIN check-ins refused at this place's kiosks (audit
    lines of kiosk.refuse_offline_pin), for the coordinator to follow up."""
    device_ids = select(KioskDevice.id).where(
        KioskDevice.community_id == community_id, KioskDevice.place == place
    )
    events = db.session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.action == kiosk.OFFLINE_PIN_REFUSED,
            AuditEvent.subject_type == KioskDevice.__tablename__,
            AuditEvent.subject_id.in_(device_ids),
        )
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    found = []
    for event in events:
        detail = json.loads(event.detail or "{}")
        found.append(
            RefusedPin(
                str(detail.get("member_no", "")), str(detail.get("at", "")), event.created_at
            )
        )
    return found


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
                kiosk.check_out(member, visit.id, at=now, key=f"all:{visit.id}", allow_short=True)
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
