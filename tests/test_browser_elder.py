"""A 75-year-old's phone (issue 9): 320 px wide, 长辈版, big targets, read aloud."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from playwright.sync_api import expect

from portal.clock import now_local
from portal.extensions import db
from portal.models import Member
from portal.services import requests as req
from tests.browser_fixtures import Checked, NewPage, logged_in
from tests.support import World, build_world, log_hours

pytestmark = pytest.mark.browser

# Pages of the roles × routes matrix a member opens, by who opens them.
RESIDENT_PAGES = [
    "/me",
    "/me/statement",
    "/requests",
    "/requests/new",
    "/requests/{request}",
    "/requests/{done}",
    "/hours",
    "/hours/new",
    "/teams",
    "/gift",
    "/notifications",
    "/me/settings",
]
COORDINATOR_PAGES = [
    "/me",
    "/approvals",
    "/teams/{team}",
    "/requests?view=dispatch",
    "/requests/{request}",
    "/teams/{team}/activities/new",
]

# What a finger taps: buttons, fields, menus and links that stand alone (a link inside a
# sentence is exempt, as in WCAG 2.2's target-size rule).
TARGETS = """() => {
  const out = [];
  const seen = el => { const s = getComputedStyle(el); const r = el.getBoundingClientRect();
    return s.visibility !== 'hidden' && s.display !== 'none' && r.width > 0 && r.height > 0; };
  document.querySelectorAll(
    'button, a.button, input:not([type=hidden]), select, textarea, summary, nav a, ' +
    '.tabs a, label.check'
  ).forEach(el => {
    if (!seen(el) || el.closest('.skip')) return;
    if (el.matches('input[type=checkbox], input[type=radio]')) {
      const label = el.closest('label') || document.querySelector('label[for="' + el.id + '"]');
      const box = (label && seen(label) ? label : el).getBoundingClientRect();
      out.push([el.outerHTML.slice(0, 80), Math.round(box.width), Math.round(box.height)]);
      return;
    }
    const r = el.getBoundingClientRect();
    out.push([el.outerHTML.slice(0, 80), Math.round(r.width), Math.round(r.height)]);
  });
  return out;
}"""


def _world() -> tuple[World, dict[str, int]]:
    world = build_world()
    log_hours(world.volunteer, world.team, world.service, 45)
    request = req.post(
        world.resident,
        req.RequestFields(world.service.id, now_local() + timedelta(hours=3), "家", "", 60, False),
    )
    done = req.post(
        world.resident,
        req.RequestFields(
            world.service.id, now_local() - timedelta(minutes=9), "家", "", 60, False
        ),
    )
    req.take(world.volunteer, done.id)
    req.mark_done(world.volunteer, done.id, 60)
    db.session.commit()
    return world, {"request": request.id, "team": world.team.id, "done": done.id}


def _small_targets(p: Checked, least: int) -> list[str]:
    small = []
    for html, width, height in p.page.evaluate(TARGETS):
        if min(width, height) < least:
            small.append(f"{width}×{height} {html}")
    return small


def _set_elder(member: Member, on: bool) -> None:
    member.elder_mode = on
    db.session.commit()


@pytest.mark.parametrize("elder", [False, True], ids=["standard", "elder"])
def test_every_target_is_big_enough_and_nothing_scrolls_sideways_at_320(
    new_page: NewPage, app_ctx: Flask, elder: bool
) -> None:
    world, ids = _world()
    least = 60 if elder else 48
    problems: list[str] = []
    for member, pages in ((world.resident, RESIDENT_PAGES), (world.coordinator, COORDINATOR_PAGES)):
        _set_elder(member, elder)
        p = logged_in(new_page, member, f"targets-{'elder' if elder else 'standard'}")
        p.page.set_viewport_size({"width": 320, "height": 640})
        for template in pages:
            path = template.format(**ids)
            p.goto(path)
            width = p.page.evaluate("document.documentElement.scrollWidth")
            if width > 320:
                problems.append(f"{path} scrolls sideways: {width}px")
            problems += [f"{path}: {t}" for t in _small_targets(p, least)]
    assert not problems, "\n".join(problems)


def test_in_elder_mode_the_heading_and_main_action_come_first(
    new_page: NewPage, app_ctx: Flask
) -> None:
    world, ids = _world()
    _set_elder(world.resident, True)
    p = logged_in(new_page, world.resident, "first-screen")
    p.page.set_viewport_size({"width": 320, "height": 640})
    for path in (
        "/me",
        "/hours/new",
        "/requests/new",
        f"/requests/{ids['request']}",
        "/me/statement",
    ):
        p.goto(path)
        heading = p.page.locator("main h1").bounding_box()
        assert heading is not None and heading["y"] + heading["height"] <= 200, (path, heading)
    p.goto("/me")
    action = p.page.locator(".lead-actions .button").first.bounding_box()
    assert action is not None and action["y"] < 200, action
    # The menu waits behind one button, and opens without a script.
    expect(p.page.get_by_role("link", name="队伍")).to_be_hidden()
    p.page.get_by_text("菜单").click()
    expect(p.page.get_by_role("link", name="队伍")).to_be_visible()
    p.check("first-screen-menu-open")


SPOKEN = """() => {
  window.spoken = [];
  window.speechSynthesis.speak = u => window.spoken.push({text: u.text, lang: u.lang});
}"""


def test_read_aloud_speaks_the_page_and_each_line(new_page: NewPage, app_ctx: Flask) -> None:
    from portal.services import hours

    world, _ids = _world()
    _set_elder(world.volunteer, True)
    pending = log_hours(world.volunteer, world.team, world.service, 90, days_ago=2)
    hours.approve_log(world.coordinator, pending.id)
    db.session.commit()
    p = logged_in(new_page, world.volunteer, "read-aloud")
    p.page.evaluate(SPOKEN)
    p.goto("/me/statement")
    p.page.evaluate(SPOKEN)
    p.page.locator("main > button.read-aloud").click()
    spoken = p.page.evaluate("window.spoken")
    assert len(spoken) == 1 and spoken[0]["lang"] == "zh-CN"
    assert "明细" in spoken[0]["text"] and "陪伴聊天" in spoken[0]["text"]
    assert "朗读" not in spoken[0]["text"]  # the buttons themselves are not read
    p.page.evaluate("window.speechSynthesis.cancel()")
    p.page.locator("#statement-rows tr").first.get_by_role("button", name="朗读").click()
    line = p.page.evaluate("window.spoken")[-1]["text"]
    assert "陪伴聊天" in line and "1 小时 30 分" in line and "明细" not in line
    p.check("statement-read-aloud")


def test_back_then_a_different_log_keeps_the_second(new_page: NewPage, app_ctx: Flask) -> None:
    from sqlalchemy import select

    from portal.models import HourLog

    world = build_world()
    p = logged_in(new_page, world.volunteer, "back-then-submit")
    page = p.page
    p.goto("/hours/new")
    page.get_by_label("分钟").fill("60")
    page.get_by_label("队伍").select_option(label=world.team.name)
    page.get_by_label("服务项目").select_option(index=1)
    page.get_by_role("button", name="提交审核").click()
    expect(page.locator(".flashes")).to_contain_text("已提交")
    page.go_back()
    expect(page.get_by_label("分钟")).to_be_visible()
    page.get_by_label("分钟").fill("25")
    page.get_by_label("队伍").select_option(label=world.team.name)
    page.get_by_label("服务项目").select_option(index=1)
    page.get_by_role("button", name="提交审核").click()
    expect(page.locator(".error-box")).to_contain_text("之前已经提交过一次")
    expect(page.get_by_label("分钟")).to_have_value("25")
    page.get_by_role("button", name="提交审核").click()
    expect(page.locator(".flashes")).to_contain_text("已提交")
    db.session.rollback()
    minutes = sorted(db.session.scalars(select(HourLog.minutes)))
    assert minutes == [25, 60]
    p.check("back-then-submit")


ROW_HEIGHTS = "rows => rows.map(r => Math.round(r.getBoundingClientRect().height))"
BADGE = """el => ({font: parseFloat(getComputedStyle(el).fontSize),
              height: Math.round(el.getBoundingClientRect().height)})"""


@pytest.mark.parametrize("elder", [False, True], ids=["standard", "elder"])
def test_queue_rows_stay_short_and_the_unread_badge_stays_big(
    new_page: NewPage, app_ctx: Flask, elder: bool
) -> None:
    """At 360 px a coordinator reads the queue at a glance: each row (name, team, service,
    date, time, a note, its age, approve and the folded reject) at most 150 px tall; the
    unread badge is at least 18 px (22 px in 长辈版)."""
    from portal.models import Notification

    world = build_world()
    for n in range(3):
        log_hours(
            world.volunteer,
            world.team,
            world.service,
            60 + 15 * n,
            days_ago=n + 1,
            note="陪李奶奶聊天，帮她买菜",
        )
    for _ in range(2):
        db.session.add(
            Notification(member_id=world.coordinator.id, kind="join_accepted", params="{}")
        )
    _set_elder(world.coordinator, elder)
    p = logged_in(new_page, world.coordinator, f"queue-{'elder' if elder else 'standard'}")
    p.page.set_viewport_size({"width": 360, "height": 800})
    p.goto("/approvals")
    heights = p.page.locator(".queue-row").evaluate_all(ROW_HEIGHTS)
    assert len(heights) == 3 and max(heights) <= 150, heights
    badge = p.page.locator(".elder-menu summary .badge" if elder else ".mainnav .badge").first
    expect(badge).to_be_visible()
    size = badge.evaluate(BADGE)
    least = 22 if elder else 18
    assert size["font"] >= least and size["height"] >= least, size
    p.check(f"approvals-360-{'elder' if elder else 'standard'}")
