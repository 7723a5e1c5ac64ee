"""/reports: every figure recomputed here from the raw rows of a generated dataset."""

from __future__ import annotations

import csv
import io
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from portal.clock import today_local
from portal.extensions import db
from portal.models import (
    Community,
    Grid,
    HourLog,
    Member,
    RequestEvent,
    ServiceRequest,
    StreetOffice,
    TeamMembership,
)
from portal.models._time import utcnow
from portal.services import hours, report_scope, reports, rollups
from portal.services.errors import Forbidden
from tests.support import (
    World,
    join,
    log_hours,
    make_community,
    make_member,
    make_service,
    make_team,
)


@pytest.fixture
def dataset(world: World) -> World:
    """A year of service in two teams and two categories, requests in every state."""
    rng = random.Random(12)
    world.community.log_window_days = 366
    patrol = make_service(world.community, "巡逻", category="patrol")
    extra = [make_member(world.community, f"志愿{n}") for n in range(4)]
    for member in extra:
        join(world.team, member)
    people = [world.volunteer, world.volunteer2, *extra]
    for n in range(60):
        member = rng.choice(people)
        team = world.other_team if member is world.volunteer and n % 3 == 0 else world.team
        # Each team logs its own category's service (the hours form offers no other).
        service = patrol if team is world.other_team else world.service
        log = log_hours(member, team, service, rng.randint(1, 9) * 15, days_ago=rng.randint(1, 360))
        approver = world.other_coordinator if team is world.other_team else world.coordinator
        if n % 5 != 4:
            hours.approve_log(approver, log.id)
        if n % 9 == 0:
            # An old pending log, for the queue's age.
            log.created_at = utcnow() - timedelta(days=n % 20, hours=3)
    statuses = ["open", "dispatched", "accepted", "done", "confirmed", "cancelled"]
    for n in range(30):
        created = utcnow() - timedelta(days=rng.randint(0, 400), minutes=rng.randint(0, 600))
        status = statuses[n % len(statuses)]
        request = ServiceRequest(
            community_id=world.community.id,
            requester_id=world.resident.id,
            posted_by_id=world.resident.id,
            service_id=world.service.id,
            wanted_at=created + timedelta(days=1),
            place="家里",
            estimate_minutes=60,
            status=status,
            team_id=None if status == "open" else rng.choice([world.team.id, world.other_team.id]),
            assignee_id=None if status == "open" else world.volunteer.id,
            rating=rng.randint(1, 5) if status == "confirmed" else None,
            created_at=created,
        )
        db.session.add(request)
        db.session.flush()
        if status != "open":
            kind = "dispatched" if n % 2 else "taken"
            wait = timedelta(minutes=rng.randint(5, 3000))
            db.session.add(
                RequestEvent(request_id=request.id, kind=kind, created_at=created + wait)
            )
            db.session.add(
                RequestEvent(
                    request_id=request.id, kind="dispatched", created_at=created + 2 * wait
                )
            )
    db.session.commit()
    return world


@dataclass
class City:
    """The dataset plus what a street office and the city see: a second community of the
    same street office with its own service, a third under no street office, grids with a
    micro-grid in the first, party members, and a street-office and a city admin."""

    world: World
    far: Community
    street_admin: Member
    city_admin: Member
    grid: Grid
    micro_grid: Grid
    other_grid: Grid


@pytest.fixture
def city(dataset: World) -> City:
    world = dataset
    rng = random.Random(7)
    office = StreetOffice(name="东街道")
    db.session.add(office)
    db.session.flush()
    world.community.street_office_id = office.id
    world.other_community.street_office_id = office.id
    world.other_community.log_window_days = 366
    far = make_community("远方里", log_window_days=366)
    grid = Grid(community_id=world.community.id, name="东区网格", buildings="1号楼")
    db.session.add(grid)
    db.session.flush()
    micro = Grid(
        community_id=world.community.id, parent_id=grid.id, name="东一微网格", buildings="2号楼"
    )
    other_grid = Grid(community_id=world.community.id, name="西区网格", buildings="9号楼")
    db.session.add_all([micro, other_grid])
    db.session.flush()
    volunteers = list(
        db.session.scalars(
            select(Member)
            .join(TeamMembership, TeamMembership.member_id == Member.id)
            .where(TeamMembership.team_id == world.team.id, TeamMembership.role == "member")
            .order_by(Member.id)
        )
    )
    for n, member in enumerate(volunteers):
        member.grid_id = (grid.id, micro.id, other_grid.id, None)[n % 4]
        member.party_member = n % 2 == 0
    world.resident.grid_id = micro.id
    for community in (world.other_community, far):
        team = make_team(community, "助老队")  # the same name as the first community's
        service = make_service(community, "理发", category="haircut")
        coordinator = make_member(community, "协调员")
        join(team, coordinator, "coordinator")
        people = [make_member(community, f"志愿{n}") for n in range(3)]
        for member in people:
            join(team, member)
        people[0].party_member = True
        for n in range(15):
            log = log_hours(
                rng.choice(people), team, service, rng.randint(1, 8) * 15, rng.randint(1, 360)
            )
            if n % 4 != 3:
                hours.approve_log(coordinator, log.id)
        for n in range(6):
            created = utcnow() - timedelta(days=rng.randint(0, 300))
            db.session.add(
                ServiceRequest(
                    community_id=community.id,
                    requester_id=people[1].id,
                    posted_by_id=people[1].id,
                    service_id=service.id,
                    wanted_at=created + timedelta(days=1),
                    place="家里",
                    estimate_minutes=60,
                    status="confirmed" if n % 2 else "open",
                    team_id=team.id if n % 2 else None,
                    assignee_id=people[2].id if n % 2 else None,
                    rating=rng.randint(1, 5) if n % 2 else None,
                    created_at=created,
                )
            )
    # Some of the first community's requests belong to a grid.
    for n, request in enumerate(
        db.session.scalars(
            select(ServiceRequest)
            .where(ServiceRequest.community_id == world.community.id)
            .order_by(ServiceRequest.id)
        )
    ):
        request.grid_id = (grid.id, micro.id, other_grid.id)[n % 3]
    street_admin = make_member(world.other_community, "街道管理")
    street_admin.role = "street_admin"
    street_admin.street_office_id = office.id
    city_admin = make_member(far, "市管理")
    city_admin.role = "city_admin"
    db.session.commit()
    return City(world, far, street_admin, city_admin, grid, micro, other_grid)


def _scope(actor: Member, **kw) -> report_scope.Scope:  # type: ignore[no-untyped-def]
    return report_scope.scope_for(
        actor,
        start=kw.get("start"),
        end=kw.get("end"),
        team_id=kw.get("team"),
        community_id=kw.get("community"),
        grid_id=kw.get("grid"),
        today=today_local(),
    )


def _members() -> dict[int, Member]:
    return {m.id: m for m in db.session.scalars(select(Member))}


def _in_grid(scope: report_scope.Scope, grid_id: int | None) -> bool:
    return scope.grid_ids is None or grid_id in scope.grid_ids


def _logs(scope: report_scope.Scope, status: str = "approved") -> list[HourLog]:
    members = _members()
    return [
        log
        for log in db.session.scalars(select(HourLog))
        if log.community_id in scope.community_ids
        and log.status == status
        and (scope.team_ids is None or log.team_id in scope.team_ids)
        and _in_grid(scope, members[log.member_id].grid_id)
        and (status == "pending" or scope.start <= log.service_date <= scope.end)
    ]


def _requests(scope: report_scope.Scope) -> list[ServiceRequest]:
    return [
        r
        for r in db.session.scalars(select(ServiceRequest))
        if r.community_id in scope.community_ids
        and scope.start_at <= r.created_at < scope.end_before
        and (scope.team_ids is None or r.team_id in scope.team_ids)
        and _in_grid(scope, r.grid_id)
    ]


SCOPES = [
    ("admin", {}),
    ("admin", {"start": -90, "end": -10}),
    ("coordinator", {}),
    ("other_coordinator", {"start": -200}),
    ("admin", {"team": "other_team"}),
    # A street office: both its communities, or one; the city: all three.
    ("street_admin", {}),
    ("street_admin", {"start": -45, "end": -3, "community": "other_community"}),
    ("city_admin", {"start": -300}),
    ("city_admin", {"community": "community", "team": "team"}),
    # A grid takes in its micro-grids; a micro-grid only itself.
    ("admin", {"grid": "grid"}),
    ("admin", {"grid": "micro_grid", "start": -120, "end": -31}),
    ("coordinator", {"grid": "other_grid"}),
    ("street_admin", {"grid": "grid", "team": "team"}),
]


def _args(city: City, kw: dict) -> dict:  # type: ignore[type-arg]
    today = today_local()
    args: dict[str, object] = {
        k: today + timedelta(days=v) for k, v in kw.items() if k in ("start", "end")
    }
    if "team" in kw:
        args["team"] = getattr(city.world, kw["team"]).id
    if "community" in kw:
        args["community"] = getattr(city.world, kw["community"]).id
    if "grid" in kw:
        args["grid"] = getattr(city, kw["grid"]).id
    return args


def _actor(city: City, who: str) -> Member:
    return getattr(city, who) if hasattr(city, who) else getattr(city.world, who)


@pytest.mark.parametrize(("who", "kw"), SCOPES)
def test_every_figure_matches_the_raw_rows(city: City, who: str, kw: dict) -> None:
    scope = _scope(_actor(city, who), **_args(city, kw))
    assert rollups.check() == []
    now = utcnow()
    report = reports.build(scope, now=now, year_hours=2000)
    logs = _logs(scope)
    assert logs, "the dataset should put service in every scope tested"
    members = _members()

    several = len(scope.community_ids) > 1
    community_names = {c.id: c.name for c in db.session.scalars(select(Community))}
    by_team_month: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    party: Counter[str] = Counter()
    for log in logs:
        label = (
            f"{community_names[log.team.community_id]} · {log.team.name}"
            if several
            else log.team.name
        )
        by_team_month[label][log.service_date.strftime("%Y-%m")] += log.minutes
        if members[log.member_id].party_member:
            party[log.service_date.strftime("%Y-%m")] += log.minutes
    assert {team: dict(months) for team, months in report.team_months.teams} == {
        team: dict(months) for team, months in by_team_month.items()
    }
    assert sum(report.team_months.totals.values()) == sum(log.minutes for log in logs)
    assert {m: n for m, n in report.team_months.party.items() if n} == dict(party)

    by_category: Counter[str] = Counter()
    for log in logs:
        by_category[log.service.category] += log.minutes
    assert report.categories == dict(by_category)
    assert report.minutes == sum(log.minutes for log in logs)
    days = (scope.end - scope.start).days + 1
    assert report.fte == round(report.minutes / 60 / (2000 * days / 365), 3)

    if scope.team_ids is None:
        in_scope = [
            m
            for m in members.values()
            if m.community_id in scope.community_ids and _in_grid(scope, m.grid_id)
        ]
        ids = {m.id for m in in_scope}
        new = {m.id for m in in_scope if scope.start_at <= m.created_at < scope.end_before}
    else:
        rows = [
            t
            for t in db.session.scalars(select(TeamMembership))
            if t.team_id in scope.team_ids
            and t.status == "active"
            and _in_grid(scope, members[t.member_id].grid_id)
        ]
        ids = {t.member_id for t in rows}
        new = {t.member_id for t in rows if scope.start_at <= t.created_at < scope.end_before}
    active = {log.member_id for log in logs} & ids
    assert report.people == reports.People(len(ids), len(active), len(ids - active), len(new))

    requests = _requests(scope)
    assert {s: n for s, n in report.requests.items() if n} == dict(
        Counter(r.status for r in requests)
    )
    ratings = [r.rating for r in requests if r.rating is not None]
    assert report.ratings.count == len(ratings)
    assert report.ratings.average == (round(sum(ratings) / len(ratings), 2) if ratings else None)
    waits = []
    for r in requests:
        firsts = [
            e.created_at
            for e in db.session.scalars(select(RequestEvent).where(RequestEvent.request_id == r.id))
            if e.kind in ("dispatched", "taken")
        ]
        if firsts:
            waits.append((min(firsts) - r.created_at).total_seconds() / 60)
    assert report.dispatch.count == len(waits)
    assert report.dispatch.average_minutes == (round(sum(waits) / len(waits)) if waits else None)

    pending = _logs(scope, "pending")
    assert report.queue.pending == len(pending)
    if pending:
        ages = [(now - log.created_at).total_seconds() / 86400 for log in pending]
        assert report.queue.oldest_days == int(max(ages))
        assert report.queue.average_days == pytest.approx(round(sum(ages) / len(ages), 1), abs=0.11)


def test_the_scopes_cover_exactly_the_communities_each_may_see(city: City) -> None:
    world = city.world
    street = _scope(city.street_admin)
    assert set(street.community_ids) == {world.community.id, world.other_community.id}
    assert street.is_admin and street.team_ids is None
    assert set(_scope(city.city_admin).community_ids) == {
        world.community.id,
        world.other_community.id,
        city.far.id,
    }
    assert _scope(world.admin).community_ids == (world.community.id,)
    assert _scope(city.world.admin, grid=city.grid.id).grid_ids == tuple(
        sorted((city.grid.id, city.micro_grid.id))
    )
    refused = [
        (city.street_admin, {"community": city.far.id}),
        (world.admin, {"community": world.other_community.id}),
        (world.other_admin, {"team": world.team.id}),
        (world.other_admin, {"grid": city.grid.id}),
        (world.coordinator, {"team": world.other_team.id}),
        (world.coordinator, {"community": world.other_community.id}),
    ]
    for actor, args in refused:
        with pytest.raises(Forbidden):
            _scope(actor, **args)
    with pytest.raises(Forbidden):
        _scope(world.volunteer)


def test_bad_filters_get_a_message_never_an_error(city: City, login) -> None:  # type: ignore[no-untyped-def]
    world = city.world
    admin = login(world.admin)
    page = admin.get("/reports?from=2026-13-45&to=yesterday&month=abc")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and html.count('class="notice error" role="alert"') == 3
    page = admin.get(f"/reports?community={world.other_community.id}")
    assert page.status_code == 403 and 'role="alert"' in page.get_data(as_text=True)
    assert 'id="report-body"' in page.get_data(as_text=True)  # still the community's figures
    for query in ("team=99999999", "grid=x", "community=-3", "team=1e9", "grid=%00"):
        response = admin.get(f"/reports?{query}")
        assert response.status_code in (200, 400, 403), query  # %00: the input guard
    assert admin.get(f"/reports/table/team_months.csv?grid={city.grid.id}").status_code == 200
    assert admin.get(f"/reports/export/hours.csv?community={city.far.id}").status_code == 403
    street = login(city.street_admin)
    page = street.get(f"/reports?community={world.community.id}&grid={city.grid.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'name="community"' in html and 'name="grid"' in html
    assert "东一微网格" in html and "党员" in html


def test_the_page_shows_a_chart_and_its_table_and_each_table_downloads(
    dataset: World, login
) -> None:
    client = login(dataset.coordinator)
    page = client.get("/reports")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<svg class="chart"' in html and 'role="img"' in html
    assert dataset.team.name in html and dataset.other_team.name not in html  # their teams only
    scope = _scope(dataset.coordinator)
    report = reports.build(scope, now=utcnow(), year_hours=2000)
    for name in reports.TABLES:
        response = client.get(f"/reports/table/{name}.csv")
        assert response.status_code == 200
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
        header, body = reports.table(report, name)
        assert rows[0] == header
        assert rows[1:] == [["" if c is None else str(c) for c in row] for row in body]


def test_filters_narrow_by_team_and_month_and_htmx_gets_the_fragment(dataset: World, login) -> None:
    client = login(dataset.admin)
    month = today_local().strftime("%Y-%m")
    url = f"/reports?team={dataset.other_team.id}&month={month}"
    whole = client.get(url).get_data(as_text=True)
    assert "<html" in whole and f'value="{month}" selected' in whole
    fragment = client.get(url, headers={"HX-Request": "true"})
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in text and 'id="report-body"' in text
    start = datetime.strptime(month, "%Y-%m").date()
    assert f"{start.isoformat()}" in text
    assert client.get(f"/reports?team={dataset.team.id}").status_code == 200
    # A coordinator may not look at another team's figures.
    assert (
        login(dataset.other_coordinator).get(f"/reports?team={dataset.team.id}").status_code == 403
    )
    assert login(dataset.volunteer).get("/reports").status_code == 403
