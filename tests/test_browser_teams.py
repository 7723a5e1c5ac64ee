"""Teams in a real browser: an admin sets a team up, a volunteer joins, the coordinator runs
an activity with two places, attendance turns into hours and balances."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select

from portal.clock import now_local
from portal.extensions import db
from portal.models import Activity, Member, Team, TeamMembership
from portal.services import ledger
from tests.browser_fixtures import Checked
from tests.support import (
    TEST_PASSWORD,
    join,
    make_community,
    make_member,
    make_service,
    make_team,
)

pytestmark = pytest.mark.browser


def _log_in(p: Checked, phone: str) -> None:
    p.goto("/login")
    p.page.get_by_label("手机号").fill(phone)
    p.page.get_by_label("密码").fill(TEST_PASSWORD)
    p.page.locator("main").get_by_role("button", name="登录").click()
    expect(p.page.locator(".who-name")).to_be_visible()


def test_team_from_creation_to_attendance(app_ctx: Flask, new_page) -> None:  # type: ignore[no-untyped-def]
    community = make_community("幸福里")
    make_service(community, "陪伴聊天")
    admin = make_member(community, "赵管理", role="admin")
    coordinator = make_member(community, "钱协调")
    joiner = make_member(community, "孙志愿")
    second = make_member(community, "周志愿")
    third = make_member(community, "吴志愿")
    db.session.commit()

    # The admin creates a team whose attendance hours are approved at once, and appoints
    # the coordinator.
    admin_page = new_page("teams-admin")
    _log_in(admin_page, admin.phone)
    admin_page.goto("/admin")
    admin_page.check("admin")
    admin_page.page.locator("main").get_by_role("link", name="新建队伍").click()
    admin_page.check("admin-new-team")
    admin_page.page.get_by_label("队伍名称").fill("银发助老队")
    admin_page.page.get_by_label("类别").select_option("elder_care")
    admin_page.page.get_by_label("自助机登记和活动签到的时长自动审核通过").check()
    admin_page.page.locator("main").get_by_role("button", name="保存").click()
    expect(admin_page.page.locator("h1")).to_have_text("银发助老队")
    admin_page.check("admin-team")
    admin_page.page.get_by_label("新协调员的手机号").fill(coordinator.phone)
    admin_page.page.get_by_role("button", name="指定协调员").click()
    expect(admin_page.page.locator("main")).to_contain_text("钱协调")
    admin_page.check("admin-team-appointed")
    db.session.commit()  # end the observer's read snapshot: see what the browser did
    team = db.session.scalars(select(Team).where(Team.name == "银发助老队")).one()
    assert team.kiosk_auto_approve
    for member in (second, third):
        join(team, member)
    db.session.commit()

    # A volunteer asks to join; the coordinator accepts.
    volunteer = new_page("teams-volunteer")
    _log_in(volunteer, joiner.phone)
    volunteer.goto("/teams")
    volunteer.check("teams")
    volunteer.page.get_by_role("button", name="申请加入 银发助老队").click()
    expect(volunteer.page.locator("main")).to_contain_text("已申请加入")
    volunteer.check("team-after-asking")

    lead = new_page("teams-coordinator")
    _log_in(lead, coordinator.phone)
    lead.goto(f"/teams/{team.id}")
    lead.check("team-as-coordinator")
    lead.page.get_by_role("button", name="同意 孙志愿").click()
    expect(lead.page.locator("table")).to_contain_text("孙志愿")
    lead.check("team-after-accepting")

    # An activity with two places.
    lead.page.locator("main").get_by_role("link", name="新建活动").click()
    lead.check("activity-new")
    start = (now_local() + timedelta(days=1)).replace(hour=9, minute=0)
    lead.page.get_by_label("活动名称").fill("陪老人散步")
    lead.page.get_by_label("开始时间").fill(start.strftime("%Y-%m-%dT%H:%M"))
    lead.page.get_by_label("结束时间").fill(
        (start + timedelta(minutes=90)).strftime("%Y-%m-%dT%H:%M")
    )
    lead.page.get_by_label("地点").fill("社区花园")
    lead.page.get_by_label("名额（人）").fill("2")
    lead.page.get_by_label("服务项目").select_option(label="陪伴聊天")
    lead.page.locator("main").get_by_role("button", name="保存").click()
    expect(lead.page.locator("h1")).to_have_text("陪老人散步")
    lead.check("activity")
    db.session.commit()
    activity = db.session.scalars(select(Activity)).one()

    # Three try to sign up; the third is refused.
    volunteer.goto(f"/activities/{activity.id}")
    volunteer.page.get_by_role("button", name="报名").click()
    expect(volunteer.page.locator("main")).to_contain_text("您已报名")
    volunteer.check("activity-signed-up")
    other = new_page("teams-second")
    _log_in(other, second.phone)
    other.goto(f"/activities/{activity.id}")
    other.page.get_by_role("button", name="报名").click()
    expect(other.page.locator("main")).to_contain_text("您已报名")
    late = new_page("teams-third")
    _log_in(late, third.phone)
    late.goto(f"/activities/{activity.id}")
    late.page.get_by_role("button", name="报名").click()
    expect(late.page.locator(".flash-error")).to_contain_text("名额已满")
    late.check("activity-full")

    # Time passes; the coordinator marks both as attending.
    db.session.commit()
    activity.starts_at = now_local() - timedelta(hours=3)
    activity.ends_at = activity.starts_at + timedelta(minutes=90)
    db.session.commit()
    lead.goto(f"/activities/{activity.id}")
    lead.check("activity-ended")
    lead.page.get_by_label("孙志愿").check()
    lead.page.get_by_label("周志愿").check()
    lead.page.get_by_role("button", name="保存签到").click()
    expect(lead.page.locator(".flash-success")).to_contain_text("2")
    lead.check("activity-attendance")

    db.session.commit()
    assert ledger.balance_of(joiner) == 90
    assert ledger.balance_of(second) == 90
    assert ledger.balance_of(third) == 0
    volunteer.goto("/me")
    expect(volunteer.page.locator("#my-balance")).to_have_text("1 小时 30 分")
    expect(volunteer.page.locator("#balance")).to_contain_text("1 小时 30 分")
    volunteer.check("me-after-attendance")
    assert ledger.verify().ok


def test_a_long_roster_a_page_at_a_time(app_ctx: Flask, new_page, live_server) -> None:  # type: ignore[no-untyped-def]
    live_server.app.config["ROSTER_PAGE_SIZE"] = 3
    community = make_community("幸福里")
    team = make_team(community, "银发助老队")
    coordinator = make_member(community, "钱协调")
    join(team, coordinator, "coordinator")
    for i in range(5):
        join(team, make_member(community, f"队员{i}"))
    db.session.commit()

    # With JavaScript, "More" adds the next rows under the first ones, on the same page.
    lead = new_page("roster")
    _log_in(lead, coordinator.phone)
    lead.goto(f"/teams/{team.id}")
    rows = lead.page.locator("#roster-rows > tr:not(#more-roster)")
    expect(rows).to_have_count(3)
    lead.page.locator("#more-roster").get_by_role("link", name="更多").click()
    expect(rows).to_have_count(6)
    expect(lead.page.locator("#more-roster")).to_have_count(0)
    assert "after=" not in lead.page.url
    lead.check("roster-more")
    # A row of the second page acts like any other.
    row = rows.filter(has_text="队员4")
    row.get_by_text("移出", exact=True).click()
    row.get_by_role("button", name="可以").click()
    expect(lead.page.locator(".flash-success, .flash-info")).to_contain_text("已移出队伍")
    db.session.commit()  # a fresh read: the live server committed the removal
    gone = db.session.scalars(
        select(TeamMembership).join(Member).where(Member.name == "队员4")
    ).one()
    assert gone.status == "removed"

    # Without JavaScript, "More" is the next page (队员4 has left the team).
    plain = new_page("roster-no-js", js=False)
    _log_in(plain, coordinator.phone)
    plain.goto(f"/teams/{team.id}")
    plain.page.locator("#more-roster").get_by_role("link", name="更多").click()
    expect(plain.page.locator("#roster-rows > tr")).to_have_count(2)
    expect(plain.page.locator("#roster-rows")).to_contain_text("队员3")
    expect(plain.page.locator("#roster-rows")).to_contain_text("钱协调")
    assert "after=" in plain.page.url
    plain.check("roster-page-two")
