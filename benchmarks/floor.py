"""The floor: a bare Flask + Jinja "Fortunes" page, as in the TechEmpower benchmark.

    FLOOR_DATABASE=/tmp/floor.sqlite3 gunicorn --workers 2 --chdir benchmarks floor:app
    FLOOR_DATABASE=postgresql://postgres@127.0.0.1/bench \
        gunicorn --workers 2 --chdir benchmarks floor:app

GET /fortunes reads the 12 fortunes from the database (sqlite3, or psycopg for PostgreSQL,
one connection kept per worker), adds one at request time, sorts them by message and renders
an HTML table through an autoescaping Jinja template (compiled once, like a template file).
No ORM, no session, no CSRF, no translations, no compression: what the framework itself
costs for a page with a query and a template. `benchmarks/pages.py --ratio` serves it next
to the portal and divides.

On PostgreSQL the table lives in its own schema (`floor.fortune`), so the portal's tables and
migrations are not touched.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from flask import Flask, render_template

FORTUNES = [
    "fortune: No such file or directory",
    "A computer scientist is someone who fixes things that aren't broken.",
    "After enough decimal places, nobody gives a damn.",
    "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1",
    "A computer program does what you tell it to do, not what you want it to do.",
    "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen",
    "Any program that runs right is obsolete.",
    "A list is only as strong as its weakest link. — Donald Knuth",
    "Feature: A bug with seniority.",
    "Computers make very fast, very accurate mistakes.",
    '<script>alert("This should not be displayed in a browser alert box.");</script>',
    "フレームワークのベンチマーク",
]

TEMPLATE = """<!DOCTYPE html>
<html><head><title>Fortunes</title></head>
<body><table><tr><th>id</th><th>message</th></tr>
{% for id, message in fortunes %}<tr><td>{{ id }}</td><td>{{ message }}</td></tr>
{% endfor %}</table></body></html>"""

DATABASE = os.environ.get("FLOOR_DATABASE", "/tmp/floor.sqlite3")
POSTGRES = DATABASE.startswith("postgresql")
TABLE = "floor.fortune" if POSTGRES else "fortune"

_connection: Any = None


def _connect() -> Any:
    if POSTGRES:
        import psycopg

        url = DATABASE.replace("postgresql+psycopg://", "postgresql://")
        # Through PgBouncer in transaction mode, as the portal (portal/config.py): unprepared.
        bouncer = os.environ.get("PORTAL_PGBOUNCER") == "transaction"
        return psycopg.connect(url, autocommit=True, prepare_threshold=None if bouncer else 5)
    return sqlite3.connect(DATABASE, check_same_thread=False)


def _create() -> None:
    conn = _connect()
    try:
        if POSTGRES:
            # Each gunicorn worker imports this module: on a new database two of them would
            # race to create the schema (IF NOT EXISTS does not stop the unique violation).
            conn.execute("SELECT pg_advisory_lock(7214)")
            conn.execute("CREATE SCHEMA IF NOT EXISTS floor")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id integer PRIMARY KEY, message text)")
        if not conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]:
            placeholder = "%s" if POSTGRES else "?"
            for i, message in enumerate(FORTUNES, start=1):
                conn.execute(
                    f"INSERT INTO {TABLE} VALUES ({placeholder}, {placeholder}) "
                    "ON CONFLICT DO NOTHING",
                    (i, message),
                )
        if not POSTGRES:
            conn.commit()
    finally:
        conn.close()  # (the advisory lock goes with the session)


def connection() -> Any:
    """One connection per worker process, opened on its first request (after the fork)."""
    global _connection
    if _connection is None:
        _connection = _connect()
    return _connection


app = Flask(__name__)
_create()
_template = app.jinja_env.from_string(TEMPLATE)


@app.get("/fortunes")
def fortunes() -> str:
    rows = list(connection().execute(f"SELECT id, message FROM {TABLE}").fetchall())
    rows.append((0, "Additional fortune added at request time."))
    rows.sort(key=lambda row: row[1])
    return render_template(_template, fortunes=rows)
