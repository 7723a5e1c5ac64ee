"""Things coordinators and admins do to a member: verify them after seeing them in person."""

from __future__ import annotations

from flask import Blueprint, abort, request
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.wrappers import Response

from portal.actions import one_button
from portal.auth_session import current_member
from portal.extensions import db
from portal.forms import safe_next
from portal.inputs import query_id
from portal.me.passbook import passbook_view
from portal.models import Member
from portal.services import credits
from portal.services import passbook as passbook_service

bp = Blueprint("members", __name__, url_prefix="/members")


@bp.post("/<int:member_id>/verify")
@login_required
def verify(member_id: int) -> Response:
    return one_button(
        lambda: credits.verify_member(current_member(), member_id),
        done=_("Verified. Their confirmations now credit hours directly."),
        back_to=safe_next(request.form.get("next"), "/"),
    )


@bp.get("/<int:member_id>/passbook")
@login_required
def passbook(member_id: int) -> str:
    """A coordinator or admin prints the passbook of a member who has no phone."""
    member = db.get_or_404(Member, member_id)
    if not passbook_service.may_print_for(current_member(), member):
        abort(403)
    return passbook_view(member, query_id("before"))
