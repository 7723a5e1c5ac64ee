"""Things others do for a member: verify them after seeing them in person; give them a
password reset code (a relative, coordinator or admin)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.actions import attempt, one_button
from portal.auth_session import current_member
from portal.extensions import db
from portal.forms import EmptyForm, safe_next
from portal.htmx import render
from portal.inputs import query_id
from portal.me.passbook import passbook_view
from portal.models import Member
from portal.services import credits, password_reset
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


SHOWN_CODE = "reset_code_shown"


def _may_issue(member_id: int) -> Member:
    member = db.get_or_404(Member, member_id)
    if not password_reset.may_issue_reset(current_member(), member):
        abort(403)
    return member


@bp.get("/reset-code")
@login_required
def find_for_reset() -> Any:
    """An admin (or anyone who may) finds the member by the number on their card; the
    next page checks that they may give this member a code."""
    number = (request.args.get("member_no") or "").strip()[:12]
    error = None
    if number:
        member_id = db.session.scalar(
            select(Member.id).where(
                Member.member_no == number, Member.community_id == current_member().community_id
            )
        )
        if member_id is not None:
            return redirect(url_for("members.reset_code", member_id=member_id), 303)
        error = _("No member has that member number.")
    return render("members/find.html", number=number, error=error), 422 if error else 200


@bp.get("/<int:member_id>/reset-code")
@login_required
def reset_code(member_id: int) -> Any:
    """The button that gives a member a reset code, and the code, shown once after it."""
    member = _may_issue(member_id)
    shown = session.pop(SHOWN_CODE, None)
    if not (isinstance(shown, dict) and shown.get("member_id") == member.id):
        shown = None
    response = current_app.make_response(
        render("members/reset_code.html", member=member, shown=shown, button=EmptyForm())
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/<int:member_id>/reset-code")
@login_required
def issue_reset_code(member_id: int) -> Response:
    if not EmptyForm().validate_on_submit():
        abort(400)
    ok, issued = attempt(
        lambda: password_reset.issue_reset_code(current_member(), member_id),
        lambda error: flash(str(error.message), "error"),
    )
    if ok and issued is not None:
        # Shown once, on the next page only (only the hash is stored), like a kiosk's
        # enrolment link.
        session[SHOWN_CODE] = {
            "member_id": member_id,
            "code": f"{issued.code[:4]} {issued.code[4:]}",
            "until": issued.expires_at.strftime("%H:%M"),
        }
    return redirect(url_for("members.reset_code", member_id=member_id), 303)
