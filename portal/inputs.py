"""Where input enters: one parser for ids and numbers, one guard for text.

Every id in a path, cursor in a query string or id in a select field goes through
`parse_int`; every request's text goes through `check_text` before any view runs. So a
number too large for the database, a digit `int()` refuses, a file where text was expected
or a NUL byte PostgreSQL cannot store is refused once, here, and never reaches a query.
"""

from __future__ import annotations

import re
from datetime import date

from flask import Flask, abort, request
from werkzeug.routing import BaseConverter, ValidationError

# Ids are 32-bit INTEGER columns on PostgreSQL (SQLite's are wider): 1 .. 2^31 - 1.
MAX_ID = 2**31 - 1
# Full-width digits (０-９), which Chinese input methods type, read as ASCII digits.
FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
_ASCII_DIGITS = re.compile(r"[0-9]+")
# Control characters no form field needs; tab, newline and carriage return are kept.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def parse_int(raw: object, *, low: int = 0, high: int = MAX_ID) -> int | None:
    """`raw` as a whole number within low..high, else None.

    Only ASCII digits (after folding full-width ones): `str.isdigit()` also accepts "²" and
    other digits `int()` refuses, and a length bound keeps `int()` away from its 4,300-digit
    limit — so nothing here can raise.
    """
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str):
        text = raw.strip().translate(FULL_WIDTH)
        if not _ASCII_DIGITS.fullmatch(text) or len(text) > len(str(high)):
            return None
        value = int(text)
    else:
        return None
    return value if low <= value <= high else None


def query_id(name: str) -> int | None:
    """A cursor or id from the query string (`?before=`, `?after=`), or None."""
    return parse_int(request.args.get(name), low=1)


def form_ids(name: str) -> list[int]:
    """The ids a form sends under `name` (checkbox lists); anything else is dropped."""
    return [value for raw in request.form.getlist(name) if (value := parse_int(raw, low=1))]


def choice_id(raw: object) -> int:
    """`coerce` for a select of database ids: out of range or not a number is 0, the
    "Choose…" option, so the form answers "please choose" instead of failing."""
    return parse_int(raw) or 0


class IdConverter(BaseConverter):
    """`<int:…>` in every route: only 1..2^31-1 matches, so a larger id is a 404."""

    regex = r"[1-9][0-9]{0,9}"
    part_isolating = True

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValidationError()
        return number

    def to_url(self, value: object) -> str:
        return str(int(value))  # type: ignore[call-overload]


def has_bad_text() -> bool:
    """A file where text was expected, or a control character in any field or argument."""
    if request.files:
        return True
    values = [*request.args.values(), *request.form.values()]
    for key in (*request.args.keys(), *request.form.keys()):
        values.append(key)
    return any(_CONTROL.search(value) for value in values)


def init_app(app: Flask) -> None:
    # Replace the built-in converter, so no route can forget the bound.
    app.url_map.converters["int"] = IdConverter

    @app.before_request
    def check_text() -> None:
        # No page takes a file, and no text field may hold control characters (PostgreSQL
        # refuses NUL): refuse the request before any view reads it, so nothing changes.
        if has_bad_text():
            abort(400, description="bad-text")


def query_date(name: str) -> date | None:
    """A yyyy-mm-dd (or yyyy-mm, its first day) date from the query string, or None."""
    raw = (request.args.get(name) or "").strip().translate(FULL_WIDTH)
    if len(raw) == 7:
        raw += "-01"
    if len(raw) != 10:
        return None
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        return None
    return value if 2000 <= value.year <= 2100 else None
