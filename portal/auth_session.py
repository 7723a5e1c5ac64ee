"""Flask-Login wiring. The session cookie names the member and their session version;
bumping the version in the database (logout, password change) ends every copy of it."""

from __future__ import annotations

from flask import Flask, current_app, flash, jsonify, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, logout_user
from sqlalchemy import bindparam, select
from werkzeug.wrappers import Response

from portal import clock
from portal.extensions import db, login_manager
from portal.models import Member

# The last-seen time in the signed session is rewritten at most this often, so an ordinary
# click does not send a new cookie (and parallel htmx requests do not race to set it).
SEEN_REFRESH_SECONDS = 300
SEEN_KEY = "seen"

# The signed-in member, with their community (joined, as the relationship says): one statement
# built once. `session.get` built the same SELECT and its cache key anew on every request.
_MEMBER_BY_ID = select(Member).where(Member.id == bindparam("member_id"))


@login_manager.user_loader
def load_member(session_id: str) -> Member | None:
    try:
        member_id, version = (int(part) for part in session_id.split(":", 1))
    except ValueError:
        return None
    member = db.session.execute(_MEMBER_BY_ID, {"member_id": member_id}).scalar_one_or_none()
    if member is None or member.session_version != version or not member.active:
        return None
    return member


def _to_login() -> Response:
    target = url_for("auth.login", next=request.full_path.rstrip("?"))
    if request.headers.get("HX-Request"):
        response = jsonify({})
        response.status_code = 401
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


@login_manager.unauthorized_handler
def unauthorized() -> Response:
    return _to_login()


def _idle_limit(member: Member, idle: int) -> bool:
    """True when `idle` seconds is past this member's limit: coordinators and admins, who can
    approve hours and see others' data, end sooner than members on their own phone."""
    config = current_app.config
    if idle > config["IDLE_MEMBER_SECONDS"]:
        return True
    if idle <= config["IDLE_STAFF_SECONDS"]:
        return False
    from portal.services.teams import coordinated_team_ids

    return member.is_admin or bool(coordinated_team_ids(member))


def mark_seen() -> None:
    session[SEEN_KEY] = clock.epoch_seconds()


def end_idle_session() -> Response | None:
    """Before each request: end a session idle too long, and tell the person why."""
    if request.endpoint == "static" or not current_user.is_authenticated:
        return None
    now = clock.epoch_seconds()
    seen = session.get(SEEN_KEY)
    if not isinstance(seen, int):
        mark_seen()  # a session from before this check existed starts counting now
        return None
    if _idle_limit(current_user._get_current_object(), now - seen):
        kept = {key: session[key] for key in ("locale", "elder_mode") if key in session}
        logout_user()
        session.clear()
        session.update(kept)
        flash(_("For your safety you were logged out after a long pause. Please log in again."))
        return _to_login()
    if now - seen >= SEEN_REFRESH_SECONDS:
        mark_seen()
    return None


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.session_protection = None  # the session version does this job
    app.before_request(end_idle_session)


def current_member() -> Member:
    """The logged-in member as a real model object (services take models, not proxies)."""
    from flask_login import current_user

    return current_user._get_current_object()  # type: ignore[no-any-return]
