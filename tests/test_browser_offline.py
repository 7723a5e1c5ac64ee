"""Logging that survives a dropped connection (issue 9): the hours form sent without a
network is kept on the phone with its one-time key and sent when the network is back —
exactly once, even when it is delivered twice."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import HourLog, ServiceRequest
from tests.browser_fixtures import NewPage, logged_in
from tests.support import build_world

pytestmark = pytest.mark.browser

QUEUE = "portal-offline-forms"


def _logs() -> list[tuple[int, int]]:
    db.session.commit()  # a fresh snapshot
    return [tuple(row) for row in db.session.execute(select(HourLog.member_id, HourLog.minutes))]


def test_an_hour_log_typed_offline_is_sent_once_when_the_network_returns(
    new_page: NewPage, app_ctx: Flask
) -> None:
    world = build_world()
    p = logged_in(new_page, world.volunteer, "offline-hours")
    page = p.page
    p.goto("/hours/new")
    page.get_by_label("分钟").fill("1小时30分")
    page.get_by_label("队伍").select_option(label=world.team.name)
    p.settle()  # the team's services arrive
    page.get_by_label("服务项目").select_option(label="陪伴聊天")
    page.get_by_label("备注").fill("陪李奶奶聊天")

    page.context.set_offline(True)
    page.get_by_role("button", name="提交审核").click()
    note = page.locator("#offline-note")
    expect(note).to_contain_text("已保存，联网后自动提交")
    expect(page.get_by_label("备注")).to_have_value("陪李奶奶聊天")  # nothing typed is lost
    # A second tap while still offline keeps one copy (the same one-time key).
    page.get_by_role("button", name="提交审核").click()
    kept = page.evaluate(f"localStorage.getItem('{QUEUE}')")
    assert kept is not None and kept.count('"key"') == 1
    assert _logs() == []

    page.context.set_offline(False)
    expect(note).to_contain_text("已提交")
    assert _logs() == [(world.volunteer.id, 90)]
    assert page.evaluate(f"JSON.parse(localStorage.getItem('{QUEUE}'))") == []

    # The same form delivered again (say a second tab kept a copy): the server answers it as
    # a replay of the first, and there is still one log.
    page.evaluate("document.getElementById('offline-note').hidden = true")
    page.evaluate(
        f"localStorage.setItem('{QUEUE}', {kept!r}); window.dispatchEvent(new Event('online'))"
    )
    expect(note).to_be_visible()
    expect(note).to_contain_text("已提交")
    assert page.evaluate(f"JSON.parse(localStorage.getItem('{QUEUE}'))") == []
    assert _logs() == [(world.volunteer.id, 90)]


def test_a_request_typed_offline_is_posted_when_the_network_returns(
    new_page: NewPage, app_ctx: Flask
) -> None:
    world = build_world()
    p = logged_in(new_page, world.resident, "offline-request")
    page = p.page
    p.goto("/requests/new")
    page.get_by_label("您需要什么服务？").select_option(label="陪伴聊天")
    page.get_by_label("明天", exact=True).check()
    page.get_by_label("上午", exact=True).check()
    page.get_by_label("大约几点").select_option(label="10 点")
    page.get_by_label("地点", exact=True).fill("幸福里 3 栋 201")
    page.get_by_label("1 小时", exact=True).check()
    page.context.set_offline(True)
    page.get_by_role("button", name="发布我的申请").click()
    expect(page.locator("#offline-note")).to_contain_text("已保存，联网后自动提交")
    db.session.commit()
    assert db.session.scalar(select(func.count(ServiceRequest.id))) == 0
    page.context.set_offline(False)
    expect(page.locator("#offline-note")).to_contain_text("已提交")
    db.session.commit()
    assert db.session.scalar(select(func.count(ServiceRequest.id))) == 1
