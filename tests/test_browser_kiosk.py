"""The community-centre kiosk in a real browser, portrait (1080×1920) and landscape
(1280×800): 孙志愿 checks in by card, 周志愿 by member number + PIN, both check out after the
activity; the screen goes back to the start after each and after sitting idle; no screen
shows a full name; axe finds nothing; every button is at least 60×60 px; a third check-in
made while the network is cut is delivered once when it returns. Then the later rules: a
member with 长辈版 gets bigger screens (measured) and the next person the standard start;
keypad taps made while the server is slow all arrive; a number + PIN typed offline is
delivered once; a printed place code for a post without a screen. The 60×60 px check runs on
every screen saved, at both sizes. Each screen is saved (see SHOTS) for
docs/screenshots/kiosk/."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import func, select

from portal.clock import now_local
from portal.extensions import db
from portal.models import Activity, CheckIn, HourLog
from portal.services import cards, devices, kiosk, presence
from tests.browser_fixtures import ARTIFACTS, Checked, LiveServer, NewPage
from tests.support import World, build_world

pytestmark = pytest.mark.browser

PLACE = "社区党群服务中心"
# KIOSK_SCREENSHOTS=1 refreshes docs/screenshots/kiosk/; otherwise they go to test-artifacts/.
SHOTS = (
    Path(__file__).resolve().parent.parent / "docs" / "screenshots" / "kiosk"
    if os.environ.get("KIOSK_SCREENSHOTS") == "1"
    else ARTIFACTS / "kiosk"
)
FULL_NAMES: list[str] = []


def _activity(world: World, start, hours: int = 2, title: str = "长者食堂助餐") -> Activity:  # type: ignore[no-untyped-def]
    activity = Activity(
        team_id=world.team.id,
        service_id=world.service.id,
        title=title,
        place=PLACE,
        starts_at=start,
        ends_at=start + timedelta(hours=hours),
        capacity=20,
        created_by_id=world.coordinator.id,
    )
    db.session.add(activity)
    db.session.flush()
    return activity


def _card(live: LiveServer, member) -> str:  # type: ignore[no-untyped-def]
    """The member's card token as the live server signs it (it has its own secret key)."""
    # Read the member here: a lazy load inside the live app's context would run on the live
    # app's engine (BEGIN IMMEDIATE) and hold SQLite's write lock for the whole test.
    plain = SimpleNamespace(id=member.id, card_version=member.card_version)
    with live.app.app_context():
        return cards.card_token(plain)  # type: ignore[arg-type]


def _screen(k: Checked, label: str, size: tuple[int, int]) -> None:
    """The checks every kiosk screen gets, and its screenshot."""
    k.check(label)
    html = k.page.content()
    for name in FULL_NAMES:
        assert name not in html, f"{label} shows {name}"
    small = k.page.evaluate(
        """() => [...document.querySelectorAll('button, .kiosk-button, summary')]
            .filter(b => b.offsetParent !== null)
            .map(b => { const r = b.getBoundingClientRect();
                        return [b.textContent.trim().slice(0, 20), r.width, r.height]; })
            .filter(([, w, h]) => w < 60 || h < 60)"""
    )
    assert not small, f"{label}: buttons under 60×60 px: {small}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    k.page.screenshot(path=str(SHOTS / f"{size[0]}x{size[1]}-{label}.png"))


def _at_start(k: Checked) -> None:
    expect(k.page).to_have_url(re.compile(r"/kiosk(\?.*)?$"), timeout=15_000)
    expect(k.page.get_by_label("请刷会员卡")).to_be_visible()


def _scan(k: Checked, token: str) -> None:
    k.page.get_by_label("请刷会员卡").fill(token)
    k.page.get_by_label("请刷会员卡").press("Enter")


def _keypad(k: Checked, number: str, pin: str, size: tuple[int, int]) -> None:
    page = k.page
    page.get_by_role("link", name="用会员号和密码").click()
    expect(page.locator(".keypad-display")).to_contain_text("会员号")
    _screen(k, "keypad", size)
    for typed in range(1, len(number) + 1):
        page.get_by_role("button", name=number[typed - 1], exact=True).click()
        expect(page.locator(".keypad-display")).to_contain_text(number[:typed])
    page.get_by_role("button", name="下一步").click()
    expect(page.locator(".keypad-display")).to_contain_text("密码")
    for typed in range(1, len(pin) + 1):
        page.get_by_role("button", name=pin[typed - 1], exact=True).click()
        expect(page.locator(".keypad-display")).to_contain_text("●" * typed)
    page.get_by_role("button", name="好的").click()


@pytest.mark.parametrize("size", [(1080, 1920), (1280, 800)], ids=["portrait", "landscape"])
def test_two_volunteers_check_in_and_out_at_the_kiosk(
    new_page: NewPage, live_server: LiveServer, app_ctx: Flask, size: tuple[int, int]
) -> None:
    world = build_world()
    FULL_NAMES[:] = [
        m.name for m in (world.volunteer, world.volunteer2, world.coordinator, world.resident)
    ]
    cards.set_pin(world.volunteer2, "1357")
    activity = _activity(world, now_local() + timedelta(minutes=30))
    _device, enrol_token = devices.register_device(world.admin, PLACE)
    db.session.commit()
    live_server.app.config["KIOSK_IDLE_SECONDS"] = 8
    live_server.app.config["KIOSK_CONFIRM_SECONDS"] = 3

    k = new_page(f"kiosk-{size[0]}", width=size[0])
    k.page.set_viewport_size({"width": size[0], "height": size[1]})
    page = k.page
    k.goto(f"/kiosk/enrol/{enrol_token}")
    _screen(k, "enrol", size)
    page.get_by_role("button", name="设为签到机").click()
    _at_start(k)
    _screen(k, "start", size)

    # 孙志愿 scans his card half an hour early and checks in.
    _scan(k, _card(live_server, world.volunteer))
    expect(page.get_by_role("heading", name="您好，孙**")).to_be_visible()
    _screen(k, "activities", size)
    page.get_by_role("button", name=re.compile("签到 · 长者食堂助餐")).click()
    expect(page.get_by_role("heading", name="签到成功")).to_be_visible()
    expect(page.locator(".countdown")).to_be_visible()
    _screen(k, "checked-in", size)
    page.get_by_role("link", name="好的").click()
    _at_start(k)

    # 周志愿 has no card with her: member number and PIN on the keypad.
    _keypad(k, world.volunteer2.member_no, "1357", size)
    expect(page.get_by_role("heading", name="您好，周**")).to_be_visible()
    page.get_by_role("button", name=re.compile("签到 · 长者食堂助餐")).click()
    expect(page.get_by_role("heading", name="签到成功")).to_be_visible()
    # Nobody taps: the confirmation goes back to the start by itself.
    _at_start(k)

    # Identified, then walked away: after the idle time the start screen is back.
    _scan(k, _card(live_server, world.volunteer2))
    expect(page.get_by_role("heading", name="您好，周**")).to_be_visible()
    expect(page.locator("#countdown")).to_be_visible()
    _at_start(k)

    # The clock moves on: the activity began 2 hours ago and ended 10 minutes ago (both
    # arrived 30 minutes before its start).
    shift = timedelta(hours=2, minutes=30)
    db.session.commit()  # a fresh snapshot before writing (SQLite)
    activity.starts_at -= shift
    activity.ends_at -= shift
    for visit in db.session.scalars(select(CheckIn)):
        visit.checked_in_at -= shift
    db.session.commit()

    _scan(k, _card(live_server, world.volunteer))
    page.get_by_role("button", name=re.compile("签退 · 长者食堂助餐")).click()
    expect(page.get_by_role("heading", name="签退成功")).to_be_visible()
    expect(page.locator(".kiosk-done")).to_contain_text("本次服务：2 小时")
    expect(page.locator(".kiosk-done")).to_contain_text("按活动结束时间")
    _screen(k, "checked-out", size)
    page.get_by_role("link", name="好的").click()
    _at_start(k)
    _keypad(k, world.volunteer2.member_no, "1357", size)
    page.get_by_role("button", name=re.compile("签退 · 长者食堂助餐")).click()
    expect(page.get_by_role("heading", name="签退成功")).to_be_visible()
    _at_start(k)

    db.session.commit()  # see what the live server committed
    logs = db.session.scalars(select(HourLog).order_by(HourLog.member_id)).all()
    assert {log.member_id for log in logs} == {world.volunteer.id, world.volunteer2.id}
    for log in logs:
        visit = db.session.scalars(select(CheckIn).where(CheckIn.hour_log_id == log.id)).one()
        assert visit.checked_in_at < activity.starts_at  # early arrival...
        # ...counted from the start, and only up to the scheduled end (checked out 10
        # minutes after it).
        assert visit.checked_out_at > activity.ends_at
        assert log.minutes == 120
        assert log.source == "kiosk" and log.status == "pending"

    # The network is cut; 钱协调 scans his card for the next activity; it is kept on the
    # screen and delivered, once, when the network returns.
    db.session.commit()
    _activity(world, now_local() - timedelta(minutes=10), title="陪伴聊天室")
    db.session.commit()
    k.settle()
    page.context.set_offline(True)
    expect(page.locator("#offline-note")).to_be_visible()
    _scan(k, _card(live_server, world.coordinator))
    expect(page.locator("#offline-note")).to_contain_text("已保存在本机")
    assert page.evaluate("JSON.parse(localStorage.getItem('kiosk-queue')).length") == 1
    if size[0] == 1080:
        page.screenshot(path=str(SHOTS / f"{size[0]}x{size[1]}-offline.png"))
    page.context.set_offline(False)
    expect(page.locator("#offline-note")).to_contain_text("已发送")
    assert page.evaluate("JSON.parse(localStorage.getItem('kiosk-queue')).length") == 0
    db.session.commit()
    offline = db.session.scalars(
        select(CheckIn).where(CheckIn.member_id == world.coordinator.id)
    ).all()
    assert len(offline) == 1 and offline[0].flag is None
    page.reload()
    k.settle()
    db.session.commit()
    assert db.session.scalar(select(func.count(CheckIn.id))) == 3


def test_the_other_kiosk_screens(
    new_page: NewPage, live_server: LiveServer, app_ctx: Flask
) -> None:
    """The screens a visit reaches less often: the too-short check-out, "上次您几点离开？",
    walk-in work, and the rotating place code."""
    size = (1080, 1920)
    world = build_world()
    FULL_NAMES[:] = [world.volunteer.name, world.volunteer2.name]
    activity = _activity(world, now_local() - timedelta(hours=4), hours=3)
    device, enrol_token = devices.register_device(world.admin, PLACE)
    forgotten = kiosk.check_in(
        world.volunteer2,
        kiosk.Where.kiosk(device),
        at=activity.starts_at,
        key="forgotten",
        activity_id=activity.id,
    )
    db.session.commit()
    presence.close_open(now_local())
    db.session.commit()

    k = new_page("kiosk-other", width=size[0])
    k.page.set_viewport_size({"width": size[0], "height": size[1]})
    page = k.page
    k.goto(f"/kiosk/enrol/{enrol_token}")
    page.get_by_role("button", name="设为签到机").click()
    _at_start(k)

    _scan(k, _card(live_server, world.volunteer2))
    expect(page.get_by_role("heading", name="上次您几点离开？")).to_be_visible()
    _screen(k, "last-time", size)
    page.get_by_role("button", name=re.compile("提前1小时")).click()
    expect(page.get_by_role("heading", name="您好，周**")).to_be_visible()
    db.session.commit()
    assert db.session.get(HourLog, forgotten.hour_log_id).minutes == 120

    page.get_by_text("在这里做其他服务").click()
    _screen(k, "other-service", size)
    page.get_by_label("队伍").select_option(label=world.team.name)
    page.locator("details").get_by_role("button", name="签到").click()
    expect(page.get_by_role("heading", name="签到成功")).to_be_visible()
    page.get_by_role("link", name="好的").click()
    _scan(k, _card(live_server, world.volunteer2))
    page.get_by_role("button", name=re.compile("签退 · 其他服务")).click()
    expect(page.get_by_role("heading", name="您签到还不到5分钟")).to_be_visible()
    _screen(k, "too-short", size)
    page.get_by_role("button", name="取消签到").click()
    expect(page.get_by_role("heading", name="已取消签到")).to_be_visible()

    k.goto("/kiosk/code")
    _screen(k, "place-code", size)


def test_the_kiosk_works_with_javascript_off(
    new_page: NewPage, live_server: LiveServer, app_ctx: Flask
) -> None:
    """Plain forms: the keypad posts each tap and the whole page comes back."""
    world = build_world()
    FULL_NAMES[:] = [world.volunteer.name, world.volunteer2.name]
    cards.set_pin(world.volunteer2, "2468")
    _activity(world, now_local() - timedelta(minutes=20))
    _device, enrol_token = devices.register_device(world.admin, PLACE)
    db.session.commit()
    k = new_page("kiosk-nojs", js=False, width=1280)
    page = k.page
    k.goto(f"/kiosk/enrol/{enrol_token}")
    page.get_by_role("button", name="设为签到机").click()
    _at_start(k)
    page.get_by_role("link", name="用会员号和密码").click()
    for digit in world.volunteer2.member_no:
        page.get_by_role("button", name=digit, exact=True).click()
    page.get_by_role("button", name="下一步").click()
    for digit in "2468":
        page.get_by_role("button", name=digit, exact=True).click()
    k.settle()
    k.reset_transfer()  # each tap was a whole page; the budget is per page
    page.get_by_role("button", name="好的").click()
    expect(page.get_by_role("heading", name="您好，周**")).to_be_visible()
    k.check("nojs-activities")
    page.get_by_role("button", name=re.compile("签到 · 长者食堂助餐")).click()
    expect(page.get_by_role("heading", name="签到成功")).to_be_visible()
    page.get_by_role("link", name="好的").click()
    _at_start(k)
    db.session.commit()
    assert db.session.scalar(select(func.count(CheckIn.id))) == 1


def _enrolled(new_page: NewPage, name: str, size: tuple[int, int], enrol_token: str) -> Checked:
    k = new_page(name, width=size[0])
    k.page.set_viewport_size({"width": size[0], "height": size[1]})
    k.goto(f"/kiosk/enrol/{enrol_token}")
    k.page.get_by_role("button", name="设为签到机").click()
    _at_start(k)
    return k


def _px(k: Checked, selector: str, prop: str) -> float:
    return float(
        k.page.evaluate(
            f"parseFloat(getComputedStyle(document.querySelector({selector!r}))[{prop!r}])"
        )
    )


@pytest.mark.parametrize("size", [(1080, 1920), (1280, 800)], ids=["portrait", "landscape"])
def test_an_elder_member_gets_the_elder_screens_and_the_next_person_does_not(
    new_page: NewPage,
    live_server: LiveServer,
    app_ctx: Flask,
    size: tuple[int, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """孙志愿 has 长辈版 on: once identified, his screens have bigger text and controls; the
    start screen is the standard one again for the next person. He checks out two hours
    after the activity's end and is counted up to the end."""
    from portal import clock

    world = build_world()
    FULL_NAMES[:] = [world.volunteer.name, world.volunteer2.name]
    world.volunteer.elder_mode = True
    activity = _activity(world, now_local() - timedelta(minutes=10))
    _device, enrol_token = devices.register_device(world.admin, PLACE)
    db.session.commit()
    k = _enrolled(new_page, f"kiosk-elder-{size[0]}", size, enrol_token)
    page = k.page
    standard_text = _px(k, "body", "fontSize")

    _scan(k, _card(live_server, world.volunteer))
    expect(page.get_by_role("heading", name="您好，孙**")).to_be_visible()
    assert page.locator("main").get_attribute("data-mode") == "elder"
    assert _px(k, "body", "fontSize") > standard_text >= 24
    check_in = page.get_by_role("button", name=re.compile("签到 · 长者食堂助餐"))
    box = check_in.bounding_box()
    assert box is not None and box["height"] >= 120  # 130 px in 长辈版, 110 px standard
    _screen(k, "elder-activities", size)
    check_in.click()
    expect(page.get_by_role("heading", name="签到成功")).to_be_visible()
    assert page.locator("main").get_attribute("data-mode") == "elder"
    _screen(k, "elder-checked-in", size)
    page.get_by_role("link", name="好的").click()
    _at_start(k)
    assert page.locator("main").get_attribute("data-mode") == "standard"
    assert _px(k, "body", "fontSize") == standard_text

    # Two hours after the end he comes back to check out: counted up to the end.
    later = activity.ends_at + timedelta(hours=2)
    monkeypatch.setattr(clock, "now_local", lambda: later)
    _scan(k, _card(live_server, world.volunteer))
    page.get_by_role("button", name=re.compile("签退 · 长者食堂助餐")).click()
    expect(page.get_by_role("heading", name="签退成功")).to_be_visible()
    expect(page.locator(".kiosk-done")).to_contain_text("按活动结束时间")
    _screen(k, "elder-checked-out", size)
    db.session.commit()
    log = db.session.scalars(select(HourLog)).one()
    assert log.minutes == 110  # from his check-in 10 minutes late to the end, not 4 h


def test_keypad_taps_are_never_lost_while_the_server_is_slow(
    new_page: NewPage,
    live_server: LiveServer,
    app_ctx: Flask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An elder keeps tapping while the kiosk waits for the server: every digit ends up in
    the field, and the number + PIN is sent once."""
    import time

    world = build_world()
    FULL_NAMES[:] = [world.volunteer2.name]
    cards.set_pin(world.volunteer2, "1357")
    _activity(world, now_local() - timedelta(minutes=10))
    _device, enrol_token = devices.register_device(world.admin, PLACE)
    db.session.commit()
    slow_pin = kiosk.identify_by_pin

    def slowly(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(2)
        return slow_pin(*args, **kwargs)

    monkeypatch.setattr(kiosk, "identify_by_pin", slowly)
    k = _enrolled(new_page, "kiosk-taps", (1080, 1920), enrol_token)
    page = k.page
    sent: list[str] = []
    page.on(
        "request",
        lambda r: (
            sent.append(r.post_data or "")
            if r.method == "POST" and r.url.endswith("/kiosk/pin")
            else None
        ),
    )
    page.get_by_role("link", name="用会员号和密码").click()
    expect(page.locator(".keypad-display")).to_contain_text("会员号")
    number = world.volunteer2.member_no

    def tap_all(keys: str) -> None:
        for key in keys:
            page.get_by_role("button", name=key, exact=True).click(delay=0)

    # A wrong PIN first: while the slow answer is pending she already taps her number again.
    tap_all(number)
    page.get_by_role("button", name="下一步").click()
    tap_all("1111")
    page.get_by_role("button", name="好的").click()
    tap_all(number)
    # Those taps were made while the answer was still on its way...
    assert page.evaluate("document.getElementById('keypad').classList.contains('htmx-request')")
    # ...and all of them are in the keypad that came back.
    expect(page.locator(".keypad-display")).to_contain_text(number)
    expect(page.get_by_role("alert")).to_contain_text("会员号或密码不对")
    page.get_by_role("button", name="下一步").click()
    tap_all("1357")
    page.get_by_role("button", name="好的").click()
    expect(page.get_by_role("heading", name="您好，周**")).to_be_visible(timeout=15_000)
    assert len(sent) == 2  # one request per OK, none per digit
    assert f"number={number}" in sent[1] and "pin=1357" in sent[1]


@pytest.mark.parametrize("size", [(1080, 1920), (1280, 800)], ids=["portrait", "landscape"])
def test_a_number_and_pin_typed_while_offline_is_delivered_once(
    new_page: NewPage, live_server: LiveServer, app_ctx: Flask, size: tuple[int, int]
) -> None:
    """The network is cut at the start screen: 周志愿 types her number and PIN on the
    keypad shown there, someone else a wrong PIN; when the network returns hers is checked
    in once, the wrong one refused, and no PIN is left in the browser."""
    from portal.models import AuditEvent

    world = build_world()
    FULL_NAMES[:] = [world.volunteer.name, world.volunteer2.name]
    cards.set_pin(world.volunteer2, "1357")
    cards.set_pin(world.volunteer, "2468")
    _activity(world, now_local() - timedelta(minutes=10))
    _device, enrol_token = devices.register_device(world.admin, PLACE)
    db.session.commit()
    k = _enrolled(new_page, f"kiosk-offline-pin-{size[0]}", size, enrol_token)
    k.settle()
    page = k.page
    page.context.set_offline(True)
    expect(page.locator("#offline-note")).to_be_visible()

    def type_in(number: str, pin: str) -> None:
        page.get_by_role("link", name="用会员号和密码").click()
        keypad = page.locator("#offline-keypad")
        expect(keypad).to_be_visible()
        for digit in number:
            keypad.get_by_role("button", name=digit, exact=True).click()
        keypad.get_by_role("button", name="下一步").click()
        for digit in pin:
            keypad.get_by_role("button", name=digit, exact=True).click()
        keypad.get_by_role("button", name="好的").click()
        expect(page.locator("#offline-note")).to_contain_text("已保存在本机")
        expect(keypad).to_be_hidden()

    type_in(world.volunteer2.member_no, "1357")
    type_in(world.volunteer.member_no, "0000")
    assert page.evaluate("JSON.parse(localStorage.getItem('kiosk-queue')).length") == 2
    page.get_by_role("link", name="用会员号和密码").click()
    _screen(k, "offline-keypad", size)
    page.get_by_role("button", name="返回").click()

    page.context.set_offline(False)
    expect(page.locator("#offline-note")).to_contain_text("已发送")
    page.wait_for_function("localStorage.getItem('kiosk-queue') === '[]'")
    stored = page.evaluate("localStorage.getItem('kiosk-queue')")
    assert stored == "[]" and "1357" not in stored
    page.reload()  # and once more: nothing is sent twice
    k.settle()
    db.session.commit()
    visits = db.session.scalars(select(CheckIn)).all()
    assert [v.member_id for v in visits] == [world.volunteer2.id]
    refused = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "kiosk.offline_pin_refused")
    ).all()
    assert len(refused) == 1 and world.volunteer.member_no in refused[0].detail


def test_an_admin_prints_a_place_code_and_a_phone_checks_in_with_it(
    new_page: NewPage, live_server: LiveServer, app_ctx: Flask
) -> None:
    """A patrol post has no screen: the admin prints its code on A4; 孙志愿 scans it with his
    phone and checks in, and is told a coordinator approves these hours."""
    from tests.browser_fixtures import logged_in

    world = build_world()
    _activity(world, now_local() - timedelta(minutes=10), title="夜间巡逻").place = "巡逻岗"
    db.session.commit()
    admin = logged_in(new_page, world.admin, "printed-admin")
    admin.page.set_viewport_size({"width": 1080, "height": 1500})
    admin.goto("/admin/kiosks")
    admin.page.locator("#printed-place").fill("巡逻岗")
    admin.page.get_by_role("button", name="为这个地点打印签到码").click()
    expect(admin.page.get_by_role("heading", name="打印的签到码：巡逻岗")).to_be_visible()
    admin.check("printed-code")
    SHOTS.mkdir(parents=True, exist_ok=True)
    admin.page.screenshot(path=str(SHOTS / "printed-code.png"), full_page=True)
    qr = admin.page.locator(".printed-qr svg").bounding_box()
    assert qr is not None and qr["width"] >= 400  # large enough to scan from a step away
    admin.page.emulate_media(media="print")
    expect(admin.page.get_by_role("button", name=re.compile("生成新码"))).to_be_hidden()
    admin.page.emulate_media(media="screen")

    from portal.models import PrintedPlaceCode

    db.session.commit()
    printed = db.session.scalars(select(PrintedPlaceCode)).one()
    with live_server.app.app_context():
        code = devices.printed_code(printed)
    phone = logged_in(new_page, world.volunteer, "printed-phone")
    phone.goto(f"/kiosk/at/{code}")
    expect(phone.page.get_by_text("等协调员审核")).to_be_visible()
    phone.page.get_by_role("button", name="签到").click()
    expect(phone.page.get_by_text("已在巡逻岗签到")).to_be_visible()
    phone.check("printed-phone")
    phone.page.screenshot(path=str(SHOTS / "printed-phone-360.png"), full_page=True)
    db.session.commit()
    assert db.session.scalars(select(CheckIn)).one().flag == "printed_code"
