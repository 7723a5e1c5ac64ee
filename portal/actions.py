"""The shape every one-button POST shares: check the CSRF form, call one service, commit,
and redirect (303) with a message; a refusal is a 403 or a clear message, and changes
nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect
from werkzeug.wrappers import Response

from portal.extensions import db
from portal.forms import EmptyForm
from portal.services.errors import AlreadyDecided, DomainError, Forbidden


def one_button(action: Callable[[], Any], *, done: str | None, back_to: str) -> Response:
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        action()
    except Forbidden:
        db.session.rollback()
        abort(403)
    except AlreadyDecided as error:
        # A double tap or a late click: nothing more happens; say where things stand.
        db.session.rollback()
        flash(str(error.message), "info")
        return redirect(back_to, 303)
    except DomainError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return redirect(back_to, 303)
    db.session.commit()
    if done:
        flash(done, "success")
    return redirect(back_to, 303)
