"""Extensions are created here, unbound, and bound to the app in create_app."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, request
from flask_babel import Babel
from flask_compress import Compress
from flask_limiter import Limiter
from flask_limiter import _limits as flask_limiter_limits
from flask_limiter.util import get_qualified_name, get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names, so migrations can name what they alter or drop.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
compress = Compress()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def client_address() -> str:
    return get_remote_address() or request.remote_addr or "unknown"


def limit_only_where_limited(app: Flask) -> None:
    """Flask-Limiter checks every request before it reaches its view (route-resolving,
    exemption scopes, its request context: ~0.1 ms) even when nothing could apply. Our limits
    are all on views (`@limiter.limit`, `@limiter.shared_limit`), which check themselves when
    called; the before-request check only adds application, default, blueprint and meta
    limits, and the limits a decorated helper left as a hint on the endpoint. It now runs
    only when one of those exists, so configuring one later still takes effect."""
    check = limiter._check_request_limit
    funcs = app.before_request_funcs.setdefault(None, [])
    if check not in funcs:
        return

    def check_where_limited() -> None:
        if _limits_beyond_views():
            check()

    funcs[funcs.index(check)] = check_where_limited


def _limits_beyond_views() -> bool:
    """Whether a limit other than the views' own decorators could apply to this request."""
    manager = limiter.limit_manager
    return bool(
        manager.application_limits
        or manager.default_limits
        or manager._blueprint_limits
        or limiter._meta_limits
        or limiter._storage_dead
        or manager.has_hints(request.endpoint or "")
    )


_LIMITER_MARK = "__wrapper-limiter-instance"  # what Flask-Limiter sets on its view wrappers


def _is_limiter_wrapper(view: Callable[..., Any]) -> bool:
    """A Flask-Limiter decorator's own wrapper. The mark alone does not say so: any decorator
    above it (`functools.wraps` copies `__dict__`, e.g. the kiosk's `device_required`)
    carries the mark too, and must never be skipped."""
    code = getattr(view, "__code__", None)
    return (
        getattr(view, _LIMITER_MARK, None) == limiter
        and code is not None
        and code.co_name == "__inner"
        and code.co_filename == flask_limiter_limits.__file__
    )


def skip_limits_of_other_methods(app: Flask) -> None:
    """A view whose limits all name their methods (`methods=["POST"]`: the login, register
    and forgotten-password forms) had Flask-Limiter resolve and filter its limits on every GET
    too (~0.1 ms), to find that none applies. For a method none of them names, the view is
    now called directly — unless some other limit could apply (see
    `limit_only_where_limited`), when the decorated view checks as before. Only where the
    route's view is the limiter's own wrapper: one under another decorator is left as it is.
    Call after the blueprints are registered."""
    manager = limiter.limit_manager
    for endpoint, view in list(app.view_functions.items()):
        if not _is_limiter_wrapper(view):
            continue
        raw = view
        while _is_limiter_wrapper(raw):
            raw = raw.__wrapped__  # type: ignore[attr-defined]
        groups = list(manager._decorated_limits.get(get_qualified_name(raw), ()))
        if not groups or any(not group.methods for group in groups):
            continue
        methods = frozenset(method for group in groups for method in group.methods)
        app.view_functions[endpoint] = _limited_for(view, raw, methods, app)


def _limited_for(
    view: Callable[..., Any], raw: Callable[..., Any], methods: frozenset[str], app: Flask
) -> Callable[..., Any]:
    unlimited = app.ensure_sync(raw)

    # Named as the view (Flask-Limiter finds exemptions and limits by the qualified name).
    @wraps(view)
    def view_or_limited(*args: Any, **kwargs: Any) -> Any:
        if request.method.lower() in methods or _limits_beyond_views():
            return view(*args, **kwargs)
        return unlimited(*args, **kwargs)

    return view_or_limited
