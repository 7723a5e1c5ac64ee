"""Activities (活动): create, change, sign up, cancel, and mark attendance into hours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from portal.clock import now_local
from portal.extensions import db
from portal.models import Activity, ActivitySignup, HourLog, Member, Service, Team
from portal.models._time import utcnow
from portal.models.hours import MAX_LOG_MINUTES
from portal.services import audit, credits, hours, kiosk, notifications, teams
from portal.services.errors import AlreadyDecided, DomainError, Forbidden
from portal.services.locking import lock_row


@dataclass(frozen=True)
class ActivityFields:
    title: str
    starts_at: datetime | None
    ends_at: datetime | None
    place: str
    capacity: int | None
    service_id: int | None


def _check(fields: ActivityFields, team: Team) -> Service:
    if not 1 <= len(fields.title.strip()) <= 100:
        raise DomainError(_l("Give the activity a title (up to 100 characters)."), field="title")
    if fields.starts_at is None:
        raise DomainError(_l("Enter when the activity starts."), field="starts_at")
    if fields.ends_at is None:
        raise DomainError(_l("Enter when the activity ends."), field="ends_at")
    if fields.ends_at <= fields.starts_at:
        raise DomainError(_l("The end must be after the start."), field="ends_at")
    if (fields.ends_at - fields.starts_at).total_seconds() > MAX_LOG_MINUTES * 60:
        raise DomainError(_l("An activity lasts at most 12 hours."), field="ends_at")
    if not 1 <= len(fields.place.strip()) <= 200:
        raise DomainError(_l("Enter the place (up to 200 characters)."), field="place")
    if fields.capacity is None or not 1 <= fields.capacity <= 1000:
        raise DomainError(_l("Enter how many people can take part (1 to 1000)."), field="capacity")
    service = db.session.get(Service, fields.service_id) if fields.service_id else None
    if service is None or service.community_id != team.community_id or not service.active:
        raise DomainError(_l("Choose a service from the list."), field="service")
    return service


def create(coordinator: Member, team: Team, fields: ActivityFields) -> Activity:
    teams.check_coordinator(coordinator, team)
    if team.archived:
        raise DomainError(_l("This team is archived."))
    service = _check(fields, team)
    activity = Activity(
        team_id=team.id,
        service_id=service.id,
        title=fields.title.strip(),
        starts_at=fields.starts_at,
        ends_at=fields.ends_at,
        place=fields.place.strip(),
        capacity=fields.capacity,
        created_by_id=coordinator.id,
    )
    db.session.add(activity)
    db.session.flush()
    audit.record(coordinator, "activity.create", activity, community_id=team.community_id)
    return activity


def signed_up(activity: Activity) -> list[ActivitySignup]:
    return list(
        db.session.scalars(
            select(ActivitySignup)
            .where(ActivitySignup.activity_id == activity.id, ActivitySignup.status == "signed_up")
            .order_by(ActivitySignup.id)
        )
    )


def signup_count(activity_id: int) -> int:
    return db.session.scalar(
        select(func.count(ActivitySignup.id)).where(
            ActivitySignup.activity_id == activity_id, ActivitySignup.status == "signed_up"
        )
    )


def update(coordinator: Member, activity: Activity, fields: ActivityFields) -> Activity:
    team = activity.team
    teams.check_coordinator(coordinator, team)
    service = _check(fields, team)
    if fields.capacity is not None and fields.capacity < signup_count(activity.id):
        raise DomainError(
            _l("More people have signed up than that; the capacity cannot be lower."),
            field="capacity",
        )
    activity.title = fields.title.strip()
    activity.starts_at = fields.starts_at  # type: ignore[assignment]
    activity.ends_at = fields.ends_at  # type: ignore[assignment]
    activity.place = fields.place.strip()
    activity.capacity = fields.capacity  # type: ignore[assignment]
    activity.service_id = service.id
    audit.record(coordinator, "activity.update", activity, community_id=team.community_id)
    notifications.notify_each(
        (signup.member_id for signup in signed_up(activity)),
        "activity_changed",
        f"/activities/{activity.id}",
        title=activity.title,
    )
    return activity


def sign_up(member: Member, activity_id: int) -> ActivitySignup:
    # Lock the activity: two people racing for the last place are served one at a time.
    activity = lock_row(Activity, activity_id)
    if activity is None:
        raise DomainError(_l("That activity does not exist."))
    if not teams.is_active_member(member, activity.team_id):
        raise Forbidden(_l("Only members of this team can sign up."))
    if activity.cancelled:
        raise DomainError(_l("This activity has been cancelled."))
    if activity.ends_at <= now_local():
        raise DomainError(_l("This activity has already ended."))
    signup = db.session.scalar(
        select(ActivitySignup).where(
            ActivitySignup.activity_id == activity.id, ActivitySignup.member_id == member.id
        )
    )
    if signup is not None and signup.status == "signed_up":
        raise AlreadyDecided(_l("You have already signed up."))
    if signup_count(activity.id) >= activity.capacity:
        raise DomainError(_l("Sorry, this activity is full."))
    if signup is None:
        signup = ActivitySignup(activity_id=activity.id, member_id=member.id)
        db.session.add(signup)
    signup.status = "signed_up"
    db.session.flush()
    return signup


def cancel_signup(member: Member, activity_id: int) -> None:
    activity = lock_row(Activity, activity_id)
    if activity is None:
        raise DomainError(_l("That activity does not exist."))
    signup = db.session.scalar(
        select(ActivitySignup).where(
            ActivitySignup.activity_id == activity.id, ActivitySignup.member_id == member.id
        )
    )
    if signup is None or signup.status != "signed_up":
        raise AlreadyDecided(_l("You are not signed up for this activity."))
    if activity.attendance_marked_at is not None:
        raise DomainError(_l("Attendance has been marked; the sign-up can no longer change."))
    signup.status = "cancelled"


def mark_attendance(
    coordinator: Member, activity_id: int, attended_ids: list[int]
) -> list[HourLog]:
    """Create an hour log for each attendee (pending, or approved when the team auto-approves).
    Marking again adds only people not yet marked: nobody is credited twice."""
    activity = lock_row(Activity, activity_id)
    if activity is None:
        raise DomainError(_l("That activity does not exist."))
    team = activity.team
    teams.check_coordinator(coordinator, team)
    if activity.ends_at > now_local():
        raise DomainError(_l("Attendance can be marked once the activity has ended."))
    signups = {s.member_id: s for s in signed_up(activity)}
    unknown = [i for i in attended_ids if i not in signups]
    if unknown:
        raise DomainError(_l("Only people who signed up can be marked as attending."))
    minutes = min(
        int((activity.ends_at - activity.starts_at).total_seconds() // 60), MAX_LOG_MINUTES
    )
    created: list[HourLog] = []
    for member_id in sorted(set(attended_ids)):
        signup = signups[member_id]
        if signup.attended:
            continue
        signup.attended = True
        if kiosk.logged_at_kiosk(activity.id, member_id):
            continue  # checked in and out at the kiosk: those hours are already logged
        member = signup.member
        try:
            log = hours.log_hours(
                member,
                hours.LogRequest(
                    team_id=team.id,
                    service_id=activity.service_id,
                    service_date=activity.starts_at.date(),
                    minutes=minutes,
                    note=activity.title,
                    activity_id=activity.id,
                ),
                today=now_local().date(),
                source="activity",
            )
        except DomainError as error:
            raise DomainError(f"{member.name}: {error.message}") from error
        if team.kiosk_auto_approve and credits.may_witness(coordinator, member.id):
            hours.approve_log(coordinator, log.id)
        created.append(log)
    activity.attendance_marked_at = utcnow()
    audit.record(
        coordinator,
        "activity.attendance",
        activity,
        community_id=team.community_id,
        attended=sorted(set(attended_ids)),
    )
    return created
