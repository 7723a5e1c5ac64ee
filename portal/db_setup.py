"""Engine settings the ledger depends on.

SQLite: foreign keys on, WAL so readers do not block the writer, a busy timeout so writers
wait their turn, and BEGIN IMMEDIATE for every transaction that may write (anything but a
GET/HEAD request), so two writers never both read a balance and then both write it.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

from portal.extensions import db

BUSY_TIMEOUT_MS = 30_000


def _is_read_only_request() -> bool:
    return has_request_context() and request.method in ("GET", "HEAD")


def configure_sqlite(engine: Engine, *, deferred: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so our BEGIN is the one used.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # `deferred` serves the test suite's single-threaded observer, which must not hold
        # the write lock while it merely reads between the requests it makes.
        plain = deferred or _is_read_only_request()
        conn.exec_driver_sql("BEGIN" if plain else "BEGIN IMMEDIATE")


def init_app(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            configure_sqlite(engine, deferred=bool(app.config.get("SQLITE_DEFERRED_BEGIN")))
