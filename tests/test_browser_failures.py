"""htmx failures are visible in a real browser: with hx-boost, a 403, 404 or 429 answer or a
lost connection used to change nothing on screen, so an elder kept tapping."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import expect
from werkzeug.serving import make_server

from portal import create_app
from portal.extensions import db
from portal.models import Member
from tests.browser_fixtures import Checked, LiveServer, NewPage
from tests.support import TEST_PASSWORD, make_community, make_member

pytestmark = pytest.mark.browser

PHONE = "13700000021"


@pytest.fixture
def live_server(database_url: str, app_ctx: Flask, app: Flask) -> Iterator[LiveServer]:
    """Like the shared live server, but with the login rate limits on (in memory). Made after
    app_ctx: the one Limiter object keeps the last bound app's on/off switch."""
    live_app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "browser-test-secret",
            "RATELIMIT_STORAGE_URI": "memory://",
            "PASSWORD_HASH": app.config["PASSWORD_HASH"],
        }
    )
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", app=live_app)
    finally:
        server.shutdown()
        thread.join(timeout=5)
        with live_app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def member(app_ctx: Flask) -> Member:
    member = make_member(make_community("幸福里"), "李奶奶", phone=PHONE)
    db.session.commit()
    return member


def _log_in(p: Checked, password: str = TEST_PASSWORD) -> None:
    p.page.get_by_label("手机号").fill(PHONE)
    p.page.get_by_label("密码").fill(password)
    p.page.locator("main").get_by_role("button", name="登录").click()


def _boosted_link_to(p: Checked, path: str) -> None:
    """A link as the pages have them (boosted by the body's hx-boost), then tapped."""
    p.page.evaluate(
        """path => {
            document.getElementById('probe')?.remove();
            const a = document.createElement('a');
            a.href = path; a.id = 'probe'; a.textContent = 'probe';
            document.querySelector('main').append(a);
            htmx.process(a);
        }""",
        path,
    )
    p.page.locator("#probe").click()


def test_a_boosted_link_to_a_forbidden_or_missing_page_shows_a_message(
    new_page: NewPage, member: Member
) -> None:
    p = new_page("failures")
    p.goto("/login")
    _log_in(p)
    expect(p.page.locator("h1")).to_be_visible()
    alert = p.page.locator("#htmx-alert")
    expect(alert).to_be_hidden()
    _boosted_link_to(p, "/admin")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("没有权限")
    _boosted_link_to(p, "/no-such-page")
    expect(alert).to_contain_text("找不到")
    p.check("error-alert")


def _register_with_a_bad_phone(p: Checked) -> None:
    p.page.get_by_label("姓名").fill("林阿姨")
    p.page.get_by_label("手机号").fill("13900")
    p.page.get_by_label("密码").fill(TEST_PASSWORD)
    p.page.get_by_label("社区").select_option(label="幸福里")
    p.page.get_by_label("出生年份").fill("1958")
    p.page.get_by_role("button", name="注册账号").click()


def test_too_many_submits_of_a_boosted_form_show_how_long_to_wait(
    new_page: NewPage, member: Member
) -> None:
    p = new_page("failures")
    p.goto("/register")
    # Registration allows 10 tries an hour per address; each of these is answered in place.
    for _ in range(10):
        _register_with_a_bad_phone(p)
        expect(p.page.locator("#phone-error")).to_be_visible()
        p.settle()
    _register_with_a_bad_phone(p)
    alert = p.page.locator("#htmx-alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("分钟后再试")
    # The form is still there, with what was typed.
    expect(p.page.get_by_label("姓名")).to_have_value("林阿姨")


def test_too_many_logins_show_how_long_to_wait(new_page: NewPage, member: Member) -> None:
    """The login form is not boosted (a new session wants a whole page): the browser shows
    the error page itself."""
    p = new_page("failures")
    p.goto("/login")
    for _ in range(5):
        _log_in(p, "wrong-password")
        expect(p.page.locator("#password-error")).to_be_visible()
    _log_in(p, "wrong-password")
    expect(p.page.locator("main")).to_contain_text("请等 1 分钟后再试")


def test_a_post_without_network_says_the_connection_is_lost(
    new_page: NewPage, member: Member
) -> None:
    p = new_page("failures")
    p.goto("/register")
    p.page.context.set_offline(True)
    _register_with_a_bad_phone(p)
    alert = p.page.locator("#htmx-alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("网络断开了，请检查网络后再试")
    expect(p.page.get_by_label("姓名")).to_have_value("林阿姨")
    p.page.context.set_offline(False)
    _register_with_a_bad_phone(p)
    expect(p.page.locator("#phone-error")).to_be_visible()
    expect(alert).to_be_hidden()
