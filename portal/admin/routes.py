"""Community admin: teams (create, edit, archive) and their coordinators."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.wrappers import Response

from portal.actions import one_button, submit
from portal.auth_session import current_member
from portal.extensions import db
from portal.forms import EmptyForm
from portal.htmx import render
from portal.models import Member, Service, Team
from portal.services import catalogue, teams
from portal.teams.forms import CoordinatorForm, ServiceForm, TeamForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


def require_admin() -> Member:
    me = current_member()
    if not me.is_admin:
        abort(403)
    return me


def get_admin_team(team_id: int) -> Team:
    me = require_admin()
    team = db.get_or_404(Team, team_id)
    if not teams.is_admin_of(me, team.community_id):
        abort(403)
    return team


@bp.get("")
@login_required
def index() -> str:
    me = require_admin()
    return render(
        "admin/index.html",
        rows=teams.teams_of_community(me.community_id, include_archived=True),
    )


def _fields(form: TeamForm) -> teams.TeamFields:
    return teams.TeamFields(
        name=form.name.data or "",
        category=form.category.data or "",
        description=form.description.data or "",
        kiosk_auto_approve=bool(form.kiosk_auto_approve.data),
        kind=form.kind.data or "ordinary",
    )


@bp.route("/teams/new", methods=["GET", "POST"])
@login_required
def new_team() -> Response | tuple[str, int]:
    me = require_admin()
    form = TeamForm()
    if form.validate_on_submit():
        ok, team = submit(form, lambda: teams.create_team(me, _fields(form)))
        if ok and team is not None:
            flash(_("Team created. Now appoint its coordinator."), "success")
            return redirect(url_for("admin.edit_team", team_id=team.id), 303)
    status = 422 if request.method == "POST" else 200
    return render("admin/team_form.html", form=form, team=None), status


@bp.route("/teams/<int:team_id>", methods=["GET", "POST"])
@login_required
def edit_team(team_id: int) -> Response | tuple[str, int]:
    team = get_admin_team(team_id)
    form = TeamForm(obj=team if request.method == "GET" else None)
    if form.validate_on_submit():
        ok, _team = submit(form, lambda: teams.update_team(current_member(), team, _fields(form)))
        if ok:
            flash(_("Saved."), "success")
            return redirect(url_for("admin.edit_team", team_id=team.id), 303)
    status = 422 if request.method == "POST" else 200
    return (
        render(
            "admin/team_form.html",
            form=form,
            team=team,
            coordinators=teams.coordinators_of(team),
            coordinator_form=CoordinatorForm(),
            button=EmptyForm(),
        ),
        status,
    )


@bp.post("/teams/<int:team_id>/<any(archive, unarchive):change>")
@login_required
def archive(team_id: int, change: str) -> Response:
    team = get_admin_team(team_id)
    return one_button(
        lambda: teams.set_archived(current_member(), team, change == "archive"),
        done=_("Team archived.") if change == "archive" else _("Team reopened."),
        back_to=url_for("admin.edit_team", team_id=team.id),
    )


@bp.post("/teams/<int:team_id>/coordinators")
@login_required
def appoint(team_id: int) -> Response | tuple[str, int]:
    team = get_admin_team(team_id)
    form = CoordinatorForm()
    if form.validate_on_submit():

        def appoint_by_phone() -> str:
            member = teams.find_member_by_phone(form.phone.data or "", team.community_id)
            teams.appoint_coordinator(current_member(), team, member)
            return member.name

        ok, name = submit(form, appoint_by_phone)
        if ok:
            flash(_("%(name)s now coordinates this team.", name=name), "success")
            return redirect(url_for("admin.edit_team", team_id=team.id), 303)
    return (
        render(
            "admin/team_form.html",
            form=TeamForm(obj=team),
            team=team,
            coordinators=teams.coordinators_of(team),
            coordinator_form=form,
            button=EmptyForm(),
        ),
        422,
    )


@bp.post("/teams/<int:team_id>/coordinators/<int:member_id>/remove")
@login_required
def remove_coordinator(team_id: int, member_id: int) -> Response:
    team = get_admin_team(team_id)
    member = db.get_or_404(Member, member_id)
    return one_button(
        lambda: teams.remove_coordinator(current_member(), team, member),
        done=_("No longer a coordinator of this team."),
        back_to=url_for("admin.edit_team", team_id=team.id),
    )


# --- the service catalogue ----------------------------------------------------------


def _service_fields(form: ServiceForm) -> catalogue.ServiceFields:
    return catalogue.ServiceFields(
        name=form.name.data or "",
        name_en=form.name_en.data or "",
        category=form.category.data or "",
        description=form.description.data or "",
        typical_minutes=form.parsed_minutes,
        redeemable=bool(form.redeemable.data),
        active=bool(form.active.data),
    )


@bp.get("/services")
@login_required
def services() -> str:
    me = require_admin()
    return render("admin/services.html", services=catalogue.services_of(me.community_id))


@bp.route("/services/new", methods=["GET", "POST"])
@bp.route("/services/<int:service_id>", methods=["GET", "POST"])
@login_required
def edit_service(service_id: int | None = None) -> Response | tuple[str, int]:
    me = require_admin()
    service = db.get_or_404(Service, service_id) if service_id else None
    if service is not None and service.community_id != me.community_id:
        abort(403)
    if request.method == "GET":
        form = ServiceForm(
            obj=service, data=None if service else {"active": True, "redeemable": True}
        )
    else:
        form = ServiceForm()
    if form.validate_on_submit():
        ok, _service = submit(
            form,
            lambda: (
                catalogue.create(me, _service_fields(form))
                if service is None
                else catalogue.update(me, service, _service_fields(form))
            ),
        )
        if ok:
            flash(_("Saved."), "success")
            return redirect(url_for("admin.services"), 303)
    status = 422 if request.method == "POST" else 200
    return render("admin/service_form.html", form=form, service=service), status
