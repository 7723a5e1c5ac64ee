"""Flask-Login wiring. The session cookie names the member and their session version;
bumping the version in the database (logout, password change) ends every copy of it."""

from __future__ import annotations

from flask import Flask, jsonify, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from portal.extensions import db, login_manager
from portal.models import Member


@login_manager.user_loader
def load_member(session_id: str) -> Member | None:
    try:
        member_id, version = (int(part) for part in session_id.split(":", 1))
    except ValueError:
        return None
    member = db.session.get(Member, member_id)
    if member is None or member.session_version != version or not member.active:
        return None
    return member


@login_manager.unauthorized_handler
def unauthorized() -> Response:
    target = url_for("auth.login", next=request.full_path.rstrip("?"))
    if request.headers.get("HX-Request"):
        response = jsonify({})
        response.status_code = 401
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.session_protection = None  # the session version does this job


def current_member() -> Member:
    """The logged-in member as a real model object (services take models, not proxies)."""
    from flask_login import current_user

    return current_user._get_current_object()  # type: ignore[no-any-return]
