"""/reports: every figure recomputed here from the raw rows of a generated dataset."""

from __future__ import annotations

import csv
import io
import random
from collections import Counter, defaultdict
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from portal.clock import today_local
from portal.extensions import db
from portal.models import HourLog, Member, RequestEvent, ServiceRequest, TeamMembership
from portal.models._time import utcnow
from portal.services import hours, report_scope, reports
from tests.support import World, join, log_hours, make_member, make_service


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


def _scope(actor: Member, **kw) -> report_scope.Scope:  # type: ignore[no-untyped-def]
    return report_scope.scope_for(
        actor, start=kw.get("start"), end=kw.get("end"), team_id=kw.get("team"), today=today_local()
    )


def _logs(scope: report_scope.Scope, status: str = "approved") -> list[HourLog]:
    return [
        log
        for log in db.session.scalars(select(HourLog))
        if log.community_id == scope.community_id
        and log.status == status
        and (scope.team_ids is None or log.team_id in scope.team_ids)
        and (status == "pending" or scope.start <= log.service_date <= scope.end)
    ]


def _requests(scope: report_scope.Scope) -> list[ServiceRequest]:
    return [
        r
        for r in db.session.scalars(select(ServiceRequest))
        if scope.start_at <= r.created_at < scope.end_before
        and (scope.team_ids is None or r.team_id in scope.team_ids)
    ]


SCOPES = [
    ("admin", {}),
    ("admin", {"start": -90, "end": -10}),
    ("coordinator", {}),
    ("other_coordinator", {"start": -200}),
    ("admin", {"team": "other_team"}),
]


@pytest.mark.parametrize(("who", "kw"), SCOPES)
def test_every_figure_matches_the_raw_rows(dataset: World, who: str, kw: dict) -> None:
    today = today_local()
    args = {k: today + timedelta(days=v) for k, v in kw.items() if k in ("start", "end")}
    if "team" in kw:
        args["team"] = getattr(dataset, kw["team"]).id
    scope = _scope(getattr(dataset, who), **args)
    now = utcnow()
    report = reports.build(scope, now=now, year_hours=2000)
    logs = _logs(scope)
    assert logs, "the dataset should put service in every scope tested"

    by_team_month: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for log in logs:
        by_team_month[log.team.name][log.service_date.strftime("%Y-%m")] += log.minutes
    assert {team: dict(months) for team, months in report.team_months.teams} == {
        team: dict(months) for team, months in by_team_month.items()
    }
    assert sum(report.team_months.totals.values()) == sum(log.minutes for log in logs)

    by_category: Counter[str] = Counter()
    for log in logs:
        by_category[log.service.category] += log.minutes
    assert report.categories == dict(by_category)
    assert report.minutes == sum(log.minutes for log in logs)
    days = (scope.end - scope.start).days + 1
    assert report.fte == round(report.minutes / 60 / (2000 * days / 365), 3)

    if scope.team_ids is None:
        members = {
            m.id for m in db.session.scalars(select(Member)) if m.community_id == scope.community_id
        }
        new = {
            m.id
            for m in db.session.scalars(select(Member))
            if m.community_id == scope.community_id
            and scope.start_at <= m.created_at < scope.end_before
        }
    else:
        rows = [
            t
            for t in db.session.scalars(select(TeamMembership))
            if t.team_id in scope.team_ids and t.status == "active"
        ]
        members = {t.member_id for t in rows}
        new = {t.member_id for t in rows if scope.start_at <= t.created_at < scope.end_before}
    active = {log.member_id for log in logs} & members
    assert report.people == reports.People(
        len(members), len(active), len(members - active), len(new)
    )

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
