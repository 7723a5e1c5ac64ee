"""The one place a view runs a service call: claim the form's one-time key, act, commit.

On success it commits; on a refusal it rolls back, answers 403 for a forbidden actor, or
hands the rule's message back to the view — and nothing changes. A constraint the database
enforces (a unique key, a CHECK, a value too long for its column) is a refusal too, whether
it fires at flush or at commit: never a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask import abort, flash, redirect
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy.exc import DataError, IntegrityError
from werkzeug.wrappers import Response

from portal.auth_session import current_member
from portal.extensions import db
from portal.forms import EmptyForm, OnceForm, show_error
from portal.services import idempotency
from portal.services.errors import AlreadyDecided, DomainError, Forbidden, KeyReused

T = TypeVar("T")

# What the database refused is not the person's fault, nor something to explain in detail.
NOT_SAVED = _l(
    "This could not be saved: it does not fit what is already recorded. "
    "Nothing was changed. Please check and try again."
)


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What became of one attempt: `ok` with the service's `result`, or the `error`."""

    ok: bool
    result: T | None = None
    error: DomainError | None = None


def run(action: Callable[[], T]) -> Outcome[T]:
    """Run `action`, flush and commit. A refusal — a rule's, or the database's at flush or
    commit — rolls back and comes back as the outcome's error; a forbidden actor aborts 403."""
    try:
        result = action()
        db.session.flush()
        db.session.commit()
    except Forbidden:
        db.session.rollback()
        abort(403)
    except DomainError as error:
        db.session.rollback()
        return Outcome(False, error=error)
    except (IntegrityError, DataError):
        db.session.rollback()
        return Outcome(False, error=DomainError(NOT_SAVED))
    return Outcome(True, result=result)


def attempt(
    action: Callable[[], T], refused: Callable[[DomainError], None]
) -> tuple[bool, T | None]:
    """`run`, passing a refusal to `refused`: (True, result) or (False, None)."""
    outcome = run(action)
    if outcome.error is not None:
        refused(outcome.error)
    return outcome.ok, outcome.result


def submit(form: FlaskForm, action: Callable[[], T]) -> tuple[bool, T | None]:
    """`attempt` for a form: a refusal's message goes next to its field."""
    return attempt(action, lambda error: show_error(form, error.message, error.field))


@dataclass(frozen=True)
class Done(Generic[T]):
    """A form that moves hours was handled: `url` is where its answer lives. `replayed`
    when the same form had been submitted before (then `result` is None)."""

    url: str
    result: T | None
    replayed: bool


def run_once(
    form: OnceForm,
    action: Callable[[], T],
    *,
    answer: Callable[[T], str],
    before: Callable[[], None] | None = None,
) -> Outcome[Done[T]]:
    """`run` for a form with a one-time key: the first submission acts and records its
    answer's URL (`answer(result)`); a replay acts not again and gets the first URL.
    `before` runs ahead of the claim (a permission check that must 403 even on a replay)."""

    def once() -> Done[T]:
        if before is not None:
            before()
        earlier = idempotency.claim(form.once.data, current_member(), idempotency.digest(form.data))
        if earlier is not None:
            return Done(earlier.result_url, None, True)
        result = action()
        url = answer(result)
        idempotency.remember_result(form.once.data, url)
        return Done(url, result, False)

    return run(once)


def submit_once(
    form: OnceForm, action: Callable[[], T], *, answer: Callable[[T], str]
) -> Done[T] | None:
    """`run_once` for a form shown again on a refusal: the message goes next to its field
    and None comes back; else what was done (or replayed)."""
    outcome = run_once(form, action, answer=answer)
    if outcome.error is not None:
        if isinstance(outcome.error, KeyReused):
            # Shown again with what was typed and a fresh key: one tap sends it.
            form.once.data = idempotency.new_key()
        show_error(form, outcome.error.message, outcome.error.field)
        return None
    return outcome.result


def flash_refusal(error: DomainError) -> None:
    # A double tap or a late click (AlreadyDecided) is news, not an error.
    flash(str(error.message), "info" if isinstance(error, AlreadyDecided) else "error")


def one_button(action: Callable[[], Any], *, done: str | None, back_to: str) -> Response:
    """A one-button POST: check its CSRF token, act, and redirect (303) with a message."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    ok, _result = attempt(action, flash_refusal)
    if ok and done:
        flash(done, "success")
    return redirect(back_to, 303)


def run_read(action: Callable[[], T]) -> Outcome[T]:
    """`run` for a page view (GET) that writes a line of its own — the grid register's
    audit line — and then shows what it read: the commit leaves what this transaction
    loaded as it is, instead of expiring it, so rendering does not load the page's grid
    and the logged-in member again (two statements a view). What was read is what this
    very transaction saw, so nothing shown is staler than without the write."""
    session = db.session()
    session.expire_on_commit = False
    try:
        return run(action)
    finally:
        session.expire_on_commit = True


def run_apart(action: Callable[[], T]) -> Outcome[T]:
    """`run` in a transaction of its own, for a page view (GET) that must write — a call-up's
    escalation found due while showing it. The view's reads so far are ended first, so on
    SQLite the action's first statement (a conditional UPDATE) takes the write lock without
    meeting a stale read snapshot; then it commits like any `run`."""
    db.session.commit()
    return run(action)
