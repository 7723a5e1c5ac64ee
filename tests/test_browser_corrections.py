"""A correction in a real browser: an admin opens an approved record from the member's
mistake, must give a reason, corrects the minutes in one step, and the volunteer sees the
correction — with who and why — on the statement."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import HourLog
from portal.services import hours, ledger
from tests.browser_fixtures import NewPage
from tests.support import build_world, log_hours
from tests.test_browser_hours import _logged_in

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("js", [True, False], ids=["htmx", "no-js"])
def test_admin_corrects_a_record_from_its_page(new_page: NewPage, app_ctx: Flask, js: bool) -> None:
    world = build_world()
    log = log_hours(world.volunteer, world.team, world.service, minutes=120)
    hours.approve_log(world.coordinator, log.id)
    db.session.commit()

    admin = _logged_in(new_page, world.admin, f"correct-{js}", js=js)
    page = admin.page
    admin.goto(f"/hours/{log.id}")
    expect(page.locator("dl.facts")).to_contain_text("钱协调")  # who approved it
    admin.check("log-page")

    # No reason: the form says so next to the field and nothing changes.
    page.get_by_label("正确的分钟数（可不填）").fill("60")
    page.get_by_role("button", name="更正这条记录").click()
    expect(page.locator(".field.has-error")).to_contain_text("请填写冲正原因")
    admin.check("log-page-no-reason")

    page.get_by_label("更正原因").fill("实际服务一小时")
    page.get_by_role("button", name="更正这条记录").click()
    expect(page).to_have_url(re.compile(rf"/hours/{log.id}$"))
    expect(page.locator(".flashes")).to_contain_text("记录已更正")
    expect(page.locator(".status").first).to_have_text("已更正")
    expect(page.locator("dl.facts")).to_contain_text("实际服务一小时")
    admin.check("log-page-corrected")

    volunteer = _logged_in(new_page, world.volunteer, f"corrected-volunteer-{js}", js=js)
    volunteer.goto("/me/statement")
    newest = volunteer.page.locator("#statement-rows tr").first
    expect(newest).to_contain_text("更正人 赵管理，原因：实际服务一小时")
    expect(newest.locator("td.num").first).to_have_text("-2 小时")
    volunteer.check("statement-corrected")

    db.session.rollback()  # end the observer's read snapshot: see what the server committed
    assert db.session.get(HourLog, log.id).status == "reversed"
    assert ledger.balance_of(world.volunteer) == 60
