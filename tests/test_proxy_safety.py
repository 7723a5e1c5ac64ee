"""Safe behind a reverse proxy and on shared computers: trusted hosts, ProxyFix, device
cookies against lock-out, no-store on private pages, idle sessions, htmx history restore."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal import clock, device_cookie
from portal.extensions import db
from portal.models import Member
from portal.services import teams
from tests.support import TEST_PASSWORD, join, make_community, make_member, make_team


@pytest.fixture
def members(app_ctx: Flask) -> tuple[Member, Member]:
    community = make_community()
    elder = make_member(community, "李奶奶", phone="13700000011")
    other = make_member(community, "赵爷爷", phone="13700000012")
    db.session.commit()
    return elder, other


@pytest.fixture
def limited_app(
    app_ctx: Flask, database_url: str, make_app: Callable[[dict[str, object]], Flask]
) -> Flask:
    """An app with rate limiting on (in memory) and one trusted proxy in front. Made after
    the test apps (app_ctx): the one Limiter object keeps the last bound app's on/off switch."""
    return make_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "k",
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_STORAGE_URI": "memory://",
            "PROXIES": 1,
            "PASSWORD_HASH": {"time_cost": 1, "memory_cost": 1024, "parallelism": 1},
        }
    )


def _post_login(client: FlaskClient, phone: str, password: str, via: str = "203.0.113.9"):  # type: ignore[no-untyped-def]
    # Every client comes through the same proxy (127.0.0.1); X-Forwarded-For names the client.
    return client.post(
        "/login",
        data={"phone": phone, "password": password},
        headers={"X-Forwarded-For": via},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )


def test_an_attacker_cannot_lock_out_the_owner_who_has_a_device_cookie(
    limited_app: Flask, members: tuple[Member, Member]
) -> None:
    elder, _ = members
    owner = limited_app.test_client()
    assert _post_login(owner, elder.phone, TEST_PASSWORD).status_code == 303
    owner.post("/logout")
    # A stranger at the same address (the same proxy, the same home router) guesses 20 times.
    attacker = limited_app.test_client()
    statuses = [_post_login(attacker, elder.phone, f"guess-{i}").status_code for i in range(20)]
    assert statuses[:5] == [422] * 5
    assert statuses[5:] == [429] * 15
    # The elder's own phone still gets in.
    assert _post_login(owner, elder.phone, TEST_PASSWORD).status_code == 303


def test_an_unknown_browser_is_told_in_chinese_how_long_to_wait(
    limited_app: Flask, members: tuple[Member, Member]
) -> None:
    elder, _ = members
    attacker = limited_app.test_client()
    for i in range(5):
        assert _post_login(attacker, elder.phone, f"guess-{i}").status_code == 422
    # Even the right password from an unknown browser waits now: that is the price of not
    # letting anyone lock out the owner's own phone.
    blocked = _post_login(limited_app.test_client(), elder.phone, TEST_PASSWORD, via="198.51.100.7")
    assert blocked.status_code == 429
    html = blocked.get_data(as_text=True)
    assert "尝试次数太多" in html and "请等 1 分钟后再试" in html, html
    assert blocked.headers["Retry-After"] == "60"  # the one-minute window


def test_the_device_cookie_of_one_account_does_not_help_another(
    limited_app: Flask, members: tuple[Member, Member]
) -> None:
    elder, other = members
    browser = limited_app.test_client()
    assert _post_login(browser, elder.phone, TEST_PASSWORD).status_code == 303
    browser.post("/logout")
    attacker = limited_app.test_client()
    for i in range(5):
        _post_login(attacker, other.phone, f"guess-{i}")
    # Known for the elder, unknown for 赵爷爷: limited like any stranger.
    assert _post_login(browser, other.phone, TEST_PASSWORD).status_code == 429


def test_a_forged_device_cookie_counts_as_unknown(
    limited_app: Flask, members: tuple[Member, Member]
) -> None:
    elder, _ = members
    attacker = limited_app.test_client()
    for i in range(5):
        _post_login(attacker, elder.phone, f"guess-{i}")
    forger = limited_app.test_client()
    from itsdangerous import URLSafeSerializer

    for value in (
        URLSafeSerializer("not-the-key", salt="device-cookie").dumps([[elder.phone, "x"]]),
        "garbage",
    ):
        forger.set_cookie(device_cookie.COOKIE, value)
        assert _post_login(forger, elder.phone, TEST_PASSWORD).status_code == 429


def test_a_device_cookie_alone_is_locked_after_its_own_failures(
    limited_app: Flask, members: tuple[Member, Member]
) -> None:
    elder, _ = members
    stolen_phone = limited_app.test_client()
    assert _post_login(stolen_phone, elder.phone, TEST_PASSWORD).status_code == 303
    stolen_phone.post("/logout")
    for i in range(5):
        assert _post_login(stolen_phone, elder.phone, f"guess-{i}").status_code == 422
    assert _post_login(stolen_phone, elder.phone, TEST_PASSWORD).status_code == 429
    # That browser's failures did not touch the budget of other browsers.
    assert _post_login(limited_app.test_client(), elder.phone, TEST_PASSWORD).status_code == 303


def test_the_device_cookie_is_long_lived_httponly_and_lax(
    client: FlaskClient, members: tuple[Member, Member]
) -> None:
    elder, _ = members
    response = client.post("/login", data={"phone": elder.phone, "password": TEST_PASSWORD})
    cookie = next(
        c for c in response.headers.getlist("Set-Cookie") if c.startswith(device_cookie.COOKIE)
    )
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=34560000" in cookie


def test_per_address_limits_count_the_real_client_behind_the_proxy(
    limited_app: Flask, members: tuple[Member, Member]
) -> None:
    """One machine trying many numbers is stopped by its own address, not the proxy's."""
    scanner = limited_app.test_client()
    codes = [
        _post_login(scanner, f"1380000{i:04d}", "guess-guess", via="192.0.2.1").status_code
        for i in range(31)
    ]
    assert codes[:30] == [422] * 30 and codes[30] == 429
    # Someone else behind the same proxy is not counted with the scanner.
    assert _post_login(limited_app.test_client(), "13811112222", "x" * 9).status_code == 422


def test_a_forged_host_is_refused_when_trusted_hosts_are_set(
    database_url: str, make_app: Callable[[dict[str, object]], Flask]
) -> None:
    app = make_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "k",
            "TRUSTED_HOSTS": ["bank.example"],
        }
    )
    client = app.test_client()
    assert client.get("/me", headers={"Host": "evil.example"}).status_code == 400
    ok = client.get("/me", headers={"Host": "bank.example"})
    assert ok.status_code == 302 and "evil" not in ok.headers["Location"]


def test_trusted_hosts_and_proxies_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from portal.config import load_config

    monkeypatch.setenv("PORTAL_TRUSTED_HOSTS", "a.example, b.example")
    monkeypatch.setenv("PORTAL_PROXIES", "1")
    config = load_config()
    assert config["TRUSTED_HOSTS"] == ["a.example", "b.example"]
    assert config["PROXIES"] == 1
    monkeypatch.delenv("PORTAL_TRUSTED_HOSTS")
    monkeypatch.delenv("PORTAL_PROXIES")
    assert load_config()["TRUSTED_HOSTS"] is None and load_config()["PROXIES"] == 0


def test_private_pages_and_fragments_are_never_cached(
    client: FlaskClient, login: Callable, members: tuple[Member, Member]
) -> None:
    for path in ("/login", "/register"):
        assert client.get(path).headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/static/portal.css").headers.get("Cache-Control", "")
    member = login(members[0])
    for headers in ({}, {"HX-Request": "true"}, {"HX-Request": "true", "HX-Boosted": "true"}):
        for path in ("/me", "/hours", "/me/statement", "/nowhere"):
            response = member.get(path, headers=headers)
            assert response.headers["Cache-Control"] == "no-store", (path, headers)
    assert "no-store" not in member.get("/static/portal.css").headers.get("Cache-Control", "")


def _age(monkeypatch: pytest.MonkeyPatch, seconds: int) -> None:
    now = clock.epoch_seconds()
    monkeypatch.setattr(clock, "epoch_seconds", lambda: now + seconds)


def test_a_member_session_ends_after_30_idle_days_with_a_message(
    login: Callable, members: tuple[Member, Member], monkeypatch: pytest.MonkeyPatch
) -> None:
    member = login(members[0])
    _age(monkeypatch, 29 * 86400)
    assert member.get("/me").status_code == 200  # still in, and the clock restarts
    _age(monkeypatch, 29 * 86400 + 30 * 86400 + 60)
    response = member.get("/me")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    page = member.get(response.headers["Location"]).get_data(as_text=True)
    assert "为了安全，您已自动退出，请重新登录" in page
    assert member.get("/me").status_code == 302


def test_a_coordinator_session_ends_after_12_idle_hours(
    app_ctx: Flask, login: Callable, members: tuple[Member, Member], monkeypatch: pytest.MonkeyPatch
) -> None:
    elder, other = members
    team = make_team(db.session.get(Member, other.id).community)
    join(team, db.session.get(Member, other.id), role="coordinator")
    db.session.commit()
    assert teams.coordinated_team_ids(other) == [team.id]
    coordinator, plain = login(other), login(elder)
    _age(monkeypatch, 13 * 3600)
    assert plain.get("/me").status_code == 200
    response = coordinator.get("/me", headers={"HX-Request": "true"})
    assert response.status_code == 401 and "/login" in response.headers["HX-Redirect"]


def test_the_seen_time_is_not_rewritten_on_every_click(
    login: Callable, members: tuple[Member, Member], monkeypatch: pytest.MonkeyPatch
) -> None:
    member = login(members[0])
    member.get("/me")  # the first page adds its CSRF token to the session
    _age(monkeypatch, 60)
    assert "Set-Cookie" not in member.get("/me").headers
    _age(monkeypatch, 600)
    assert "session=" in member.get("/me").headers.get("Set-Cookie", "")


def test_a_history_restore_gets_the_whole_page(
    login: Callable, members: tuple[Member, Member]
) -> None:
    member = login(members[0])
    fragment = member.get("/hours", headers={"HX-Request": "true"})
    restore = member.get(
        "/hours", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in restore.get_data(as_text=True)
    assert "HX-History-Restore-Request" in restore.headers["Vary"]
    assert fragment.status_code == 200


def test_an_htmx_request_after_logout_in_another_tab_is_sent_to_login(
    app: Flask, login: Callable, members: tuple[Member, Member]
) -> None:
    first_tab = login(members[0])
    cookie = first_tab.get_cookie("session")
    assert cookie is not None
    other_tab = app.test_client()
    other_tab.set_cookie("session", cookie.value)
    assert other_tab.post("/logout").status_code == 303
    response = first_tab.get("/hours", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login?next=")


def test_showing_the_login_form_is_never_limited_but_failed_logins_still_are(
    limited_app: Flask, members: tuple[Member, Member]
) -> None:
    """GET /login skips Flask-Limiter (its limits are all for POST): showing the form 40 times
    a minute is fine, and the failed POSTs after it are limited as before."""
    client = limited_app.test_client()
    shown = [
        client.get("/login", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code
        for _ in range(40)
    ]
    assert shown == [200] * 40
    codes = [
        _post_login(client, f"1380000{i:04d}", "guess-guess", via="192.0.2.7").status_code
        for i in range(31)
    ]
    assert codes[:30] == [422] * 30 and codes[30] == 429


def test_only_the_limiters_own_wrappers_are_skipped(limited_app: Flask) -> None:
    """The kiosk keypad's limiter sits under `device_required` (which copies the limiter's
    marker): its route keeps the device check, and a GET without a device is still refused."""
    from portal.kiosk.routes import pin

    assert limited_app.view_functions["kiosk.pin"] is pin
    assert limited_app.view_functions["auth.login"].__wrapped__ is not None  # type: ignore[attr-defined]
    response = limited_app.test_client().get("/kiosk/pin")
    assert response.status_code in (302, 303, 403)
