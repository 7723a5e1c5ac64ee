"""Forms shared by several pages."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import wtforms.widgets
import wtforms.widgets.core
from flask import Flask
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import HiddenField, SelectChoice
from wtforms.validators import ValidationError
from wtforms.widgets.core import clean_key

from portal import durations
from portal.memo import Memo
from portal.services import idempotency


class EmptyForm(FlaskForm):
    """A one-button POST (logout, cancel…): carries only the CSRF token."""


class OnceForm(FlaskForm):
    """A form that moves hours: carries a one-time key so a replay acts only once."""

    once = HiddenField()

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        # A fresh key for each form shown; a submission must bring back the key it was given.
        if not self.is_submitted() and not self.once.data:
            self.once.data = idempotency.new_key()


def show_error(form: FlaskForm, error: object, field: str | None) -> None:
    """Put a domain error next to its field, or at the top of the form."""
    message = getattr(error, "message", error)
    target = getattr(form, field, None) if field else None
    if target is not None and hasattr(target, "errors"):
        target.errors = [*list(target.errors), message]
    else:
        form.form_errors.append(message)


def safe_next(target: str | None, default: str) -> str:
    """Only local paths: a login link must never send an elder to another site.

    Browsers strip leading and trailing spaces and control characters and drop tabs and
    newlines anywhere in a URL, so "/<tab>/evil.example" is read as "//evil.example" — an
    off-site address. Any such character, "//", a backslash or a scheme is refused."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ch.isspace() or not ch.isprintable() for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def choices(pairs: Iterable[tuple[object, object]]) -> list[SelectChoice]:
    """(value, label) pairs as select options."""
    return [SelectChoice(value, label) for value, label in pairs]  # type: ignore[arg-type]


def parse_minutes(raw: str | None, *, meant: str | None = None) -> int:
    """Minutes typed by a person, with or without a unit ("90", "2小时", "1小时30分"); a
    bare small number raises durations.UnitQuestion unless `meant` answers it. Digits are
    ASCII or full-width only: "²" and 5,000-digit numbers are refused with a message."""
    value = durations.parse(raw, meant=meant)
    if value is None:
        raise ValidationError(_l("Enter whole minutes, such as 90."))
    return value


def minutes_or_hours(
    raw_minutes: str | None, raw_hours: str | None, *, missing: object, meant: str | None = None
) -> int:
    """Whole minutes from a `minutes` field, else from an `hours` field (1.5 → 90).
    Raises ValidationError with a message for the field; `missing` when both are empty."""
    minutes = durations.parse(raw_minutes, meant=meant)
    if minutes is not None:
        return minutes
    hours = durations.parse(raw_hours, bare="hours")
    if hours is not None:
        return hours
    raise ValidationError(missing)  # type: ignore[arg-type]


class AsksUnit:
    """A form with a minutes box that may ask "您是说 2 小时吗？": the two answer buttons
    send `meant`, with everything typed."""

    meant = HiddenField()
    unit_question: int | None = None

    def minutes_from(self, read: Callable[[str | None], int]) -> int:
        try:
            return read(self.meant.data or None)
        except durations.UnitQuestion as question:
            self.unit_question = question.number
            raise


def parse_local_datetime(raw: str | None) -> datetime:
    """A datetime-local field's value (the city's wall-clock time)."""
    value = (raw or "").strip()
    for pattern in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(value, pattern)
        except ValueError:
            continue
    raise ValidationError(_l("Enter a date and time, such as 2026-12-01 09:30."))


def _build_params(**kwargs: Any) -> Markup:
    """WTForms' `html_params`, the same text without `Markup.format` per attribute (a string
    formatter walked per call: about half of a form page's field rendering)."""
    params = []
    for key, value in sorted(kwargs.items()):
        key = clean_key(key)
        if value is True:
            params.append(str(escape(key)))
        elif value is not False:
            params.append(f'{escape(key)}="{str(escape(value)).replace(chr(34), "&quot;")}"')
    return Markup(" ".join(params))


# The attributes of an empty field are the same for every visitor: their text is kept per
# process. A field with typed data (a value) is built each time, so nobody's input stays in
# memory.
_PARAMS: Memo[tuple[tuple[str, type, object], ...], Markup] = Memo(5_000)
_PLAIN = (str, int, bool, type(None))


def _html_params(**kwargs: Any) -> Markup:
    value = kwargs.get("value")
    if (value is not None and value != "") or any(
        type(item) not in _PLAIN for item in kwargs.values()
    ):
        return _build_params(**kwargs)
    # The type too: `True` renders a bare attribute, `1` renders `="1"`, and they hash alike.
    key = tuple((name, type(item), item) for name, item in sorted(kwargs.items()))
    text = _PARAMS.get(key)
    if text is None:
        text = _PARAMS.keep(key, _build_params(**kwargs))
    return text


def init_app(_app: Flask) -> None:
    """Every widget and label renders its attributes with `_html_params` (the same markup)."""
    wtforms.widgets.core.html_params = _html_params
    wtforms.widgets.html_params = _html_params
    wtforms.widgets.core.Input.html_params = staticmethod(_html_params)
    wtforms.widgets.core.Button.html_params = staticmethod(_html_params)
