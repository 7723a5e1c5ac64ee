"""Error pages in the user's language; a domain error never becomes a 500."""

from __future__ import annotations

import math
import time

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, SecurityError

from portal.extensions import db, limiter


def _wait_minutes() -> int | None:
    """Whole minutes until the limit that refused this request lets the next one through."""
    breached = limiter.current_limit
    if breached is None:
        return None
    try:
        # reset_at is rounded up by a second; take it back so a one-minute window says 1.
        seconds = breached.reset_at - 1 - time.time()
    except Exception:  # the counter store went away: say "a few minutes" instead
        return None
    return max(1, math.ceil(seconds / 60))


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError):
        return render_template("errors/error.html", code=400, kind="csrf"), 400

    @app.errorhandler(SecurityError)
    def _untrusted_host(error: SecurityError):
        # A Host outside TRUSTED_HOSTS: no URL can be built for it, so no page either.
        return "Bad Request", 400, {"Content-Type": "text/plain; charset=utf-8"}

    @app.errorhandler(429)
    def _too_many(error: HTTPException):
        wait = _wait_minutes()
        response = app.make_response(
            (render_template("errors/error.html", code=429, kind="http", wait=wait), 429)
        )
        if wait:
            response.headers["Retry-After"] = str(wait * 60)
        return response

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        kind = "input" if error.description == "bad-text" else "http"
        return render_template("errors/error.html", code=error.code, kind=kind), error.code

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error")
        return render_template("errors/error.html", code=500, kind="http"), 500

    @app.teardown_request
    def _rollback(exc: BaseException | None) -> None:
        if exc is not None:
            db.session.rollback()
