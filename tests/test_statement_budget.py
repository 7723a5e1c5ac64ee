"""How many SQL statements each often-opened page may run (issue 14).

Every page below is opened with 30 rows behind each of its lists (30 credited and 30 pending
logs, 30 team members, 30 requests, 30 notifications, 30 kiosk members), so a list that loads
something per row (an N+1) shows up as dozens of extra statements and fails here, rather than
as a slow page at city scale. The budgets are what each page runs after the speed work, with
no slack for a new query: a change that needs one raises the budget here, knowingly.

Statements are counted on the app's engine (SQLAlchemy's `before_cursor_execute`), per
request; SQLite's explicit BEGIN is not counted, so the budgets hold on both databases.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from portal.clock import now_local
from portal.extensions import db
from portal.models import Activity, Notification, TeamMembership
from portal.services import cards, devices, hours
from portal.services import requests as req
from tests.support import World, build_world, log_hours, make_member

ROWS = 30


@dataclass
class Counter:
    statements: list[str] = field(default_factory=list)

    def __call__(self, _conn, _cursor, statement: str, *_args: object) -> None:  # type: ignore[no-untyped-def]
        if not statement.lstrip().upper().startswith("BEGIN"):
            self.statements.append(" ".join(statement.split())[:160])


@contextmanager
def counting(app: Flask) -> Iterator[Counter]:
    counter = Counter()
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", counter)


@dataclass
class Town:
    world: World
    request_id: int
    pending_ids: list[int]
    device_token: str
    card: str
    activity_id: int


def _build_town(*, logs: bool = True) -> Town:
    """The test world with 30 rows behind every list a page shows (`logs=False`: without the
    hour logs and the requests, for the pages that show none)."""
    world = build_world()
    for i in range(2 * ROWS if logs else 0):
        log = log_hours(world.volunteer, world.team, world.service, days_ago=1 + i % 20)
        if i < ROWS:
            hours.approve_log(world.coordinator, log.id)
    pending = [
        log_hours(world.volunteer2, world.team, world.service, days_ago=1 + i % 20).id
        for i in range(4 if logs else 0)
    ]
    for i in range(ROWS):
        newcomer = make_member(world.community, f"队员{i}")
        db.session.add(TeamMembership(team_id=world.team.id, member_id=newcomer.id))
    start = now_local() + timedelta(days=1)
    requests = [
        req.post(
            world.resident,
            req.RequestFields(world.service.id, start, "家里", "", 60, False),
        )
        for _ in range(ROWS if logs else 1)
    ]
    for member in (world.volunteer, world.resident, world.coordinator):
        for _ in range(ROWS):
            db.session.add(Notification(member_id=member.id, kind="join_accepted", params="{}"))
    here = now_local() - timedelta(minutes=30)
    activity = Activity(
        team_id=world.team.id,
        service_id=world.service.id,
        title="义诊",
        place="二楼",
        starts_at=here,
        ends_at=here + timedelta(hours=3),
        capacity=50,
        created_by_id=world.coordinator.id,
    )
    db.session.add(activity)
    _device, enrol = devices.register_device(world.admin, "二楼")
    db.session.commit()
    return Town(
        world, requests[0].id, pending, enrol, cards.card_token(world.volunteer), activity.id
    )


@pytest.fixture
def town(app_ctx: Flask) -> Town:
    return _build_town()


@pytest.fixture
def village(app_ctx: Flask) -> Town:
    return _build_town(logs=False)


def _measure(
    app: Flask, pages: list[tuple[str, Callable[[], object], int]]
) -> dict[str, tuple[int, list[str]]]:
    counts = {}
    for name, call, expected_status in pages:
        with counting(app) as counter:
            response = call()
        status = response.status_code  # type: ignore[attr-defined]
        assert status == expected_status, f"{name}: HTTP {status}"
        counts[name] = (len(counter.statements), counter.statements)
    return counts


def _check(counts: dict[str, tuple[int, list[str]]], budgets: dict[str, int]) -> None:
    over = {
        name: (n, budgets[name], statements)
        for name, (n, statements) in counts.items()
        if n > budgets[name]
    }
    report = "\n".join(
        f"{name}: {n} statements, budget {budget}:\n    " + "\n    ".join(statements)
        for name, (n, budget, statements) in over.items()
    )
    assert not over, "pages over their statement budget:\n" + report


# A member's pages (as the volunteer with 60 logs, 2 teams, 30 notifications), budgets.
MEMBER_BUDGETS = {
    # Was 16 and 14: the balance, pending and reserved minutes and the top bar are one
    # statement now; then 11 and 9: the stars, "in a team?" and the coordinator's queue
    # count ride in it too, and the statement finds the account by subquery; then 7: the
    # latest lines' hour logs are joined to them.
    "GET /me (volunteer)": 7,
    "GET /me (resident, 30 requests)": 6,
    # Were 4 and 3: each line's hour log (service, date, person served) is joined to the
    # lines' statement.
    "GET /me/statement": 3,
    "GET /me/statement (htmx rows)": 2,
    # Each row's service and team are joined (a volunteer of several services paid one
    # statement per service before; this world has one, so the budget did not see it).
    "GET /hours": 3,
    "GET /hours/new": 4,
    "GET /teams": 6,
    "GET /teams/<id>": 7,
    # Grids: whom a request reaches depends on the viewer's grid posts and teams (the party
    # head start, routing to a team); these read them (twice: still to trim). Was 7: the
    # board's home grid family and teams are subqueries of its statement.
    "GET /requests": 6,
    "GET /requests/<id>": 8,
    "GET /notifications": 3,
}


def test_a_members_pages_stay_within_their_statement_budget(town: Town, app: Flask, login) -> None:  # type: ignore[no-untyped-def]
    world = town.world
    volunteer, resident = login(world.volunteer), login(world.resident)
    htmx = {"HX-Request": "true"}
    counts = _measure(
        app,
        [
            ("GET /me (volunteer)", lambda: volunteer.get("/me"), 200),
            ("GET /me (resident, 30 requests)", lambda: resident.get("/me"), 200),
            ("GET /me/statement", lambda: volunteer.get("/me/statement"), 200),
            (
                "GET /me/statement (htmx rows)",
                lambda: volunteer.get("/me/statement", headers=htmx),
                200,
            ),
            ("GET /hours", lambda: volunteer.get("/hours"), 200),
            ("GET /hours/new", lambda: volunteer.get("/hours/new"), 200),
            ("GET /teams", lambda: volunteer.get("/teams"), 200),
            ("GET /teams/<id>", lambda: volunteer.get(f"/teams/{world.team.id}"), 200),
            ("GET /requests", lambda: resident.get("/requests"), 200),
            ("GET /requests/<id>", lambda: resident.get(f"/requests/{town.request_id}"), 200),
            ("GET /notifications", lambda: volunteer.get("/notifications"), 200),
        ],
    )
    _check(counts, MEMBER_BUDGETS)


COORDINATOR_BUDGETS = {
    "GET /me (coordinator)": 7,
    # Was 9 and 8: each row's member, team and service are joined to the queue's statement.
    # Then 6 and 5: the page's waiting count rides in the top bar's statement, and the rows
    # fragment, which shows no count, reads none.
    "GET /approvals (25 rows)": 5,
    "GET /approvals?after= (htmx rows)": 4,
    # The approval itself: the form key, the witness checks, the ledger entry and postings,
    # the audit event, the notification, then the row and the count; and the storage cap
    # (the community's cap and the member's donation choice); and the two report rollups'
    # upserts (monthly_hours, monthly_balances), in the same transaction; and the
    # volunteer's latest day of service (member_last_served: /reports' active members).
    # Were 40 and 24: the row is read in one statement (a get and three lazy loads), the
    # form key's answer is one UPDATE (a SELECT first), the count one statement (their
    # teams, then the count), and the approval's message takes the volunteer the credit
    # loaded (read again before).
    "POST /approvals/<id>/approve (htmx row)": 34,
    "POST /approvals/<id>/reject (htmx row)": 19,
    # The roster of 30 used to load each member on its own (46 statements); its members are
    # joined now (14 with a batched load); each one's last service is a column of that
    # statement (13 before).
    "GET /teams/<id> (coordinator)": 12,
    # The roster's "More": the viewer, the team, "coordinator?", the cursor's row, the rows
    # and their minutes this month; nothing else of the page.
    "GET /teams/<id>?after= (htmx rows)": 6,
    "GET /requests?view=dispatch": 7,  # and the grids the coordinator may dispatch
}


def test_a_coordinators_pages_and_row_fragments_stay_within_budget(
    town: Town, app: Flask, login
) -> None:  # type: ignore[no-untyped-def]
    world = town.world
    coordinator = login(world.coordinator)
    htmx = {"HX-Request": "true"}
    first, second = town.pending_ids[:2]
    # The roster goes on after the first volunteer's row.
    roster_cursor = db.session.scalars(
        select(TeamMembership.id).where(
            TeamMembership.team_id == world.team.id,
            TeamMembership.member_id == world.volunteer.id,
        )
    ).one()

    def decide(log_id: int, decision: str):  # type: ignore[no-untyped-def]
        data = {"once": uuid.uuid4().hex, "reason": "信息不完整"}
        return coordinator.post(f"/approvals/{log_id}/{decision}", data=data, headers=htmx)

    counts = _measure(
        app,
        [
            ("GET /me (coordinator)", lambda: coordinator.get("/me"), 200),
            ("GET /approvals (25 rows)", lambda: coordinator.get("/approvals"), 200),
            (
                "GET /approvals?after= (htmx rows)",
                lambda: coordinator.get("/approvals?after=1", headers=htmx),
                200,
            ),
            ("POST /approvals/<id>/approve (htmx row)", lambda: decide(first, "approve"), 200),
            ("POST /approvals/<id>/reject (htmx row)", lambda: decide(second, "reject"), 200),
            (
                "GET /teams/<id> (coordinator)",
                lambda: coordinator.get(f"/teams/{world.team.id}"),
                200,
            ),
            (
                "GET /teams/<id>?after= (htmx rows)",
                lambda: coordinator.get(
                    f"/teams/{world.team.id}?after={roster_cursor}", headers=htmx
                ),
                200,
            ),
            (
                "GET /requests?view=dispatch",
                lambda: coordinator.get("/requests?view=dispatch"),
                200,
            ),
        ],
    )
    _check(counts, COORDINATOR_BUDGETS)


KIOSK_BUDGETS = {
    "GET /kiosk": 1,
    "GET /kiosk/pin": 1,
    # Was 8: the member's teams are read once for the activities and the walk-in options.
    "POST /kiosk/card (identify)": 7,
    "POST /kiosk/in (check in + confirmation)": 12,
    "GET /kiosk/code": 1,
}


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html)
    assert match, f"no {name} on the page"
    return match.group(1)


def test_the_kiosk_screens_stay_within_their_statement_budget(village: Town, app: Flask) -> None:
    town = village
    kiosk = app.test_client()
    assert kiosk.post(f"/kiosk/enrol/{town.device_token}").status_code == 303
    screen: dict[str, str] = {}

    def identify():  # type: ignore[no-untyped-def]
        response = kiosk.post("/kiosk/card", data={"card": town.card})
        screen["html"] = response.get_data(as_text=True)
        return response

    def check_in():  # type: ignore[no-untyped-def]
        html = screen["html"]
        data = {"who": _hidden(html, "who"), "key": "k1", "activity": str(town.activity_id)}
        return kiosk.post("/kiosk/in", data=data)

    counts = _measure(
        app,
        [
            ("GET /kiosk", lambda: kiosk.get("/kiosk"), 200),
            ("GET /kiosk/pin", lambda: kiosk.get("/kiosk/pin"), 200),
            ("POST /kiosk/card (identify)", identify, 200),
            ("POST /kiosk/in (check in + confirmation)", check_in, 200),
            ("GET /kiosk/code", lambda: kiosk.get("/kiosk/code"), 200),
        ],
    )
    _check(counts, KIOSK_BUDGETS)


VISITOR_BUDGETS = {
    # Each community's year (hours and volunteers from two rollups, requests fulfilled,
    # people served, the names): a worker's first visit; then every 5 minutes in a thread
    # while the old figures are shown.
    "GET / (figures computed)": 5,
    "GET / (figures kept)": 0,
    "GET /login": 0,
    "GET /register": 1,
}


def test_a_visitors_pages_run_next_to_no_sql(village: Town, app: Flask) -> None:
    visitor: FlaskClient = app.test_client()
    counts = _measure(
        app,
        [
            ("GET / (figures computed)", lambda: visitor.get("/"), 200),
            ("GET / (figures kept)", lambda: visitor.get("/"), 200),
            ("GET /login", lambda: visitor.get("/login"), 200),
            ("GET /register", lambda: visitor.get("/register"), 200),
        ],
    )
    _check(counts, VISITOR_BUDGETS)


# The grid worker's two list pages (issue 11), with 30 volunteers in the request's
# micro-grid and 30 households (each with a person who is a member with an open request).
GRID_BUDGETS = {
    # The member, the request with its service, coordinates? grid posts, the team choices,
    # the requester's family, the request's grid family, the volunteers of the grid (one
    # UNION ALL) and, fewer than 50 there, of the rest of the community, their tasks and
    # ratings, the top bar. Was 18 at city scale (the team choices counted members and
    # minutes, the family loaded members, a query per distance, the counts two).
    "GET /requests/<id>/candidates": 11,
    # The member, the grid, coordinates? grid posts, the audit line, the households, their
    # people with open requests, the top bar. Was 13: the commit of the audit line expired
    # the grid and the member, loaded again to render; the open requests were apart.
    "GET /grids/<id>/register": 8,
}


def test_the_grid_workers_lists_stay_within_their_statement_budget(
    world: World, app: Flask, login
) -> None:  # type: ignore[no-untyped-def]
    from portal.models import CarePerson, Household
    from portal.services import grids as grid_service
    from tests.test_grids import build_grids

    g = build_grids(world)
    tomorrow = now_local() + timedelta(days=1)
    for i in range(ROWS):
        volunteer = make_member(world.community, f"东一志愿{i}")
        grid_service.set_home(volunteer, volunteer.id, "1号楼", f"{i % 3 + 1}单元")
        db.session.add(TeamMembership(team_id=world.team.id, member_id=volunteer.id))
        household = Household(grid_id=g.east_1.id, building="1号楼", unit="1单元", door=f"{i}")
        db.session.add(household)
        db.session.flush()
        db.session.add(
            CarePerson(
                household_id=household.id,
                name=f"长者{i}",
                categories="alone",
                member_id=volunteer.id,
            )
        )
        req.post(
            volunteer,
            req.RequestFields(
                world.service.id, now_local() + timedelta(days=1), "家里", "", 60, False
            ),
        )
    request = req.post(
        world.resident,
        req.RequestFields(world.service.id, tomorrow, "家里", "", 60, False),
    )
    db.session.commit()
    worker = login(g.worker)
    counts = _measure(
        app,
        [
            (
                "GET /requests/<id>/candidates",
                lambda: worker.get(f"/requests/{request.id}/candidates"),
                200,
            ),
            ("GET /grids/<id>/register", lambda: worker.get(f"/grids/{g.east.id}/register"), 200),
        ],
    )
    _check(counts, GRID_BUDGETS)
