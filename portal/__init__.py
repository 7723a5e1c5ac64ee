"""Neighbour Time Bank (邻里时间银行): the app factory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from portal.config import load_config

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    app.config.update(load_config())
    if config:
        app.config.update(config)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(ROOT / "translations"))
    if str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite"):
        # A pooled SQLite connection is a file handle, never dropped by a server: the
        # pre-ping (a SELECT 1 before every request's first statement) buys nothing there.
        # PostgreSQL keeps it (a restarted server leaves stale connections in the pool).
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        options["pool_pre_ping"] = False
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    proxies = int(app.config.get("PROXIES") or 0)
    if proxies:
        # Behind N proxies the client address, scheme and host come from their headers, so
        # rate limits count real clients, not the proxy. Never more than are really there:
        # a client could otherwise forge X-Forwarded-For.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )

    from portal import (
        auth_session,
        cli,
        compression,
        db_setup,
        errors,
        forms,
        htmx,
        i18n,
        inputs,
        security,
        templating,
    )
    from portal.extensions import (
        csrf,
        db,
        limit_only_where_limited,
        limiter,
        migrate,
        skip_limits_of_other_methods,
    )

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    db_setup.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    limit_only_where_limited(app)
    compression.init_app(app)
    auth_session.init_app(app)
    i18n.init_app(app)
    templating.init_app(app)
    forms.init_app(app)
    htmx.init_app(app)
    security.init_app(app)
    # Before the blueprints: their `<int:…>` routes use the bounded id converter.
    inputs.init_app(app)
    errors.init_app(app)
    cli.init_app(app)

    from portal.reports import cli as reports_cli
    from portal.services import rollups

    # The monthly rollup of approved service follows every flush that changes it.
    rollups.init_app(app)
    reports_cli.init_app(app)

    from portal.kiosk import routes as kiosk_routes

    kiosk_routes.init_app(app)

    from portal.activities.routes import bp as activities_bp
    from portal.admin.routes import bp as admin_bp
    from portal.approvals.routes import bp as approvals_bp
    from portal.auth.routes import bp as auth_bp
    from portal.callups.routes import bp as callups_bp
    from portal.clearing.routes import bp as clearing_bp
    from portal.family.routes import bp as family_bp
    from portal.grids.routes import bp as grids_bp
    from portal.hours.routes import bp as hours_bp
    from portal.kiosk.places import bp as places_bp
    from portal.kiosk.routes import bp as kiosk_bp
    from portal.main.routes import bp as main_bp
    from portal.me.routes import bp as me_bp
    from portal.members.routes import bp as members_bp
    from portal.notifications.routes import bp as notifications_bp
    from portal.pool.routes import bp as pool_bp
    from portal.reports.routes import bp as reports_bp
    from portal.requests.routes import bp as requests_bp
    from portal.teams.routes import bp as teams_bp

    for blueprint in (
        main_bp,
        auth_bp,
        me_bp,
        hours_bp,
        approvals_bp,
        teams_bp,
        activities_bp,
        admin_bp,
        notifications_bp,
        requests_bp,
        family_bp,
        members_bp,
        reports_bp,
        kiosk_bp,
        places_bp,
        callups_bp,
        grids_bp,
        clearing_bp,
        pool_bp,
    ):
        app.register_blueprint(blueprint)
    skip_limits_of_other_methods(app)
    return app
