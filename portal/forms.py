"""Forms shared by several pages."""

from __future__ import annotations

from collections.abc import Iterable

from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectChoice

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
