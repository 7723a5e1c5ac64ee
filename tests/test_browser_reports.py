"""Reports and the passbook in a real browser: a coordinator narrows the reports to a team
and a month and downloads a table; a member prints the passbook (Chromium's PDF of the
print view) and its QR link says the page is genuine. Screenshots at 360 px and A4 go to
docs/screenshots/reports/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import expect

from portal.clock import today_local
from portal.extensions import db
from portal.services import hours
from tests.browser_fixtures import ROOT, Checked, NewPage
from tests.browser_fixtures import logged_in as _logged_in
from tests.support import World, build_world, log_hours, make_member

pytestmark = pytest.mark.browser

SHOTS = ROOT / "docs" / "screenshots" / "reports"
A4 = {"width": 794, "height": 1123}  # A4 at 96 dpi


def _shot(p: Checked, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    p.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _a_year_of_service(world: World) -> None:
    world.community.log_window_days = 366
    for n in range(12):
        team = world.team if n % 3 else world.other_team
        approver = world.coordinator if team is world.team else world.other_coordinator
        log = log_hours(
            world.volunteer, team, world.service, 60 + 15 * (n % 4), days_ago=1 + n * 25
        )
        hours.approve_log(approver, log.id)
    for age in (58, 66, 74, 86):
        make_member(world.community, f"居民{age}", age=age)
    db.session.commit()


def test_a_coordinator_filters_by_team_and_month_and_downloads_csv(
    new_page: NewPage, app_ctx: Flask, tmp_path: Path
) -> None:
    world = build_world()
    _a_year_of_service(world)

    p = _logged_in(new_page, world.coordinator, "coordinator")
    p.goto("/reports")
    expect(p.page.get_by_role("heading", name="每月服务时长")).to_be_visible()
    expect(p.page.locator("svg.chart").first).to_be_visible()
    p.check("reports")
    _shot(p, "reports-coordinator-360")

    month = today_local().strftime("%Y-%m")
    p.page.evaluate("window.stillSamePage = true")
    p.page.get_by_label("队伍", exact=True).select_option(label=world.team.name)
    p.settle()
    p.page.get_by_label("月份", exact=True).select_option(month)
    expect(p.page.locator(".report-range")).to_contain_text(f"{month}-01")
    assert p.page.evaluate("window.stillSamePage === true"), "htmx swapped the report in place"
    expect(p.page).to_have_url(re.compile(rf"month={month}"))
    p.check("reports-filtered")

    with p.page.expect_download() as download:
        p.page.get_by_role("link", name="下载 CSV 表格").first.click()
    path = tmp_path / "team_months.csv"
    download.value.save_as(path)
    text = path.read_bytes().decode("utf-8")
    assert text.startswith("\ufeffteam,")
    assert world.team.name in text and "巡逻队" not in text
    assert f"{month} minutes" in text


def test_a_member_prints_the_passbook_and_its_code_verifies(
    new_page: NewPage, app_ctx: Flask, tmp_path: Path
) -> None:
    world = build_world()
    _a_year_of_service(world)
    p = _logged_in(new_page, world.volunteer, "member")
    p.goto("/me/statement")
    p.page.get_by_role("link", name="打印存折").click()
    expect(p.page.get_by_role("heading", name=re.compile("邻里时间银行存折"))).to_be_visible()
    p.check("passbook")
    _shot(p, "passbook-360")

    p.page.set_viewport_size(A4)
    p.page.emulate_media(media="print")
    expect(p.page.locator(".topbar")).to_be_hidden()
    _shot(p, "passbook-a4-print")
    pdf = p.page.pdf(format="A4", print_background=True)
    assert pdf.startswith(b"%PDF")
    (tmp_path / "passbook.pdf").write_bytes(pdf)
    p.page.emulate_media(media="screen")
    p.page.set_viewport_size({"width": 360, "height": 800})

    link = p.page.locator(".passbook-check a").first.get_attribute("href")
    assert link and link.startswith("/verify/")
    # The QR code encodes the same address, absolute.
    visitor = new_page("visitor")
    visitor.goto(link)
    expect(visitor.page.locator(".verify-verdict")).to_contain_text("真实有效")
    visitor.check("verify")
    _shot(visitor, "verify-genuine-360")
    visitor.goto(link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB"))
    expect(visitor.page.locator(".verify-verdict")).to_contain_text("不是真实存折页")


def test_the_admin_sees_the_liability_first(new_page: NewPage, app_ctx: Flask) -> None:
    world = build_world()
    _a_year_of_service(world)
    p = _logged_in(new_page, world.admin, "admin")
    p.goto("/reports")
    expect(p.page.locator("h2").first).to_have_text("待兑付的存储时长")
    p.check("reports-admin")
    _shot(p, "reports-admin-360")
    p.page.set_viewport_size(A4)
    _shot(p, "reports-admin-a4")
