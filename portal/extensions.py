"""Extensions are created here, unbound, and bound to the app in create_app."""

from __future__ import annotations

from flask import Flask, request
from flask_babel import Babel
from flask_compress import Compress
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
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
    manager = limiter.limit_manager

    def check_where_limited() -> None:
        if (
            manager.application_limits
            or manager.default_limits
            or manager._blueprint_limits
            or limiter._meta_limits
            or limiter._storage_dead
            or manager.has_hints(request.endpoint or "")
        ):
            check()

    funcs[funcs.index(check)] = check_where_limited
