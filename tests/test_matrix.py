"""Who may do what: every route × every role, and a refused request changes nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.clock import now_local, today_local
from portal.extensions import db
from portal.models import (
    Activity,
    ActivitySignup,
    AuditEvent,
    CallUp,
    CallUpPerson,
    FamilyLink,
    HourLog,
    JournalEntry,
    Notification,
    PasswordResetCode,
    PoolBeneficiary,
    Service,
    ServiceRequest,
    StreetOffice,
    Team,
    TeamMembership,
)
from portal.services import callups, devices, grids, hours, ledger, passbook, pool
from portal.services import requests as req
from tests.conftest import empty_all_tables
from tests.support import World, build_world, log_hours, make_member

ROLES = [
    "visitor",
    "member",
    "volunteer",
    "other_coordinator",
    "coordinator",
    "other_admin",
    "admin",
    # Grids (issue 11): the grid worker and a building head of the world's grid, the admin of
    # the street office above the community, and a city admin.
    "grid_worker",
    "building_head",
    "street_admin",
    "city_admin",
    # A browser enrolled as a community-centre kiosk (issue 10): it reaches only kiosk pages.
    "kiosk",
]


def _client(role: str, world: World, login, app, ids) -> FlaskClient:  # type: ignore[no-untyped-def]
    if role == "visitor":
        return app.test_client()
    if role == "kiosk":
        client = app.test_client()
        assert client.post(f"/kiosk/enrol/{ids['enrol']}").status_code == 303
        return client
    if role in ids["grid_people"]:
        return login(ids["grid_people"][role])
    member = {
        "member": world.resident,
        "volunteer": world.volunteer,
        "other_coordinator": world.other_coordinator,
        "coordinator": world.coordinator,
        "other_admin": world.other_admin,
        "admin": world.admin,
    }[role]
    return login(member)


def _snapshot() -> tuple[object, ...]:
    """Everything a refused request must leave as it was."""
    return (
        db.session.scalar(select(func.count(JournalEntry.id))),
        db.session.scalar(select(func.count(AuditEvent.id))),
        tuple(db.session.execute(select(HourLog.id, HourLog.status).order_by(HourLog.id))),
        tuple(
            db.session.execute(
                select(TeamMembership.id, TeamMembership.role, TeamMembership.status).order_by(
                    TeamMembership.id
                )
            )
        ),
        tuple(
            db.session.execute(
                select(Team.id, Team.name, Team.archived, Team.kiosk_auto_approve).order_by(Team.id)
            )
        ),
        tuple(
            db.session.execute(
                select(Activity.id, Activity.title, Activity.place, Activity.attendance_marked_at)
            )
        ),
        tuple(
            db.session.execute(
                select(ActivitySignup.id, ActivitySignup.status).order_by(ActivitySignup.id)
            )
        ),
        db.session.scalar(
            select(func.count(Notification.id)).where(Notification.read_at.is_(None))
        ),
        tuple(
            db.session.execute(
                select(
                    ServiceRequest.id, ServiceRequest.status, ServiceRequest.assignee_id
                ).order_by(ServiceRequest.id)
            )
        ),
        tuple(db.session.execute(select(FamilyLink.id, FamilyLink.status))),
        tuple(db.session.execute(select(HourLog.id, HourLog.beneficiary_confirmed_at))),
        tuple(db.session.execute(select(Service.id, Service.name, Service.active))),
        tuple(db.session.execute(select(CallUp.id, CallUp.status).order_by(CallUp.id))),
        tuple(
            db.session.execute(
                select(CallUpPerson.id, CallUpPerson.answer).order_by(CallUpPerson.id)
            )
        ),
        tuple(db.session.execute(select(PasswordResetCode.id, PasswordResetCode.spent_at))),
        tuple(db.session.execute(select(ServiceRequest.id, ServiceRequest.pool_status))),
        tuple(db.session.execute(select(PoolBeneficiary.id).order_by(PoolBeneficiary.id))),
    )


# (method, path template, {role: expected status}); a log by `volunteer` in `team` is {log}.
LOGIN = 302
OPEN_PAGES: dict[str, int] = dict.fromkeys(ROLES, 200)
MEMBER_PAGES: dict[str, int] = {**dict.fromkeys(ROLES, 200), "visitor": LOGIN}
COORDINATOR_ONLY: dict[str, int] = {
    **dict.fromkeys(ROLES, 403),
    "visitor": LOGIN,
    "coordinator": 303,
}
ADMIN_PAGES: dict[str, int] = {
    **dict.fromkeys(ROLES, 403),
    "visitor": LOGIN,
    "admin": 200,
    "other_admin": 200,
}
VOLUNTEER_ONLY: dict[str, int] = {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "volunteer": 303}
ADMIN_ONLY: dict[str, int] = {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "admin": 303}
KIOSK_SCREENS = {
    "/kiosk",
    "/healthz",
    "/kiosk/pin",
    "/kiosk/card",
    "/kiosk/member",
    "/kiosk/in",
    "/kiosk/out",
    "/kiosk/correct",
    "/kiosk/sync",
    "/kiosk/code",
    "/kiosk/enrol/{enrol}",
}
KIOSK_ONLY: dict[str, int] = {**dict.fromkeys(ROLES, 403), "kiosk": 200}
OVERSEERS: dict[str, int] = {
    **dict.fromkeys(ROLES, 403),
    "visitor": LOGIN,
    "admin": 200,
    "other_admin": 200,
}
RUNNERS: dict[str, int] = {
    **dict.fromkeys(ROLES, 403),
    "visitor": LOGIN,
    "coordinator": 303,
    "admin": 303,
}
# Reports: coordinators (their teams) and admins (their community); a team filter only
# within what the reader may see.
REPORT_READERS: dict[str, int] = {**OVERSEERS, "coordinator": 200, "other_coordinator": 200}
TEAM_REPORT_READERS: dict[str, int] = {**OVERSEERS, "coordinator": 200, "other_admin": 403}
CITY_READERS: dict[str, int] = {"street_admin": 200, "city_admin": 200}
# Who may see a grid's register and dispatch its requests: its grid worker, the community's
# coordinators and admins.
GRID_STAFF_ROLES = ("coordinator", "other_coordinator", "admin", "grid_worker")
GRID_STAFF: dict[str, int] = {
    **dict.fromkeys(ROLES, 403),
    "visitor": LOGIN,
    **dict.fromkeys(GRID_STAFF_ROLES, 200),
}
CASES: list[tuple[str, str, dict[str, int]]] = [
    ("GET", "/", OPEN_PAGES),
    ("GET", "/healthz", OPEN_PAGES),
    ("GET", "/login", OPEN_PAGES),
    ("GET", "/me", MEMBER_PAGES),
    ("GET", "/me/statement", MEMBER_PAGES),
    ("GET", "/me/statement.csv", MEMBER_PAGES),
    ("GET", "/me/settings", MEMBER_PAGES),
    ("GET", "/hours", MEMBER_PAGES),
    ("GET", "/hours/new", MEMBER_PAGES),
    ("GET", "/approvals", MEMBER_PAGES),
    (
        "POST",
        "/approvals/{log}/approve",
        {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "coordinator": 303},
    ),
    (
        "POST",
        "/approvals/{log}/reject",
        {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "coordinator": 303},
    ),
    (
        "POST",
        "/approvals/bulk",
        {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "coordinator": 303},
    ),
    (
        "POST",
        "/hours/{log}/cancel",
        {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "volunteer": 303},
    ),
    # Teams, activities, admin (issue 4).
    ("GET", "/teams", MEMBER_PAGES),
    ("GET", "/teams/{team}", {**MEMBER_PAGES, "other_admin": 403}),
    (
        "POST",
        "/teams/{team}/join",
        {**dict.fromkeys(ROLES, 303), "visitor": LOGIN, "other_admin": 403},
    ),
    ("POST", "/teams/{team}/requests/{request}/accept", COORDINATOR_ONLY),
    ("POST", "/teams/{team}/requests/{request}/decline", COORDINATOR_ONLY),
    ("POST", "/teams/{team}/members/{membership}/remove", COORDINATOR_ONLY),
    ("POST", "/teams/{team}/members/{membership}/promote", COORDINATOR_ONLY),
    ("GET", "/teams/{team}/activities/new", {**COORDINATOR_ONLY, "coordinator": 200}),
    ("POST", "/teams/{team}/activities/new", COORDINATOR_ONLY),
    ("GET", "/activities/{activity}", {**MEMBER_PAGES, "other_admin": 403}),
    (
        "POST",
        "/activities/{activity}/signup",
        {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "volunteer": 303, "coordinator": 303},
    ),
    (
        "POST",
        "/activities/{activity}/cancel",
        {**dict.fromkeys(ROLES, 303), "visitor": LOGIN, "other_admin": 403},
    ),
    ("POST", "/activities/{activity}/attendance", COORDINATOR_ONLY),
    ("GET", "/activities/{activity}/edit", {**COORDINATOR_ONLY, "coordinator": 200}),
    ("POST", "/activities/{activity}/edit", COORDINATOR_ONLY),
    ("GET", "/admin", ADMIN_PAGES),
    ("GET", "/admin/teams/new", ADMIN_PAGES),
    ("POST", "/admin/teams/new", {**ADMIN_PAGES, "admin": 303, "other_admin": 303}),
    ("GET", "/admin/teams/{team}", {**ADMIN_PAGES, "other_admin": 403}),
    ("POST", "/admin/teams/{team}", {**ADMIN_PAGES, "admin": 303, "other_admin": 403}),
    ("POST", "/admin/teams/{team}/archive", ADMIN_ONLY),
    ("POST", "/admin/teams/{team}/coordinators", ADMIN_ONLY),
    ("POST", "/admin/teams/{team}/coordinators/{volunteer}/remove", ADMIN_ONLY),
    ("GET", "/notifications", MEMBER_PAGES),
    # Requests, redemption, family (issue 5).
    ("GET", "/requests", MEMBER_PAGES),
    ("GET", "/requests?view=dispatch", MEMBER_PAGES),
    ("GET", "/requests/new", MEMBER_PAGES),
    ("POST", "/requests/new", {**dict.fromkeys(ROLES, 303), "visitor": LOGIN, "other_admin": 422}),
    ("GET", "/requests/{open}", {**MEMBER_PAGES, "other_admin": 403}),
    (
        "POST",
        "/requests/{open}/take",
        {**dict.fromkeys(ROLES, 303), "visitor": LOGIN, "other_admin": 403},
    ),
    (
        "POST",
        "/requests/{open}/dispatch",
        {
            **dict.fromkeys(ROLES, 403),
            "visitor": LOGIN,
            "coordinator": 303,
            "other_coordinator": 303,
            "admin": 303,
        },
    ),
    (
        "POST",
        "/requests/{open}/cancel",
        {
            **dict.fromkeys(ROLES, 403),
            "visitor": LOGIN,
            "member": 303,
            "coordinator": 303,
            "other_coordinator": 303,
            "admin": 303,
        },
    ),
    ("POST", "/requests/{dispatched}/accept", VOLUNTEER_ONLY),
    ("POST", "/requests/{dispatched}/decline", VOLUNTEER_ONLY),
    ("POST", "/requests/{accepted}/done", VOLUNTEER_ONLY),
    (
        "POST",
        "/requests/{done}/confirm",
        {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "member": 303},
    ),
    ("GET", "/gift", MEMBER_PAGES),
    ("POST", "/gift", {**dict.fromkeys(ROLES, 422), "visitor": LOGIN}),
    (
        "POST",
        "/family/link",
        # The resident already has a link waiting from that person: refused with a message.
        {**dict.fromkeys(ROLES, 303), "visitor": LOGIN, "member": 422},
    ),
    (
        "POST",
        "/family/{link}/accept",
        {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "member": 303},
    ),
    (
        "POST",
        "/hours/{served}/confirm",
        {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "member": 303},
    ),
    ("GET", "/admin/services", ADMIN_PAGES),
    ("GET", "/admin/services/new", ADMIN_PAGES),
    ("POST", "/admin/services/new", {**ADMIN_PAGES, "admin": 303, "other_admin": 303}),
    ("GET", "/admin/services/{service}", {**ADMIN_PAGES, "other_admin": 403}),
    ("POST", "/admin/services/{service}", {**ADMIN_PAGES, "admin": 303, "other_admin": 403}),
    ("POST", "/notifications/read", {**dict.fromkeys(ROLES, 303), "visitor": LOGIN}),
    # Corrections (issue 8): an approved log's page and its correction.
    (
        "GET",
        "/hours/{approved}",
        {
            **dict.fromkeys(ROLES, 403),
            "visitor": LOGIN,
            "volunteer": 200,
            "coordinator": 200,
            "admin": 200,
        },
    ),
    (
        "POST",
        "/hours/{approved}/correct",
        {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "coordinator": 303, "admin": 303},
    ),
    # Witness rules (issue 8): consent to a paid request posted for you; verification.
    (
        "POST",
        "/requests/{consent}/consent",
        {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "member": 303},
    ),
    (
        "POST",
        "/requests/{consent}/refuse",
        {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "member": 303},
    ),
    (
        "POST",
        "/members/{newcomer}/verify",
        {
            **dict.fromkeys(ROLES, 403),
            "visitor": LOGIN,
            "coordinator": 303,
            "other_coordinator": 303,
            "admin": 303,
        },
    ),
    ("POST", "/me/settings/phone", {**dict.fromkeys(ROLES, 303), "visitor": LOGIN}),
    # The kiosk (issue 10): device screens refuse every member session and a visitor (403).
    ("GET", "/kiosk", KIOSK_ONLY),
    ("GET", "/kiosk/pin", KIOSK_ONLY),
    ("POST", "/kiosk/pin", KIOSK_ONLY),
    ("POST", "/kiosk/card", {**KIOSK_ONLY, "kiosk": 422}),
    # No one identified in the last 20 s: back to the start screen.
    ("GET", "/kiosk/member", {**KIOSK_ONLY, "kiosk": 303}),
    ("POST", "/kiosk/in", {**KIOSK_ONLY, "kiosk": 303}),
    ("POST", "/kiosk/out", {**KIOSK_ONLY, "kiosk": 303}),
    ("POST", "/kiosk/correct", {**KIOSK_ONLY, "kiosk": 303}),
    ("POST", "/kiosk/sync", {**KIOSK_ONLY, "kiosk": 422}),
    ("GET", "/kiosk/code", KIOSK_ONLY),
    ("GET", "/kiosk/enrol/{enrol}", {**dict.fromkeys(ROLES, 200)}),
    ("GET", "/kiosk/at/{code}", {**MEMBER_PAGES, "other_admin": 403}),
    (
        "POST",
        "/kiosk/at/{code}/in",
        {**MEMBER_PAGES, **dict.fromkeys(ROLES[1:-1], 303), "other_admin": 403},
    ),
    (
        "POST",
        "/kiosk/at/{code}/out",
        {**MEMBER_PAGES, **dict.fromkeys(ROLES[1:-1], 303), "other_admin": 403},
    ),
    ("GET", "/kiosk/here", {**OVERSEERS, "other_coordinator": 200, "coordinator": 200}),
    (
        "POST",
        "/kiosk/here/checkout-all",
        {
            **OVERSEERS,
            "other_coordinator": 303,
            "coordinator": 303,
            "admin": 303,
            "other_admin": 404,
        },
    ),
    (
        "GET",
        "/kiosk/cards/{team}",
        {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "coordinator": 200, "admin": 200},
    ),
    ("GET", "/me/card", MEMBER_PAGES),
    ("POST", "/me/card", {**dict.fromkeys(ROLES, 422), "visitor": LOGIN}),
    ("POST", "/me/card/reissue", {**dict.fromkeys(ROLES, 303), "visitor": LOGIN}),
    ("GET", "/admin/kiosks", ADMIN_PAGES),
    ("POST", "/admin/kiosks", {**ADMIN_PAGES, "admin": 303, "other_admin": 303}),
    ("POST", "/admin/kiosks/{device}/revoke", ADMIN_ONLY),
    ("POST", "/admin/kiosks/pin-reset", {**ADMIN_PAGES, "admin": 303, "other_admin": 303}),
    # Printed place codes for posts without a screen: an admin of the community prints and
    # reissues; a member's phone opens one like a rotating code.
    ("POST", "/admin/kiosks/printed", {**ADMIN_PAGES, "admin": 303, "other_admin": 303}),
    ("GET", "/admin/kiosks/printed/{printed}", {**ADMIN_PAGES, "other_admin": 403}),
    ("POST", "/admin/kiosks/printed/{printed}/reissue", ADMIN_ONLY),
    ("GET", "/kiosk/at/{printed_code}", {**MEMBER_PAGES, "other_admin": 403}),
    # Emergency call-ups (issue 13): the team's coordinators and the community's admins run
    # one; the people called (the team's volunteers) answer it.
    ("GET", "/callups", MEMBER_PAGES),
    ("GET", "/callups/banner", {**dict.fromkeys(ROLES, 303), "visitor": LOGIN}),
    (
        "GET",
        "/callups/new",
        {
            **dict.fromkeys(ROLES, 403),
            "visitor": LOGIN,
            "coordinator": 200,
            "other_coordinator": 200,
            "admin": 200,
        },
    ),
    (
        "POST",
        "/callups/new",
        {
            **dict.fromkeys(ROLES, 403),
            "visitor": LOGIN,
            "coordinator": 422,
            "other_coordinator": 422,
            "admin": 422,
        },
    ),
    ("GET", "/callups/{callup}", {**RUNNERS, "coordinator": 200, "admin": 200}),
    # No answer chosen: the volunteer called is told so (303 with a message); nothing changes.
    ("POST", "/callups/{callup}/answer", VOLUNTEER_ONLY),
    ("POST", "/callups/{callup}/call-more", RUNNERS),
    ("POST", "/callups/{callup}/stand-down", RUNNERS),
    ("GET", "/callups/{callup}/close", {**RUNNERS, "coordinator": 200, "admin": 200}),
    ("POST", "/callups/{callup}/close", RUNNERS),
    # Passbook and reports (issue 12).
    ("GET", "/me/statement/passbook", MEMBER_PAGES),
    (
        "GET",
        "/members/{volunteer}/passbook",
        {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "coordinator": 200, "admin": 200},
    ),
    ("GET", "/verify/{passbook}", OPEN_PAGES),
    ("GET", "/verify/forged-page", dict.fromkeys(ROLES, 404)),
    # The street office (whose office covers the community) and the city see its reports too.
    ("GET", "/reports/export/hours.csv", {**REPORT_READERS, **CITY_READERS}),
    ("GET", "/reports/export/requests.csv", {**REPORT_READERS, **CITY_READERS}),
    ("GET", "/reports/export/ledger.csv?team={team}", {**TEAM_REPORT_READERS, **CITY_READERS}),
    ("GET", "/reports/export.zip", {**OVERSEERS, **CITY_READERS}),
    ("POST", "/me/settings/donate", {**dict.fromkeys(ROLES, 303), "visitor": LOGIN}),
    ("GET", "/reports", {**REPORT_READERS, **CITY_READERS}),
    ("GET", "/reports?team={team}&month=2026-01", {**TEAM_REPORT_READERS, **CITY_READERS}),
    ("GET", "/reports/table/team_months.csv", {**REPORT_READERS, **CITY_READERS}),
    ("GET", "/reports/table/service.csv?team={team}", {**TEAM_REPORT_READERS, **CITY_READERS}),
    # Forgot password (issue 9): a public page takes the code; a code for 周志愿 ({volunteer},
    # in 钱协调's team only) is given by that coordinator or the admin, never by herself.
    ("GET", "/password/forgot", OPEN_PAGES),
    ("GET", "/members/reset-code", MEMBER_PAGES),
    ("POST", "/password/forgot", dict.fromkeys(ROLES, 422)),
    (
        "GET",
        "/members/{volunteer}/reset-code",
        {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "coordinator": 200, "admin": 200},
    ),
    (
        "POST",
        "/members/{volunteer}/reset-code",
        {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "coordinator": 303, "admin": 303},
    ),
    # Grids (issue 11).
    ("GET", "/grids", {**GRID_STAFF, "building_head": 200, "other_admin": 200}),
    ("POST", "/grids/new", {**ADMIN_PAGES, "admin": 303, "other_admin": 303}),
    ("POST", "/grids/{grid}/appoint", ADMIN_ONLY),
    ("GET", "/grids/{grid}/edit", {**ADMIN_ONLY, "admin": 200}),
    # The form drops 1号楼, where 王邻居 lives: refused with the reason (422).
    ("POST", "/grids/{grid}/edit", {**ADMIN_ONLY, "admin": 422}),
    # Members live in the grid: the admin is sent back with the reason, nothing removed.
    ("POST", "/grids/{grid}/remove", ADMIN_ONLY),
    ("POST", "/grids/{grid}/home", {**ADMIN_ONLY, "grid_worker": 303}),
    ("GET", "/grids/{grid}/register", GRID_STAFF),
    ("POST", "/grids/{grid}/register/new", {**GRID_STAFF, **dict.fromkeys(GRID_STAFF_ROLES, 303)}),
    (
        "POST",
        "/grids/{grid}/register/{household}/visit",
        {**GRID_STAFF, **dict.fromkeys(GRID_STAFF_ROLES, 303)},
    ),
    ("GET", "/grids/{grid}/posters", {**ADMIN_ONLY, "admin": 200, "grid_worker": 200}),
    ("GET", "/grids/{grid}/requests", {**GRID_STAFF, "building_head": 200}),
    ("GET", "/requests/{grid_open}/candidates", GRID_STAFF),
    (
        "POST",
        "/requests/{grid_open}/dispatch-to/{volunteer}",
        {**GRID_STAFF, **dict.fromkeys(GRID_STAFF_ROLES, 303)},
    ),
    ("POST", "/requests/{grid_open}/route", {**GRID_STAFF, **dict.fromkeys(GRID_STAFF_ROLES, 303)}),
    # Escalated to the street office, its admin dispatches it too (not before: above).
    ("GET", "/requests/{escalated}/candidates", {**GRID_STAFF, "street_admin": 200}),
    (
        "POST",
        "/requests/{escalated}/dispatch-to/{volunteer}",
        {**GRID_STAFF, **dict.fromkeys(GRID_STAFF_ROLES, 303), "street_admin": 303},
    ),
    ("POST", "/requests/{grid_open}/open", {**GRID_STAFF, **dict.fromkeys(GRID_STAFF_ROLES, 303)}),
    (
        "POST",
        "/requests/{done}/complain",
        {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "member": 303},
    ),
    (
        "POST",
        "/requests/{followup}/followup",
        {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "grid_worker": 303},
    ),
    ("GET", "/point/{grid}/{building}", {**dict.fromkeys(ROLES, 303), "visitor": 200}),
    ("POST", "/point/{grid}/{building}", {**dict.fromkeys(ROLES, 303), "visitor": 422}),
    ("GET", "/point/posted/12345678", OPEN_PAGES),
    ("GET", "/track", OPEN_PAGES),
    ("POST", "/track/confirm", dict.fromkeys(ROLES, 404)),
    ("POST", "/admin/members/{newcomer}/party", ADMIN_ONLY),
    ("POST", "/me/settings/badge", {**dict.fromkeys(ROLES, 303), "visitor": LOGIN}),
    ("GET", "/street", {**ADMIN_ONLY, "admin": 403, "street_admin": 200, "city_admin": 200}),
    ("GET", "/admin/city", {**ADMIN_ONLY, "admin": 403, "city_admin": 200}),
    ("POST", "/admin/city/offices", {**ADMIN_ONLY, "admin": 403, "city_admin": 303}),
    (
        "POST",
        "/admin/city/communities/{community}",
        {**ADMIN_ONLY, "admin": 403, "city_admin": 303},
    ),
    ("POST", "/admin/city/street-admins", {**ADMIN_ONLY, "admin": 403, "city_admin": 303}),
    # 通存通兑 and the pool paying requests (issue 12): the city and street offices see each
    # community's net position; a community's admins name whom its pool serves (and read
    # its statement with its coordinators); a coordinator, not the resident, approves.
    (
        "GET",
        "/reports/clearing",
        {**ADMIN_ONLY, "admin": 403, "street_admin": 200, "city_admin": 200},
    ),
    ("GET", "/pool", {**ADMIN_PAGES, "coordinator": 200, "other_coordinator": 200}),
    ("POST", "/pool/categories", {**ADMIN_PAGES, "admin": 422, "other_admin": 422}),
    ("POST", "/pool/members", {**ADMIN_PAGES, "admin": 303, "other_admin": 422}),
    ("POST", "/pool/{poolline}/remove", ADMIN_ONLY),
    (
        "POST",
        "/requests/{poolask}/pool",
        {**COORDINATOR_ONLY, "other_coordinator": 303, "admin": 303},
    ),
]
# A kiosk browser is sent back to its start screen from every page that is not a kiosk
# screen (302), member pages about the kiosk included.
CASES = [(m, p, e if p in KIOSK_SCREENS else {**e, "kiosk": 302}) for m, p, e in CASES]


def _build() -> tuple[World, dict[str, object], dict[str, object]]:
    """The world plus one of everything a route acts on; returns (world, url ids, form)."""
    world = build_world()
    log = log_hours(world.volunteer, world.team, world.service, minutes=60)
    newcomer = make_member(world.community, "申请人")
    request = TeamMembership(team_id=world.team.id, member_id=newcomer.id, status="pending")
    db.session.add(request)
    start = now_local() + timedelta(days=2)
    activity = Activity(
        team_id=world.team.id,
        service_id=world.service.id,
        title="义诊",
        place="活动室",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        capacity=5,
        created_by_id=world.coordinator.id,
    )
    db.session.add(activity)
    db.session.flush()
    db.session.add(ActivitySignup(activity_id=activity.id, member_id=world.volunteer2.id))
    membership = db.session.scalars(
        select(TeamMembership).where(
            TeamMembership.team_id == world.team.id, TeamMembership.member_id == world.volunteer2.id
        )
    ).one()
    requests = {}
    for state in ("open", "dispatched", "accepted", "done"):
        r = req.post(
            world.resident,
            req.RequestFields(
                service_id=world.service.id,
                # Begun 10 minutes ago, so the volunteer may mark it done.
                wanted_at=now_local() - timedelta(minutes=10),
                place="家里",
                note="",
                minutes=60,
                pay_with_hours=False,
            ),
        )
        if state != "open":
            req.dispatch(world.coordinator, r.id, world.volunteer.id)
        if state in ("accepted", "done"):
            req.accept(world.volunteer, r.id)
        if state == "done":
            req.mark_done(world.volunteer, r.id, 60)
        requests[state] = r.id
    ledger.transfer(
        "hours",
        ledger.issuance_account(world.community.id),
        ledger.member_account(world.resident),
        60,
        idempotency_key="matrix:fund",
    )
    consent = req.post(
        world.coordinator,
        req.RequestFields(world.service.id, start, "家里", "", 60, True),
        for_member_id=world.resident.id,
    )
    link = FamilyLink(proposer_id=world.volunteer2.id, relative_id=world.resident.id)
    db.session.add(link)
    served = log_hours(world.volunteer, world.team, world.service, minutes=30, days_ago=2)
    served.beneficiary_id = world.resident.id
    db.session.flush()
    approved = log_hours(world.volunteer, world.team, world.service, minutes=45, days_ago=3)
    hours.approve_log(world.coordinator, approved.id)
    for member in (
        world.resident,
        world.other_admin,
        world.admin,
        world.coordinator,
        world.volunteer,
        world.other_coordinator,
    ):
        db.session.add(Notification(member_id=member.id, kind="join_accepted", params="{}"))
    grid_ids, grid_people = _grid_world(world, now_local() - timedelta(minutes=10))
    poolline = pool.name_member(world.admin, world.resident.member_no)
    ledger.transfer(
        "hours",
        ledger.issuance_account(world.community.id),
        ledger.pool_account(world.community.id),
        60,
        idempotency_key="matrix:pool",
    )
    poolask = req.post(
        world.resident,
        req.RequestFields(world.service.id, start, "家里", "", 60, False, ask_pool=True),
    )
    device, enrol = devices.register_device(world.admin, "二楼")
    spare, _spare_enrol = devices.register_device(world.admin, "活动室")
    printed = devices.print_place_code(world.admin, "巡逻岗")
    callup = callups.create(
        world.coordinator,
        callups.CallUpFields(
            team_id=world.team.id,
            service_id=world.service.id,
            what="水管爆裂",
            place="东门",
            needed_by=start,
            needed=2,
            escalate_after=15,
        ),
    )
    db.session.commit()
    data = {
        "once": uuid.uuid4().hex,
        "reason": "不符合",
        "logs": [str(log.id)],
        "title": "义诊活动",
        "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "place": "二楼",
        "visit": "1",
        "capacity": "8",
        "service": str(world.service.id),
        "name": "矩阵测试队",
        "category": "patrol",
        "phone": world.volunteer2.phone,
        "attended": [str(world.volunteer2.id)],
        "when": start.strftime("%Y-%m-%dT%H:%M"),
        "minutes": "60",
        "volunteer": world.volunteer.id,
        "rating": "5",
        "comment": "好",
        "to": world.resident.id,
        "name_en": "",
        "typical_minutes": "60",
        "active": "y",
        "share": "1",
        "donate": "1",
        "building": "1号楼",
        "person": "王大爷",
        "categories": ["alone"],
        "outcome": "已回访",
        "complaint": "来晚了",
        "team": str(world.team.id),
        "office": str(grid_ids["office"]),
        "member": world.volunteer2.member_no,
        "unit": "1单元",
        "role": "grid_worker",
    }
    ids = dict(
        log=log.id,
        team=world.team.id,
        request=request.id,
        membership=membership.id,
        activity=activity.id,
        volunteer=world.volunteer2.id,
        link=link.id,
        served=served.id,
        service=world.service.id,
        approved=approved.id,
        consent=consent.id,
        newcomer=newcomer.id,
        enrol=enrol,
        device=spare.id,
        code=devices.place_code(device, time.time()),
        printed=printed.id,
        printed_code=devices.printed_code(printed),
        callup=callup.id,
        passbook=_passbook_token(world),
        community=world.community.id,
        poolline=poolline.id,
        poolask=poolask.id,
        grid_people=grid_people,
        **grid_ids,
        **requests,
    )
    return world, ids, data


def _passbook_token(world: World) -> str:
    with current_app.test_request_context():
        pages, _older = passbook.pages(world.volunteer, printed_on=today_local())
    return pages[0].token


def _grid_world(world: World, start: datetime) -> tuple[dict[str, object], dict[str, object]]:
    """A grid of the world's community with its grid worker and a building head, a resident
    of it with an open request and one with a follow-up, a household, a street office
    above the community with its admin, and a city admin."""
    grid = grids.create_grid(world.admin, grids.GridFields("东区网格", "", "1号楼\n2号楼", None))
    worker = make_member(world.community, "吴网格")
    head = make_member(world.community, "郑楼长")
    grids.appoint(world.admin, grid.id, worker.id, "grid_worker", "")
    grids.appoint(world.admin, grid.id, head.id, "building_head", "1号楼")
    neighbour = make_member(world.community, "王邻居", age=80)
    grids.set_home(neighbour, neighbour.id, "1号楼", "1单元")
    fields = req.RequestFields(world.service.id, start, "1号楼", "", 60, False)
    grid_open = req.post(neighbour, fields)
    # Nobody took it for three days: escalated to the street office (大事不出街道).
    escalated = req.post(neighbour, fields)
    escalated.escalation_level = 2
    followup = req.post(neighbour, fields)
    req.dispatch(worker, followup.id, world.volunteer.id)
    req.accept(world.volunteer, followup.id)
    req.mark_done(world.volunteer, followup.id, 60)
    req.confirm(neighbour, followup.id, 1, "")
    household = grids.add_household(
        world.admin,
        grid,
        grids.HouseholdFields("1号楼", "1单元", "101", "", "王邻居", ["over_80"], ""),
    )
    office = StreetOffice(name="银州街道")
    db.session.add(office)
    db.session.flush()
    world.community.street_office_id = office.id
    street = make_member(world.community, "街道办")
    street.role, street.street_office_id = "street_admin", office.id
    city = make_member(world.community, "市管理")
    city.role = "city_admin"
    ids: dict[str, object] = dict(
        grid=grid.id,
        building="1号楼",
        grid_open=grid_open.id,
        escalated=escalated.id,
        followup=followup.id,
        household=household.id,
        office=office.id,
    )
    people = {
        "grid_worker": worker,
        "building_head": head,
        "street_admin": street,
        "city_admin": city,
    }
    return ids, people


@pytest.mark.parametrize(
    ("method", "path", "expected"), CASES, ids=[f"{m} {p}" for m, p, _ in CASES]
)
def test_route_by_role(
    app_ctx: Flask, app: Flask, login: Callable, method: str, path: str, expected: dict
) -> None:
    """Each role in turn; the data is rebuilt only after a request that changed it."""
    world, ids, data = _build()
    for role in ROLES:
        before = _snapshot()
        client = _client(role, world, login, app, ids)
        url = path.format(**ids)
        response = client.get(url) if method == "GET" else client.post(url, data=data)
        status = response.status_code
        cache = response.headers.get("Cache-Control", "")
        response.close()
        assert status == expected[role], f"{role}: {method} {url} gave {status}"
        if role != "visitor":
            # A shared computer's Back button must not show the last person's pages.
            assert cache == "no-store", f"{role}: {method} {url} is cacheable ({cache!r})"
        if method == "POST" and expected[role] != 303:
            assert _snapshot() == before, f"{role}: a refused {method} {url} changed data"
        if _snapshot() != before:
            db.session.commit()
            empty_all_tables(app)
            world, ids, data = _build()
