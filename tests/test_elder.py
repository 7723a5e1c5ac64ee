"""Elder-first habits (issue 9): the defaults and small helps a 75-year-old needs."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.clock import today_local
from portal.extensions import db
from portal.models import Member, Notification
from portal.services import teams
from tests.support import World, log_hours, make_community, make_member


@pytest.fixture
def community_id(app_ctx: Flask) -> int:
    community = make_community("幸福里")
    db.session.commit()
    return community.id


@pytest.mark.parametrize(("age", "elder"), [(65, True), (82, True), (64, False), (40, False)])
def test_an_older_newcomer_starts_in_elder_mode(
    client: FlaskClient, community_id: int, age: int, elder: bool
) -> None:
    response = client.post(
        "/register",
        data={
            "name": "王阿姨",
            "phone": "13912345678",
            "password": "long-enough-pw",
            "community": community_id,
            "birth_year": today_local().year - age,
        },
    )
    assert response.status_code == 303
    member = db.session.scalar(select(Member).where(Member.phone == "13912345678"))
    assert member.elder_mode is elder
    page = client.get("/me").get_data(as_text=True)
    assert ('class="elder"' in page) is elder
    # …and can turn it off like anyone else.
    if elder:
        client.post("/settings/elder", data={"elder": "0"})
        db.session.expire_all()
        assert db.session.get(Member, member.id).elder_mode is False


def test_coordinators_are_told_of_a_join_request(world: World) -> None:
    newcomer = make_member(world.community, "新队员")
    teams.request_join(newcomer, world.team)
    db.session.commit()
    notes = db.session.scalars(
        select(Notification).where(Notification.kind == "join_requested")
    ).all()
    assert [n.member_id for n in notes] == [world.coordinator.id]
    assert notes[0].link == f"/teams/{world.team.id}"


def test_the_queue_selects_all_without_javascript(world: World, login) -> None:  # type: ignore[no-untyped-def]
    logs = [log_hours(world.volunteer, world.team, world.service, 30 + n) for n in range(3)]
    db.session.commit()
    client = login(world.coordinator)
    page = client.get("/approvals").get_data(as_text=True)
    assert page.count('form="bulk-form"') == 3 + 1  # three boxes and the button below
    assert " checked" not in page
    selected = client.get("/approvals?select=all").get_data(as_text=True)
    assert selected.count(" checked") == 3
    # The selected page posts every row in one tap.
    data = {"logs": [str(log.id) for log in logs], "once": "a" * 32}
    assert client.post("/approvals/bulk", data=data).status_code == 303
    db.session.expire_all()
    assert {db.session.get(type(log), log.id).status for log in logs} == {"approved"}


# --- a first screen for each person ------------------------------------------------------


def _first_button(page: str) -> str:
    start = page.index('class="actions lead-actions"')
    return page[start : page.index("</a>", start)]


def test_the_dashboard_leads_with_what_each_person_does_most(world: World, login) -> None:  # type: ignore[no-untyped-def]
    log_hours(world.volunteer, world.team, world.service, 45)
    db.session.commit()
    coordinator = login(world.coordinator).get("/me").get_data(as_text=True)
    assert "1 条服务记录等待审核" in _first_button(coordinator)
    volunteer = login(world.volunteer).get("/me").get_data(as_text=True)
    assert "登记服务" in _first_button(volunteer)
    resident = login(world.resident).get("/me").get_data(as_text=True)
    assert "我要求助" in _first_button(resident)


def test_a_resident_is_asked_first_to_confirm_a_done_request(world: World, login) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from portal.clock import now_local
    from portal.services import requests as req

    request = req.post(
        world.resident,
        req.RequestFields(
            world.service.id, now_local() - timedelta(minutes=9), "家", "", 60, False
        ),
    )
    req.take(world.volunteer, request.id)
    db.session.commit()
    volunteer = login(world.volunteer).get("/me").get_data(as_text=True)
    assert "我的任务" in volunteer and f"/requests/{request.id}" in volunteer
    req.mark_done(world.volunteer, request.id, 60)
    db.session.commit()
    page = login(world.resident).get("/me").get_data(as_text=True)
    assert page.index("请确认") < page.index('id="my-balance"')
    assert f"/requests/{request.id}" in page


# --- say it the way people say it ----------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "signed", "zh", "en"),
    [
        (45, False, "45 分钟", "45 min"),
        (90, False, "1 小时 30 分", "1 h 30 min"),
        (120, True, "+2 小时", "+2 h"),
        (-30, True, "-30 分钟", "-30 min"),
        (0, False, "0 分钟", "0 min"),
        (90_000, False, "1,500 小时", "1,500 h"),
    ],
)
def test_durations_are_hours_and_minutes_never_a_decimal(
    app: Flask, minutes: int, signed: bool, zh: str, en: str
) -> None:
    from flask_babel import force_locale

    from portal.templating import duration

    with app.test_request_context():
        assert duration(minutes, signed) == zh
        with force_locale("en"):
            assert duration(minutes, signed) == en


def test_statement_lines_say_what_happened_in_plain_words(world: World, login) -> None:  # type: ignore[no-untyped-def]
    """'为李奶奶陪伴聊天 +1 小时 30 分', '退回未用完的冻结时长 +30 分钟', with the service date."""
    import csv
    import io
    import uuid
    from datetime import timedelta

    from portal.clock import now_local
    from portal.services import ledger
    from portal.services import requests as req

    ledger.transfer(
        "hours",
        ledger.issuance_account(world.community.id),
        ledger.member_account(world.resident),
        120,
        idempotency_key=f"fund:{uuid.uuid4().hex}",
    )
    request = req.post(
        world.resident,
        req.RequestFields(
            world.service.id, now_local() - timedelta(minutes=9), "家", "", 120, True
        ),
    )
    req.take(world.volunteer, request.id)
    req.mark_done(world.volunteer, request.id, 90)
    req.confirm(world.resident, request.id, 5, "")
    db.session.commit()
    served = login(world.volunteer).get("/me/statement").get_data(as_text=True)
    assert f"为李奶奶陪伴聊天 · 服务日期 {today_local().isoformat()}" in served
    assert "+1 小时 30 分" in served.replace('<span class="nowrap">', "").replace("</span>", "")
    resident = login(world.resident)
    paid = resident.get("/me/statement").get_data(as_text=True)
    assert "退回未用完的冻结时长" in paid and "为您的申请「陪伴聊天」冻结时长" in paid
    rows = list(csv.reader(io.StringIO(resident.get("/me/statement.csv").get_data(as_text=True))))
    assert rows[0] == ["\ufeffdate", "kind", "description", "minutes", "balance_minutes"]
    assert rows[1][1:4] == ["服务已兑换", "退回未用完的冻结时长", "30"]


def test_the_resident_sees_who_is_coming_and_their_phone_if_shared(world: World, login) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from portal.clock import now_local
    from portal.services import requests as req

    request = req.post(
        world.resident,
        req.RequestFields(
            world.service.id, now_local() - timedelta(minutes=9), "家", "", 60, False
        ),
    )
    db.session.commit()
    resident = login(world.resident)
    volunteer = login(world.volunteer)
    req.take(world.volunteer, request.id)
    db.session.commit()
    page = resident.get(f"/requests/{request.id}").get_data(as_text=True)
    assert "孙志愿" in page and world.volunteer.phone not in page
    assert volunteer.post("/me/settings/phone", data={"share": "1"}).status_code == 303
    page = resident.get(f"/requests/{request.id}").get_data(as_text=True)
    assert f'href="tel:{world.volunteer.phone}"' in page
    # Another member sees only the masked name, never the number.
    other = login(world.volunteer2).get(f"/requests/{request.id}").get_data(as_text=True)
    assert "孙**" in other and world.volunteer.phone not in other


# --- nothing typed is lost ---------------------------------------------------------------


def test_a_used_key_with_new_content_is_refused_and_the_new_content_kept(
    world: World, login
) -> None:  # type: ignore[no-untyped-def]
    """Back, then a different log on the restored page: before, the server answered with the
    first log's result and the second was silently lost."""
    from portal.models import HourLog
    from tests.support import days_ago, form_key

    client = login(world.volunteer)
    key = form_key(client.get("/hours/new").get_data(as_text=True))
    first = {
        "date": days_ago(1),
        "minutes": "60",
        "hours": "",
        "team": world.team.id,
        "service": world.service.id,
        "note": "陪王奶奶聊天",
        "once": key,
    }
    assert client.post("/hours/new", data=first).status_code == 303
    assert client.post("/hours/new", data=first).status_code == 303  # a replay: nothing new
    assert len(db.session.scalars(select(HourLog)).all()) == 1

    second = {**first, "minutes": "30", "note": "帮李爷爷买菜"}
    response = client.post("/hours/new", data=second)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "之前已经提交过一次" in page
    assert 'value="30"' in page and "帮李爷爷买菜" in page  # what was typed is all there
    fresh = form_key(page)
    assert fresh != key
    assert len(db.session.scalars(select(HourLog)).all()) == 1
    assert client.post("/hours/new", data={**second, "once": fresh}).status_code == 303
    db.session.expire_all()
    assert sorted(log.minutes for log in db.session.scalars(select(HourLog))) == [30, 60]


# --- say it the way people say it: "2小时" never becomes 2 minutes -------------------------


@pytest.mark.parametrize(
    ("typed", "minutes"),
    [
        ("90", 90),
        ("2小时", 120),
        ("2 小时", 120),
        ("1小时30分", 90),
        ("１个半小时", 90),
        ("45分钟", 45),
        ("半小时", 30),
        ("1.5h", 90),
    ],
)
def test_the_minutes_box_reads_units(world: World, login, typed: str, minutes: int) -> None:  # type: ignore[no-untyped-def]
    from portal.models import HourLog
    from tests.support import days_ago

    data = {
        "date": days_ago(1),
        "minutes": typed,
        "hours": "",
        "team": world.team.id,
        "service": world.service.id,
        "note": "",
        "once": "b" * 32,
    }
    assert login(world.volunteer).post("/hours/new", data=data).status_code == 303
    assert db.session.scalars(select(HourLog.minutes)).one() == minutes


def test_a_bare_2_is_questioned_and_the_answer_keeps_everything(world: World, login) -> None:  # type: ignore[no-untyped-def]
    from portal.models import HourLog
    from tests.support import days_ago

    client = login(world.volunteer)
    data = {
        "date": days_ago(1),
        "minutes": "2",
        "hours": "",
        "team": world.team.id,
        "service": world.service.id,
        "note": "陪聊",
        "once": "c" * 32,
    }
    page = client.post("/hours/new", data=data).get_data(as_text=True)
    assert "您是说 2 小时吗？" in page
    assert 'name="meant" value="hours"' in page and 'name="meant" value="minutes"' in page
    assert "陪聊" in page
    assert client.post("/hours/new", data={**data, "meant": "hours"}).status_code == 303
    assert db.session.scalars(select(HourLog.minutes)).one() == 120


def test_the_request_estimate_offers_quick_choices(world: World, login) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from portal.clock import now_local
    from portal.models import ServiceRequest

    client = login(world.resident)
    page = client.get("/requests/new").get_data(as_text=True)
    for label in ("30 分钟", "1 小时", "1.5 小时", "2 小时", "半天（4 小时）"):
        assert label in page
    base = {
        "service": world.service.id,
        "place": "家",
        "note": "",
        "once": "d" * 32,
        "when": (now_local() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
    }
    asked = client.post("/requests/new", data={**base, "estimate": "other", "minutes": "2"})
    assert asked.status_code == 422 and "您是说 2 小时吗？" in asked.get_data(as_text=True)
    nothing = client.post("/requests/new", data={**base, "estimate": ""})
    assert "请选择大约多长时间" in nothing.get_data(as_text=True)
    assert client.post("/requests/new", data={**base, "estimate": "120"}).status_code == 303
    assert db.session.scalars(select(ServiceRequest.estimate_minutes)).one() == 120


def test_an_empty_request_form_shows_every_error_in_one_round(world: World, login) -> None:  # type: ignore[no-untyped-def]
    client = login(world.resident)
    response = client.post("/requests/new", data={"once": "e" * 32, "note": "字" * 501})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    for message in (
        "请从列表中选择服务项目",
        "哪一天需要服务",
        "请填写地点",
        "请选择大约多长时间",
        "500",
    ):
        assert message in page, message
    assert page.count("（必填）") >= 2  # service and place; the rest are choices


def test_the_hours_form_offers_today_yesterday_and_the_day_before(world: World, login) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from portal.models import HourLog

    client = login(world.volunteer)
    page = client.get("/hours/new").get_data(as_text=True)
    assert "今天" in page and "昨天" in page and "前天" in page
    yesterday = (today_local() - timedelta(days=1)).isoformat()
    data = {
        "day": yesterday,
        "date": "",
        "minutes": "45",
        "team": world.team.id,
        "service": world.service.id,
        "once": "f" * 32,
    }
    assert client.post("/hours/new", data=data).status_code == 303
    assert db.session.scalars(select(HourLog.service_date)).one().isoformat() == yesterday


# --- the appointment comes first ----------------------------------------------------------


def test_done_waits_for_the_appointment_and_the_reserved_line_goes_once_settled(
    world: World, login, clock
) -> None:  # type: ignore[no-untyped-def]
    """李奶奶 asks for a visit two hours from now, paid with her hours. Her volunteer cannot
    mark it done before the visit begins (in Chinese or English, and nothing changes); once the
    clock passes the start he can, she confirms, and the "reserved" lines are gone."""
    import uuid
    from datetime import timedelta

    from portal.models import ServiceRequest
    from portal.services import ledger
    from portal.services import requests as req

    ledger.transfer(
        "hours",
        ledger.issuance_account(world.community.id),
        ledger.member_account(world.resident),
        180,
        idempotency_key=f"fund:{uuid.uuid4().hex}",
    )
    start = clock.now() + timedelta(hours=2)
    request = req.post(
        world.resident, req.RequestFields(world.service.id, start, "家", "", 120, True)
    )
    req.take(world.volunteer, request.id)
    db.session.commit()
    resident, volunteer = login(world.resident), login(world.volunteer)
    assert 'id="my-reserved">2 小时<' in resident.get("/me").get_data(as_text=True)
    assert "已冻结 2 小时" in resident.get(f"/requests/{request.id}").get_data(as_text=True)

    page = volunteer.get(f"/requests/{request.id}").get_data(as_text=True)
    when = start.strftime("%Y-%m-%d %H:%M")
    assert 'id="not-yet"' in page and when in page
    early = volunteer.post(f"/requests/{request.id}/done", data={"minutes": "60"})
    assert early.status_code == 422
    assert f"这项服务 {when} 开始" in early.get_data(as_text=True)
    volunteer.post("/settings/language", data={"locale": "en"})
    early = volunteer.post(f"/requests/{request.id}/done", data={"minutes": "60"})
    assert early.status_code == 422
    assert f"This service starts at {when}" in early.get_data(as_text=True)
    db.session.expire_all()
    refused = db.session.get(ServiceRequest, request.id)
    assert (refused.status, refused.minutes_spent) == ("accepted", None)

    clock.move(hours=2, minutes=1)
    assert volunteer.post(f"/requests/{request.id}/done", data={"minutes": "90"}).status_code == 303
    assert 'id="not-yet"' not in volunteer.get(f"/requests/{request.id}").get_data(as_text=True)
    confirm = resident.get(f"/requests/{request.id}").get_data(as_text=True)
    from tests.support import form_key

    answer = resident.post(
        f"/requests/{request.id}/confirm",
        data={"rating": "5", "comment": "", "once": form_key(confirm)},
    )
    assert answer.status_code == 303
    assert ledger.balance_of(world.resident) == 90
    assert 'id="my-reserved"' not in resident.get("/me").get_data(as_text=True)
    settled = resident.get(f"/requests/{request.id}").get_data(as_text=True)
    assert "已冻结" not in settled and "用存储时长支付" in settled


# --- the hours form offers the team's own services -------------------------------------------


def _hours_world(world: World) -> tuple[object, object]:
    """助老队 (elder care) gives 陪伴聊天; 巡逻队 (patrol) gets its own 夜间巡查."""
    from tests.support import make_service

    patrol = make_service(world.community, "夜间巡查", category="patrol")
    db.session.commit()
    return world.service, patrol


def test_a_service_of_another_team_is_refused_on_the_field(world: World, login) -> None:  # type: ignore[no-untyped-def]
    import uuid

    from portal.models import HourLog

    chat, patrol = _hours_world(world)
    volunteer = login(world.volunteer)
    data = {
        "day": today_local().isoformat(),
        "minutes": "60",
        "team": str(world.team.id),
        "service": str(patrol.id),  # type: ignore[attr-defined]
        "note": "",
        "once": uuid.uuid4().hex,
    }
    refused = volunteer.post("/hours/new", data=data)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'id="service-error"' in html and "不是本队的服务项目" in html
    assert db.session.scalar(select(HourLog.id)) is None
    data["service"] = str(chat.id)  # type: ignore[attr-defined]
    assert volunteer.post("/hours/new", data=data).status_code == 303


def test_choosing_a_team_narrows_the_services_with_htmx_and_without(world: World, login) -> None:  # type: ignore[no-untyped-def]
    chat, patrol = _hours_world(world)
    volunteer = login(world.volunteer)
    # With htmx: the team select asks for the service field alone, from the same template.
    fragment = volunteer.get(
        f"/hours/new?team={world.other_team.id}", headers={"HX-Request": "true"}
    )
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and html.lstrip().startswith('<div id="service-field">')
    assert "夜间巡查" in html and "陪伴聊天" not in html and "<html" not in html
    assert "HX-Request" in fragment.headers["Vary"]
    # The whole page for a plain GET with the team chosen.
    page = volunteer.get(f"/hours/new?team={world.team.id}").get_data(as_text=True)
    assert "<html" in page and "陪伴聊天" in page and "夜间巡查" not in page
    assert 'hx-get="/hours/new"' in page and 'hx-target="#service-field"' in page
    # Without JavaScript: the 选择 button inside <noscript> sends the form back; the page
    # comes again with the team's services and everything typed, and nothing is saved.
    first = volunteer.get("/hours/new").get_data(as_text=True)
    assert '<noscript><button type="submit" name="pick"' in first
    from tests.support import form_key

    picked = volunteer.post(
        "/hours/new",
        data={
            "pick": "1",
            "team": str(world.other_team.id),
            "minutes": "1小时30分",
            "note": "夜里巡了三栋楼",
            "once": form_key(first),
        },
    )
    html = picked.get_data(as_text=True)
    assert picked.status_code == 200
    assert "夜间巡查" in html and "陪伴聊天" not in html
    assert "1小时30分" in html and "夜里巡了三栋楼" in html
    from portal.models import HourLog

    assert db.session.scalar(select(HourLog.id)) is None
