"""The portal with three probe pages, for `benchmarks/pages.py --ratio --probes`.

    gunicorn --workers 2 --chdir benchmarks probe:app

The portal exactly as `wsgi.py` builds it (every hook, extension and setting), plus three
routes that exist only here, never in the app, so the ratio table can say how much of a
page's cost is the stack every page shares and how much is the page's own work:

- `/_probe/empty`: a 2-byte text answer through every before/after-request hook (session,
  member and session-version check when logged in, locale, input guard, security headers,
  compression);
- `/_probe/layout`: the base layout (menu, top bar with its one statement, footer) with an
  empty page in it, as every member page has;
- `/_probe/fortunes`: the floor's own page (12 rows, one added, sorted, the floor's template)
  through the portal's stack, its rows read through SQLAlchemy from the portal's database
  (`services`: id and name), instead of a kept sqlite3/psycopg connection.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from flask import render_template
from jinja2 import ChoiceLoader, DictLoader
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from floor import TEMPLATE  # noqa: E402  (benchmarks/ is the working directory)

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402

app = create_app()
assert app.jinja_loader is not None
app.jinja_loader = ChoiceLoader(
    [
        app.jinja_loader,
        DictLoader(
            {
                "probe/layout.html": '{% extends "base.html" %}{% block content %}{% endblock %}',
                "probe/fortunes.html": TEMPLATE,
            }
        ),
    ]
)
_ROWS = text("SELECT id, name FROM services ORDER BY id LIMIT 12")


@app.get("/_probe/empty")
def probe_empty() -> Any:
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}


@app.get("/_probe/layout")
def probe_layout() -> Any:
    return render_template("probe/layout.html")


@app.get("/_probe/fortunes")
def probe_fortunes() -> Any:
    rows = [(row.id, row.name) for row in db.session.execute(_ROWS)]
    rows.append((0, "Additional fortune added at request time."))
    rows.sort(key=lambda row: row[1])
    return render_template("probe/fortunes.html", fortunes=rows)
