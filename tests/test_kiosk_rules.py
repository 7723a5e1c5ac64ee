"""The kiosk's later rules, as stories over HTTP with the clock moved (portal/clock.py):
the count stops at the activity's scheduled end; the member's screens follow 长辈版; a
number + PIN kept by an offline kiosk is checked by the server on delivery; a printed place
code for posts without a screen."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal import clock
from portal.extensions import db
from portal.models import Activity, CheckIn, HourLog
from portal.services import cards, devices
from tests.support import World

PLACE = "社区党群服务中心"
DAY = clock.now_local().replace(hour=0, minute=0, second=0)


def _at(hour: int, minute: int = 0) -> datetime:
    return DAY.replace(hour=hour, minute=minute)


@pytest.fixture
def set_clock(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Moves the city's wall clock for the kiosk routes."""

    def move(when: datetime) -> None:
        monkeypatch.setattr(clock, "now_local", lambda: when)

    return move


def _activity(world: World, start: datetime, hours: int = 2) -> Activity:
    activity = Activity(
        team_id=world.team.id,
        service_id=world.service.id,
        title="义诊",
        place=PLACE,
        starts_at=start,
        ends_at=start + timedelta(hours=hours),
        capacity=20,
        created_by_id=world.coordinator.id,
    )
    db.session.add(activity)
    db.session.flush()
    return activity


def _kiosk(world: World, app: Flask) -> FlaskClient:
    _device, enrol_token = devices.register_device(world.admin, PLACE)
    db.session.commit()
    client = app.test_client()
    assert client.post(f"/kiosk/enrol/{enrol_token}").status_code == 303
    return client


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html) or re.search(
        rf'value="([^"]*)"[^>]*name="{name}"', html
    )
    assert match, f"no {name} on the page"
    return match.group(1)


def _scan(client: FlaskClient, world_member) -> str:  # type: ignore[no-untyped-def]
    response = client.post("/kiosk/card", data={"card": cards.card_token(world_member)})
    assert response.status_code == 200
    return response.get_data(as_text=True)


# --- 1. the count stops at the scheduled end ---------------------------------------------


def test_a_check_out_two_hours_after_the_end_is_counted_up_to_the_end(
    world: World, app: Flask, app_ctx: Flask, set_clock
) -> None:  # type: ignore[no-untyped-def]
    client = _kiosk(world, app)
    activity = _activity(world, _at(9))  # 09:00–11:00
    db.session.commit()
    set_clock(_at(8, 50))
    html = _scan(client, world.volunteer)
    client.post(
        "/kiosk/in", data={"who": _hidden(html, "who"), "key": "in", "activity": str(activity.id)}
    )

    set_clock(_at(13))  # two hours after the end
    html = _scan(client, world.volunteer)
    visit = db.session.scalars(select(CheckIn)).one()
    done = client.post(
        "/kiosk/out", data={"who": _hidden(html, "who"), "key": "out", "visit": str(visit.id)}
    )
    page = done.get_data(as_text=True)
    assert done.status_code == 200
    assert "本次服务：2 小时" in page  # 09:00 to 11:00, not to 13:00
    assert "11:00" in page and "按活动结束时间" in page
    log = db.session.scalars(select(HourLog)).one()
    assert log.minutes == 120 and log.status == "pending"
    db.session.refresh(visit)
    assert visit.checked_out_at == _at(13)  # the real time stays on record


def test_an_evening_activity_is_checked_out_after_midnight(
    world: World, app: Flask, app_ctx: Flask, set_clock
) -> None:  # type: ignore[no-untyped-def]
    """A volunteer checked in at 22:00 comes back at 00:30: the next day's screen still
    offers the check-out of the activity she is checked in to (it used to list only
    activities starting that day, so she could not check out at all)."""
    client = _kiosk(world, app)
    activity = _activity(world, _at(22))  # 22:00–24:00
    db.session.commit()
    set_clock(_at(21, 55))
    html = _scan(client, world.volunteer)
    client.post(
        "/kiosk/in", data={"who": _hidden(html, "who"), "key": "in", "activity": str(activity.id)}
    )

    set_clock(_at(22) + timedelta(hours=2, minutes=30))  # 00:30 the next day
    html = _scan(client, world.volunteer)
    assert "签退" in html and "义诊" in html
    visit = db.session.scalars(select(CheckIn)).one()
    done = client.post(
        "/kiosk/out", data={"who": _hidden(html, "who"), "key": "out", "visit": str(visit.id)}
    )
    assert done.status_code == 200
    log = db.session.scalars(select(HourLog)).one()
    assert log.minutes == 120  # 22:00 to the scheduled end at midnight


def test_an_activity_that_began_before_midnight_takes_check_ins_after_it(
    world: World, app: Flask, app_ctx: Flask, set_clock
) -> None:  # type: ignore[no-untyped-def]
    """A night watch 23:30–01:30: a volunteer who arrives at 00:10 finds it on the screen
    and checks in (the screen used to list only activities starting that day)."""
    client = _kiosk(world, app)
    activity = _activity(world, _at(23, 30))  # 23:30–01:30
    db.session.commit()
    set_clock(_at(23, 30) + timedelta(minutes=40))  # 00:10 the next day
    html = _scan(client, world.volunteer)
    assert "义诊" in html
    done = client.post(
        "/kiosk/in", data={"who": _hidden(html, "who"), "key": "in", "activity": str(activity.id)}
    )
    assert done.status_code == 200
    visit = db.session.scalars(select(CheckIn)).one()
    assert visit.activity_id == activity.id and visit.checked_out_at is None

    set_clock(_at(23, 30) + timedelta(hours=2, minutes=5))  # 01:35: it has ended
    assert "义诊" not in _scan(client, world.volunteer2)  # (in the team, not checked in)


def test_a_check_out_before_the_end_says_nothing_about_the_end(
    world: World, app: Flask, app_ctx: Flask, set_clock
) -> None:  # type: ignore[no-untyped-def]
    client = _kiosk(world, app)
    activity = _activity(world, _at(9))
    db.session.commit()
    set_clock(_at(9))
    html = _scan(client, world.volunteer)
    client.post(
        "/kiosk/in", data={"who": _hidden(html, "who"), "key": "in", "activity": str(activity.id)}
    )
    set_clock(_at(10, 31))
    html = _scan(client, world.volunteer)
    visit = db.session.scalars(select(CheckIn)).one()
    page = client.post(
        "/kiosk/out", data={"who": _hidden(html, "who"), "key": "out", "visit": str(visit.id)}
    ).get_data(as_text=True)
    assert "本次服务：1 小时 30 分" in page and "按活动结束时间" not in page


def test_a_walk_in_keeps_its_4_hour_rule(
    world: World, app: Flask, app_ctx: Flask, set_clock
) -> None:  # type: ignore[no-untyped-def]
    client = _kiosk(world, app)
    set_clock(_at(8))
    html = _scan(client, world.volunteer)
    client.post(
        "/kiosk/in",
        data={
            "who": _hidden(html, "who"),
            "key": "walk",
            "team": str(world.team.id),
            "service": str(world.service.id),
        },
    )
    set_clock(_at(14))  # six hours later
    html = _scan(client, world.volunteer)
    visit = db.session.scalars(select(CheckIn)).one()
    page = client.post(
        "/kiosk/out", data={"who": _hidden(html, "who"), "key": "out", "visit": str(visit.id)}
    ).get_data(as_text=True)
    assert "本次服务：4 小时" in page and "最多按4小时" in page
    assert db.session.scalars(select(HourLog)).one().minutes == 240


# --- 2. 长辈版 follows the identified member ---------------------------------------------


def _mode(html: str) -> str:
    match = re.search(r'data-mode="(\w+)"', html)
    assert match
    return match.group(1)


def test_the_member_screens_follow_their_elder_mode_and_the_start_does_not(
    world: World, app: Flask, app_ctx: Flask
) -> None:
    client = _kiosk(world, app)
    activity = _activity(world, clock.now_local() - timedelta(minutes=10))
    world.volunteer.elder_mode = True
    db.session.commit()
    assert _mode(client.get("/kiosk").get_data(as_text=True)) == "standard"

    choose = _scan(client, world.volunteer)
    assert _mode(choose) == "elder" and '<html lang="zh-CN" class="elder">' in choose
    done = client.post(
        "/kiosk/in",
        data={"who": _hidden(choose, "who"), "key": "in", "activity": str(activity.id)},
    ).get_data(as_text=True)
    assert _mode(done) == "elder" and "kiosk-elder" in done

    # The next person starts on the standard screen, and 周志愿 (no 长辈版) stays there.
    start = client.get("/kiosk").get_data(as_text=True)
    assert _mode(start) == "standard" and "kiosk-elder" not in start
    assert _mode(client.get("/kiosk/pin").get_data(as_text=True)) == "standard"
    assert _mode(_scan(client, world.volunteer2)) == "standard"


# --- 4. a number + PIN kept by an offline kiosk ------------------------------------------


def test_an_offline_number_and_pin_is_checked_on_delivery_and_a_wrong_pin_is_flagged(
    world: World, app: Flask, app_ctx: Flask, login
) -> None:  # type: ignore[no-untyped-def]
    import time

    from portal.models import AuditEvent

    client = _kiosk(world, app)
    _activity(world, clock.now_local() - timedelta(minutes=30))
    cards.set_pin(world.volunteer2, "1357")
    db.session.commit()
    at = str(int(time.time() * 1000) - 60_000)
    typed = {"number": world.volunteer2.member_no, "pin": "1357", "at": at, "key": "pin-k1"}
    assert client.post("/kiosk/sync", data=typed).get_data(as_text=True) == "in"
    assert client.post("/kiosk/sync", data=typed).get_data(as_text=True) == "already"
    assert db.session.scalars(select(CheckIn)).one().member_id == world.volunteer2.id

    # 孙志愿's number with a PIN that is not his: refused, nothing credited, and flagged.
    wrong = {"number": world.volunteer.member_no, "pin": "0000", "at": at, "key": "pin-k2"}
    response = client.post("/kiosk/sync", data=wrong)
    assert response.status_code == 422
    assert db.session.scalars(select(CheckIn)).one().member_id == world.volunteer2.id
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "kiosk.offline_pin_refused")
    ).one()
    assert "0000" not in event.detail  # the PIN itself is written nowhere
    db.session.refresh(world.volunteer)
    assert world.volunteer.pin_failures == 1  # counts towards the lock like the keypad

    page = login(world.coordinator).get(f"/kiosk/here?place={PLACE}").get_data(as_text=True)
    assert "离线时用会员号签到被拒" in page and world.volunteer.member_no in page


# --- 5. a printed place code for a post without a screen --------------------------------

POST = "巡逻岗"


def test_a_printed_place_code_checks_in_but_its_hours_wait_for_the_coordinator(
    world: World, app: Flask, app_ctx: Flask, login, set_clock
) -> None:  # type: ignore[no-untyped-def]
    from portal.models import PrintedPlaceCode

    world.team.kiosk_auto_approve = True  # even so: nobody witnessed a printed-code visit
    activity = _activity(world, _at(9))
    activity.place = POST
    db.session.commit()

    admin = login(world.admin)
    made = admin.post("/admin/kiosks/printed", data={"printed-place": POST})
    assert made.status_code == 303
    printed = db.session.scalars(select(PrintedPlaceCode)).one()
    sheet = admin.get(made.headers["Location"])
    assert sheet.status_code == 200 and "<svg" in sheet.get_data(as_text=True)
    assert POST in admin.get("/admin/kiosks").get_data(as_text=True)
    code = devices.printed_code(printed)

    phone = login(world.volunteer)
    set_clock(_at(8, 55))
    page = phone.get(f"/kiosk/at/{code}").get_data(as_text=True)
    assert "义诊" in page and "等协调员审核" in page
    phone.post(f"/kiosk/at/{code}/in", data={"key": "p-in", "activity": str(activity.id)})
    visit = db.session.scalars(select(CheckIn)).one()
    assert visit.source == "printed_code" and visit.flag == "printed_code"
    assert visit.device_id is None  # no device witness
    set_clock(_at(11))
    phone.post(f"/kiosk/at/{code}/out", data={"key": "p-out", "visit": str(visit.id)})
    log = db.session.scalars(select(HourLog)).one()
    assert log.minutes == 120 and log.status == "pending"  # never credited at once
    assert log.review_reason == "printed_code" and log.source == "kiosk"

    queue = login(world.coordinator).get("/approvals").get_data(as_text=True)
    assert "用打印的地点码签到" in queue
    here = login(world.coordinator).get(f"/kiosk/here?place={POST}").get_data(as_text=True)
    assert "没有签到机见证" in here  # and on "who is here" for the post


def test_reprinting_a_place_code_refuses_the_old_sheet(
    world: World, app: Flask, app_ctx: Flask, login
) -> None:  # type: ignore[no-untyped-def]
    printed = devices.print_place_code(world.admin, POST)
    db.session.commit()
    old = devices.printed_code(printed)
    admin = login(world.admin)
    assert admin.post(f"/admin/kiosks/printed/{printed.id}/reissue").status_code == 303
    db.session.refresh(printed)
    assert printed.version == 2
    phone = login(world.volunteer)
    refused = phone.get(f"/kiosk/at/{old}")
    assert refused.status_code == 410 and "新" in refused.get_data(as_text=True)
    assert phone.post(f"/kiosk/at/{old}/in", data={"key": "x"}).status_code == 410
    assert phone.get(f"/kiosk/at/{devices.printed_code(printed)}").status_code == 200
    assert db.session.scalars(select(CheckIn)).all() == []
    # Another community's admin can neither print nor reissue it.
    other = login(world.other_admin)
    assert other.get(f"/admin/kiosks/printed/{printed.id}").status_code == 403
    assert other.post(f"/admin/kiosks/printed/{printed.id}/reissue").status_code == 403


def test_offline_pin_deliveries_share_the_keypads_try_limit(
    world: World, app: Flask, app_ctx: Flask, make_app, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    """Guessing PINs through the offline route is no way around the keypad's limit."""
    import time

    from tests.conftest import _test_config

    limited = make_app({**_test_config(database_url), "RATELIMIT_ENABLED": True})
    _device, enrol_token = devices.register_device(world.admin, PLACE)
    db.session.commit()
    client = limited.test_client()
    assert client.post(f"/kiosk/enrol/{enrol_token}").status_code == 303
    wrong = {"number": "12345678", "pin": "0000", "stage": "pin", "key": "ok"}
    assert {client.post("/kiosk/pin", data=wrong).status_code for _ in range(29)} == {422}
    at = str(int(time.time() * 1000))
    guess = {"number": "12345678", "pin": "0000", "at": at, "key": "g1"}
    assert client.post("/kiosk/sync", data=guess).status_code == 422  # the 30th try
    assert client.post("/kiosk/sync", data={**guess, "key": "g2"}).status_code == 429
    # A card kept offline is still delivered: only PINs are counted.
    card = {"card": cards.card_token(world.volunteer), "at": at, "key": "c1"}
    assert client.post("/kiosk/sync", data=card).status_code != 429
