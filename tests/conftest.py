"""Fixtures every test reuses.

The database is SQLite (a file in a temporary folder) unless DATABASE_URL names another,
such as PostgreSQL. The schema is built once per run by the real migrations, and every test
starts from empty tables. With PORTAL_REQUIRE_ALL=1 (set by .ci/run) a test that would be
skipped for a missing browser or database fails instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask, request_finished
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, text
from sqlalchemy.orm import ORMExecuteState, Session

from portal import create_app
from portal.extensions import db
from tests.support import ledger_unguarded, skip_or_fail

pytest_plugins = ["tests.browser_fixtures"]


def _database_url(tmp_root: Path) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url
    return f"sqlite:///{tmp_root / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = _database_url(tmp_path_factory.mktemp("db"))
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # Each run starts from an empty database.
                conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    app = create_app(_test_config(url))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    return url


def _test_config(url: str) -> dict[str, object]:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": "test-only-secret",
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        # Fast hashing in tests; production strength is asserted in test_security.
        "PASSWORD_HASH": {"time_cost": 1, "memory_cost": 1024, "parallelism": 1},
    }


def empty_all_tables(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
        tables = [t for t in reversed(db.metadata.sorted_tables)]
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                names = ", ".join(f'"{t.name}"' for t in tables)
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                # DELETE meets the ledger's append-only triggers (TRUNCATE above does not).
                with ledger_unguarded(conn):
                    for table in tables:
                        conn.execute(table.delete())


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(_test_config(database_url))
    yield app
    empty_all_tables(app)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def make_app() -> Iterator[Callable[[dict[str, object]], Flask]]:
    """`make_app(config)` → an extra app (its own settings); its connections are closed after."""
    made: list[Flask] = []

    def _make(config: dict[str, object]) -> Flask:
        made.append(create_app(config))
        return made[-1]

    yield _make
    for extra in made:
        with extra.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app_ctx(app: Flask, database_url: str) -> Iterator[Flask]:
    """The test's own view of the database: a twin app on the same database, so that each
    request made through `client` has its own app context and session, as in production,
    and reads made here always see what the requests committed."""
    twin = create_app({**_test_config(database_url), "SQLITE_DEFERRED_BEGIN": True})
    with twin.app_context():
        db.session.info["fresh_reads"] = True
        observer = db.session()

        def _forget(sender: Flask, **extra: object) -> None:
            # End the observer's transaction after each request: its next read starts a
            # new one and sees what the request committed. (Tests commit before requests.)
            observer.commit()

        request_finished.connect(_forget, app)
        yield twin
        request_finished.disconnect(_forget, app)
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()


@event.listens_for(Session, "do_orm_execute")
def _fresh_reads(state: ORMExecuteState) -> None:
    if state.is_select and state.session.info.get("fresh_reads"):
        state.update_execution_options(populate_existing=True)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


@pytest.fixture
def world(app_ctx: Flask):  # type: ignore[no-untyped-def]
    """A community with a team, its coordinator, two volunteers, a resident and an admin."""
    from tests.support import build_world

    return build_world()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The portal's clock, which the test may move: `clock.move(hours=2)`."""
    from tests.support import Clock

    return Clock(monkeypatch)


@pytest.fixture
def login(app: Flask):  # type: ignore[no-untyped-def]
    """`login(member)` → a test client logged in as that member by a real POST."""
    from tests.support import TEST_PASSWORD

    def _login(member) -> FlaskClient:  # type: ignore[no-untyped-def]
        client = app.test_client()
        response = client.post("/login", data={"phone": member.phone, "password": TEST_PASSWORD})
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        return client

    return _login


@pytest.fixture
def require_postgres(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        skip_or_fail(
            "needs PostgreSQL: set DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/test"
        )
