"""An activity's page: sign up, cancel, change it, mark attendance."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.wrappers import Response

from portal.actions import one_button, submit
from portal.auth_session import current_member
from portal.clock import now_local
from portal.extensions import db
from portal.forms import EmptyForm
from portal.htmx import render
from portal.inputs import form_ids
from portal.models import Activity
from portal.services import activities, teams
from portal.teams.forms import ActivityForm
from portal.teams.routes import activity_fields, fill_service_choices

bp = Blueprint("activities", __name__, url_prefix="/activities")


def get_activity(activity_id: int) -> Activity:
    activity = db.get_or_404(Activity, activity_id)
    if activity.team.community_id != current_member().community_id:
        abort(403)
    return activity


@bp.get("/<int:activity_id>")
@login_required
def show(activity_id: int) -> str:
    activity = get_activity(activity_id)
    me = current_member()
    signups = activities.signed_up(activity)
    return render(
        "activities/show.html",
        activity=activity,
        signups=signups,
        mine=next((s for s in signups if s.member_id == me.id), None),
        in_team=teams.is_active_member(me, activity.team_id),
        coordinating=teams.is_coordinator(me, activity.team_id),
        ended=activity.ends_at <= now_local(),
        form=EmptyForm(),
    )


@bp.post("/<int:activity_id>/signup")
@login_required
def sign_up(activity_id: int) -> Response:
    activity = get_activity(activity_id)
    return one_button(
        lambda: activities.sign_up(current_member(), activity.id),
        done=_("You are signed up. See you there!"),
        back_to=url_for("activities.show", activity_id=activity.id),
    )


@bp.post("/<int:activity_id>/cancel")
@login_required
def cancel(activity_id: int) -> Response:
    activity = get_activity(activity_id)
    return one_button(
        lambda: activities.cancel_signup(current_member(), activity.id),
        done=_("Your sign-up was cancelled."),
        back_to=url_for("activities.show", activity_id=activity.id),
    )


@bp.post("/<int:activity_id>/attendance")
@login_required
def attendance(activity_id: int) -> Response:
    activity = get_activity(activity_id)
    if not teams.is_coordinator(current_member(), activity.team_id):
        abort(403)
    ids = form_ids("attended")

    def mark() -> None:
        created = activities.mark_attendance(current_member(), activity.id, ids)
        flash(_("Attendance saved: %(count)s new hour records.", count=len(created)), "success")

    return one_button(mark, done=None, back_to=url_for("activities.show", activity_id=activity.id))


@bp.route("/<int:activity_id>/edit", methods=["GET", "POST"])
@login_required
def edit(activity_id: int) -> Response | tuple[str, int]:
    activity = get_activity(activity_id)
    if not teams.is_coordinator(current_member(), activity.team_id):
        abort(403)
    form = ActivityForm(
        data=None
        if request.method == "POST"
        else {
            "title": activity.title,
            "starts_at": activity.starts_at.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": activity.ends_at.strftime("%Y-%m-%dT%H:%M"),
            "place": activity.place,
            "capacity": str(activity.capacity),
            "service": activity.service_id,
        }
    )
    fill_service_choices(form, activity.team.community_id)
    if form.validate_on_submit():
        ok, _activity = submit(
            form, lambda: activities.update(current_member(), activity, activity_fields(form))
        )
        if ok:
            flash(_("The activity was changed; those signed up have been told."), "success")
            return redirect(url_for("activities.show", activity_id=activity.id), 303)
    status = 422 if request.method == "POST" else 200
    return render("activities/form.html", form=form, team=activity.team, activity=activity), status
