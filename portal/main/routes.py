"""The public landing page and the health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from flask_login import current_user
from sqlalchemy import select, text
from werkzeug.wrappers import Response

from portal.auth.forms import ElderModeForm, LanguageForm
from portal.clock import today_local
from portal.extensions import db
from portal.models import Community
from portal.services import passbook, public_stats

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> str:
    # Public figures per community for this year: four grouped queries, no personal data.
    # A member's own community comes first.
    year = today_local().year
    totals = public_stats.year_totals(year)
    communities = db.session.scalars(select(Community).order_by(Community.id).limit(100)).all()
    if current_user.is_authenticated:
        communities = sorted(communities, key=lambda c: c.id != current_user.community_id)
    stats = [
        {"community": c, "year": totals.get(c.id, public_stats.YearTotals())} for c in communities
    ]
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
