"""Things coordinators and admins do to a member: verify them after seeing them in person."""

from __future__ import annotations

from flask import Blueprint, request
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.wrappers import Response

from portal.actions import one_button
from portal.auth_session import current_member
from portal.forms import safe_next
from portal.services import credits

bp = Blueprint("members", __name__, url_prefix="/members")


@bp.post("/<int:member_id>/verify")
@login_required
def verify(member_id: int) -> Response:
    return one_button(
        lambda: credits.verify_member(current_member(), member_id),
        done=_("Verified. Their confirmations now credit hours directly."),
        back_to=safe_next(request.form.get("next"), "/"),
    )
