"""派单 by grid: the dispatch list by distance in grids, routing to a team or the whole
community, escalation (grid worker → coordinator → street office), 群众评单 follow-ups, and
点单 from a building poster by a resident without an account."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, Select, case, func, literal, or_, select, true, union_all, update

from portal.clock import utc_now
from portal.extensions import db
from portal.models import (
    Community,
    Grid,
    Member,
    RequestEvent,
    ServiceRequest,
    Team,
    TeamMembership,
)
from portal.services import audit, grids, members, notifications
from portal.services import requests as request_service
from portal.services.errors import DomainError, Forbidden
from portal.services.locking import lock_row

DISTANCES = ("micro", "grid", "elsewhere")
WAITING = ("open", "dispatched")

# --- the dispatch list --------------------------------------------------------------------


@dataclass(frozen=True)
class Volunteer:
    """What the dispatch list shows of a volunteer (read as columns, not as a Member: no
    community join, no 30 columns, no ORM bookkeeping for 50 rows)."""

    id: int
    name: str
    party_member: bool
    shows_party_badge: bool

    @property
    def party_badge(self) -> bool:
        return self.party_member and self.shows_party_badge


@dataclass(frozen=True)
class Candidate:
    member: Volunteer
    distance: str
    open_tasks: int
    rating: float | None
    ratings: int


def candidates(request: ServiceRequest, *, size: int = 50) -> list[Candidate]:
    """The community's volunteers nearest first (same micro-grid, same grid, elsewhere),
    party members first among equals, with their open tasks and average rating.

    Bounded, in as few round trips as the page allows, each read as columns (not Members:
    no community join, no ORM bookkeeping for 50 rows): the volunteers of the request's
    grid — a UNION ALL of one page of its micro-grid and one of the rest of the grid, each
    by `ix_members_grid_id` and at most `size`; only if that is short of `size`, one page of
    the rest of the community; then one grouped count of the page's open tasks and
    ratings. (Before: a query per distance and two counts, five to six statements; a
    UNION ALL of all four distances made every view pay for "elsewhere", 5–10 ms at 5,000
    volunteers a community, which a busy micro-grid never needs.)"""
    is_volunteer = (
        select(TeamMembership.id)
        .join(Team, Team.id == TeamMembership.team_id)
        .where(
            TeamMembership.member_id == Member.id,
            Team.community_id == request.community_id,
            Team.archived.is_(False),
            TeamMembership.status == "active",
        )
        .exists()
    )
    excluded = request_service.family_of(request)

    def page(distance: int, *where: Any, community: bool = False) -> Select[Any]:
        # The grid pages leave the community out: a member's grid is always one of their
        # community's (set_home, pending_resident), and with it SQLite (no statistics)
        # walked all 10,000 members of the community by `ix_members_dispatch` (11 ms).
        in_community = (Member.community_id == request.community_id,) if community else ()
        return (
            select(
                Member.id,
                Member.name,
                Member.party_member,
                Member.shows_party_badge,
                literal(distance, Integer).label("distance"),
            )
            .where(
                *in_community,
                Member.active.is_(True),
                Member.id.not_in(excluded),
                is_volunteer,
                *where,
            )
            .order_by(Member.party_member.desc(), Member.name, Member.id)
            .limit(size)
        )

    def read(stmt: Select[Any]) -> list[tuple[Volunteer, int]]:
        return [
            (
                Volunteer(row.id, row.name, bool(row.party_member), bool(row.shows_party_badge)),
                int(row.distance),
            )
            for row in db.session.execute(stmt)
        ]

    rows: list[tuple[Volunteer, int]] = []
    near: list[int] = []
    if request.grid_id is not None:
        micro, near = grids.family_ids_of(request.grid_id)
        pages = [page(1, Member.grid_id.in_([g for g in near if g != request.grid_id]))]
        if micro:
            pages.insert(0, page(0, Member.grid_id == request.grid_id))
        both = union_all(*(select(p.subquery()) for p in pages)).subquery()
        rows = read(
            select(both)
            .order_by(both.c.distance, both.c.party_member.desc(), both.c.name, both.c.id)
            .limit(size)
        )
    if len(rows) < size:
        elsewhere = or_(Member.grid_id.is_(None), Member.grid_id.not_in(near)) if near else true()
        rows += read(page(2, elsewhere, community=True).limit(size - len(rows)))
    ids = [volunteer.id for volunteer, _d in rows]
    stats: dict[int, tuple[int, float | None, int]] = {}
    if ids:
        stats = {
            member_id: (int(open_tasks or 0), None if avg is None else float(avg), int(n))
            for member_id, open_tasks, avg, n in db.session.execute(
                select(
                    ServiceRequest.assignee_id,
                    func.sum(
                        case((ServiceRequest.status.in_(("dispatched", "accepted")), 1), else_=0)
                    ),
                    func.avg(ServiceRequest.rating),
                    func.count(ServiceRequest.rating),
                )
                .where(ServiceRequest.assignee_id.in_(ids))
                .group_by(ServiceRequest.assignee_id)
            )
        }
    none: tuple[int, float | None, int] = (0, None, 0)
    return [
        Candidate(
            member=volunteer,
            distance=DISTANCES[distance],
            open_tasks=stats.get(volunteer.id, none)[0],
            rating=stats.get(volunteer.id, none)[1],
            ratings=stats.get(volunteer.id, none)[2],
        )
        for volunteer, distance in rows
    ]


def _event(request: ServiceRequest, actor: Member | None, kind: str, detail: str = "") -> None:
    db.session.add(
        RequestEvent(
            request_id=request.id, actor_id=actor.id if actor else None, kind=kind, detail=detail
        )
    )
    audit.record(
        actor, f"request.{kind}", request, community_id=request.community_id, detail=detail
    )


def _dispatchable(actor: Member, request_id: int) -> ServiceRequest:
    request = lock_row(ServiceRequest, request_id)
    if request is None:
        raise DomainError(_l("That request does not exist."))
    if not request_service.may_dispatch(actor, request):
        raise Forbidden(_l("Only a coordinator of this community can dispatch requests."))
    if request.status not in WAITING:
        raise DomainError(_l("This request has moved on; the page shows where it is now."))
    return request


def route_to_team(actor: Member, request_id: int, team_id: int | None) -> ServiceRequest:
    """The grid worker hands the request to a team: its members see it, its coordinators
    are told."""
    request = _dispatchable(actor, request_id)
    team = db.session.get(Team, team_id) if team_id else None
    if team is None or team.community_id != request.community_id or team.archived:
        raise DomainError(_l("Choose a team of this community."), field="team")
    request.routed_team_id = team.id
    _event(request, actor, "routed", team.name)
    for member_id in db.session.scalars(
        select(TeamMembership.member_id).where(
            TeamMembership.team_id == team.id,
            TeamMembership.status == "active",
            TeamMembership.role == "coordinator",
        )
    ):
        notifications.notify(
            member_id,
            "request_routed",
            "requests.show",
            link_args={"request_id": request.id},
            team=team.name,
            service=request.service.name,
        )
    return request


def open_to_community(actor: Member, request_id: int) -> ServiceRequest:
    request = _dispatchable(actor, request_id)
    if not request.open_to_community:
        request.open_to_community = True
        _event(request, actor, "opened")
    return request


# --- escalation ---------------------------------------------------------------------------


def due_for(level: int, after: timedelta, *, now: datetime | None = None) -> list[int]:
    """Ids of requests still waiting `after` their posting and below escalation `level`."""
    cutoff = (now or utc_now()) - after
    return list(
        db.session.scalars(
            select(ServiceRequest.id)
            .where(
                ServiceRequest.status.in_(WAITING),
                ServiceRequest.escalation_level < level,
                ServiceRequest.created_at <= cutoff,
            )
            .order_by(ServiceRequest.id)
            .limit(1000)
        )
    )


def escalate(request_id: int, level: int, *, now: datetime | None = None) -> bool:
    """Raise one request to `level` (1 coordinators, 2 street office), exactly once: the
    conditional UPDATE matches only while the request still waits below that level, so two
    runs of the cron command at the same time fire each step once. Flushes, never commits."""
    now = now or utc_now()
    result = db.session.execute(
        update(ServiceRequest)
        .where(
            ServiceRequest.id == request_id,
            ServiceRequest.escalation_level < level,
            ServiceRequest.status.in_(WAITING),
        )
        .values(escalation_level=level, escalated_at=now, open_to_community=True)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    request = db.session.get(ServiceRequest, request_id, populate_existing=True)
    assert request is not None
    step = "coordinator" if level == 1 else "street_office"
    _event(request, None, "escalated", step)
    notifications.notify_each(
        _escalation_targets(request, level),
        "request_escalated",
        "requests.show",
        link_args={"request_id": request.id},
        service=request.service.name,
        step=step,
    )
    return True


def _escalation_targets(request: ServiceRequest, level: int) -> list[int]:
    if level == 1:
        return request_service.coordinators_of(request.community_id)
    community = db.session.get(Community, request.community_id)
    assert community is not None
    if community.street_office_id is None:
        return []
    return list(
        db.session.scalars(
            select(Member.id).where(
                Member.role == "street_admin",
                Member.street_office_id == community.street_office_id,
                Member.active.is_(True),
            )
        )
    )


def escalated_for(overseer: Member, *, size: int = 100) -> list[ServiceRequest]:
    """Requests escalated to the street office, of the communities this admin oversees."""
    ids = grids.overseen_community_ids(overseer)
    if not ids:
        return []
    return list(
        db.session.scalars(
            select(ServiceRequest)
            .where(
                ServiceRequest.community_id.in_(ids),
                ServiceRequest.escalation_level == 2,
                ServiceRequest.status.in_(WAITING),
            )
            .order_by(ServiceRequest.created_at, ServiceRequest.id)
            .limit(size)
        )
    )


def may_oversee(member: Member, request: ServiceRequest) -> bool:
    return request.community_id in grids.overseen_community_ids(member)


# --- 群众评单: complaints and follow-ups -----------------------------------------------------


def complain(actor: Member, request_id: int, text: str) -> ServiceRequest:
    request = lock_row(ServiceRequest, request_id)
    if request is None:
        raise DomainError(_l("That request does not exist."))
    if not request_service.may_act_for(actor, request.requester_id):
        raise Forbidden(_l("Only the person served, or their family, can complain."))
    text = text.strip()
    if not 1 <= len(text) <= 500:
        raise DomainError(_l("Say what went wrong (up to 500 characters)."), field="complaint")
    if request.status in ("cancelled", "awaiting_consent"):
        raise DomainError(_l("This request has moved on; the page shows where it is now."))
    request_service.open_followup(request, actor, complaint=text)
    return request


def may_follow_up(actor: Member, request: ServiceRequest) -> bool:
    if request.grid_id is not None and grids.is_grid_worker_of(actor, request.grid_id):
        return True
    # Without a grid worker, the community's coordinators and admins follow up.
    grid = db.session.get(Grid, request.grid_id) if request.grid_id else None
    if grid is not None and grids.workers_of(grid):
        return False
    return request_service.is_dispatcher(actor, request.community_id)


def record_outcome(actor: Member, request_id: int, outcome: str) -> ServiceRequest:
    request = lock_row(ServiceRequest, request_id)
    if request is None:
        raise DomainError(_l("That request does not exist."))
    if not may_follow_up(actor, request):
        raise Forbidden(_l("Only the grid worker follows this request up."))
    outcome = outcome.strip()
    if not 1 <= len(outcome) <= 1000:
        raise DomainError(_l("Write what was done (up to 1,000 characters)."), field="outcome")
    if request.followup_status != "open":
        raise DomainError(_l("This request has moved on; the page shows where it is now."))
    request.followup_status = "closed"
    request.followup_outcome = outcome
    request.followup_by_id = actor.id
    request.followup_at = utc_now()
    _event(request, actor, "followup_closed", outcome[:200])
    return request


# --- 点单 from a building poster ---------------------------------------------------------


@dataclass(frozen=True)
class Resident:
    name: str
    phone: str
    birth_year: int | None
    unit: str


def poster_target(grid_id: int, building: str) -> tuple[Grid, str]:
    grid = db.session.get(Grid, grid_id)
    if grid is None or building not in grid.building_list:
        raise DomainError(_l("This poster's building is not known. Please ask your grid worker."))
    return grid, building


def post_from_poster(
    grid_id: int,
    building: str,
    resident: Resident,
    fields: request_service.RequestFields,
) -> ServiceRequest:
    """A resident without an account posts a need: kept as a pending resident (no login,
    not verified) that a grid worker verifies; the request gets a follow-up number. Until
    the resident is verified, their confirmation credits nobody (credits.review_reason)."""
    member = pending_resident(grid_id, building, resident)
    return post_for_pending(member, fields)


def pending_resident(grid_id: int, building: str, resident: Resident) -> Member:
    """The pending resident posting from a building poster: found by mobile number, or
    registered now without a password."""
    grid, building = poster_target(grid_id, building)
    phone = members.normalise_phone(resident.phone)
    if resident.birth_year is None or not 1900 <= resident.birth_year <= utc_now().year:
        raise DomainError(_l("Enter the year you were born, such as 1948."), field="birth_year")
    if len(resident.unit) > 20:
        raise DomainError(_l("Building up to 50 characters, unit up to 20."), field="unit")
    existing = db.session.scalar(select(Member).where(Member.phone == phone))
    if existing is not None and (
        not existing.pending_resident or existing.community_id != grid.community_id
    ):
        raise DomainError(
            _l("This mobile number is already registered. Log in instead."), field="phone"
        )
    home = grids.grid_for_building(grid.community_id, building) or grid
    member = existing or members.register(
        members.Registration(
            name=resident.name,
            phone=phone,
            password="",
            community_id=grid.community_id,
            birth_year=resident.birth_year,
        ),
        password_hash=members.NO_LOGIN,
    )
    member.pending_resident = True
    member.building = building
    member.unit = resident.unit.strip() or None
    member.grid_id = home.id
    db.session.flush()
    return member


def post_for_pending(member: Member, fields: request_service.RequestFields) -> ServiceRequest:
    if fields.pay_with_hours:
        raise DomainError(_l("This service cannot be paid with banked hours."), "pay_with_hours")
    request = request_service.post(member, fields, grid_id=member.grid_id)
    request.follow_up_no = _new_follow_up_no()
    return request


def _new_follow_up_no() -> str:
    while True:
        candidate = f"{secrets.randbelow(90_000_000) + 10_000_000}"
        if not db.session.scalar(
            select(ServiceRequest.id).where(ServiceRequest.follow_up_no == candidate)
        ):
            return candidate


def tracked(number: str, phone_tail: str) -> ServiceRequest | None:
    """A request by its follow-up number and the last four digits of the resident's mobile."""
    number, phone_tail = number.strip(), phone_tail.strip()
    if not (number.isdigit() and len(phone_tail) == 4 and phone_tail.isdigit()):
        return None
    request = db.session.scalar(select(ServiceRequest).where(ServiceRequest.follow_up_no == number))
    if request is None or not request.requester.phone.endswith(phone_tail):
        return None
    return request
