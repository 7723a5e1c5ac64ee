"""Teams, coordinators and activities: admins set teams up, members join, coordinators
run rosters and activities, attendance turns into hours."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.clock import now_local
from portal.extensions import db
from portal.models import (
    Activity,
    ActivitySignup,
    AuditEvent,
    HourLog,
    Notification,
    Team,
    TeamMembership,
)
from portal.services import activities, ledger, teams
from tests.support import World, join, make_member


def _fmt(moment) -> str:  # type: ignore[no-untyped-def]
    return moment.strftime("%Y-%m-%dT%H:%M")


def _activity_form(world: World, **overrides: object) -> dict[str, object]:
    start = now_local() + timedelta(days=1)
    data = {
        "title": "陪老人散步",
        "starts_at": _fmt(start),
        "ends_at": _fmt(start + timedelta(minutes=90)),
        "place": "社区活动中心",
        "capacity": "2",
        "service": world.service.id,
    }
    data.update(overrides)
    return data


def _make_activity(world: World, capacity: int = 2, *, past: bool = False) -> Activity:
    start = now_local() + (timedelta(hours=-3) if past else timedelta(days=1))
    activity = Activity(
        team_id=world.team.id,
        service_id=world.service.id,
        title="散步",
        place="花园",
        starts_at=start,
        ends_at=start + timedelta(minutes=90),
        capacity=capacity,
        created_by_id=world.coordinator.id,
    )
    db.session.add(activity)
    db.session.commit()
    return activity


def _end(activity: Activity) -> None:
    """Time passes: the activity is now over."""
    activity.starts_at = now_local() - timedelta(hours=3)
    activity.ends_at = activity.starts_at + timedelta(minutes=90)
    db.session.commit()


# --- admin ---------------------------------------------------------------------------


def test_admin_creates_edits_and_archives_a_team(world: World, login) -> None:  # type: ignore[no-untyped-def]
    client = login(world.admin)
    response = client.post(
        "/admin/teams/new",
        data={"name": "应急小分队", "category": "emergency", "description": "夜间应急"},
    )
    assert response.status_code == 303
    team = db.session.scalars(select(Team).where(Team.name == "应急小分队")).one()
    assert (team.community_id, team.category, team.kiosk_auto_approve) == (
        world.community.id,
        "emergency",
        False,
    )
    client.post(
        f"/admin/teams/{team.id}",
        data={"name": "应急救援小队", "category": "emergency", "kiosk_auto_approve": "y"},
    )
    db.session.refresh(team)
    assert team.name == "应急救援小队" and team.kiosk_auto_approve
    client.post(f"/admin/teams/{team.id}/archive")
    db.session.refresh(team)
    assert team.archived
    assert "应急救援小队" not in login(world.volunteer).get("/teams").get_data(as_text=True)
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"team.create", "team.update", "team.archive"} <= actions


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "category": "emergency"}, "name", "名称"),
        ({"name": "新队", "category": "cooking"}, "category", "类别"),
        ({"name": "助老队", "category": "elder_care"}, "name", "同名"),
    ],
)
def test_bad_team_input_is_explained(world: World, login, data, field, message) -> None:  # type: ignore[no-untyped-def]
    count = db.session.scalar(select(func.count(Team.id)))
    response = login(world.admin).post("/admin/teams/new", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error = html.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
    assert message in error, error
    assert db.session.scalar(select(func.count(Team.id))) == count


def test_admin_appoints_and_removes_a_coordinator(world: World, login) -> None:  # type: ignore[no-untyped-def]
    client = login(world.admin)
    response = client.post(
        f"/admin/teams/{world.team.id}/coordinators", data={"phone": world.volunteer2.phone}
    )
    assert response.status_code == 303
    membership = db.session.scalars(
        select(TeamMembership).where(
            TeamMembership.member_id == world.volunteer2.id, TeamMembership.team_id == world.team.id
        )
    ).one()
    assert membership.role == "coordinator"
    assert (
        db.session.scalar(
            select(func.count(Notification.id)).where(Notification.member_id == world.volunteer2.id)
        )
        == 1
    )
    bad = client.post(
        f"/admin/teams/{world.team.id}/coordinators", data={"phone": world.other_admin.phone}
    )
    assert bad.status_code == 422 and "没有" in bad.get_data(as_text=True)
    client.post(f"/admin/teams/{world.team.id}/coordinators/{world.volunteer2.id}/remove")
    db.session.refresh(membership)
    assert membership.role == "member"


# --- joining and rosters -------------------------------------------------------------


def test_a_member_asks_to_join_and_is_accepted(world: World, login) -> None:  # type: ignore[no-untyped-def]
    newcomer = make_member(world.community, "吴新人")
    db.session.commit()
    client = login(newcomer)
    assert "申请加入" in client.get("/teams").get_data(as_text=True)
    assert client.post(f"/teams/{world.team.id}/join").status_code == 303
    again = client.post(f"/teams/{world.team.id}/join", follow_redirects=True)
    assert "已申请" in again.get_data(as_text=True)
    membership = db.session.scalars(
        select(TeamMembership).where(TeamMembership.member_id == newcomer.id)
    ).one()
    assert membership.status == "pending"
    coordinator = login(world.coordinator)
    page = coordinator.get(f"/teams/{world.team.id}").get_data(as_text=True)
    assert "吴新人" in page
    coordinator.post(f"/teams/{world.team.id}/requests/{membership.id}/accept")
    db.session.refresh(membership)
    assert membership.status == "active"
    inbox = client.get("/notifications").get_data(as_text=True)
    assert world.team.name in inbox
    assert "1 条新" in client.get("/me").get_data(as_text=True)


def test_join_decline_remove_and_promote(world: World, login) -> None:  # type: ignore[no-untyped-def]
    newcomer = make_member(world.community, "冯新人")
    db.session.commit()
    login(newcomer).post(f"/teams/{world.team.id}/join")
    request = db.session.scalars(
        select(TeamMembership).where(TeamMembership.member_id == newcomer.id)
    ).one()
    coordinator = login(world.coordinator)
    coordinator.post(f"/teams/{world.team.id}/requests/{request.id}/decline")
    db.session.refresh(request)
    assert request.status == "declined"
    v2 = db.session.scalars(
        select(TeamMembership).where(
            TeamMembership.member_id == world.volunteer2.id, TeamMembership.team_id == world.team.id
        )
    ).one()
    coordinator.post(f"/teams/{world.team.id}/members/{v2.id}/promote")
    db.session.refresh(v2)
    assert v2.role == "coordinator"
    v1 = db.session.scalars(
        select(TeamMembership).where(
            TeamMembership.member_id == world.volunteer.id, TeamMembership.team_id == world.team.id
        )
    ).one()
    coordinator.post(f"/teams/{world.team.id}/members/{v1.id}/remove")
    db.session.refresh(v1)
    assert v1.status == "removed"
    # A coordinator cannot remove another coordinator.
    coordinator.post(f"/teams/{world.team.id}/members/{v2.id}/remove")
    db.session.refresh(v2)
    assert v2.status == "active"


def test_roster_shows_hours_this_month(world: World, login) -> None:  # type: ignore[no-untyped-def]
    from portal.services import hours
    from tests.support import log_hours

    log = log_hours(world.volunteer, world.team, world.service, minutes=90, days_ago=0)
    hours.approve_log(world.coordinator, log.id)
    db.session.commit()
    page = login(world.coordinator).get(f"/teams/{world.team.id}").get_data(as_text=True)
    row = page.split("孙志愿", 1)[1].split("</tr>", 1)[0]
    assert "1 小时 30 分" in row
    listing = login(world.volunteer).get("/teams").get_data(as_text=True)
    assert "本月 1 小时 30 分" in listing


# --- the roster, a page at a time ----------------------------------------------------

ROSTER_ACTION = re.compile(r'action="/teams/\d+/members/(\d+)/(promote|remove)"')


def _roster_names(html: str) -> list[str]:
    """The names in the roster's rows, in order (the whole page's table, or a fragment)."""
    rows = html.split('<tbody id="roster-rows">', 1)[-1].split("</tbody>", 1)[0]
    return re.findall(r"<tr>\s*<td>(\S+) ", rows)


def _more(html: str) -> str | None:
    """The "More" link's URL, checking that htmx asks for the same URL."""
    match = re.search(r'<tr id="more-roster">.*?href="([^"]+)" hx-get="([^"]+)"', html)
    if match is None:
        return None
    assert match.group(1) == match.group(2)
    return match.group(1).replace("&amp;", "&")


def _long_roster(world: World) -> list[str]:
    """Nine more in the team (one a coordinator), one asking to join, one removed: the
    active members' names in roster order (members in joining order, then coordinators)."""
    newcomers = [make_member(world.community, f"队员{i}") for i in range(7)]
    for member in newcomers:
        join(world.team, member)
    deputy = make_member(world.community, "冯副队")
    join(world.team, deputy, "coordinator")
    join(world.other_team, make_member(world.community, "别队员"))
    gone = make_member(world.community, "离队员")
    join(world.team, gone)
    teams.remove_member(world.coordinator, world.team, _membership(world, gone.id).id)
    asking = make_member(world.community, "吴新人")
    teams.request_join(asking, world.team)
    db.session.commit()
    return ["孙志愿", "周志愿", *(m.name for m in newcomers), "钱协调", "冯副队"]


def _membership(world: World, member_id: int) -> TeamMembership:
    return db.session.scalars(
        select(TeamMembership).where(
            TeamMembership.team_id == world.team.id, TeamMembership.member_id == member_id
        )
    ).one()


def test_a_coordinator_pages_through_a_long_roster_and_acts_on_page_two(  # type: ignore[no-untyped-def]
    world: World, login, app
) -> None:
    app.config["ROSTER_PAGE_SIZE"] = 4
    everyone = _long_roster(world)
    client = login(world.coordinator)

    first = client.get(f"/teams/{world.team.id}").get_data(as_text=True)
    assert _roster_names(first) == everyone[:4]
    # The rest of the page is whole: both coordinators named, the request to answer.
    assert "钱协调、冯副队" in first
    assert "吴新人" in first.split("<table", 1)[0]

    # Without JavaScript: "More" is a whole page, the roster going on from the cursor.
    second_url = _more(first)
    assert second_url is not None and "?after=" in second_url
    second = client.get(second_url).get_data(as_text=True)
    assert "<html" in second and "钱协调、冯副队" in second and "吴新人" in second
    assert _roster_names(second) == everyone[4:8]
    # With htmx: the same rows alone, and the next "More" in place of the old one.
    fragment = client.get(second_url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "<tbody" not in fragment and "<h2" not in fragment
    assert _roster_names(fragment) == everyone[4:8]
    assert _more(fragment) == _more(second)

    third_url = _more(fragment)
    assert third_url is not None
    third = client.get(third_url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert _more(third) is None
    seen = _roster_names(first) + _roster_names(fragment) + _roster_names(third)
    assert seen == everyone  # nobody twice, nobody missing, 离队员 and 吴新人 not in it

    # A row of page two still acts: promote one, remove another.
    actions = ROSTER_ACTION.findall(fragment)
    promoted, removed = int(actions[0][0]), int(actions[-1][0])
    assert client.post(f"/teams/{world.team.id}/members/{promoted}/promote").status_code == 303
    assert client.post(f"/teams/{world.team.id}/members/{removed}/remove").status_code == 303
    assert db.session.get(TeamMembership, promoted).role == "coordinator"
    assert db.session.get(TeamMembership, removed).status == "removed"
    names = []
    url: str | None = f"/teams/{world.team.id}"
    while url:
        page = client.get(url).get_data(as_text=True)
        names += _roster_names(page)
        url = _more(page)
    assert len(names) == len(everyone) - 1 == len(set(names))


def test_only_coordinators_see_the_roster_and_its_controls(world: World, login, app) -> None:  # type: ignore[no-untyped-def]
    app.config["ROSTER_PAGE_SIZE"] = 4
    _long_roster(world)
    cursor = _membership(world, world.volunteer2.id).id
    volunteer = login(world.volunteer)
    for headers in ({}, {"HX-Request": "true"}):
        for url in (f"/teams/{world.team.id}", f"/teams/{world.team.id}?after={cursor}"):
            response = volunteer.get(url, headers=headers)
            html = response.get_data(as_text=True)
            assert response.status_code == 200
            assert _roster_names(html) == [] and _more(html) is None
            assert not ROSTER_ACTION.search(html) and "reset-code" not in html
    membership = _membership(world, world.volunteer2.id)
    forbidden = volunteer.post(f"/teams/{world.team.id}/members/{membership.id}/remove")
    assert forbidden.status_code == 403
    assert db.session.get(TeamMembership, membership.id).status == "active"


@pytest.mark.parametrize(
    "cursor",
    ["abc", "999999999999999999999999999999", "2147483648", "²", "٣", "0", "-1", "", "another"],
)
def test_an_odd_roster_cursor_shows_the_first_page(  # type: ignore[no-untyped-def]
    world: World, login, app, cursor: str
) -> None:
    app.config["ROSTER_PAGE_SIZE"] = 4
    everyone = _long_roster(world)
    if cursor == "another":  # a membership of another team
        cursor = str(_membership_of_other_team(world))
    client = login(world.coordinator)
    for headers in ({}, {"HX-Request": "true"}):
        response = client.get(f"/teams/{world.team.id}?after={cursor}", headers=headers)
        assert response.status_code == 200
        assert _roster_names(response.get_data(as_text=True)) == everyone[:4]


def test_a_full_width_roster_cursor_reads_as_digits(world: World, login, app) -> None:  # type: ignore[no-untyped-def]
    app.config["ROSTER_PAGE_SIZE"] = 4
    everyone = _long_roster(world)
    client = login(world.coordinator)
    cursor = _more(client.get(f"/teams/{world.team.id}").get_data(as_text=True))
    assert cursor is not None
    digits = cursor.split("after=", 1)[1]
    full_width = digits.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    page = client.get(f"/teams/{world.team.id}?after={full_width}").get_data(as_text=True)
    assert _roster_names(page) == everyone[4:8]


def _membership_of_other_team(world: World) -> int:
    return db.session.scalars(
        select(TeamMembership.id).where(TeamMembership.team_id == world.other_team.id)
    ).first()


# --- activities ---------------------------------------------------------------------


def test_coordinator_creates_an_activity(world: World, login) -> None:  # type: ignore[no-untyped-def]
    client = login(world.coordinator)
    response = client.post(f"/teams/{world.team.id}/activities/new", data=_activity_form(world))
    assert response.status_code == 303
    activity = db.session.scalars(select(Activity)).one()
    assert (activity.title, activity.capacity) == ("陪老人散步", 2)
    assert "陪老人散步" in client.get(f"/teams/{world.team.id}").get_data(as_text=True)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"title": ""}, "title", "名称"),
        ({"starts_at": "tomorrow"}, "starts_at", "日期和时间"),
        ({"capacity": "0"}, "capacity", "1 到 1000"),
        ({"capacity": "many"}, "capacity", "1 到 1000"),
        ({"place": ""}, "place", "地点"),
        ({"service": 0}, "service", "服务项目"),
    ],
)
def test_bad_activity_input_is_explained(world: World, login, overrides, field, message) -> None:  # type: ignore[no-untyped-def]
    response = login(world.coordinator).post(
        f"/teams/{world.team.id}/activities/new", data=_activity_form(world, **overrides)
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error = html.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
    assert message in error, error
    assert db.session.scalar(select(func.count(Activity.id))) == 0


def test_end_before_start_is_refused(world: World, login) -> None:  # type: ignore[no-untyped-def]
    start = now_local() + timedelta(days=1)
    response = login(world.coordinator).post(
        f"/teams/{world.team.id}/activities/new",
        data=_activity_form(world, starts_at=_fmt(start), ends_at=_fmt(start - timedelta(hours=1))),
    )
    assert response.status_code == 422
    assert db.session.scalar(select(func.count(Activity.id))) == 0


def test_a_full_activity_refuses_more_sign_ups(world: World, login) -> None:  # type: ignore[no-untyped-def]
    third = make_member(world.community, "郑三")
    join(world.team, third)
    activity = _make_activity(world, capacity=2)
    for member in (world.volunteer, world.volunteer2):
        assert login(member).post(f"/activities/{activity.id}/signup").status_code == 303
    refused = login(third).post(f"/activities/{activity.id}/signup", follow_redirects=True)
    assert "名额已满" in refused.get_data(as_text=True)
    assert activities.signup_count(activity.id) == 2


def test_sign_up_twice_and_cancel(world: World, login) -> None:  # type: ignore[no-untyped-def]
    activity = _make_activity(world)
    client = login(world.volunteer)
    client.post(f"/activities/{activity.id}/signup")
    client.post(f"/activities/{activity.id}/signup")
    assert activities.signup_count(activity.id) == 1
    client.post(f"/activities/{activity.id}/cancel")
    assert activities.signup_count(activity.id) == 0
    client.post(f"/activities/{activity.id}/signup")
    assert activities.signup_count(activity.id) == 1


def test_only_team_members_sign_up(world: World, login) -> None:  # type: ignore[no-untyped-def]
    activity = _make_activity(world)
    assert login(world.resident).post(f"/activities/{activity.id}/signup").status_code == 403
    assert activities.signup_count(activity.id) == 0


def test_changing_an_activity_notifies_those_signed_up(world: World, login) -> None:  # type: ignore[no-untyped-def]
    activity = _make_activity(world)
    login(world.volunteer).post(f"/activities/{activity.id}/signup")
    response = login(world.coordinator).post(
        f"/activities/{activity.id}/edit", data=_activity_form(world, place="二楼会议室")
    )
    assert response.status_code == 303
    inbox = login(world.volunteer).get("/notifications").get_data(as_text=True)
    assert "陪老人散步" in inbox


def test_attendance_creates_hours_once(world: World, login) -> None:  # type: ignore[no-untyped-def]
    activity = _make_activity(world)
    for member in (world.volunteer, world.volunteer2):
        login(member).post(f"/activities/{activity.id}/signup")
    coordinator = login(world.coordinator)
    early = coordinator.post(
        f"/activities/{activity.id}/attendance",
        data={"attended": [world.volunteer.id]},
        follow_redirects=True,
    )
    assert "结束" in early.get_data(as_text=True)
    assert db.session.scalar(select(func.count(HourLog.id))) == 0
    _end(activity)
    data = {"attended": [str(world.volunteer.id), str(world.volunteer2.id)]}
    assert coordinator.post(f"/activities/{activity.id}/attendance", data=data).status_code == 303
    coordinator.post(f"/activities/{activity.id}/attendance", data=data)  # replay
    logs = list(db.session.scalars(select(HourLog).order_by(HourLog.member_id)))
    assert [(log.member_id, log.minutes, log.status, log.source) for log in logs] == [
        (world.volunteer.id, 90, "pending", "activity"),
        (world.volunteer2.id, 90, "pending", "activity"),
    ]


def test_attendance_auto_approves_when_the_team_says_so(world: World, login) -> None:  # type: ignore[no-untyped-def]
    world.team.kiosk_auto_approve = True
    db.session.commit()
    activity = _make_activity(world)
    login(world.volunteer).post(f"/activities/{activity.id}/signup")
    _end(activity)
    login(world.coordinator).post(
        f"/activities/{activity.id}/attendance", data={"attended": [str(world.volunteer.id)]}
    )
    assert ledger.balance_of(world.volunteer) == 90
    assert ledger.verify().ok


def test_attendance_only_for_those_signed_up(world: World, login) -> None:  # type: ignore[no-untyped-def]
    activity = _make_activity(world)
    _end(activity)
    login(world.coordinator).post(
        f"/activities/{activity.id}/attendance", data={"attended": [str(world.volunteer.id)]}
    )
    assert db.session.scalar(select(func.count(HourLog.id))) == 0
    assert db.session.scalar(select(func.count(ActivitySignup.id))) == 0
