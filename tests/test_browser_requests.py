"""Redemption in a real browser: the 82-year-old posts a paid request, the coordinator
dispatches it, a volunteer does it in 90 minutes, she confirms with five stars."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select

from portal.clock import now_local
from portal.extensions import db
from portal.models import ServiceRequest
from portal.services import family, ledger
from tests.browser_fixtures import Checked
from tests.support import TEST_PASSWORD, build_world, make_member

pytestmark = pytest.mark.browser


def _log_in(p: Checked, phone: str) -> None:
    p.goto("/login")
    p.page.get_by_label("手机号").fill(phone)
    p.page.get_by_label("密码").fill(TEST_PASSWORD)
    p.page.locator("main").get_by_role("button", name="登录").click()
    expect(p.page.locator(".who-name")).to_be_visible()


def test_paid_request_from_posting_to_rating(app_ctx: Flask, new_page, runner, clock) -> None:  # type: ignore[no-untyped-def]
    world = build_world()
    daughter = make_member(world.community, "李女儿", age=50)
    ledger.transfer(
        "hours",
        ledger.issuance_account(world.community.id),
        ledger.member_account(daughter),
        300,
        idempotency_key="daughter-earned",
    )
    link = family.propose(daughter, world.resident.phone)
    family.decide(world.resident, link.id, accept=True)
    family.gift(daughter, world.resident.id, 300, key="to-mother")
    db.session.commit()
    assert ledger.balance_of(world.resident) == 300

    # She posts a request for two hours, paid with her banked hours.
    elder = new_page("requests-resident")
    _log_in(elder, world.resident.phone)
    elder.goto("/requests/new")
    elder.check("request-new")
    elder.page.get_by_label("您需要什么服务？").select_option(label="陪伴聊天")
    # Tomorrow, 上午 10 点: a day, a part of the day and an hour, as people say it.
    elder.page.get_by_label("明天", exact=True).check()
    elder.page.get_by_label("上午", exact=True).check()
    elder.page.get_by_label("大约几点").select_option(label="10 点")
    elder.page.get_by_label("地点", exact=True).fill("幸福里 3 栋 201")
    elder.page.get_by_label("2 小时", exact=True).check()
    elder.page.get_by_label("用我的存储时长支付").check()
    elder.page.get_by_role("button", name="发布我的申请").click()
    expect(elder.page.locator("h1")).to_have_text("陪伴聊天")
    elder.check("request-posted")
    db.session.commit()  # end the observer's read snapshot: see what the browser did
    request = db.session.scalars(select(ServiceRequest)).one()
    tomorrow = now_local().date() + timedelta(days=1)
    assert request.wanted_at == datetime.combine(tomorrow, time(10))
    elder.goto("/me")
    expect(elder.page.locator("#my-reserved")).to_have_text("2 小时")
    expect(elder.page.locator("#my-balance")).to_have_text("3 小时")
    elder.check("me-reserved")

    # The coordinator dispatches it to a volunteer.
    lead = new_page("requests-coordinator")
    _log_in(lead, world.coordinator.phone)
    lead.goto("/requests?view=dispatch")
    lead.check("dispatch-list")
    lead.goto(f"/requests/{request.id}")
    lead.page.get_by_label("志愿者").select_option(
        label=f"{world.volunteer.name} · {world.volunteer.phone[-4:]}"
    )
    lead.page.get_by_role("button", name="派单").click()
    expect(lead.page.locator(".flash-success")).to_be_visible()
    lead.check("dispatched")

    # The volunteer accepts and marks it done after 90 minutes.
    helper = new_page("requests-volunteer")
    _log_in(helper, world.volunteer.phone)
    helper.goto(f"/requests/{request.id}")
    helper.check("task")
    helper.page.locator("main").get_by_role("button", name="同意").click()
    # Tomorrow at 10 has come (a visit cannot be marked done before it begins).
    clock.move(days=1, hours=14)
    helper.goto(f"/requests/{request.id}")
    expect(helper.page.get_by_label("实际用时（分钟）")).to_be_visible()
    helper.page.get_by_label("实际用时（分钟）").fill("90")
    helper.page.get_by_role("button", name="标为已完成").click()
    expect(helper.page.locator(".flash-success")).to_be_visible()
    helper.check("task-done")

    # She confirms and gives five stars.
    elder.goto(f"/requests/{request.id}")
    elder.check("to-confirm")
    elder.page.get_by_label("5 星").check()
    elder.page.get_by_role("button", name="确认服务").click()
    expect(elder.page.locator(".flash-success")).to_be_visible()
    elder.check("confirmed")

    db.session.commit()
    assert ledger.balance_of(world.resident) == 300 - 90  # down by exactly 1.5 hours
    assert ledger.balance_of(world.volunteer) == 90
    elder.goto("/me")
    expect(elder.page.locator("#my-balance")).to_have_text("3 小时 30 分")
    expect(elder.page.locator("#my-reserved")).to_have_count(0)
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 0 and "ledger OK" in result.output
