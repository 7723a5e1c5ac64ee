"""How a view runs one service call: commit on success; on a refusal roll back, answer 403
for a forbidden actor, or show the rule's message — and change nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, flash, redirect
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from portal.extensions import db
from portal.forms import EmptyForm, show_error
from portal.services.errors import AlreadyDecided, DomainError, Forbidden

T = TypeVar("T")


def attempt(
    action: Callable[[], T], refused: Callable[[DomainError], None]
) -> tuple[bool, T | None]:
    """Run `action` and commit: (True, its result). A rule's refusal rolls back, is passed
    to `refused`, and gives (False, None); a forbidden actor rolls back and aborts 403."""
    try:
        result = action()
    except Forbidden:
        db.session.rollback()
        abort(403)
    except DomainError as error:
        db.session.rollback()
        refused(error)
        return False, None
    db.session.commit()
    return True, result


def submit(form: FlaskForm, action: Callable[[], T]) -> tuple[bool, T | None]:
    """`attempt` for a form: a refusal's message goes next to its field."""
    return attempt(action, lambda error: show_error(form, error.message, error.field))


def _flash_refusal(error: DomainError) -> None:
    # A double tap or a late click (AlreadyDecided) is news, not an error.
    flash(str(error.message), "info" if isinstance(error, AlreadyDecided) else "error")


def one_button(action: Callable[[], Any], *, done: str | None, back_to: str) -> Response:
    """A one-button POST: check its CSRF token, act, and redirect (303) with a message."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    ok, _result = attempt(action, _flash_refusal)
    if ok and done:
        flash(done, "success")
    return redirect(back_to, 303)
