"""The public landing page and the health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from flask_login import current_user
from sqlalchemy import text
from werkzeug.wrappers import Response

from portal.auth.forms import ElderModeForm, LanguageForm
from portal.extensions import db
from portal.services import figures

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> str:
    # City-wide totals, kept a few minutes per worker (portal/services/figures.py).
    stats = figures.public_figures()
    return render_template(
        "main/index.html",
        stats=stats,
        language_form=LanguageForm(),
        elder_form=ElderModeForm(),
        signed_in=current_user.is_authenticated,
    )


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any failure to reach the database means "not ready"
        db.session.rollback()
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok"), 200
