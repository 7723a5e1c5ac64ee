"""The public landing page and the health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from flask_login import current_user
from sqlalchemy import text
from werkzeug.wrappers import Response

from portal.auth.forms import ElderModeForm, LanguageForm
from portal.clock import today_local
from portal.extensions import db
from portal.services import figures, passbook

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> str:
    # Each community's totals this year, no personal data, kept a few minutes per worker
    # (portal/services/figures.py). A member's own community comes first.
    year = today_local().year
    stats = figures.public_figures(year)
    if current_user.is_authenticated:
        stats = sorted(stats, key=lambda row: row.community.id != current_user.community_id)
    return render_template(
        "main/index.html",
        stats=stats,
        year=year,
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


@bp.get("/verify/<token>")
def verify(token: str) -> tuple[str, int]:
    """Public: is this printed passbook page genuine? Shows no more than the page does."""
    result = passbook.verify(token[:400])
    return render_template("main/verify.html", result=result), 200 if result else 404
