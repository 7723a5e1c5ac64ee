"""Service requests (点单 → 派单 → 接单 → 评单) and redemption of banked hours.

A paid request holds its estimate (member → escrow) when posted. The hold is resolved by
exactly one entry: settled on confirmation (escrow → volunteer, remainder back to the
member) or released on cancellation (escrow → member). Every step locks the request row and
checks its status, so clicks, retries and races in any order resolve a hold once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import BindParameter, Select, and_, false, func, or_, select
from sqlalchemy.orm import aliased

from portal.clock import now_local, today_local, utc_now
from portal.extensions import db
from portal.models import (
    Account,
    Community,
    Grid,
    HourLog,
    JournalEntry,
    Member,
    RequestEvent,
    Service,
    ServiceRequest,
    Team,
    TeamMembership,
)
from portal.models._time import utcnow
from portal.models.hours import MAX_LOG_MINUTES
from portal.models.requests import ACTIVE_STATUSES
from portal.services import (
    audit,
    credits,
    family,
    grids,
    ledger,
    members,
    notifications,
    pool,
    teams,
)
from portal.services.errors import AlreadyDecided, DomainError, Forbidden, InsufficientBalance
from portal.services.locking import lock_row


@dataclass(frozen=True)
class RequestFields:
    service_id: int | None
    wanted_at: datetime | None
    place: str
    note: str
    minutes: int | None
    pay_with_hours: bool
    # Ask the community's public-welfare pool to pay (a coordinator approves it).
    ask_pool: bool = False


# --- who may do what ------------------------------------------------------------------


def is_dispatcher(member: Member, community_id: int) -> bool:
    """Coordinators and admins dispatch the requests of their own community."""
    if member.community_id != community_id:
        return False
    return member.is_admin or bool(teams.coordinated_team_ids(member))


def may_dispatch(member: Member, request: ServiceRequest) -> bool:
    """The community's coordinators and admins, the grid worker of the request's grid, and,
    once the request has escalated to the street office, that office's admins."""
    return (
        is_dispatcher(member, request.community_id)
        or grids.is_grid_worker_of(member, request.grid_id)
        or street_office_dispatches(member, request)
    )


def street_office_dispatches(member: Member, request: ServiceRequest) -> bool:
    """大事不出街道: a request nobody took escalates to the street office (level 2); the
    admin of the street office above its community may then dispatch it too. Not before:
    until then it is the community's to dispatch."""
    return (
        member.role == "street_admin"
        and request.escalation_level >= 2
        and request.community_id in grids.overseen_community_ids(member)
    )


def party_head_start() -> timedelta:
    minutes = 30
    if has_app_context():
        minutes = int(current_app.config.get("GRID_PARTY_HEAD_START_MINUTES", minutes))
    return timedelta(minutes=minutes)


def visible_to(member: Member, request: ServiceRequest) -> bool:
    """Whether an open request of a grid reaches this member yet: its grid's party members
    first (党员接单), then the grid's members, a team it was routed to, and the whole
    community once it is opened to it. Requests without a grid reach everyone at once."""
    if request.grid_id is None or grids.is_grid_worker_of(member, request.grid_id):
        return True
    grid = db.session.get(Grid, request.grid_id)
    assert grid is not None
    in_grid = member.grid_id is not None and member.grid_id in grids.family_ids(grid)
    head_start = request.party_until is not None and request.party_until > utc_now()
    if head_start and not (member.party_member and in_grid):
        return False
    if request.open_to_community or in_grid:
        return True
    return request.routed_team_id is not None and request.routed_team_id in {
        t.id for t in teams.active_teams_of(member)
    }


def may_act_for(actor: Member, requester_id: int) -> bool:
    return actor.id == requester_id or family.linked(actor, requester_id)


def may_view(actor: Member, request: ServiceRequest) -> bool:
    return actor.community_id == request.community_id or may_act_for(actor, request.requester_id)


def _volunteer_team(volunteer: Member, service: Service) -> Team:
    """The volunteer's team the work counts for: one of the service's category if any."""
    my_teams = teams.active_teams_of(volunteer)
    if not my_teams:
        raise DomainError(
            _l("Only a member of a volunteer team can take on requests."), field="volunteer"
        )
    same = [t for t in my_teams if t.category == service.category]
    return (same or my_teams)[0]


def _event(request: ServiceRequest, actor: Member | None, kind: str, detail: str = "") -> None:
    request.status_changed_at = utcnow()
    db.session.add(
        RequestEvent(
            request_id=request.id, actor_id=actor.id if actor else None, kind=kind, detail=detail
        )
    )
    audit.record(
        actor, f"request.{kind}", request, community_id=request.community_id, detail=detail
    )


def _locked(request_id: int) -> ServiceRequest:
    request = lock_row(ServiceRequest, request_id)
    if request is None:
        raise DomainError(_l("That request does not exist."))
    return request


def _expect(request: ServiceRequest, *statuses: str) -> None:
    if request.status not in statuses:
        raise AlreadyDecided(_l("This request has moved on; the page shows where it is now."))


# --- posting --------------------------------------------------------------------------


def age_of(member: Member) -> int:
    return members.age_in(member.birth_year)


def post(
    poster: Member,
    fields: RequestFields,
    *,
    for_member_id: int | None = None,
    grid_id: int | None = None,
    community_id: int | None = None,
) -> ServiceRequest:
    """Post a need. `community_id` is where the service is wanted (where the resident lives
    now, 通存通兑); by default the requester's own community."""
    requester = poster
    if for_member_id is not None and for_member_id != poster.id:
        other = db.session.get(Member, for_member_id)
        if other is None:
            raise DomainError(_l("No member has that member number."), field="for_member")
        if not (
            is_dispatcher(poster, other.community_id)
            or family.linked(poster, other.id)
            or _heads_building_of(poster, other)
            or grids.is_grid_worker_of(poster, other.grid_id)
        ):
            raise Forbidden(_l("Only a coordinator or a linked relative may post for someone."))
        requester = other
    where = db.session.get(Community, community_id or requester.community_id)
    if where is None:
        raise DomainError(_l("Choose a community from the list."), field="community")
    service = db.session.get(Service, fields.service_id) if fields.service_id else None
    if service is None or service.community_id != where.id or not service.active:
        raise DomainError(_l("Choose a service from the list."), field="service")
    if fields.wanted_at is None:
        raise DomainError(_l("Enter when you need the service."), field="when")
    if fields.wanted_at < now_local() - timedelta(hours=1):
        raise DomainError(_l("The time has already passed."), field="when")
    if not 1 <= len(fields.place.strip()) <= 200:
        raise DomainError(_l("Enter where (up to 200 characters)."), field="place")
    if len(fields.note) > 500:
        raise DomainError(_l("Keep the note under 500 characters."), field="note")
    if fields.minutes is None or not 1 <= fields.minutes <= MAX_LOG_MINUTES:
        raise DomainError(
            _l("Enter an estimate between 1 and 720 minutes (12 hours)."), field="minutes"
        )
    funding: int | None = None
    if fields.pay_with_hours and fields.ask_pool:
        raise DomainError(
            _l("Choose one: your banked hours or the public-welfare pool."), field="ask_pool"
        )
    if fields.pay_with_hours:
        if not service.redeemable:
            raise DomainError(
                _l("This service cannot be paid with banked hours."), field="pay_with_hours"
            )
        # The hours are held where they were banked: the requester's account's community.
        funding = ledger.member_account(requester).community_id
        _check_redemption_age(requester, {where.id, funding, requester.community_id})
    if fields.ask_pool:
        pool.check_serves(where.id, requester)
    grid = (
        db.session.get(Grid, grid_id or requester.grid_id)
        if (grid_id or requester.grid_id)
        else None
    )
    if grid is not None and grid.community_id != where.id:
        grid = None
    request = ServiceRequest(
        grid_id=grid.id if grid else None,
        # A need of a grid goes first to its grid worker and its party members.
        open_to_community=grid is None,
        party_until=utc_now() + party_head_start() if grid else None,
        community_id=where.id,
        funding_community_id=funding,
        pool_status="asked" if fields.ask_pool else None,
        requester_id=requester.id,
        posted_by_id=poster.id,
        service_id=service.id,
        wanted_at=fields.wanted_at,
        place=fields.place.strip(),
        note=fields.note.strip(),
        estimate_minutes=fields.minutes,
        pay_with_hours=fields.pay_with_hours,
    )
    db.session.add(request)
    db.session.flush()
    if fields.pay_with_hours and poster.id != requester.id:
        if grid is not None:
            _tell_grid_workers(request, grid)
        # Nobody spends another person's hours for them: the resident (or another relative)
        # agrees first, and only then are the hours reserved.
        request.status = "awaiting_consent"
        _event(request, poster, "posted")
        notifications.notify(
            requester.id,
            "request_consent",
            f"/requests/{request.id}",
            name=poster.name,
            service=service.name,
            minutes=fields.minutes,
        )
        return request
    if fields.pay_with_hours:
        _hold(request, requester, poster)
    _event(request, poster, "posted")
    if fields.ask_pool:
        _event(request, poster, "pool_asked")
        notifications.notify_each(
            coordinators_of(request.community_id),
            "request_pool_asked",
            "requests.show",
            link_args={"request_id": request.id},
            service=service.name,
        )
    if grid is not None:
        _tell_grid_workers(request, grid)
    return request


def _check_redemption_age(requester: Member, community_ids: set[int]) -> None:
    """Every community the redemption touches keeps its minimum age (the strictest wins):
    moving between communities never lowers it."""
    ages = [
        c.redemption_min_age
        for c in db.session.scalars(select(Community).where(Community.id.in_(community_ids)))
        if c.redemption_min_age
    ]
    if ages and age_of(requester) < max(ages):
        raise DomainError(
            _l(
                "In this community, banked hours can be used from age %(age)s. The "
                "community can still fund this request: untick the box.",
                age=max(ages),
            ),
            field="pay_with_hours",
        )


def _heads_building_of(head: Member, resident: Member) -> bool:
    """A building head (楼长) posts needs for the residents of their building."""
    return resident.building is not None and (resident.grid_id, resident.building) in set(
        grids.headed_buildings(head)
    )


def _tell_grid_workers(request: ServiceRequest, grid: Grid) -> None:
    notifications.notify_each(
        grids.workers_of(grid),
        "request_for_grid",
        "requests.show",
        link_args={"request_id": request.id},
        grid=grid.name,
        service=request.service.name,
    )


def _hold(request: ServiceRequest, requester: Member, actor: Member) -> None:
    """Reserve the estimate of a paid request (member → escrow)."""
    try:
        entry = ledger.transfer(
            "redeem_hold",
            ledger.member_account(requester),
            _escrow(request),
            request.estimate_minutes,
            idempotency_key=f"request:{request.id}:hold",
            memo=f"request:{request.id}",
            community_id=request.funding_community_id or request.community_id,
            actor=actor,
        )
    except InsufficientBalance as exc:
        raise DomainError(
            _l(
                "Not enough banked hours: %(available)s minutes are available and this "
                "needs %(needed)s. You can ask for a community-funded service instead.",
                available=ledger.balance_of(requester),
                needed=request.estimate_minutes,
            ),
            field="minutes",
        ) from exc
    request.held_minutes = request.estimate_minutes
    request.hold_entry_id = entry.id


def _escrow(request: ServiceRequest) -> Account:
    """Where the request's hold sits: the escrow of the community whose hours pay it (the
    requester's own, or the pool's community). A hold never crosses communities; only the
    settlement does, and the ledger clears it."""
    return ledger.escrow_account(request.funding_community_id or request.community_id)


def _payer(request: ServiceRequest) -> Account:
    """The account a hold came from, and where what is not spent goes back."""
    if request.pool_status == "approved":
        return ledger.pool_account(request.community_id)
    return ledger.member_account(request.requester)


def is_pool_paid(request: ServiceRequest) -> bool:
    return request.pool_status == "approved"


def may_approve_pool(actor: Member, request: ServiceRequest) -> bool:
    """A coordinator or admin of the request's community who is neither the resident, the
    poster, the volunteer, nor family of any of them: the approval witnesses the credit."""
    if not is_dispatcher(actor, request.community_id):
        return False
    people = [request.requester_id, request.posted_by_id, request.assignee_id]
    return not any(credits.related(actor, member_id) for member_id in people)


def approve_pool(actor: Member, request_id: int) -> ServiceRequest:
    """A coordinator agrees that the pool pays this request: its estimate is held (pool →
    escrow), settled like any paid request when the resident confirms."""
    request = _locked(request_id)
    if not is_dispatcher(actor, request.community_id):
        raise Forbidden(_l("Only a coordinator of this community can approve the pool's payment."))
    if not may_approve_pool(actor, request):
        raise Forbidden(
            _l(
                "Nobody approves the pool's payment for a request of their own, their "
                "family's, or one they serve: ask another coordinator."
            )
        )
    if request.pool_status != "asked":
        raise AlreadyDecided(_l("This request has moved on; the page shows where it is now."))
    _expect(request, "open", "dispatched", "accepted")
    pool.check_serves(request.community_id, request.requester)
    try:
        entry = ledger.transfer(
            "redeem_hold",
            ledger.pool_account(request.community_id),
            ledger.escrow_account(request.community_id),
            request.estimate_minutes,
            idempotency_key=f"request:{request.id}:hold",
            memo=f"request:{request.id}",
            community_id=request.community_id,
            actor=actor,
        )
    except InsufficientBalance as exc:
        raise DomainError(
            _l(
                "The public-welfare pool is short: it holds %(available)s minutes and this "
                "request needs %(needed)s. The community can still fund it.",
                available=pool.balance(request.community_id),
                needed=request.estimate_minutes,
            )
        ) from exc
    request.pool_status = "approved"
    request.pool_approved_by_id = actor.id
    request.funding_community_id = request.community_id
    request.held_minutes = request.estimate_minutes
    request.hold_entry_id = entry.id
    _event(request, actor, "pool_approved", str(request.estimate_minutes))
    return request


def may_consent(actor: Member, request: ServiceRequest) -> bool:
    """The resident, or a linked relative of theirs other than the one who posted."""
    return actor.id != request.posted_by_id and may_act_for(actor, request.requester_id)


def consent(actor: Member, request_id: int, *, agree: bool) -> ServiceRequest:
    """The resident agrees to pay a request posted for them (the hold is made now) or
    declines it (the request is cancelled; nothing was reserved)."""
    request = _locked(request_id)
    if not may_consent(actor, request):
        raise Forbidden(_l("Only the resident, or another relative, can agree to this."))
    _expect(request, "awaiting_consent")
    if agree:
        _hold(request, request.requester, actor)
        request.status = "open"
        _event(request, actor, "consented")
    else:
        request.status = "cancelled"
        _event(request, actor, "consent_declined")
    return request


# --- the steps ------------------------------------------------------------------------


def may_serve(volunteer: Member, request: ServiceRequest) -> bool:
    """Nobody serves a request posted by or for themselves or their family: the
    confirmation would then be their own family's word for their own hours."""
    return not (
        credits.related(volunteer, request.requester_id)
        or credits.related(volunteer, request.posted_by_id)
        # The coordinator who approved the pool's payment witnessed it: not theirs to earn.
        or credits.related(volunteer, request.pool_approved_by_id)
    )


def _check_not_related(volunteer: Member, request: ServiceRequest, field: str | None) -> None:
    if credits.related(volunteer, request.pool_approved_by_id):
        raise DomainError(
            _l(
                "The coordinator who approved the pool's payment, or their family, cannot "
                "serve this request."
            ),
            field=field,
        )
    if not may_serve(volunteer, request):
        raise DomainError(
            _l("Nobody serves a request posted by or for themselves or their family."),
            field=field,
        )


def dispatch(dispatcher: Member, request_id: int, volunteer_id: int | None) -> ServiceRequest:
    request = _locked(request_id)
    if not may_dispatch(dispatcher, request):
        raise Forbidden(_l("Only a coordinator of this community can dispatch requests."))
    _expect(request, "open", "dispatched")
    volunteer = db.session.get(Member, volunteer_id) if volunteer_id else None
    if volunteer is None or volunteer.community_id != request.community_id:
        raise DomainError(_l("Choose a volunteer from the list."), field="volunteer")
    _check_not_related(volunteer, request, "volunteer")
    team = _volunteer_team(volunteer, request.service)
    request.status = "dispatched"
    request.assignee_id = volunteer.id
    request.team_id = team.id
    _event(request, dispatcher, "dispatched", volunteer.name)
    notifications.notify(
        volunteer.id, "request_dispatched", f"/requests/{request.id}", service=request.service.name
    )
    return request


def take(volunteer: Member, request_id: int) -> ServiceRequest:
    request = _locked(request_id)
    if volunteer.community_id != request.community_id:
        raise Forbidden(_l("You can only take requests of your own community."))
    _expect(request, "open")
    if not visible_to(volunteer, request):
        raise DomainError(
            _l("This request is for its grid's volunteers for now; it may open to you later.")
        )
    _check_not_related(volunteer, request, None)
    team = _volunteer_team(volunteer, request.service)
    request.status = "accepted"
    request.assignee_id = volunteer.id
    request.team_id = team.id
    _event(request, volunteer, "taken")
    notifications.notify(
        request.requester_id,
        "request_accepted",
        f"/requests/{request.id}",
        name=volunteer.masked_name,
    )
    return request


def _check_assignee(actor: Member, request: ServiceRequest) -> None:
    if request.assignee_id != actor.id:
        raise Forbidden(_l("Only the volunteer this request was given to can do this."))


def accept(volunteer: Member, request_id: int) -> ServiceRequest:
    request = _locked(request_id)
    _check_assignee(volunteer, request)
    _expect(request, "dispatched")
    request.status = "accepted"
    _event(request, volunteer, "accepted")
    notifications.notify(
        request.requester_id,
        "request_accepted",
        f"/requests/{request.id}",
        name=volunteer.masked_name,
    )
    return request


def decline(volunteer: Member, request_id: int) -> ServiceRequest:
    request = _locked(request_id)
    _check_assignee(volunteer, request)
    _expect(request, "dispatched", "accepted")
    request.status = "open"
    request.assignee_id = None
    request.team_id = None
    _event(request, volunteer, "declined")
    return request


def has_started(request: ServiceRequest) -> bool:
    """The appointment's time (the day and hour the resident asked for) has come."""
    return request.wanted_at <= now_local()


def mark_done(volunteer: Member, request_id: int, minutes: int | None) -> ServiceRequest:
    request = _locked(request_id)
    _check_assignee(volunteer, request)
    if minutes is None or not 1 <= minutes <= MAX_LOG_MINUTES:
        raise DomainError(_l("Enter between 1 and 720 minutes (12 hours)."), field="minutes")
    _expect(request, "accepted")
    if not has_started(request):
        # Marked done before it could have happened is a mistake (or worse): the resident
        # would be asked to confirm a visit that is still to come. Nothing changes.
        raise DomainError(
            _l(
                "This service starts at %(start)s: it can be marked done after it has begun.",
                start=request.wanted_at.strftime("%Y-%m-%d %H:%M"),
            ),
            field="minutes",
        )
    service_date = today_local()
    credits.check_day_limit(volunteer.id, service_date, minutes, excluding_request=request.id)
    request.status = "done"
    request.minutes_spent = minutes
    request.service_date = service_date
    _event(request, volunteer, "done", str(minutes))
    notifications.notify(
        request.requester_id,
        "request_done",
        f"/requests/{request.id}",
        service=request.service.name,
    )
    return request


def confirm(actor: Member, request_id: int, rating: int | None, comment: str) -> ServiceRequest:
    """The resident (or a linked relative) confirms and rates: the volunteer is paid.

    The resident's own reserved hours settle at once. Community-funded minutes (a free
    request, or time beyond the hold) are credited at once only when the resident has been
    verified in person and the time is within the tolerance of the estimate; otherwise they
    wait in the team's approval queue, marked with the reason."""
    request = _locked(request_id)
    if not may_act_for(actor, request.requester_id):
        raise Forbidden(_l("Only the person served, or their family, can confirm."))
    if request.assignee_id is not None and not credits.may_witness(actor, request.assignee_id):
        raise Forbidden(_l("Nobody confirms their own service or their family's."))
    if rating is None or not 1 <= rating <= 5:
        raise DomainError(_l("Choose 1 to 5 stars."), field="rating")
    if len(comment) > 500:
        raise DomainError(_l("Keep the comment under 500 characters."), field="comment")
    _expect(request, "done")
    volunteer = db.session.get(Member, request.assignee_id)
    assert volunteer is not None and request.minutes_spent is not None
    spent = request.minutes_spent
    held = request.pay_with_hours or is_pool_paid(request)
    paid = min(spent, request.held_minutes) if held else 0
    funded = spent - paid
    reason = credits.review_reason(request.requester, request.estimate_minutes, spent)
    credit_now = funded if reason is None else 0

    entry = None
    if held:
        # The hold settles from its escrow; what is not spent goes back to whoever paid (the
        # resident, or the pool). When the hours were banked in another community than the
        # volunteer's, the ledger adds the clearing postings between the two.
        lines = [
            (_escrow(request), -request.held_minutes),
            (ledger.member_account(volunteer), paid + credit_now),
        ]
        if request.held_minutes - paid:
            lines.append((_payer(request), request.held_minutes - paid))
        if credit_now:
            # Longer than reserved: the resident never pays more than the hold; the
            # community funds the extra time, as for any approved service.
            lines.append((ledger.issuance_account(request.community_id), -credit_now))
        entry = ledger.post_entry(
            "redeem_settle",
            lines,
            idempotency_key=f"request:{request.id}:resolve",
            memo=f"request:{request.id}",
            community_id=request.community_id,
            actor=actor,
            cap=ledger.storage_cap(volunteer),
        )
        request.resolution_entry_id = entry.id
    elif credit_now:
        entry = ledger.transfer(
            "hours",
            ledger.issuance_account(request.community_id),
            ledger.member_account(volunteer),
            credit_now,
            idempotency_key=f"request:{request.id}:hours",
            memo=f"request:{request.id}",
            community_id=request.community_id,
            actor=actor,
            cap=ledger.storage_cap(volunteer),
        )
    credited = paid + credit_now
    main_log = None
    if credited:
        main_log = _request_log(request, actor, credited, entry=entry)
    if credited < spent:
        waiting = _request_log(request, actor, spent - credited, entry=None, reason=reason)
        main_log = main_log or waiting
    assert main_log is not None
    request.hour_log_id = main_log.id
    request.status = "confirmed"
    request.rating = rating
    request.comment = comment.strip()
    _event(request, actor, "confirmed", f"{rating}")
    if rating <= 2:
        # 群众评单: a low rating is followed up by the grid worker before the request closes.
        open_followup(request, actor)
    notifications.notify(
        volunteer.id,
        "request_confirmed" if credited == spent else "request_confirmed_review",
        f"/requests/{request.id}",
        minutes=spent,
        rating=rating,
    )
    return request


def _request_log(
    request: ServiceRequest,
    confirmer: Member,
    minutes: int,
    *,
    entry: JournalEntry | None,
    reason: str | None = None,
) -> HourLog:
    """The volunteer's hour log for a confirmed request: approved with its entry, or
    pending for a coordinator with the reason it could not be credited at once."""
    assert request.assignee_id is not None and request.team_id is not None
    log = HourLog(
        member_id=request.assignee_id,
        team_id=request.team_id,
        service_id=request.service_id,
        community_id=request.community_id,
        service_date=request.service_date or today_local(),
        minutes=minutes,
        note=request.service.name,
        beneficiary_id=request.requester_id,
        source="request",
        status="approved" if entry is not None else "pending",
        decided_at=utcnow() if entry is not None else None,
        decided_by_id=confirmer.id if entry is not None else None,
        entry_id=entry.id if entry is not None else None,
        beneficiary_confirmed_at=utcnow(),
        beneficiary_confirmed_by_id=confirmer.id,
        review_reason=reason if entry is None else None,
    )
    db.session.add(log)
    db.session.flush()
    return log


def cancel(actor: Member, request_id: int) -> ServiceRequest:
    request = _locked(request_id)
    if not (may_act_for(actor, request.requester_id) or may_dispatch(actor, request)):
        raise Forbidden(_l("Only the requester, their family or a coordinator can cancel."))
    _expect(request, "awaiting_consent", "open", "dispatched", "accepted")
    if (request.pay_with_hours or is_pool_paid(request)) and request.held_minutes:
        entry = ledger.transfer(
            "redeem_release",
            _escrow(request),
            _payer(request),
            request.held_minutes,
            idempotency_key=f"request:{request.id}:resolve",
            memo=f"request:{request.id}",
            community_id=request.funding_community_id or request.community_id,
            actor=actor,
        )
        request.resolution_entry_id = entry.id
    request.status = "cancelled"
    if request.assignee_id:
        notifications.notify(
            request.assignee_id,
            "request_cancelled",
            f"/requests/{request.id}",
            service=request.service.name,
        )
    _event(request, actor, "cancelled")
    return request


# --- lists ---------------------------------------------------------------------------


def reserved_minutes_select(member_id: int | BindParameter[int]) -> Select:
    """Hours held by this member's pending paid requests: not spendable (a statement to
    combine)."""
    return select(func.coalesce(func.sum(ServiceRequest.held_minutes), 0)).where(
        ServiceRequest.requester_id == member_id,
        ServiceRequest.pay_with_hours.is_(True),
        ServiceRequest.resolution_entry_id.is_(None),
        ServiceRequest.status.in_(ACTIVE_STATUSES),
    )


def reserved_minutes(member: Member) -> int:
    return db.session.scalar(reserved_minutes_select(member.id))


def board(
    community_id: int,
    *,
    category: str | None,
    viewer: Member | None = None,
    viewer_grids: set[int] | None = None,
    size: int = 50,
) -> list[ServiceRequest]:
    """The open requests `viewer` may take, soonest first. `viewer_grids`: the grids the
    viewer works for as a grid worker, when the caller has read them already."""
    stmt = (
        select(ServiceRequest)
        .where(ServiceRequest.community_id == community_id, ServiceRequest.status == "open")
        .order_by(ServiceRequest.wanted_at, ServiceRequest.id)
        .limit(size)
    )
    if viewer is not None:
        stmt = stmt.where(_reaches(viewer, viewer_grids))
    if category:
        stmt = stmt.join(Service, Service.id == ServiceRequest.service_id).where(
            Service.category == category
        )
    return list(db.session.scalars(stmt))


# The viewer's home grid, for the board's subquery of its family.
_HOME_GRID = aliased(Grid, name="home_grid")


def _reaches(viewer: Member, worker_ids: set[int] | None = None):  # type: ignore[no-untyped-def]
    """`visible_to` as a WHERE clause, for the board. The home grid's family (`family_ids`:
    the top grid and its micro-grids) and the viewer's active teams are subqueries of the
    board's statement: they were three statements before it (the grid, its family, the
    teams). Only ever OR-ed and AND-ed, never negated, so an empty subquery (NULL for a
    request without a grid or team) filters as the `false()` of an empty list did."""
    now = utc_now()
    if viewer.grid_id:
        top = (
            select(func.coalesce(_HOME_GRID.parent_id, _HOME_GRID.id))
            .where(_HOME_GRID.id == viewer.grid_id)
            .scalar_subquery()
        )
        in_grid = ServiceRequest.grid_id.in_(
            select(Grid.id).where(or_(Grid.id == top, Grid.parent_id == top))
        )
    else:
        in_grid = false()
    party_ok = or_(ServiceRequest.party_until.is_(None), ServiceRequest.party_until <= now)
    if viewer.party_member:
        party_ok = or_(party_ok, in_grid)
    team_ids = (
        select(TeamMembership.team_id)
        .join(Team, Team.id == TeamMembership.team_id)
        .where(
            TeamMembership.member_id == viewer.id,
            TeamMembership.status == "active",
            Team.archived.is_(False),
        )
    )
    reach = or_(
        ServiceRequest.open_to_community.is_(True),
        in_grid,
        ServiceRequest.routed_team_id.in_(team_ids),
    )
    clauses = [ServiceRequest.grid_id.is_(None), and_(party_ok, reach)]
    if worker_ids is None:
        worker_ids = grids.worker_grid_ids(viewer)
    if worker_ids:
        clauses.append(ServiceRequest.grid_id.in_(worker_ids))
    return or_(*clauses)


def open_followup(request: ServiceRequest, actor: Member | None, complaint: str = "") -> None:
    """A low rating or a complaint: the grid worker (or, without a grid, the community's
    coordinators) must record an outcome before the request is closed."""
    if complaint:
        request.complaint = complaint
    if request.followup_status == "open":
        return
    request.followup_status = "open"
    request.followup_outcome = ""
    db.session.add(
        RequestEvent(
            request_id=request.id,
            actor_id=actor.id if actor else None,
            kind="followup_opened",
            detail=complaint[:200],
        )
    )
    audit.record(actor, "request.followup_opened", request, community_id=request.community_id)
    grid = db.session.get(Grid, request.grid_id) if request.grid_id else None
    people = grids.workers_of(grid) if grid else []
    if not people:
        people = coordinators_of(request.community_id)
    notifications.notify_each(
        people,
        "request_followup",
        "requests.show",
        link_args={"request_id": request.id},
        service=request.service.name,
    )


def coordinators_of(community_id: int) -> list[int]:
    return list(
        db.session.scalars(
            select(TeamMembership.member_id)
            .join(Team, Team.id == TeamMembership.team_id)
            .where(
                Team.community_id == community_id,
                Team.archived.is_(False),
                TeamMembership.status == "active",
                TeamMembership.role == "coordinator",
            )
            .distinct()
        )
    )


def is_closed(request: ServiceRequest) -> bool:
    return request.status in ("confirmed", "cancelled") and request.followup_status != "open"


def mine(member: Member, *, size: int = 50) -> list[ServiceRequest]:
    ids = [member.id, *family.relative_ids({member.id})]
    return list(
        db.session.scalars(
            select(ServiceRequest)
            .where(ServiceRequest.requester_id.in_(ids))
            .order_by(ServiceRequest.id.desc())
            .limit(size)
        )
    )


def awaiting_me(member: Member, relative_ids: set[int], *, size: int = 10) -> list[ServiceRequest]:
    """Requests for this member (or their family) that wait for them: a service done and
    to confirm, or hours to agree to. Those they posted themselves for someone else need
    the other person's consent, not theirs."""
    ids = [member.id, *relative_ids]
    rows = db.session.scalars(
        select(ServiceRequest)
        .where(
            ServiceRequest.requester_id.in_(ids),
            ServiceRequest.status.in_(("done", "awaiting_consent")),
        )
        .order_by(ServiceRequest.id.desc())
        .limit(size)
    )
    return [
        r
        for r in rows
        if r.assignee_id != member.id
        and not (r.status == "awaiting_consent" and r.posted_by_id == member.id)
    ]


def open_tasks(member: Member, *, size: int = 5) -> list[ServiceRequest]:
    """The volunteer's requests still to do: given to them, accepted."""
    return list(
        db.session.scalars(
            select(ServiceRequest)
            .where(
                ServiceRequest.assignee_id == member.id,
                ServiceRequest.status.in_(("dispatched", "accepted")),
            )
            .order_by(ServiceRequest.wanted_at, ServiceRequest.id)
            .limit(size)
        )
    )


def tasks(member: Member, *, size: int = 50) -> list[ServiceRequest]:
    return list(
        db.session.scalars(
            select(ServiceRequest)
            .where(ServiceRequest.assignee_id == member.id)
            .order_by(ServiceRequest.id.desc())
            .limit(size)
        )
    )


def dispatch_queue(
    community_id: int, *, grid_ids: set[int] | None = None, size: int = 100
) -> list[ServiceRequest]:
    """Requests waiting for a volunteer: the community's, or (a grid worker's) their grids'."""
    stmt = (
        select(ServiceRequest)
        .where(
            ServiceRequest.community_id == community_id,
            ServiceRequest.status.in_(("open", "dispatched")),
        )
        .order_by(ServiceRequest.id)
        .limit(size)
    )
    if grid_ids is not None:
        stmt = stmt.where(ServiceRequest.grid_id.in_(grid_ids))
    return list(db.session.scalars(stmt))


def is_stuck(request: ServiceRequest, *, open_hours: int, dispatched_hours: int) -> bool:
    age = utcnow() - request.status_changed_at
    if request.status == "open":
        return age > timedelta(hours=open_hours)
    if request.status == "dispatched":
        return age > timedelta(hours=dispatched_hours)
    return False


def family_of(request: ServiceRequest) -> set[int]:
    """The requester, the poster and their linked relatives: none of them may serve it."""
    people = {request.requester_id, request.posted_by_id}
    return people | family.relative_ids(people)


def volunteers_for(community_id: int) -> list[Member]:
    """Members of the community's active teams, for the dispatch list."""
    return list(
        db.session.scalars(
            select(Member)
            .join(TeamMembership, TeamMembership.member_id == Member.id)
            .join(Team, Team.id == TeamMembership.team_id)
            .where(
                Team.community_id == community_id,
                Team.archived.is_(False),
                TeamMembership.status == "active",
                Member.active.is_(True),
            )
            .distinct()
            .order_by(Member.name)
            .limit(500)
        )
    )


def timeline(request: ServiceRequest) -> list[RequestEvent]:
    return list(
        db.session.scalars(
            select(RequestEvent)
            .where(RequestEvent.request_id == request.id)
            .order_by(RequestEvent.id)
        )
    )
