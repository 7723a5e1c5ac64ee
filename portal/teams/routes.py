"""Teams for members and coordinators: list, join, the team page, roster decisions,
and creating an activity."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.actions import one_button, submit
from portal.auth_session import current_member
from portal.clock import now_local
from portal.extensions import db
from portal.forms import EmptyForm, choices
from portal.htmx import is_htmx, render
from portal.inputs import query_id
from portal.models import Activity, Service, Team, TeamMembership
from portal.services import activities, teams
from portal.teams.forms import ActivityForm

bp = Blueprint("teams", __name__, url_prefix="/teams")


def get_team(team_id: int) -> Team:
    """The team, if it belongs to the viewer's community (else 404/403)."""
    team = db.get_or_404(Team, team_id)
    if team.community_id != current_member().community_id:
        abort(403)
    return team


def get_coordinated_team(team_id: int) -> Team:
    team = get_team(team_id)
    if not teams.is_coordinator(current_member(), team.id):
        abort(403)
    return team


@bp.get("")
@login_required
def index() -> str:
    me = current_member()
    rows = teams.teams_of_community(me.community_id)
    mine = {
        m.team_id: m
        for m in db.session.scalars(select(TeamMembership).where(TeamMembership.member_id == me.id))
    }
    return render("teams/index.html", rows=rows, mine=mine, form=EmptyForm())


@bp.get("/<int:team_id>")
@login_required
def show(team_id: int) -> str:
    team = get_team(team_id)
    me = current_member()
    coordinating = teams.is_coordinator(me, team.id)
    roster, next_cursor = (
        teams.roster(team, after=query_id("after"), size=current_app.config["ROSTER_PAGE_SIZE"])
        if coordinating
        else ([], None)
    )
    if is_htmx():
        # "More": the roster's next rows alone; nothing else of the page is read.
        return render("teams/show.html", "rows", team=team, roster=roster, next_cursor=next_cursor)
    now = now_local()
    upcoming = list(
        db.session.scalars(
            select(Activity)
            .where(
                Activity.team_id == team.id, Activity.ends_at >= now, Activity.cancelled.is_(False)
            )
            .order_by(Activity.starts_at)
            .limit(20)
        )
    )
    recent = []
    if coordinating:
        recent = list(
            db.session.scalars(
                select(Activity)
                .where(Activity.team_id == team.id, Activity.ends_at < now)
                .order_by(Activity.starts_at.desc())
                .limit(10)
            )
        )
    return render(
        "teams/show.html",
        team=team,
        membership=teams.membership_of(me, team.id),
        coordinators=teams.coordinators_of(team),
        upcoming=upcoming,
        recent=recent,
        coordinating=coordinating,
        requests=teams.join_requests(team) if coordinating else [],
        roster=roster,
        next_cursor=next_cursor,
    )


@bp.post("/<int:team_id>/join")
@login_required
def join(team_id: int) -> Response:
    team = get_team(team_id)
    return one_button(
        lambda: teams.request_join(current_member(), team),
        done=_("Your request was sent to the team's coordinator."),
        back_to=url_for("teams.show", team_id=team.id),
    )


@bp.post("/<int:team_id>/requests/<int:membership_id>/<any(accept, decline):decision>")
@login_required
def decide(team_id: int, membership_id: int, decision: str) -> Response:
    team = get_coordinated_team(team_id)
    return one_button(
        lambda: teams.decide_join(
            current_member(), team, membership_id, accept=decision == "accept"
        ),
        done=_("Accepted.") if decision == "accept" else _("Declined."),
        back_to=url_for("teams.show", team_id=team.id),
    )


@bp.post("/<int:team_id>/members/<int:membership_id>/<any(remove, promote):change>")
@login_required
def change_member(team_id: int, membership_id: int, change: str) -> Response:
    team = get_coordinated_team(team_id)
    action = teams.remove_member if change == "remove" else teams.promote
    return one_button(
        lambda: action(current_member(), team, membership_id),
        done=_("Removed from the team.") if change == "remove" else _("Now a coordinator."),
        back_to=url_for("teams.show", team_id=team.id),
    )


def fill_service_choices(form: ActivityForm, community_id: int) -> None:
    locale = str(get_locale())
    services = db.session.scalars(
        select(Service)
        .where(Service.community_id == community_id, Service.active.is_(True))
        .order_by(Service.id)
    )
    form.service.choices = choices(
        [(0, _("Choose…")), *((s.id, s.display_name(locale)) for s in services)]
    )


def activity_fields(form: ActivityForm) -> activities.ActivityFields:
    return activities.ActivityFields(
        title=form.title.data or "",
        starts_at=form.parsed_start,
        ends_at=form.parsed_end,
        place=form.place.data or "",
        capacity=form.parsed_capacity,
        service_id=form.service.data,
    )


@bp.route("/<int:team_id>/activities/new", methods=["GET", "POST"])
@login_required
def new_activity(team_id: int) -> Response | tuple[str, int]:
    team = get_coordinated_team(team_id)
    form = ActivityForm()
    fill_service_choices(form, team.community_id)
    if form.validate_on_submit():
        ok, activity = submit(
            form, lambda: activities.create(current_member(), team, activity_fields(form))
        )
        if ok and activity is not None:
            return redirect(url_for("activities.show", activity_id=activity.id), 303)
    status = 422 if request.method == "POST" else 200
    return render("activities/form.html", form=form, team=team, activity=None), status
