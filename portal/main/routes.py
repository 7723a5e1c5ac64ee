"""The public landing page and the health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from flask_login import current_user
from sqlalchemy import func, select, text
from werkzeug.wrappers import Response

from portal.auth.forms import ElderModeForm, LanguageForm
from portal.extensions import db
from portal.models import Community, HourLog, Member
from portal.services import passbook

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> str:
    # Public figures per community: members and approved hours (two bounded aggregates).
    members = dict(
        db.session.execute(
            select(Member.community_id, func.count(Member.id)).group_by(Member.community_id)
        ).all()
    )
    minutes = dict(
        db.session.execute(
            select(HourLog.community_id, func.sum(HourLog.minutes))
            .where(HourLog.status == "approved")
            .group_by(HourLog.community_id)
        ).all()
    )
    communities = db.session.scalars(select(Community).order_by(Community.id).limit(100)).all()
    stats = [
        {"community": c, "members": members.get(c.id, 0), "minutes": minutes.get(c.id) or 0}
        for c in communities
    ]
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


@bp.get("/verify/<token>")
def verify(token: str) -> tuple[str, int]:
    """Public: is this printed passbook page genuine? Shows no more than the page does."""
    result = passbook.verify(token[:400])
    return render_template("main/verify.html", result=result), 200 if result else 404
