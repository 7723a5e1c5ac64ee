"""The hours loop in a real browser: a volunteer logs 90 minutes, the team's coordinator
approves it in place (htmx) or by a plain form post (JavaScript off), and the hours show up in
the balance, the statement and its CSV."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Locator, expect

from portal.extensions import db
from portal.models import HourLog
from tests.browser_fixtures import FRAGMENT_BUDGET, Checked, NewPage
from tests.browser_fixtures import logged_in as _logged_in
from tests.support import World, build_world, log_hours

pytestmark = pytest.mark.browser


def _row(p: Checked, log_id: int) -> Locator:
    return p.page.locator(f"#log-{log_id}")


def _approve_in_place(p: Checked, log_id: int) -> None:
    page = p.page
    # A marker on the document: still there afterwards means no page load happened.
    page.evaluate("window.stillSamePage = true")
    p.reset_transfer()
    _row(p, log_id).get_by_role("button", name="通过").click()
    expect(_row(p, log_id).locator(".status")).to_have_text("已通过")
    assert page.evaluate("window.stillSamePage === true")
    p.settle()
    assert p.transfer <= FRAGMENT_BUDGET, f"fragment of {p.transfer} bytes"


def test_volunteer_logs_coordinator_approves_in_place_balance_and_csv(
    new_page: NewPage, app_ctx: Flask
) -> None:
    world = build_world()

    volunteer = _logged_in(new_page, world.volunteer, "volunteer")
    page = volunteer.page
    volunteer.goto("/hours/new")
    expect(page.get_by_label("今天")).to_be_checked()
    volunteer.check("hours-new")
    page.get_by_label("分钟").fill("90")
    page.get_by_label("队伍").select_option(label="助老队")
    page.get_by_label("服务项目").select_option(label="陪伴聊天")
    page.get_by_role("button", name="提交审核").click()
    expect(page).to_have_url(re.compile(r"/hours\?logged=\d+$"))
    expect(page.locator(".flash-success")).to_contain_text("已提交")
    log_id = int(page.url.rsplit("=", 1)[1])
    row = _row(volunteer, log_id)
    expect(row.locator(".status")).to_have_text("待审核")
    expect(row).to_contain_text("1 小时 30 分")
    expect(row).to_contain_text("助老队")
    volunteer.check("hours-logged")

    coordinator = _logged_in(new_page, world.coordinator, "coordinator")
    coordinator.goto("/approvals")
    expect(coordinator.page.locator("#pending-count")).to_have_text("1 条待审核")
    expect(_row(coordinator, log_id)).to_contain_text("孙志愿")
    coordinator.check("approvals")
    _approve_in_place(coordinator, log_id)
    expect(_row(coordinator, log_id)).to_contain_text("已通过孙志愿的服务记录。")
    expect(coordinator.page.locator("#pending-count")).to_have_text("0 条待审核")
    coordinator.check("approvals-approved")

    volunteer.goto("/me")
    expect(page.locator("#my-balance")).to_have_text("1 小时 30 分")
    expect(page.locator("#my-pending")).to_have_text("0 分钟")
    expect(page.locator("#balance strong")).to_have_text("1 小时 30 分")
    volunteer.check("me")
    page.get_by_role("link", name="查看全部明细").click()
    expect(page).to_have_url(re.compile(r"/me/statement$"))
    first = page.locator("#statement-rows tr").first
    expect(first).to_contain_text("陪伴聊天 · 服务日期")
    expect(first.locator("td.num").first).to_have_text("+1 小时 30 分")
    expect(first.locator("td.num").last).to_have_text("1 小时 30 分")
    volunteer.check("statement")

    csv = page.request.get(volunteer.live.url + "/me/statement.csv")
    assert csv.ok
    assert csv.headers["content-type"].startswith("text/csv")
    body = csv.body()
    assert body.startswith(b"\xef\xbb\xbf")
    lines = body[3:].decode("utf-8").splitlines()
    assert lines[0] == "date,kind,description,minutes,balance_minutes"
    assert any(",服务已审核通过," in line and line.endswith(",90,90") for line in lines[1:]), lines

    db.session.rollback()  # end the observer's read snapshot: see what the server committed
    assert db.session.get(HourLog, log_id).status == "approved"


def _two_pending(world: World) -> tuple[int, int]:
    first = log_hours(world.volunteer, world.team, world.service, minutes=60)
    second = log_hours(world.volunteer2, world.team, world.service, minutes=45)
    db.session.commit()
    return first.id, second.id


def test_coordinator_rejects_with_a_reason_in_place(new_page: NewPage, app_ctx: Flask) -> None:
    world = build_world()
    first, second = _two_pending(world)

    coordinator = _logged_in(new_page, world.coordinator, "reject")
    coordinator.goto("/approvals")
    expect(coordinator.page.locator("#pending-count")).to_have_text("2 条待审核")
    coordinator.check("approvals")
    row = _row(coordinator, first)

    # No reason: the row says why, in place, and stays pending.
    row.get_by_text("不通过…").click()
    row.get_by_role("button", name="退回").click()
    expect(row.locator(".flash")).to_have_text("请写明退回原因，方便志愿者了解。")
    expect(row.get_by_role("button", name="通过")).to_be_visible()
    coordinator.check("approvals-reason-missing")

    coordinator.page.evaluate("window.stillSamePage = true")
    row.get_by_label("退回原因").fill("日期写错了")
    row.get_by_role("button", name="退回").click()
    expect(row.locator(".status")).to_have_text("已退回")
    expect(row).to_contain_text("已退回孙志愿的服务记录。")
    expect(coordinator.page.locator("#pending-count")).to_have_text("1 条待审核")
    assert coordinator.page.evaluate("window.stillSamePage === true")
    # The other row is untouched.
    expect(_row(coordinator, second).get_by_role("button", name="通过")).to_be_visible()
    coordinator.check("approvals-rejected")

    volunteer = _logged_in(new_page, world.volunteer, "rejected-volunteer")
    volunteer.goto("/hours")
    expect(_row(volunteer, first).locator(".status")).to_have_text("已退回")
    expect(_row(volunteer, first)).to_contain_text("日期写错了")
    volunteer.check("hours-rejected")


def test_approval_without_javascript_posts_and_redirects(new_page: NewPage, app_ctx: Flask) -> None:
    world = build_world()
    first, second = _two_pending(world)

    coordinator = _logged_in(new_page, world.coordinator, "approve-nojs", js=False)
    coordinator.goto("/approvals")
    coordinator.check("approvals")
    _row(coordinator, first).get_by_role("button", name="通过").click()
    page = coordinator.page
    expect(page).to_have_url(re.compile(r"/approvals$"))
    expect(page.locator(".flashes")).to_contain_text("已通过孙志愿的服务记录。")
    expect(_row(coordinator, first)).to_have_count(0)
    expect(page.locator("#pending-count")).to_have_text("1 条待审核")
    coordinator.check("approvals-after-approve")

    row = _row(coordinator, second)
    row.get_by_text("不通过…").click()
    row.get_by_label("退回原因").fill("时长不对")
    row.get_by_role("button", name="退回").click()
    expect(page.locator(".flashes")).to_contain_text("已退回周志愿的服务记录。")
    expect(page.locator("#pending-count")).to_have_text("0 条待审核")
    coordinator.check("approvals-after-reject")

    db.session.rollback()  # end the observer's read snapshot: see what the server committed
    assert db.session.get(HourLog, first).status == "approved"
    assert db.session.get(HourLog, second).status == "rejected"
