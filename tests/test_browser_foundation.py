"""The foundation in a real browser: register, log out, log in, language, elder mode, errors,
small screens — with JavaScript on (htmx boosts every link and form) and off."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect

from portal.extensions import db
from tests.browser_fixtures import Checked, NewPage
from tests.support import TEST_PASSWORD, build_world, log_hours, make_community

pytestmark = pytest.mark.browser

NEW_PHONE = "13900001111"
NEW_NAME = "林阿姨"


def _community(app_ctx: Flask) -> None:
    make_community("幸福里")
    db.session.commit()


def _url(p: Checked, path: str) -> re.Pattern[str]:
    return re.compile(re.escape(p.live.url + path) + r"(\?.*)?$")


def _font_px(page: Any, selector: str = "body") -> float:
    size = page.evaluate(f"getComputedStyle(document.querySelector('{selector}')).fontSize")
    return float(size.removesuffix("px"))


def _register(p: Checked, *, phone: str = NEW_PHONE, name: str = NEW_NAME) -> None:
    page = p.page
    page.get_by_label("姓名").fill(name)
    page.get_by_label("手机号").fill(phone)
    page.get_by_label("密码").fill(TEST_PASSWORD)
    page.get_by_label("社区").select_option(label="幸福里")
    page.get_by_label("出生年份").fill("1958")
    page.get_by_role("button", name="注册账号").click()


def _log_in(p: Checked, phone: str) -> None:
    page = p.page
    page.get_by_label("手机号").fill(phone)
    page.get_by_label("密码").fill(TEST_PASSWORD)
    page.locator("main").get_by_role("button", name="登录").click()


def _expect_error_next_to_phone(p: Checked) -> None:
    """The page comes back with the message beside the phone field, tied to it for screen
    readers, and what was typed kept (except the password)."""
    page = p.page
    phone = page.get_by_label("手机号")
    error = page.locator("#phone-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("11 位")
    expect(phone).to_have_attribute("aria-invalid", "true")
    expect(phone).to_have_attribute("aria-describedby", "phone-error")
    expect(phone).to_have_value("13900")
    expect(page.get_by_label("姓名")).to_have_value(NEW_NAME)
    expect(page.get_by_label("密码")).to_have_value("")
    field, message = phone.bounding_box(), error.bounding_box()
    assert field and message
    gap = message["y"] - (field["y"] + field["height"])
    assert 0 <= gap < 24, f"the message is {gap}px away from the field"


def _register_log_out_log_in(p: Checked) -> None:
    page = p.page
    p.goto("/")
    p.check("home")
    page.locator("main").get_by_role("link", name="注册").click()
    expect(page).to_have_url(_url(p, "/register"))
    p.check("register")

    _register(p, phone="13900")
    _expect_error_next_to_phone(p)
    p.check("register-error")
    p.screenshot("register-error")

    _register(p)
    expect(page).to_have_url(_url(p, "/me"))
    expect(page.locator(".who-name")).to_have_text(NEW_NAME)
    expect(page.locator("h1")).to_have_text("我的账户")
    # Born 1958: the new member starts in 长辈版, the menu behind one big button.
    expect(page.locator("html")).to_have_class("elder")
    p.check("me-after-register")

    expect(page.get_by_role("button", name="退出登录")).to_be_hidden()
    page.get_by_text("菜单").click()
    page.get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(_url(p, "/"))
    expect(page.locator(".who-name")).to_have_count(0)
    expect(page.get_by_role("button", name="退出登录")).to_have_count(0)
    p.check("home-after-logout")

    # This browser stays in 长辈版 after logging out: the menu is behind its button.
    expect(page.locator("html")).to_have_class("elder")
    page.get_by_text("菜单").click()
    page.locator("nav").get_by_role("link", name="登录").click()
    expect(page).to_have_url(_url(p, "/login"))
    p.check("login")
    _log_in(p, NEW_PHONE)
    expect(page).to_have_url(_url(p, "/me"))
    expect(page.locator(".who-name")).to_have_text(NEW_NAME)
    p.check("me-after-login")


def test_register_after_a_mistake_log_out_log_in_and_switch_language(
    new_page: NewPage, app_ctx: Flask
) -> None:
    _community(app_ctx)
    p = new_page("visitor")
    page = p.page
    _register_log_out_log_in(p)
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

    page.locator("footer").get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("My account")
    page.get_by_text("Menu").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    p.check("me-english")

    page.locator("footer").get_by_role("button", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_have_text("我的账户")
    p.check("me-chinese-again")


def test_the_same_without_javascript(new_page: NewPage, app_ctx: Flask) -> None:
    _community(app_ctx)
    p = new_page("nojs", js=False)
    _register_log_out_log_in(p)


def test_elder_mode_makes_text_larger(new_page: NewPage, app_ctx: Flask) -> None:
    _community(app_ctx)
    p = new_page("elder")
    page = p.page
    p.goto("/")
    assert _font_px(page) >= 18
    expect(page.locator("html")).not_to_have_class("elder")
    p.check("home")

    page.locator("footer").get_by_role("button", name="长辈版").click()
    expect(page.locator("html")).to_have_class("elder")
    assert _font_px(page) >= 22
    for control in page.locator("main .button, main button").all():
        box = control.bounding_box()
        assert box and box["height"] >= 60 and box["width"] >= 60, (control.inner_text(), box)
    p.check("home-elder")

    for path in ("/register", "/login"):
        p.goto(path)
        expect(page.locator("html")).to_have_class("elder")
        assert _font_px(page) >= 22
        p.check(f"{path.strip('/')}-elder")

    page.locator("footer").get_by_role("button", name="标准字号").click()
    expect(page.locator("html")).not_to_have_class("elder")
    assert 18 <= _font_px(page) < 22
    p.check("login-standard")


def _elder_mode_on(p: Checked) -> None:
    p.page.locator("footer").get_by_role("button", name="长辈版").click()
    expect(p.page.locator("html")).to_have_class("elder")
    p.settle()


def test_screenshots_at_360px(new_page: NewPage, app_ctx: Flask) -> None:
    """Each main page as an elder's phone shows it (normal and 长辈版), first visit each: the
    transfer recorded is HTML + CSS + JavaScript from an empty cache."""
    from portal.services import hours

    world = build_world()
    done = log_hours(world.volunteer, world.team, world.service, minutes=90, note="陪李奶奶聊天")
    hours.approve_log(world.coordinator, done.id)
    log_hours(world.volunteer, world.team, world.service, minutes=45)
    log_hours(world.volunteer2, world.team, world.service, minutes=120, note="买菜送上门")
    db.session.commit()

    visitor = new_page("shots")
    for label, path in (("home", "/"), ("register", "/register"), ("login", "/login")):
        visitor.goto(path, cold=True)
        visitor.check(label)
        visitor.screenshot(label)
    _elder_mode_on(visitor)
    visitor.goto("/", cold=True)
    visitor.check("home-elder")
    visitor.screenshot("home-elder")

    volunteer = new_page("shots")
    volunteer.goto("/login")
    _log_in(volunteer, world.volunteer.phone)
    expect(volunteer.page.locator("#my-balance")).to_have_text("1 小时 30 分")
    for label, path in (("me", "/me"), ("hours-new", "/hours/new"), ("statement", "/me/statement")):
        volunteer.goto(path, cold=True)
        volunteer.check(label)
        volunteer.screenshot(label)
    _elder_mode_on(volunteer)
    volunteer.goto("/me", cold=True)
    assert _font_px(volunteer.page) >= 22
    volunteer.check("me-elder")
    volunteer.screenshot("me-elder")
    volunteer.goto("/me/statement")
    volunteer.check("statement-elder")
    volunteer.screenshot("statement-elder")

    coordinator = new_page("shots")
    coordinator.goto("/login")
    _log_in(coordinator, world.coordinator.phone)
    coordinator.goto("/approvals", cold=True)
    expect(coordinator.page.locator("#pending-count")).to_have_text("2 条待审核")
    coordinator.check("approvals")
    coordinator.screenshot("approvals")
