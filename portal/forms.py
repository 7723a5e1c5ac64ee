"""Forms shared by several pages."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectChoice
from wtforms.validators import ValidationError

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
    """Only local paths: a login link must never send an elder to another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def choices(pairs: Iterable[tuple[object, object]]) -> list[SelectChoice]:
    """(value, label) pairs as select options."""
    return [SelectChoice(value, label) for value, label in pairs]  # type: ignore[arg-type]


def minutes_or_hours(raw_minutes: str | None, raw_hours: str | None, *, missing: object) -> int:
    """Whole minutes from a `minutes` field, else from an `hours` field (1.5 → 90).
    Raises ValidationError with a message for the field; `missing` when both are empty."""
    minutes = (raw_minutes or "").strip()
    hours = (raw_hours or "").strip()
    if minutes:
        if not minutes.isdigit():
            raise ValidationError(_l("Enter whole minutes, such as 90."))
        return int(minutes)
    if hours:
        try:
            value = Decimal(hours)
        except InvalidOperation as exc:
            raise ValidationError(_l("Enter hours as a number, such as 1.5.")) from exc
        if not value.is_finite() or value <= 0:
            raise ValidationError(_l("Enter hours as a number, such as 1.5."))
        return int((value * 60).to_integral_value())
    raise ValidationError(missing)  # type: ignore[arg-type]


def parse_local_datetime(raw: str | None) -> datetime:
    """A datetime-local field's value (the city's wall-clock time)."""
    value = (raw or "").strip()
    for pattern in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(value, pattern)
        except ValueError:
            continue
    raise ValidationError(_l("Enter a date and time, such as 2026-12-01 09:30."))
