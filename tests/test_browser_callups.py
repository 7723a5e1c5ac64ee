"""An emergency call-up in real browsers (issue 13): the coordinator calls the rescue team
(应急救援) to the east gate; two answer 我来 and one 来不了, each in their own browser; the board
shows each answer as it arrives, without reloading; the delay passes (the clock moves) and the
patrol team is called automatically; the call closes and the two responders' hours appear on
their statements."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from playwright.sync_api import expect

from portal import clock
from portal.extensions import db
from portal.services import ledger
from tests.browser_fixtures import logged_in
from tests.support import join, make_community, make_member, make_service, make_team

pytestmark = pytest.mark.browser


def test_a_call_up_from_the_first_call_to_the_hours(  # type: ignore[no-untyped-def]
    app_ctx: Flask, new_page, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [clock.now_local()]
    monkeypatch.setattr(clock, "now_local", lambda: now[0])
    community = make_community("幸福里")
    make_service(community, "应急抢险", category="emergency")
    rescue = make_team(community, "应急救援队", category="emergency")
    patrol = make_team(community, "治安巡查队", category="patrol")
    coordinator = make_member(community, "钱协调")
    join(rescue, coordinator, "coordinator")
    sun, zhou, wu = (make_member(community, n) for n in ("孙救援", "周救援", "吴救援"))
    for member in (sun, zhou, wu):
        join(rescue, member)
    wu.elder_mode = True  # 长辈版: 60 px answers
    zheng = make_member(community, "郑巡查")
    join(patrol, zheng)
    db.session.commit()

    lead = logged_in(new_page, coordinator, "callup-lead")
    lead.goto("/callups/new")
    lead.check("callup-new")
    form = lead.page.locator("main form")
    form.get_by_label("需要做什么").fill("水管爆裂，搬沙袋")
    form.get_by_label("地点").fill("东门")
    form.get_by_label("需要几人").fill("3")
    form.get_by_label("多少分钟后应答人数仍不足，就呼叫下一组").fill("10")
    form.get_by_label("然后呼叫").select_option(label="治安巡查队")
    form.get_by_role("button", name="立即召集").click()
    expect(lead.page.locator("h1")).to_have_text("水管爆裂，搬沙袋")
    expect(lead.page.locator("#count-waiting")).to_have_text("3")
    lead.check("callup-board")
    board = lead.page.locator("#board")

    # Each one called sees the call on top of their page, and answers with one tap.
    answers = {sun: "我来", zhou: "我来", wu: "来不了"}
    for member, label in answers.items():
        p = logged_in(new_page, member, f"callup-{member.name}")
        banner = p.page.locator("#callup-banner")
        expect(banner).to_contain_text("水管爆裂，搬沙袋")
        expect(p.page.locator("#callup-link")).to_contain_text("1 个召集")
        if member is sun:
            p.check("callup-banner")
            for name in ("我来", "晚到 10 分钟", "来不了"):  # big enough for a thumb
                box = banner.get_by_role("button", name=name).bounding_box()
                assert box is not None and box["height"] >= 48 and box["width"] >= 48
        if member is wu:
            box = banner.get_by_role("button", name=label).bounding_box()
            assert box is not None and box["height"] >= 60 and box["width"] >= 60
        banner.get_by_role("button", name=label).click()
        expect(banner.get_by_role("button", name=label)).to_have_attribute("aria-pressed", "true")
        # The board, never reloaded, shows the answer by name.
        names = "#names-coming" if label == "我来" else "#names-cannot"
        expect(board.locator(names)).to_contain_text(member.name, timeout=15_000)
    expect(board.locator("#count-coming")).to_have_text("2")
    expect(board.locator("#count-cannot")).to_have_text("1")
    assert "/callups/" in lead.page.url and lead.page.locator("h1").count() == 1

    # Ten minutes pass with two yes of three needed: the patrol team is called by itself.
    now[0] += timedelta(minutes=10)
    expect(board.locator("#names-none")).to_contain_text("郑巡查", timeout=15_000)
    patroller = logged_in(new_page, zheng, "callup-patrol")
    expect(patroller.page.locator("#callup-banner")).to_contain_text("水管爆裂，搬沙袋")

    # The call closes: the two who came served two hours.
    lead.page.get_by_role("link", name="结束并记入时长").click()
    expect(lead.page.locator("h1")).to_have_text("结束召集")
    lead.check("callup-close")
    db.session.commit()
    for member in (sun, zhou):
        lead.page.get_by_label(f"{member.name} 的服务分钟数").fill("120")
    lead.page.locator("main").get_by_role("button", name="结束并记入时长").click()
    expect(lead.page.locator(".callup-status")).to_have_text("已结束")

    db.session.commit()  # see what the live server committed
    assert [ledger.balance_of(m) for m in (sun, zhou, wu, zheng)] == [120, 120, 0, 0]
    for member in (sun, zhou):
        statement = logged_in(new_page, member, f"callup-statement-{member.name}")
        statement.goto("/me/statement")
        expect(statement.page.locator("main")).to_contain_text("2 小时")
        statement.check(f"callup-statement-{member.name}")
