"""Register, log in, log out, change password — and every bad input gets a clear message."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, Member
from tests.support import TEST_PASSWORD, make_community, make_member


@pytest.fixture
def community_id(app_ctx: Flask) -> int:
    community = make_community("幸福里")
    db.session.commit()
    return community.id


def _register(client: FlaskClient, community_id: int, **overrides: object):  # type: ignore[no-untyped-def]
    data = {
        "name": "王阿姨",
        "phone": "13912345678",
        "password": "long-enough-pw",
        "community": community_id,
        "birth_year": 1956,
    }
    data.update(overrides)
    return client.post("/register", data=data)


def _members() -> int:
    return db.session.scalar(select(func.count(Member.id)))


def test_register_logs_the_new_member_in(client: FlaskClient, community_id: int) -> None:
    response = _register(client, community_id, phone="139 1234 5678")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/me")
    member = db.session.scalar(select(Member).where(Member.phone == "13912345678"))
    assert member is not None and member.name == "王阿姨"
    assert member.password_hash.startswith("$argon2id$")
    assert len(member.member_no) == 8
    page = client.get("/me").get_data(as_text=True)
    assert "王阿姨" in page


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": ""}, "name", "请填写姓名"),
        ({"phone": "12345"}, "phone", "11 位"),
        ({"phone": "23912345678"}, "phone", "11 位"),
        ({"password": "short"}, "password", "至少 8"),
        ({"community": 0}, "community", "请选择"),
        ({"community": 999}, "community", "请选择"),
        ({"birth_year": "abc"}, "birth_year", "出生年份"),
        ({"birth_year": 1850}, "birth_year", "出生年份"),
        ({"birth_year": 2999}, "birth_year", "出生年份"),
    ],
)
def test_register_bad_input_is_explained_next_to_the_field(
    client: FlaskClient, community_id: int, overrides: dict, field: str, message: str
) -> None:
    response = _register(client, community_id, **overrides)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html
    error = html.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
    assert message in error, error
    assert _members() == 0


def test_register_duplicate_phone(client: FlaskClient, community_id: int) -> None:
    assert _register(client, community_id).status_code == 303
    other = client.application.test_client()
    response = _register(other, community_id, name="另一个人")
    assert response.status_code == 422
    assert "已注册" in response.get_data(as_text=True)
    assert _members() == 1


def test_register_errors_in_english(client: FlaskClient, community_id: int) -> None:
    client.post("/settings/language", data={"locale": "en"})
    html = _register(client, community_id, phone="1").get_data(as_text=True)
    assert "Enter an 11-digit mainland mobile number" in html


@pytest.fixture
def member(app_ctx: Flask) -> Member:
    community = make_community()
    member = make_member(community, "张三", phone="13700000001")
    db.session.commit()
    return member


def test_login_and_logout(client: FlaskClient, member: Member) -> None:
    response = client.post("/login", data={"phone": member.phone, "password": TEST_PASSWORD})
    assert response.status_code == 303
    assert client.get("/me").status_code == 200
    assert client.post("/logout").status_code == 303
    assert client.get("/me").status_code == 302


def test_login_redirects_to_a_local_next_only(client: FlaskClient, member: Member) -> None:
    data = {"phone": member.phone, "password": TEST_PASSWORD}
    response = client.post("/login?next=/hours", data=data)
    assert response.headers["Location"] == "/hours"
    client.post("/logout")
    response = client.post("/login?next=//evil.example/x", data=data)
    assert response.headers["Location"] == "/me"


@pytest.mark.parametrize(
    ("phone", "password"), [("13700000001", "wrong-password"), ("13700009999", TEST_PASSWORD)]
)
def test_login_failure_does_not_say_which_part_was_wrong(
    client: FlaskClient, member: Member, phone: str, password: str
) -> None:
    response = client.post("/login", data={"phone": phone, "password": password})
    assert response.status_code == 422
    assert "手机号或密码不对" in response.get_data(as_text=True)
    assert client.get("/me").status_code == 302


def test_login_empty_fields(client: FlaskClient, member: Member) -> None:
    html = client.post("/login", data={}).get_data(as_text=True)
    assert 'id="phone-error"' in html and 'id="password-error"' in html


def test_a_copied_cookie_stops_working_after_logout(
    app: Flask, client: FlaskClient, member: Member
) -> None:
    client.post("/login", data={"phone": member.phone, "password": TEST_PASSWORD})
    cookie = client.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    assert thief.get("/me").status_code == 200
    client.post("/logout")
    assert thief.get("/me").status_code == 302


def test_login_starts_a_new_session(app: Flask, client: FlaskClient, member: Member) -> None:
    client.post("/settings/language", data={"locale": "en"})
    before = client.get_cookie("session")
    client.post("/login", data={"phone": member.phone, "password": TEST_PASSWORD})
    after = client.get_cookie("session")
    assert before is not None and after is not None and before.value != after.value
    assert "_user_id" in after.value or after.value  # signed; content differs


def test_change_password(client: FlaskClient, member: Member, app: Flask) -> None:
    client.post("/login", data={"phone": member.phone, "password": TEST_PASSWORD})
    other_device = app.test_client()
    other_device.post("/login", data={"phone": member.phone, "password": TEST_PASSWORD})
    bad = client.post(
        "/me/settings", data={"current_password": "nope-nope", "new_password": "new-secret-1"}
    )
    assert bad.status_code == 422
    assert "当前密码不对" in bad.get_data(as_text=True)
    short = client.post(
        "/me/settings", data={"current_password": TEST_PASSWORD, "new_password": "short"}
    )
    assert short.status_code == 422
    ok = client.post(
        "/me/settings", data={"current_password": TEST_PASSWORD, "new_password": "new-secret-1"}
    )
    assert ok.status_code == 303
    assert client.get("/me").status_code == 200  # this browser stays signed in
    assert other_device.get("/me").status_code == 302  # other sessions end
    client.post("/logout")
    assert (
        client.post("/login", data={"phone": member.phone, "password": "new-secret-1"}).status_code
        == 303
    )
    assert (
        db.session.scalar(
            select(func.count(AuditEvent.id)).where(AuditEvent.action == "member.password_change")
        )
        == 1
    )


def test_member_language_choice_is_remembered(
    client: FlaskClient, member: Member, app: Flask
) -> None:
    client.post("/login", data={"phone": member.phone, "password": TEST_PASSWORD})
    client.post("/settings/language", data={"locale": "en"})
    client.post("/settings/elder", data={"elder": "1"})
    fresh = app.test_client()
    html = fresh.post(
        "/login", data={"phone": member.phone, "password": TEST_PASSWORD}, follow_redirects=True
    ).get_data(as_text=True)
    assert '<html lang="en" class="elder"' in html


def test_csrf_is_required_on_every_post(database_url: str, member: Member, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "k",
            "RATELIMIT_ENABLED": False,
        }
    )
    client = app.test_client()
    response = client.post("/login", data={"phone": member.phone, "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert "页面已过期" in response.get_data(as_text=True)
    assert client.post("/logout").status_code == 400
    assert client.post("/register", data={"name": "x"}).status_code == 400
    assert client.post("/settings/language", data={"locale": "en"}).status_code == 400
    assert client.post("/settings/elder", data={"elder": "1"}).status_code == 400


def _csrf_login(app: Flask, member: Member) -> FlaskClient:
    """Log in through the real form, token and all."""
    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert token, "no CSRF token on the login page"
    response = client.post(
        "/login",
        data={"phone": member.phone, "password": TEST_PASSWORD, "csrf_token": token.group(1)},
    )
    assert response.status_code == 303
    return client


def test_csrf_is_required_on_every_post_route_of_the_matrix(
    database_url: str, app_ctx: Flask, make_app
) -> None:  # type: ignore[no-untyped-def]
    """Every POST of the roles × routes matrix, sent without a token by a role that may do it
    (so it would change something): 400, and nothing changed."""
    from tests.test_matrix import CASES, ROLES, _build, _snapshot

    app = make_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "k",
            "RATELIMIT_ENABLED": False,
            "PASSWORD_HASH": {"time_cost": 1, "memory_cost": 1024, "parallelism": 1},
        }
    )
    world, ids, data = _build()
    members = {
        "member": world.resident,
        "volunteer": world.volunteer,
        "other_coordinator": world.other_coordinator,
        "coordinator": world.coordinator,
        "other_admin": world.other_admin,
        "admin": world.admin,
        **ids["grid_people"],  # type: ignore[dict-item]
    }
    clients = {role: _csrf_login(app, m) for role, m in members.items()}
    posts = [(path, expected) for method, path, expected in CASES if method == "POST"]
    assert len(posts) > 30
    for path, expected in posts:
        role = next(
            (r for r in ROLES if expected[r] in (303, 422) and r not in ("visitor", "kiosk")),
            "admin",
        )
        before = _snapshot()
        response = clients[role].post(path.format(**ids), data=data)
        assert response.status_code == 400, f"{role}: POST {path} gave {response.status_code}"
        assert _snapshot() == before, f"{role}: POST {path} without a token changed data"


def test_make_admin_command(runner, member: Member) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["make-admin", member.phone])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(Member, member.id).role == "admin"
    assert runner.invoke(args=["make-admin", "13000000000"]).exit_code == 1


def test_production_password_hash_meets_owasp() -> None:
    from portal.config import load_config

    params = load_config()["PASSWORD_HASH"]
    # OWASP: argon2id with at least 19 MiB memory and 2 iterations.
    assert params["memory_cost"] >= 19 * 1024 and params["time_cost"] >= 2
