"""/reports/clearing: each community's net position between communities (通存通兑), for
the city admin (every community) and street-office admins (their office's)."""

from __future__ import annotations

from flask import Blueprint, abort
from flask_login import login_required

from portal.auth_session import current_member
from portal.htmx import render
from portal.services import clearing

bp = Blueprint("clearing", __name__)


@bp.get("/reports/clearing")
@login_required
def index() -> str:
    me = current_member()
    if not clearing.may_see(me):
        abort(403)
    return render("clearing/index.html", positions=clearing.positions_for(me))
