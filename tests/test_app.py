"""The foundation: pages, health, headers, languages, elder mode, configuration."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from portal.config import load_config
from portal.extensions import db
from tests.support import skip_or_fail


@pytest.mark.parametrize("path", ["/", "/login", "/register", "/healthz"])
def test_public_pages_answer(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_healthz_reports_database(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.json == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_database_unreachable(tmp_path, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x",
            # A directory cannot be opened as a database file.
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/dir/db.sqlite3",
        }
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "unreachable"


def test_chinese_is_the_default_language(client: FlaskClient) -> None:
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN"' in html
    assert "登录" in html
    assert "手机号" in html


def test_visitor_switches_to_english_and_back(client: FlaskClient) -> None:
    response = client.post("/settings/language", data={"locale": "en", "next": "/login"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/login")
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="en"' in html
    assert "Mobile number" in html
    client.post("/settings/language", data={"locale": "zh_CN"})
    assert "手机号" in client.get("/login").get_data(as_text=True)


def test_unknown_language_is_refused_and_changes_nothing(client: FlaskClient) -> None:
    # English first, so a refusal that fell back to the default would show.
    client.post("/settings/language", data={"locale": "en"})
    assert '<html lang="en"' in client.get("/").get_data(as_text=True)
    for forged in ["fr", "", "zh_CN\x00", "en" * 1000]:
        response = client.post("/settings/language", data={"locale": forged})
        assert response.status_code == 400, forged
        assert "Location" not in response.headers
    assert '<html lang="en"' in client.get("/").get_data(as_text=True)


def test_unknown_language_leaves_a_members_choice(world, login) -> None:  # type: ignore[no-untyped-def]
    from portal.extensions import db
    from portal.models import Member

    client = login(world.resident)
    assert client.post("/settings/language", data={"locale": "en"}).status_code == 303
    assert client.post("/settings/language", data={"locale": "fr"}).status_code == 400
    assert db.session.get(Member, world.resident.id).locale == "en"
    assert '<html lang="en"' in client.get("/me").get_data(as_text=True)


def test_elder_mode_for_a_visitor(client: FlaskClient) -> None:
    assert 'class="elder"' not in client.get("/").get_data(as_text=True)
    client.post("/settings/elder", data={"elder": "1"})
    assert 'class="elder"' in client.get("/").get_data(as_text=True)
    client.post("/settings/elder", data={"elder": "0"})
    assert 'class="elder"' not in client.get("/").get_data(as_text=True)


def test_security_headers(client: FlaskClient) -> None:
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "HX-Request" in response.headers["Vary"]
    assert "Strict-Transport-Security" not in response.headers


def test_production_settings(monkeypatch: pytest.MonkeyPatch, tmp_path, make_app) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    config = load_config(tmp_path)
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["SECRET_KEY"] == "from-the-environment"
    app = make_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/p.sqlite3"})
    response = app.test_client().get("/healthz")
    assert "max-age=" in response.headers["Strict-Transport-Security"]


def test_secret_key_is_generated_once_into_instance(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = load_config(tmp_path)["SECRET_KEY"]
    second = load_config(tmp_path)["SECRET_KEY"]
    assert first == second and len(first) >= 64
    assert (tmp_path / "secret_key").read_text().strip() == first


def test_database_url_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    assert load_config(tmp_path)["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"
    monkeypatch.delenv("DATABASE_URL")
    assert load_config(tmp_path)["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")


def test_unknown_page_is_a_friendly_404(client: FlaskClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "找不到" in response.get_data(as_text=True)


def test_static_assets_are_local(client: FlaskClient, app: Flask) -> None:
    html = client.get("/").get_data(as_text=True)
    assert "http://" not in html.replace("http://localhost", "")
    assert "https://" not in html
    with client.get("/static/htmx.min.js") as response:
        assert response.status_code == 200


def test_static_files_are_compressed_and_closed(client: FlaskClient) -> None:
    # filterwarnings=error turns a leaked file handle into a failure here.
    with client.get("/static/portal.css", headers={"Accept-Encoding": "gzip"}) as response:
        assert response.status_code == 200
        assert response.headers["Content-Encoding"] == "gzip"
        # Compressed to well under half (the whole first page, CSS included, must stay
        # within 50 KB: the browser suite measures that in test-artifacts/page-sizes.txt).
        raw = (Path(client.application.static_folder or "") / "portal.css").stat().st_size
        assert len(response.get_data()) < raw / 3


def test_each_member_sees_their_own_menu_whoever_came_first(world, login, client) -> None:  # type: ignore[no-untyped-def]
    """base.html keeps its menu, head and footer parts per process (templating.fragment), by
    locale and what they depend on: each member still sees their own menu, language and
    token, and a visitor the visitor's."""
    coordinator, volunteer, admin = (
        login(m) for m in (world.coordinator, world.volunteer, world.admin)
    )
    volunteer.post("/settings/language", data={"locale": "en", "next": "/me"})
    pages = {
        name: c.get("/me").get_data(as_text=True)
        for name, c in (("coordinator", coordinator), ("volunteer", volunteer), ("admin", admin))
    }
    visitor = client.get("/login").get_data(as_text=True)
    assert 'href="/approvals"' in pages["coordinator"]
    assert 'href="/approvals"' not in pages["volunteer"]
    assert 'href="/admin"' in pages["admin"] and 'href="/admin"' not in pages["coordinator"]
    assert ">Log hours<" in pages["volunteer"] and ">Log hours<" not in pages["coordinator"]
    assert world.coordinator.name in pages["coordinator"]
    assert world.coordinator.name not in pages["volunteer"]
    assert "/logout" not in visitor and 'href="/register"' in visitor
    assert 'href="/approvals"' not in visitor
    tokens = {}
    for name, html in pages.items():
        found = set(re.findall(r'name="csrf_token" value="([^"]+)"', html))
        found |= set(re.findall(r'"X-CSRFToken": "([^"]+)"', html))
        assert len(found) == 1, name  # the head, the menu and the footer carry the same token
        tokens[name] = found.pop()
    assert len(set(tokens.values())) == 3


def test_pgbouncer_transaction_mode_turns_off_prepared_statements(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Through PgBouncer in transaction mode a prepared statement may be missing, or already
    there, on the next transaction's server connection: psycopg must not prepare."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    assert "connect_args" not in load_config(tmp_path)["SQLALCHEMY_ENGINE_OPTIONS"]
    monkeypatch.setenv("PORTAL_PGBOUNCER", "transaction")
    options = load_config(tmp_path)["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["connect_args"] == {"prepare_threshold": None}
    assert options["pool_pre_ping"] is True
    monkeypatch.delenv("DATABASE_URL")  # SQLite: no such driver argument
    assert "connect_args" not in load_config(tmp_path)["SQLALCHEMY_ENGINE_OPTIONS"]


def test_pgbouncer_setting_reaches_the_driver(monkeypatch: pytest.MonkeyPatch, make_app) -> None:  # type: ignore[no-untyped-def]
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        skip_or_fail("needs PostgreSQL (DATABASE_URL)")
    monkeypatch.setenv("PORTAL_PGBOUNCER", "transaction")
    app = make_app({"TESTING": True})
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            assert raw.driver_connection.prepare_threshold is None
        finally:
            raw.close()
        assert db.session.execute(text("SELECT 1")).scalar() == 1
