"""群众点单—社区派单—党员接单—群众评单 in a real browser: a resident without an account
scans her building's poster and posts a need; the grid worker verifies her and dispatches it
to a party member of her micro-grid, who saw it first with his badge; it is done and rated
two stars; the grid worker follows it up; the timeline shows every step. A request nobody
takes reaches the street office when the clock has moved three days on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select

from portal import clock as portal_clock
from portal.extensions import db
from portal.models import HourLog, ServiceRequest
from portal.models._time import utcnow
from portal.services import grid_requests
from portal.services import requests as req
from tests.browser_fixtures import Checked
from tests.support import TEST_PASSWORD, build_world
from tests.test_grids import build_grids

pytestmark = pytest.mark.browser


def _log_in(p: Checked, phone: str) -> None:
    p.goto("/login")
    p.page.get_by_label("手机号").fill(phone)
    p.page.get_by_label("密码").fill(TEST_PASSWORD)
    p.page.locator("main").get_by_role("button", name="登录").click()
    expect(p.page.locator(".who-name")).to_be_visible()


def test_poster_to_follow_up_and_escalation(  # type: ignore[no-untyped-def]
    app_ctx: Flask, new_page, runner, monkeypatch: pytest.MonkeyPatch, clock
) -> None:
    world = build_world()
    g = build_grids(world)

    # The grid worker prints the posters of her grid.
    worker = new_page("grids-worker")
    _log_in(worker, g.worker.phone)
    worker.goto(f"/grids/{g.east.id}/posters")
    worker.check("grids-posters")
    poster_url = worker.page.locator(".poster-url").nth(1).inner_text()
    assert poster_url.endswith(f"/point/{g.east.id}/2%E5%8F%B7%E6%A5%BC")

    # A resident without an account scans the poster of 2号楼 and posts a need.
    resident = new_page("grids-resident")
    resident.page.goto(poster_url)
    resident.check("grids-point")
    resident.page.get_by_label("您的姓名").fill("刘阿姨")
    resident.page.get_by_label("手机号").fill("13922223333")
    resident.page.get_by_label("出生年份").fill("1946")
    resident.page.get_by_label("您需要什么服务？").select_option(label="陪伴聊天")
    resident.page.get_by_label("明天", exact=True).check()
    resident.page.get_by_label("上午", exact=True).check()
    resident.page.get_by_label("大约几点").select_option(label="9 点")
    resident.page.get_by_label("1 小时", exact=True).check()
    resident.page.get_by_role("button", name="提交需求").click()
    number = resident.page.locator("#follow-up-no").inner_text()
    resident.check("grids-posted")
    db.session.commit()
    request = db.session.scalar(select(ServiceRequest).where(ServiceRequest.follow_up_no == number))
    assert request is not None and request.grid_id == g.east_1.id
    assert request.requester.pending_resident

    # The party member of her micro-grid sees it at once; 周志愿 of the next one not yet.
    party = new_page("grids-party")
    _log_in(party, world.volunteer.phone)
    party.goto("/requests")
    expect(party.page.locator("#request-list")).to_contain_text("陪伴聊天")
    other = new_page("grids-other")
    _log_in(other, world.volunteer2.phone)
    other.goto("/requests")
    expect(other.page.locator("#request-list")).not_to_contain_text("陪伴聊天")

    # The grid worker meets her, verifies her and dispatches from the nearest-first list.
    worker.goto(f"/requests/{request.id}")
    worker.page.get_by_role("button", name="我已当面见过这位居民：标为已核实").click()
    expect(worker.page.locator(".flash-success")).to_be_visible()
    worker.page.get_by_role("link", name="派单名单：就近志愿者优先").click()
    expect(worker.page.locator("#candidates li").first).to_contain_text("同一微网格")
    expect(worker.page.locator("#candidates li").first).to_contain_text("党员")
    worker.check("grids-candidates")
    worker.page.locator("#candidates li").first.get_by_role("button").click()
    expect(worker.page.locator(".flash-success")).to_be_visible()

    # He accepts and, the next morning, does it; his badge shows on the task. (After the
    # time she asked for, whatever the hour the suite runs: from 01:00 Beijing time "a day
    # and six hours later" was still before 09:00 the next day.)
    clock.move(days=1, hours=6)
    early = request.wanted_at + timedelta(hours=1) - clock.now().replace(tzinfo=None)
    if early > timedelta():
        clock.move(seconds=early.total_seconds())
    party.goto(f"/requests/{request.id}")
    expect(party.page.locator(".party-badge")).to_be_visible()
    party.page.locator("main").get_by_role("button", name="同意").click()
    party.page.get_by_label("实际用时（分钟）").fill("60")
    party.page.get_by_role("button", name="标为已完成").click()
    # The accept's message is still on the page: wait for the done form to go instead.
    expect(party.page.get_by_label("实际用时（分钟）")).to_have_count(0)

    # She checks with her follow-up number and gives two stars.
    resident.goto(f"/track?number={number}&phone_tail=3333")
    resident.check("grids-track")
    resident.page.get_by_label("2 星").check()
    resident.page.get_by_role("button", name="确认服务").click()
    expect(resident.page.locator(".flash-success")).to_be_visible()
    db.session.commit()
    log = db.session.scalar(select(HourLog).where(HourLog.source == "request"))
    # Verified by the grid worker before confirming: her word credits the volunteer.
    assert log is not None and log.status == "approved"

    # The follow-up waits for the grid worker, who records the outcome.
    worker.goto("/notifications")
    expect(worker.page.locator("main")).to_contain_text("请回访并记录结果")
    worker.goto(f"/requests/{request.id}")
    expect(worker.page.locator("#followup")).to_be_visible()
    worker.check("grids-followup")
    worker.page.get_by_label("回访结果").fill("已上门了解：志愿者迟到，已提醒改进")
    worker.page.get_by_role("button", name="记录回访结果").click()
    expect(worker.page.locator(".flash-success")).to_be_visible()
    timeline = worker.page.locator(".timeline")
    for step in (
        "已发布",
        "派单",
        "已接单",
        "已完成",
        "确认并评价",
        "已转网格员回访",
        "已记录回访结果",
    ):
        expect(timeline).to_contain_text(step)

    # A request nobody takes: three days later the cron command sends it to the street office.
    db.session.commit()  # end the observer's read snapshot before writing
    left = req.post(
        world.resident,
        req.RequestFields(
            world.service.id, portal_clock.now_local() + timedelta(days=4), "2号楼", "", 60, False
        ),
    )
    db.session.commit()
    later = utcnow() + timedelta(hours=73)
    monkeypatch.setattr(portal_clock, "utc_now", lambda: later)
    monkeypatch.setattr(grid_requests, "utc_now", lambda: later)
    result = runner.invoke(args=["grids", "escalate"])
    assert "1 to coordinators, 1 to the street office" in result.output
    street = new_page("grids-street")
    _log_in(street, g.street_admin.phone)
    street.goto("/street")
    expect(street.page.locator("#escalated")).to_contain_text("陪伴聊天")
    street.check("grids-street")
    street.goto(f"/requests/{left.id}")
    expect(street.page.locator(".timeline")).to_contain_text("已上报")
