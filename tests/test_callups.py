"""Emergency call-ups (issue 13): a coordinator calls the rescue team to the east gate; too few
say yes, so the patrol team is called automatically; enough come; the call closes and their
hours are credited with the coordinator as witness — once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal import clock
from portal.extensions import db
from portal.models import (
    AuditEvent,
    CallUp,
    CallUpGroup,
    CallUpPerson,
    Community,
    FamilyLink,
    Grid,
    HourLog,
    JournalEntry,
    Member,
    Notification,
    Team,
    TeamMembership,
)
from portal.services import callups, grids, ledger
from portal.services.errors import AlreadyDecided, DomainError, Forbidden
from tests.support import form_key, join, make_community, make_member, make_service, make_team


@dataclass
class Scene:
    rescue: Team
    patrol: Team
    lead: Member
    rescuers: list[Member]
    patrollers: list[Member]
    admin: Member
    service_id: int


@pytest.fixture
def scene(app_ctx: Flask) -> Scene:
    return build_scene()


def build_scene() -> Scene:
    """幸福里: a rescue team (a coordinator, three volunteers), a patrol team (two), an admin."""
    community = make_community("幸福里")
    service = make_service(community, "应急抢险", category="emergency")
    rescue = make_team(community, "应急救援队", category="emergency")
    patrol = make_team(community, "治安巡查队", category="patrol")
    lead = make_member(community, "钱协调")
    join(rescue, lead, "coordinator")
    rescuers = [make_member(community, n) for n in ("孙救援", "周救援", "吴救援")]
    patrollers = [make_member(community, n) for n in ("郑巡查", "王巡查")]
    for m in rescuers:
        join(rescue, m)
    for m in patrollers:
        join(patrol, m)
    admin = make_member(community, "赵管理", role="admin")
    db.session.commit()
    return Scene(rescue, patrol, lead, rescuers, patrollers, admin, service.id)


class Clock:
    """The city's wall clock, moved by the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = clock.now_local()
        monkeypatch.setattr(clock, "now_local", lambda: self.now)

    def forward(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)


@pytest.fixture
def wall(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


def start(scene: Scene, *, needed: int = 2, after: int = 10, then: str = "patrol") -> CallUp:
    specs = {
        "patrol": [callups.GroupSpec("team", scene.patrol.id)],
        "all": [callups.GroupSpec("community")],
        "none": [],
    }[then]
    callup = callups.create(
        scene.lead,
        callups.CallUpFields(
            team_id=scene.rescue.id,
            service_id=scene.service_id,
            what="水管爆裂，搬沙袋",
            place="东门",
            needed_by=clock.now_local() + timedelta(hours=1),
            needed=needed,
            escalate_after=after,
            then=specs,
        ),
    )
    db.session.commit()
    return callup


def called_names(callup: CallUp) -> set[str]:
    return {
        p.member.name
        for p in db.session.scalars(select(CallUpPerson).where(CallUpPerson.callup_id == callup.id))
    }


def timeline(callup: CallUp) -> list[str]:
    return [e.action for e in callups.timeline(callup)]


def tick(now: datetime | None = None) -> int:
    fired = 0
    for item in callups.due(callups.open_callup_ids(), now):
        fired += callups.escalate(item, now)
    db.session.commit()
    return fired


def test_the_rescue_team_is_called_at_once_and_told_in_their_messages(scene: Scene) -> None:
    callup = start(scene)
    assert called_names(callup) == {"孙救援", "周救援", "吴救援"}  # not the coordinator
    told = db.session.scalars(
        select(Notification).where(Notification.kind == "callup_called")
    ).all()
    assert sorted(n.member_id for n in told) == sorted(m.id for m in scene.rescuers)
    assert json.loads(told[0].params)["place"] == "东门"
    assert timeline(callup) == ["callup.create", "callup.call"]
    assert [c.callup.id for c in callups.calls_for(scene.rescuers[0])] == [callup.id]


def test_answers_change_until_close_and_are_refused_after(scene: Scene) -> None:
    callup = start(scene, then="none")
    sun, zhou, wu = scene.rescuers
    callups.answer(sun, callup.id, "coming")
    callups.answer(zhou, callup.id, "late20")
    callups.answer(wu, callup.id, "coming")
    callups.answer(wu, callup.id, "cannot")  # changed their mind
    db.session.commit()
    board = callups.board(callup)
    assert [p.name for p in board.coming] == ["孙救援"]
    assert [(p.name, p.late_minutes) for p in board.late] == [("周救援", 20)]
    assert [p.name for p in board.cannot] == ["吴救援"]
    callups.close(scene.lead, callup.id, {})
    db.session.commit()
    with pytest.raises(AlreadyDecided, match="已结束"):
        callups.answer(sun, callup.id, "cannot")
    db.session.rollback()
    with pytest.raises(Forbidden):
        callups.answer(scene.patrollers[0], callup.id, "coming")
    db.session.rollback()
    assert timeline(callup).count("callup.answer") == 4


def test_too_few_yes_after_the_delay_calls_the_next_group_once(scene: Scene, wall: Clock) -> None:
    callup = start(scene, needed=2, after=10)
    callups.answer(scene.rescuers[0], callup.id, "coming")
    db.session.commit()
    wall.forward(9)
    assert tick() == 0  # not yet
    wall.forward(1)
    assert tick() == 1
    assert tick() == 0  # once, however often it is asked
    assert called_names(callup) >= {"郑巡查", "王巡查"}
    assert timeline(callup) == [
        "callup.create",
        "callup.call",
        "callup.answer",
        "callup.escalate",
    ]
    groups = db.session.scalars(select(CallUpGroup).order_by(CallUpGroup.position)).all()
    assert [g.called_how for g in groups] == ["start", "escalation"]


def test_enough_yes_means_no_escalation(scene: Scene, wall: Clock) -> None:
    callup = start(scene, needed=2, after=10)
    callups.answer(scene.rescuers[0], callup.id, "coming")
    callups.answer(scene.rescuers[1], callup.id, "late10")
    db.session.commit()
    wall.forward(60)
    assert tick() == 0
    assert "郑巡查" not in called_names(callup)


def test_all_volunteers_of_the_community_is_a_group(scene: Scene, wall: Clock) -> None:
    callup = start(scene, needed=5, after=5, then="all")
    wall.forward(5)
    assert tick() == 1
    assert called_names(callup) == {"孙救援", "周救援", "吴救援", "郑巡查", "王巡查"}


def test_call_more_by_hand_and_stand_down_the_rest(scene: Scene) -> None:
    callup = start(scene, needed=1)
    assert callups.call_more(scene.lead, callup.id, None) == 2  # the patrol team, early
    db.session.commit()
    with pytest.raises(DomainError):
        callups.call_more(scene.lead, callup.id, None)  # nobody left to call
    db.session.rollback()
    callups.answer(scene.rescuers[0], callup.id, "coming")
    told = callups.stand_down(scene.lead, callup.id)
    db.session.commit()
    assert told == 4
    not_needed = db.session.scalars(
        select(Notification.member_id).where(Notification.kind == "callup_stood_down")
    ).all()
    assert scene.rescuers[0].id not in not_needed and len(not_needed) == 4
    # The banner leaves those stood down; the one coming still sees the call.
    assert callups.calls_for(scene.patrollers[0]) == []
    assert len(callups.calls_for(scene.rescuers[0])) == 1


def test_only_the_teams_coordinators_and_admins_run_it(scene: Scene) -> None:
    callup = start(scene)
    patrol_lead = scene.patrollers[0]
    db.session.execute(
        TeamMembership.__table__.update()
        .where(TeamMembership.member_id == patrol_lead.id)
        .values(role="coordinator")
    )
    db.session.commit()
    assert not callups.may_run(patrol_lead, callup)
    assert callups.may_run(scene.admin, callup)
    with pytest.raises(Forbidden):
        callups.stand_down(patrol_lead, callup.id)
    db.session.rollback()
    with pytest.raises(DomainError) as refused:
        callups.create(
            scene.rescuers[0],
            callups.CallUpFields(
                scene.rescue.id, scene.service_id, "x", "y", clock.now_local(), 1, 5
            ),
        )
    assert refused.value.field == "team"


def _credited(member: Member) -> int:
    return ledger.balance_of(member)


def test_close_credits_who_came_with_a_minimum_once(scene: Scene) -> None:
    callup = start(scene, then="none")
    sun, zhou, wu = scene.rescuers
    people = {
        p.member_id: p.id
        for p in db.session.scalars(select(CallUpPerson).where(CallUpPerson.callup_id == callup.id))
    }
    # 孙 worked 2 hours; 周 arrived and was sent home at once (the minimum); 吴 did not come.
    logs = callups.close(scene.lead, callup.id, {people[sun.id]: 120, people[zhou.id]: None})
    db.session.commit()
    assert [(log.member_id, log.minutes, log.status, log.source) for log in logs] == [
        (sun.id, 120, "approved", "callup"),
        (zhou.id, 30, "approved", "callup"),
    ]
    assert all(log.decided_by_id == scene.lead.id for log in logs)
    assert (_credited(sun), _credited(zhou), _credited(wu)) == (120, 30, 0)
    entries = db.session.scalar(select(func.count(JournalEntry.id)))
    with pytest.raises(AlreadyDecided):
        callups.close(scene.lead, callup.id, {people[sun.id]: 120})
    db.session.rollback()
    assert db.session.scalar(select(func.count(JournalEntry.id))) == entries
    assert timeline(callup)[-1] == "callup.close"
    assert ledger.verify().ok


def test_the_closer_never_witnesses_a_relative(scene: Scene) -> None:
    callup = start(scene, then="none")
    sun = scene.rescuers[0]
    db.session.add(FamilyLink(proposer_id=scene.lead.id, relative_id=sun.id, status="accepted"))
    db.session.commit()
    person = db.session.scalar(select(CallUpPerson).where(CallUpPerson.member_id == sun.id))
    (log,) = callups.close(scene.lead, callup.id, {person.id: 60})
    db.session.commit()
    assert log.status == "pending" and _credited(sun) == 0


def test_the_day_limit_holds_at_close(scene: Scene) -> None:
    callup = start(scene, then="none")
    sun = scene.rescuers[0]
    db.session.add_all(
        HourLog(
            member_id=sun.id,
            team_id=scene.rescue.id,
            service_id=scene.service_id,
            community_id=scene.rescue.community_id,
            service_date=clock.now_local().date(),
            minutes=700,
            status="pending",
        )
        for _ in range(2)
    )
    db.session.commit()
    person = db.session.scalar(select(CallUpPerson).where(CallUpPerson.member_id == sun.id))
    with pytest.raises(DomainError, match="孙救援"):
        callups.close(scene.lead, callup.id, {person.id: 60})
    db.session.rollback()
    assert db.session.get(CallUp, callup.id).status == "open"


def test_every_step_is_in_the_audit_log(scene: Scene, wall: Clock) -> None:
    callup = start(scene, needed=3, after=5)
    callups.answer(scene.rescuers[0], callup.id, "coming")
    db.session.commit()
    wall.forward(5)
    tick()
    callups.stand_down(scene.lead, callup.id)
    callups.close(scene.lead, callup.id, {})
    db.session.commit()
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.subject_type == "callups").order_by(AuditEvent.id)
    ).all()
    assert [e.action for e in events] == [
        "callup.create",
        "callup.call",
        "callup.answer",
        "callup.escalate",
        "callup.stand_down",
        "callup.close",
    ]
    assert events[3].actor_id is None  # the rule, not a person, escalated


# --- party members (党员) of a grid ------------------------------------------------------


@dataclass
class PartyScene:
    east: Grid
    east_1: Grid
    west: Grid


def party_scene(scene: Scene) -> PartyScene:
    """东区网格 (1–2号楼) with its micro-grid 东一微网格 (1号楼), and 西区网格 (8号楼). Confirmed
    party members: 陈党员 (2号楼), 林党员 (1号楼, the micro-grid), 何党员 (西区), the coordinator
    钱协调 and the rescuer 孙救援 (both 2号楼). 冯群众 lives in 2号楼 but is not confirmed;
    韩党员's mark was withdrawn."""
    admin = scene.admin
    community = db.session.get(Community, admin.community_id)
    assert community is not None
    east = grids.create_grid(admin, grids.GridFields("东区网格", "", "1号楼\n2号楼", None))
    east_1 = grids.create_grid(admin, grids.GridFields("东一微网格", "", "1号楼", east.id))
    west = grids.create_grid(admin, grids.GridFields("西区网格", "", "8号楼", None))
    homes = {
        "陈党员": "2号楼",
        "林党员": "1号楼",
        "何党员": "8号楼",
        "冯群众": "2号楼",
        "韩党员": "2号楼",
    }
    people = {name: make_member(community, name) for name in homes}
    people["钱协调"], people["孙救援"] = scene.lead, scene.rescuers[0]
    homes |= {"钱协调": "2号楼", "孙救援": "2号楼"}
    for name, member in people.items():
        grids.set_home(admin, member.id, homes[name], "1单元")
        if name != "冯群众":
            grids.confirm_party(admin, member.id, confirmed=True)
    grids.confirm_party(admin, people["韩党员"].id, confirmed=False)
    db.session.commit()
    assert people["林党员"].grid_id == east_1.id
    return PartyScene(east, east_1, west)


def test_the_party_members_of_a_grid_are_called_after_the_delay(scene: Scene, wall: Clock) -> None:
    """ "Call the team, then after 15 minutes the party members of 东区网格"."""
    place = party_scene(scene)
    callup = callups.create(
        scene.lead,
        callups.CallUpFields(
            team_id=scene.rescue.id,
            service_id=scene.service_id,
            what="暴雪压塌车棚，清雪",
            place="东区3号门",
            needed_by=clock.now_local() + timedelta(hours=1),
            needed=6,
            escalate_after=15,
            then=[callups.GroupSpec("party", grid_id=place.east.id)],
        ),
    )
    db.session.commit()
    assert called_names(callup) == {"孙救援", "周救援", "吴救援"}
    wall.forward(14)
    assert tick() == 0
    wall.forward(1)
    assert tick() == 1
    # Exactly the confirmed party members of 东区网格 and its micro-grid: not 冯群众 (never
    # confirmed), not 韩党员 (withdrawn), not 何党员 (西区), not the coordinator, and 孙救援
    # once (called with the team).
    assert called_names(callup) == {"孙救援", "周救援", "吴救援", "陈党员", "林党员"}
    people = db.session.scalars(
        select(CallUpPerson).where(CallUpPerson.callup_id == callup.id)
    ).all()
    assert len(people) == 5
    groups = db.session.scalars(
        select(CallUpGroup).where(CallUpGroup.callup_id == callup.id).order_by(CallUpGroup.position)
    ).all()
    assert [(g.kind, g.grid_id, g.called_how) for g in groups] == [
        ("team", None, "start"),
        ("party", place.east.id, "escalation"),
    ]
    sun = next(p for p in people if p.member.name == "孙救援")
    assert sun.group_id == groups[0].id
    escalated = callups.timeline(callup)[-1]
    assert escalated.action == "callup.escalate"
    assert json.loads(escalated.detail)["grid_id"] == place.east.id


def test_all_party_members_by_hand_and_only_grids_of_the_community(scene: Scene) -> None:
    place = party_scene(scene)
    callup = start(scene, then="none")
    assert callups.call_more(scene.lead, callup.id, callups.GroupSpec.parse("party")) == 3
    db.session.commit()
    assert {"陈党员", "林党员", "何党员"} <= called_names(callup)
    assert "冯群众" not in called_names(callup) and "韩党员" not in called_names(callup)
    elsewhere = make_community("和平里")
    db.session.flush()
    other_admin = make_member(elsewhere, "外管理", role="admin")
    far = grids.create_grid(other_admin, grids.GridFields("北区网格", "", "1号楼", None))
    db.session.commit()
    with pytest.raises(DomainError) as refused:
        callups.call_more(scene.lead, callup.id, callups.GroupSpec("party", grid_id=far.id))
    assert refused.value.field == "target"
    db.session.rollback()
    assert callups.GroupSpec.parse(f"party:{place.west.id}") == callups.GroupSpec(
        "party", grid_id=place.west.id
    )
    assert callups.GroupSpec.parse("party:x") is None


def test_the_new_call_up_form_offers_the_party_members_of_each_grid(
    scene: Scene,
    login,
    wall: Clock,  # type: ignore[no-untyped-def]
) -> None:
    place = party_scene(scene)
    lead = login(scene.lead)
    page = lead.get("/callups/new").get_data(as_text=True)
    assert "社区全体党员" in page and "东区网格党员" in page and "东一微网格党员" in page
    sent = lead.post(
        "/callups/new",
        data={
            "team": scene.rescue.id,
            "what": "清雪",
            "place": "东区3号门",
            "needed_by": (wall.now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "needed": "6",
            "service": scene.service_id,
            "escalate_after": "15",
            "then1": f"party:{place.east.id}",
            "then2": "community",
        },
    )
    assert sent.status_code == 303, sent.get_data(as_text=True)[:2000]
    callup = db.session.scalars(select(CallUp)).one()
    board = lead.get(f"/callups/{callup.id}").get_data(as_text=True)
    assert "东区网格党员" in board and "社区全体志愿者" in board


# --- through the pages -----------------------------------------------------------------


def test_a_coordinator_calls_and_the_called_answer_from_any_page(
    scene: Scene,
    login,
    wall: Clock,  # type: ignore[no-untyped-def]
) -> None:
    lead = login(scene.lead)
    page = lead.get("/callups/new")
    assert page.status_code == 200 and "应急救援队" in page.get_data(as_text=True)
    sent = lead.post(
        "/callups/new",
        data={
            "team": scene.rescue.id,
            "what": "水管爆裂",
            "place": "东门",
            "needed_by": (wall.now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "needed": "2",
            "service": scene.service_id,
            "escalate_after": "10",
            "then1": f"team:{scene.patrol.id}",
            "then2": "",
        },
    )
    assert sent.status_code == 303, sent.get_data(as_text=True)[:2000]
    callup = db.session.scalars(select(CallUp)).one()
    board_url = f"/callups/{callup.id}"
    assert sent.headers["Location"].endswith(board_url)

    sun = login(scene.rescuers[0])
    home = sun.get("/me").get_data(as_text=True)
    assert "水管爆裂" in home and "我来" in home and "来不了" in home and "1 个召集" in home
    answered = sun.post(f"/callups/{callup.id}/answer", data={"answer": "coming", "next": "/me"})
    assert answered.status_code == 303 and answered.headers["Location"].endswith("/me")
    # With htmx the banner answers with itself, the answer marked.
    fragment = sun.post(
        f"/callups/{callup.id}/answer", data={"answer": "late20"}, headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert (
        fragment.strip().startswith("<section") and 'value="late20" aria-pressed="true"' in fragment
    )
    assert "<html" not in fragment

    board = lead.get(board_url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'id="board"' in board and "<html" not in board and "孙救援" in board
    full = lead.get(board_url).get_data(as_text=True)
    assert "<html" in full and "叫更多人" in full

    # The delay passes with one yes of two: the board's own refresh calls the patrol team.
    wall.forward(10)
    lead.get(board_url, headers={"HX-Request": "true"})
    assert "郑巡查" in called_names(callup)
    assert (
        login(scene.patrollers[0])
        .get("/callups/banner", headers={"HX-Request": "true"})
        .status_code
        == 200
    )

    stood = lead.post(f"/callups/{callup.id}/stand-down")
    assert stood.status_code == 303
    close_page = lead.get(f"/callups/{callup.id}/close").get_data(as_text=True)
    person = db.session.scalar(
        select(CallUpPerson).where(CallUpPerson.member_id == scene.rescuers[0].id)
    )
    closed = lead.post(
        f"/callups/{callup.id}/close",
        data={"once": form_key(close_page), "came": [str(person.id)], f"minutes_{person.id}": "90"},
    )
    assert closed.status_code == 303
    assert ledger.balance_of(scene.rescuers[0]) == 90
    late = sun.post(f"/callups/{callup.id}/answer", data={"answer": "cannot", "next": "/me"})
    assert late.status_code == 303
    assert "已结束" in sun.get("/me").get_data(as_text=True)


def test_only_runners_see_the_board_and_the_called_answer(scene: Scene, login) -> None:  # type: ignore[no-untyped-def]
    callup = start(scene)
    assert login(scene.rescuers[0]).get(f"/callups/{callup.id}").status_code == 403
    assert login(scene.admin).get(f"/callups/{callup.id}").status_code == 200
    assert login(scene.rescuers[0]).get("/callups/new").status_code == 403
    outsider = login(scene.patrollers[0])
    assert (
        outsider.post(f"/callups/{callup.id}/answer", data={"answer": "coming"}).status_code == 403
    )
    assert outsider.get("/callups/banner").status_code == 303
