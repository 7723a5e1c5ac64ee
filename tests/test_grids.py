"""Grids (网格): grid workers, building heads, the register, 派单 by grid, 党员接单, 群众评单,
点单 by poster without an account, and escalation to the street office."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal import clock
from portal.clock import now_local
from portal.extensions import db
from portal.models import (
    AuditEvent,
    Grid,
    HourLog,
    Member,
    Notification,
    RequestEvent,
    ServiceRequest,
    StreetOffice,
    Team,
)
from portal.models._time import utcnow
from portal.services import credits, grid_requests, grids
from portal.services import requests as req
from portal.services.errors import DomainError, Forbidden
from tests.support import World, join, make_member


@dataclass
class Grids:
    east: Grid
    east_1: Grid
    east_2: Grid
    west: Grid
    worker: Member
    west_worker: Member
    party_neighbour: Member
    neighbour: Member
    office: StreetOffice
    street_admin: Member


def build_grids(world: World) -> Grids:
    admin = world.admin
    east = grids.create_grid(admin, grids.GridFields("东区网格", "", "1号楼\n2号楼\n3号楼", None))
    east_1 = grids.create_grid(admin, grids.GridFields("东一微网格", "", "1号楼\n2号楼", east.id))
    east_2 = grids.create_grid(admin, grids.GridFields("东二微网格", "", "3号楼", east.id))
    west = grids.create_grid(admin, grids.GridFields("西区网格", "", "8号楼", None))
    worker = make_member(world.community, "吴网格")
    west_worker = make_member(world.community, "冯网格")
    grids.appoint(admin, east.id, worker.id, "grid_worker", "")
    grids.appoint(admin, west.id, west_worker.id, "grid_worker", "")
    # 孙志愿 lives in 1号楼 and is a confirmed party member who shows the badge.
    grids.set_home(world.volunteer, world.volunteer.id, "1号楼", "2单元")
    grids.confirm_party(admin, world.volunteer.id, confirmed=True)
    world.volunteer.shows_party_badge = True
    # 周志愿 lives in 3号楼 (same grid, another micro-grid), not a party member.
    grids.set_home(world.volunteer2, world.volunteer2.id, "3号楼", "1单元")
    grids.set_home(world.resident, world.resident.id, "2号楼", "1单元")
    party_neighbour = make_member(world.community, "陈党员")
    grids.set_home(party_neighbour, party_neighbour.id, "8号楼", "")
    grids.confirm_party(admin, party_neighbour.id, confirmed=True)
    join(world.team, party_neighbour)
    neighbour = make_member(world.community, "何邻居")
    join(world.team, neighbour)
    office = StreetOffice(name="银州街道")
    db.session.add(office)
    db.session.flush()
    world.community.street_office_id = office.id
    street_admin = make_member(world.community, "街道办", phone="13700000001")
    street_admin.role = "street_admin"
    street_admin.street_office_id = office.id
    db.session.commit()
    return Grids(
        east,
        east_1,
        east_2,
        west,
        worker,
        west_worker,
        party_neighbour,
        neighbour,
        office,
        street_admin,
    )


@pytest.fixture
def g(world: World) -> Grids:
    return build_grids(world)


def _post(world: World, who: Member | None = None, **kw: object) -> ServiceRequest:
    request = req.post(
        who or world.resident,
        req.RequestFields(
            service_id=world.service.id,
            wanted_at=now_local() - timedelta(minutes=10),  # begun: done may be marked
            place="2号楼1单元301",
            note="",
            minutes=60,
            pay_with_hours=False,
        ),
        **kw,  # type: ignore[arg-type]
    )
    db.session.commit()
    return request


def _later(monkeypatch: pytest.MonkeyPatch, **delta: float) -> None:
    moved = utcnow() + timedelta(**delta)
    monkeypatch.setattr(clock, "utc_now", lambda: moved)
    monkeypatch.setattr(req, "utc_now", lambda: moved)
    monkeypatch.setattr(grid_requests, "utc_now", lambda: moved)


def test_a_home_building_puts_a_member_in_its_micro_grid(world: World, g: Grids) -> None:
    assert world.volunteer.grid_id == g.east_1.id
    assert world.volunteer2.grid_id == g.east_2.id
    assert grids.family_ids(g.east_1) == [g.east.id, g.east_1.id, g.east_2.id]
    # Party members of a grid: one simple query (call-ups will use it).
    assert [m.name for m in grids.party_members(world.community.id, g.east)] == ["孙志愿"]


def test_registration_takes_building_and_unit(app_ctx, client, world: World, g: Grids) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/register",
        data={
            "name": "新居民",
            "phone": "13911112222",
            "password": "long-enough-1",
            "community": world.community.id,
            "birth_year": "1950",
            "building": "3号楼",
            "unit": "2单元",
        },
    )
    assert response.status_code == 303
    member = db.session.scalar(select(Member).where(Member.phone == "13911112222"))
    assert member is not None and member.grid_id == g.east_2.id and member.unit == "2单元"


def test_a_new_request_of_a_grid_goes_to_its_worker_and_party_members_first(
    world: World, g: Grids, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = _post(world)
    assert request.grid_id == g.east_1.id
    told = db.session.scalars(
        select(Notification.member_id).where(Notification.kind == "request_for_grid")
    ).all()
    assert told == [g.worker.id]
    # The grid's party member sees it at once; the grid's other volunteers after the head
    # start; a party member of another grid not until it is opened to the community.
    assert request in req.board(world.community.id, category=None, viewer=world.volunteer)
    assert request not in req.board(world.community.id, category=None, viewer=world.volunteer2)
    assert request in req.board(world.community.id, category=None, viewer=g.worker)
    with pytest.raises(req.DomainError):
        req.take(world.volunteer2, request.id)
    db.session.rollback()
    _later(monkeypatch, minutes=31)
    assert request in req.board(world.community.id, category=None, viewer=world.volunteer2)
    assert request not in req.board(world.community.id, category=None, viewer=g.party_neighbour)
    grid_requests.open_to_community(g.worker, request.id)
    db.session.commit()
    assert request in req.board(world.community.id, category=None, viewer=g.party_neighbour)


def test_the_dispatch_list_shows_distance_open_tasks_and_rating(world: World, g: Grids) -> None:
    earlier = _post(world, who=world.coordinator)
    req.dispatch(world.coordinator, earlier.id, world.volunteer2.id)
    db.session.commit()
    request = _post(world)
    rows = {c.member.name: c for c in grid_requests.candidates(request)}
    assert rows["孙志愿"].distance == "micro"
    assert rows["周志愿"].distance == "grid"
    assert rows["陈党员"].distance == "elsewhere"
    assert rows["周志愿"].open_tasks == 1
    # Nearest first; the resident herself is never a candidate.
    assert list(rows)[0] == "孙志愿" and "李奶奶" not in rows


def test_the_grid_worker_dispatches_their_grid_and_nothing_else(
    app_ctx,
    world: World,
    g: Grids,
    login,  # type: ignore[no-untyped-def]
) -> None:
    request = _post(world)
    other = _post(world, who=g.party_neighbour)
    worker = login(g.worker)
    assert worker.get(f"/requests/{request.id}/candidates").status_code == 200
    assert worker.get(f"/requests/{other.id}/candidates").status_code == 403
    west = login(g.west_worker)
    assert west.post(f"/requests/{request.id}/dispatch-to/{world.volunteer.id}").status_code == 403
    response = worker.post(f"/requests/{request.id}/dispatch-to/{world.volunteer.id}")
    assert response.status_code == 303
    db.session.refresh(request)
    assert request.status == "dispatched" and request.assignee_id == world.volunteer.id
    page = login(world.volunteer).get(f"/requests/{request.id}").get_data(as_text=True)
    assert "party-badge" in page


def test_a_grid_worker_of_grid_a_sees_nothing_of_grid_b_and_every_view_is_audited(
    app_ctx,
    world: World,
    g: Grids,
    login,  # type: ignore[no-untyped-def]
) -> None:
    grids.add_household(
        world.admin,
        g.east_1,
        grids.HouseholdFields(
            "2号楼", "1单元", "301", "", "李奶奶", ["alone", "over_80"], world.resident.member_no
        ),
    )
    grids.add_household(
        world.admin,
        g.west,
        grids.HouseholdFields("8号楼", "", "101", "", "王大爷", ["disabled"], ""),
    )
    db.session.commit()
    _post(world)
    views = select(func.count(AuditEvent.id)).where(AuditEvent.action == "grid.register.view")
    before = db.session.scalar(views)
    worker = login(g.worker)
    page = worker.get(f"/grids/{g.east.id}/register").get_data(as_text=True)
    assert "李奶奶" in page and "王大爷" not in page
    assert "独居" in page or "Living alone" in page
    assert worker.get(f"/grids/{g.west.id}/register").status_code == 403
    assert login(world.volunteer).get(f"/grids/{g.east.id}/register").status_code == 403
    assert login(world.coordinator).get(f"/grids/{g.west.id}/register").status_code == 200
    assert db.session.scalar(views) == before + 2
    viewers = db.session.scalars(
        select(AuditEvent.actor_id).where(AuditEvent.action == "grid.register.view")
    ).all()
    assert viewers == [g.worker.id, world.coordinator.id]


def test_untaken_requests_escalate_once_to_coordinators_then_the_street_office(
    world: World,
    g: Grids,
    runner,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    request = _post(world)
    assert "0 to coordinators" in runner.invoke(args=["grids", "escalate"]).output
    _later(monkeypatch, hours=25)
    assert "1 to coordinators, 0" in runner.invoke(args=["grids", "escalate"]).output
    # Run again (as a second cron would): nothing fires twice.
    assert "0 to coordinators, 0" in runner.invoke(args=["grids", "escalate"]).output
    _later(monkeypatch, hours=73)
    assert "1 to the street office" in runner.invoke(args=["grids", "escalate"]).output
    assert grid_requests.escalate(request.id, 2) is False
    db.session.rollback()
    steps = db.session.scalars(
        select(RequestEvent.detail).where(
            RequestEvent.request_id == request.id, RequestEvent.kind == "escalated"
        )
    ).all()
    assert steps == ["coordinator", "street_office"]
    told = set(
        db.session.scalars(
            select(Notification.member_id).where(Notification.kind == "request_escalated")
        )
    )
    assert {world.coordinator.id, g.street_admin.id} <= told
    assert [r.id for r in grid_requests.escalated_for(g.street_admin)] == [request.id]


def test_the_street_office_dispatches_a_request_escalated_to_it_and_nothing_before(
    app_ctx,
    world: World,
    g: Grids,
    login,  # type: ignore[no-untyped-def]
) -> None:
    request = _post(world)
    street = login(g.street_admin)
    # Not yet escalated: the community's to dispatch, the street office only looks on.
    assert not req.may_dispatch(g.street_admin, request)
    assert street.get(f"/requests/{request.id}/candidates").status_code == 403
    with pytest.raises(Forbidden):
        req.dispatch(g.street_admin, request.id, world.volunteer.id)
    db.session.rollback()
    assert grid_requests.escalate(request.id, 1) and grid_requests.escalate(request.id, 2)
    db.session.commit()
    # Another street office's admin may not, though it escalated.
    other = make_member(world.community, "外街道", phone="13700000002")
    other_office = StreetOffice(name="别的街道")
    db.session.add(other_office)
    db.session.flush()
    other.role, other.street_office_id = "street_admin", other_office.id
    db.session.commit()
    assert not req.may_dispatch(other, request)
    assert req.may_dispatch(g.street_admin, request)
    page = street.get("/street").get_data(as_text=True)
    assert f"/requests/{request.id}/candidates" in page
    assert world.community.name in page  # which community it came from, by name
    assert 'href="/reports"' in page and 'href="/reports/clearing"' in page  # menu and page
    assert street.get(f"/requests/{request.id}/candidates").status_code == 200
    response = street.post(f"/requests/{request.id}/dispatch-to/{world.volunteer.id}")
    assert response.status_code == 303
    db.session.refresh(request)
    assert request.status == "dispatched" and request.assignee_id == world.volunteer.id
    event = db.session.scalar(
        select(RequestEvent).where(
            RequestEvent.request_id == request.id, RequestEvent.kind == "dispatched"
        )
    )
    assert event is not None and event.actor_id == g.street_admin.id


def test_an_admin_edits_a_grid_but_keeps_the_buildings_people_live_in(
    app_ctx,
    world: World,
    g: Grids,
    login,  # type: ignore[no-untyped-def]
) -> None:
    fields = grids.GridFields("东一片", "靠东门", "1号楼\n2号楼\n5号楼", None)
    with pytest.raises(Forbidden):
        grids.update_grid(g.worker, g.east_1.id, fields)
    db.session.rollback()
    grids.update_grid(world.admin, g.east_1.id, fields)
    db.session.commit()
    db.session.refresh(g.east_1)
    assert (g.east_1.name, g.east_1.description) == ("东一片", "靠东门")
    assert g.east_1.building_list == ["1号楼", "2号楼", "5号楼"]
    # 孙志愿 lives in 1号楼: it cannot be dropped; nor a name another grid has.
    with pytest.raises(DomainError, match="还有居民|still has members"):
        grids.update_grid(world.admin, g.east_1.id, grids.GridFields("东一片", "", "5号楼", None))
    db.session.rollback()
    with pytest.raises(DomainError):
        grids.update_grid(world.admin, g.east_1.id, grids.GridFields("西区网格", "", "", None))
    db.session.rollback()
    admin = login(world.admin)
    assert admin.get(f"/grids/{g.east_1.id}/edit").status_code == 200
    response = admin.post(
        f"/grids/{g.east_1.id}/edit", data={"name": "", "buildings": "1号楼", "description": ""}
    )
    assert response.status_code == 422
    response = admin.post(
        f"/grids/{g.east_1.id}/edit",
        data={"name": "东一片", "buildings": "5号楼", "description": ""},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and ("还有居民" in page or "still has members" in page)
    assert login(g.worker).get(f"/grids/{g.east_1.id}/edit").status_code == 403


def test_an_admin_removes_only_a_grid_nothing_belongs_to(
    app_ctx,
    world: World,
    g: Grids,
    login,  # type: ignore[no-untyped-def]
) -> None:
    empty = grids.create_grid(world.admin, grids.GridFields("北区网格", "", "9号楼", None))
    head = make_member(world.community, "北楼长")
    grids.appoint(world.admin, empty.id, head.id, "building_head", "9号楼")
    db.session.commit()
    admin = login(world.admin)
    # A grid with micro-grids, one members live in: refused with the reason, nothing changes.
    for grid, reasons in (
        (g.east, ("请先删除它的微网格", "micro-grids first")),
        (g.east_1, ("这个网格还有居民", "Members live in this grid")),
    ):
        response = admin.post(f"/grids/{grid.id}/remove", follow_redirects=True)
        page = response.get_data(as_text=True)
        assert any(reason in page for reason in reasons)
        assert db.session.get(Grid, grid.id) is not None
    with pytest.raises(DomainError):
        grids.remove_grid(world.admin, g.west.id)  # 陈党员 lives in 8号楼
    db.session.rollback()
    empty_id = empty.id
    assert login(g.worker).post(f"/grids/{empty_id}/remove").status_code == 403
    assert admin.post(f"/grids/{empty_id}/remove").status_code == 303
    assert db.session.scalar(select(Grid.id).where(Grid.id == empty_id)) is None
    assert (
        db.session.scalar(
            select(func.count(AuditEvent.id)).where(AuditEvent.action == "grid.remove")
        )
        == 1
    )


def test_a_low_rating_opens_a_follow_up_the_grid_worker_must_close(
    app_ctx,
    world: World,
    g: Grids,
    login,  # type: ignore[no-untyped-def]
) -> None:
    request = _post(world)
    req.dispatch(g.worker, request.id, world.volunteer.id)
    req.accept(world.volunteer, request.id)
    req.mark_done(world.volunteer, request.id, 60)
    req.confirm(world.resident, request.id, 2, "来晚了")
    db.session.commit()
    assert request.followup_status == "open" and not req.is_closed(request)
    assert (
        db.session.scalar(
            select(Notification.member_id).where(Notification.kind == "request_followup")
        )
        == g.worker.id
    )
    assert (
        login(world.coordinator)
        .post(f"/requests/{request.id}/followup", data={"outcome": "x"})
        .status_code
        == 403
    )
    response = login(g.worker).post(
        f"/requests/{request.id}/followup", data={"outcome": "已上门致歉，志愿者改进"}
    )
    assert response.status_code == 303
    db.session.refresh(request)
    assert request.followup_status == "closed" and req.is_closed(request)


def test_a_complaint_opens_a_follow_up(world: World, g: Grids) -> None:
    request = _post(world)
    grid_requests.complain(world.resident, request.id, "没人联系我")
    db.session.commit()
    assert request.followup_status == "open" and request.complaint == "没人联系我"


def test_an_unregistered_resident_posts_from_a_poster_and_credits_nothing_until_verified(
    app_ctx,
    client,
    world: World,
    g: Grids,
    login,  # type: ignore[no-untyped-def]
    clock,  # type: ignore[no-untyped-def]
) -> None:
    poster = login(g.worker).get(f"/grids/{g.east.id}/posters").get_data(as_text=True)
    assert "/point/" in poster and "<svg" in poster
    page = client.get(f"/point/{g.east.id}/2号楼")
    assert page.status_code == 200
    tomorrow = (now_local() + timedelta(days=1)).date().isoformat()
    from tests.support import form_key

    response = client.post(
        f"/point/{g.east.id}/2号楼",
        data={
            "once": form_key(page.get_data(as_text=True)),
            "name": "刘阿姨",
            "phone": "13922223333",
            "birth_year": "1945",
            "unit": "3单元",
            "service": world.service.id,
            "day": tomorrow,
            "period": "morning",
            "hour": "9",
            "place": "2号楼3单元502",
            "estimate": "60",
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    request = db.session.scalar(select(ServiceRequest).order_by(ServiceRequest.id.desc()))
    assert request is not None and request.follow_up_no
    resident = request.requester
    assert resident.pending_resident and not resident.is_verified
    assert request.grid_id == g.east_1.id
    assert response.headers["Location"].endswith(request.follow_up_no)
    track = client.get(f"/track?number={request.follow_up_no}&phone_tail=3333")
    assert track.status_code == 200 and "timeline" in track.get_data(as_text=True)
    assert client.get(f"/track?number={request.follow_up_no}&phone_tail=0000").status_code == 422
    # Served and confirmed by the unverified resident: the hours wait for a coordinator.
    req.dispatch(g.worker, request.id, world.volunteer.id)
    req.accept(world.volunteer, request.id)
    clock.move(days=2)  # the visit asked for tomorrow morning has happened
    req.mark_done(world.volunteer, request.id, 60)
    db.session.commit()
    confirmed = client.post(
        "/track/confirm",
        data={"number": request.follow_up_no, "phone_tail": "3333", "rating": "5"},
    )
    assert confirmed.status_code == 303
    log = db.session.scalar(select(HourLog).where(HourLog.source == "request"))
    assert log is not None and log.status == "pending"
    assert log.review_reason == "unverified_resident"
    # The grid worker meets her and verifies her: no longer pending.
    assert credits.may_verify(g.worker, resident)
    assert not credits.may_verify(g.west_worker, resident)
    credits.verify_member(g.worker, resident.id)
    db.session.commit()
    assert not resident.pending_resident and resident.is_verified


def test_a_registered_phone_cannot_post_as_an_unregistered_resident(world: World, g: Grids) -> None:
    with pytest.raises(grid_requests.DomainError):
        grid_requests.post_from_poster(
            g.east.id,
            "1号楼",
            grid_requests.Resident("冒充", world.volunteer.phone, 1950, ""),
            req.RequestFields(
                world.service.id, now_local() + timedelta(days=1), "x", "", 60, False
            ),
        )


def test_party_badge_shows_only_when_the_member_opts_in(
    app_ctx,
    world: World,
    g: Grids,
    login,  # type: ignore[no-untyped-def]
) -> None:
    assert world.volunteer.party_badge
    assert g.party_neighbour.party_member and not g.party_neighbour.party_badge
    roster = login(world.coordinator).get(f"/teams/{world.team.id}").get_data(as_text=True)
    assert roster.count("party-badge") == 1
    client = login(g.party_neighbour)
    assert client.post("/me/settings/badge", data={"shows": "1"}).status_code == 303
    db.session.refresh(g.party_neighbour)
    assert g.party_neighbour.shows_party_badge


def test_only_an_admin_confirms_the_party_mark(
    app_ctx,
    world: World,
    g: Grids,
    login,  # type: ignore[no-untyped-def]
) -> None:
    assert (
        login(world.coordinator).post(f"/admin/members/{g.neighbour.id}/party").status_code == 403
    )
    assert login(world.admin).post(f"/admin/members/{g.neighbour.id}/party").status_code == 303
    db.session.refresh(g.neighbour)
    assert g.neighbour.party_member and g.neighbour.party_confirmed_by_id == world.admin.id


def test_a_building_head_posts_for_a_resident_of_their_building(world: World, g: Grids) -> None:
    head = make_member(world.community, "楼长")
    grids.appoint(world.admin, g.east_1.id, head.id, "building_head", "2号楼")
    db.session.commit()
    request = _post(world, who=head, for_member_id=world.resident.id)
    assert request.requester_id == world.resident.id and request.posted_by_id == head.id
    other = make_member(world.community, "别楼")
    grids.set_home(other, other.id, "1号楼", "")
    with pytest.raises(req.Forbidden):
        _post(world, who=head, for_member_id=other.id)


def test_an_admin_makes_a_team_a_party_vanguard_post(
    app_ctx,
    world: World,
    login,  # type: ignore[no-untyped-def]
) -> None:
    response = login(world.admin).post(
        "/admin/teams/new",
        data={"name": "党员先锋岗", "category": "elder_care", "kind": "vanguard"},
    )
    assert response.status_code == 303
    team = db.session.scalar(select(Team).where(Team.name == "党员先锋岗"))
    assert team is not None and team.kind == "vanguard"
    page = login(world.volunteer).get(f"/teams/{team.id}").get_data(as_text=True)
    assert "党员先锋岗" in page


def test_the_register_pages_by_keyset_and_filters_by_category(world: World, g: Grids) -> None:
    for door in range(60):
        grids.add_household(
            world.admin,
            g.east_1,
            grids.HouseholdFields(
                "1号楼",
                "1单元",
                f"{door:03d}",
                "",
                f"长者{door}",
                ["disabled"] if door % 10 == 0 else ["alone"],
                "",
            ),
        )
    db.session.commit()
    first, more = grids.register_rows(g.east)
    assert len(first) == 50 and more is not None
    rest, end = grids.register_rows(g.east, after=more)
    assert len(rest) == 10 and end is None
    assert [r.household.door for r in first + rest] == [f"{d:03d}" for d in range(60)]
    disabled, _more = grids.register_rows(g.east, category="disabled")
    assert [r.household.door for r in disabled] == ["000", "010", "020", "030", "040", "050"]


def test_the_grid_worker_reads_the_whole_register_page_by_page(
    world: World,
    g: Grids,
    login,  # type: ignore[no-untyped-def]
) -> None:
    for door in range(55):
        grids.add_household(
            world.admin,
            g.east_1,
            grids.HouseholdFields(
                "1号楼", "1单元", f"{door:03d}", "", f"长者{door:02d}", ["alone"], ""
            ),
        )
    db.session.commit()
    views = select(func.count(AuditEvent.id)).where(AuditEvent.action == "grid.register.view")
    before = db.session.scalar(views)
    worker = login(g.worker)
    first = worker.get(f"/grids/{g.east.id}/register").get_data(as_text=True)
    assert "长者00" in first and "长者49" in first and "长者50" not in first
    more = re.search(r'href="([^"]*/register\?after=\d+[^"]*)"', first)
    assert more is not None, "the first page links to the next"
    second = worker.get(html.unescape(more.group(1))).get_data(as_text=True)
    assert "长者50" in second and "长者54" in second and "长者49" not in second
    assert "after=" not in second.split("</main>")[0].split('id="category"')[-1]
    assert db.session.scalar(views) == before + 2  # every page read is audited
    # A cursor that is no household, or one of another grid, starts from the beginning.
    assert "长者00" in worker.get(f"/grids/{g.east.id}/register?after=99999").get_data(as_text=True)
    assert worker.get(f"/grids/{g.east.id}/register?after=x").status_code == 200
