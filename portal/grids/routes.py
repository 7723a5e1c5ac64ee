"""Grids (网格): the admin's grids and appointments, the grid register, building posters,
the dispatch list by grid, follow-ups, 点单 without an account, and the street office."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response

from portal.actions import Done, one_button, run, run_read, submit
from portal.auth_session import current_member
from portal.clock import today_local
from portal.extensions import client_address, db, limiter
from portal.forms import EmptyForm, choices, show_error
from portal.grids.forms import (
    AppointForm,
    ComplaintForm,
    GridEditForm,
    GridForm,
    HomeForm,
    HouseholdForm,
    OfficeForm,
    OutcomeForm,
    PlaceForm,
    PosterRequestForm,
    RouteForm,
    StreetAdminForm,
    TrackConfirmForm,
    TrackForm,
)
from portal.htmx import render
from portal.inputs import parse_int, query_id
from portal.models import Community, Grid, Member, Service, ServiceRequest
from portal.services import cards, grid_requests, grids, idempotency, teams
from portal.services import requests as request_service
from portal.services.errors import KeyReused

bp = Blueprint("grids", __name__)


def _grid(grid_id: int) -> Grid:
    grid = db.get_or_404(Grid, grid_id)
    if grid.community_id != current_member().community_id:
        abort(403)
    return grid


def _may_manage_grid(me: Member, grid: Grid) -> bool:
    return teams.is_admin_of(me, grid.community_id) or grids.is_grid_worker_of(me, grid.id)


# --- grids and appointments ------------------------------------------------------------


@bp.get("/grids")
@login_required
def index() -> str:
    me = current_member()
    coordinator = bool(teams.coordinated_team_ids(me))
    mine = grids.my_grids(me)
    if not (me.is_admin or coordinator or mine):
        abort(403)
    all_grids = grids.grids_of(me.community_id) if (me.is_admin or coordinator) else mine
    form = GridForm()
    form.parent.choices = choices(
        [(0, _("None: a grid")), *((g.id, g.name) for g in all_grids if g.parent_id is None)]
    )
    return render(
        "grids/index.html",
        grids=all_grids,
        appointments={g.id: grids.appointments_of(g) for g in all_grids} if me.is_admin else {},
        form=form,
        appoint_form=AppointForm(),
        home_form=HomeForm(),
        me=me,
        worker_ids=grids.worker_grid_ids(me),
        home_grid=next((g for g in all_grids if _may_manage_grid(me, g)), None),
    )


@bp.post("/grids/new")
@login_required
def new() -> Response | tuple[str, int]:
    me = current_member()
    if not me.is_admin:
        abort(403)
    form = GridForm()
    if form.validate_on_submit():
        ok, _grid_made = submit(
            form,
            lambda: grids.create_grid(
                me,
                grids.GridFields(
                    name=form.name.data or "",
                    description=form.description.data or "",
                    buildings=form.buildings.data or "",
                    parent_id=form.parent.data or None,
                ),
            ),
        )
        if ok:
            flash(_("The grid was added."), "success")
            return redirect(url_for("grids.index"), 303)
    for message in [e for errors in form.errors.values() for e in errors]:
        flash(str(message), "error")
    return redirect(url_for("grids.index"), 303)


def _admin_grid(grid_id: int) -> tuple[Member, Grid]:
    me = current_member()
    grid = _grid(grid_id)
    if not teams.is_admin_of(me, grid.community_id):
        abort(403)
    return me, grid


@bp.route("/grids/<int:grid_id>/edit", methods=["GET", "POST"])
@login_required
def edit(grid_id: int) -> Response | tuple[str, int]:
    """An admin edits a grid's name, buildings and description, or removes it."""
    me, grid = _admin_grid(grid_id)
    form = GridEditForm(obj=grid if request.method == "GET" else None)
    if form.validate_on_submit():
        ok, _result = submit(
            form,
            lambda: grids.update_grid(
                me,
                grid_id,
                grids.GridFields(
                    name=form.name.data or "",
                    description=form.description.data or "",
                    buildings=form.buildings.data or "",
                    parent_id=None,
                ),
            ),
        )
        if ok:
            flash(_("The grid was saved."), "success")
            return redirect(url_for("grids.index"), 303)
        grid = db.get_or_404(Grid, grid_id)
    status = 422 if request.method == "POST" else 200
    return render("grids/edit.html", grid=grid, form=form, button=EmptyForm()), status


@bp.post("/grids/<int:grid_id>/remove")
@login_required
def remove(grid_id: int) -> Response:
    me, _grid_found = _admin_grid(grid_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    outcome = run(lambda: grids.remove_grid(me, grid_id))
    if outcome.error is not None:
        flash(str(outcome.error.message), "error")
        return redirect(url_for("grids.edit", grid_id=grid_id), 303)
    flash(_("%(grid)s was removed.", grid=outcome.result), "success")
    return redirect(url_for("grids.index"), 303)


@bp.post("/grids/<int:grid_id>/appoint")
@login_required
def appoint(grid_id: int) -> Response:
    me = current_member()
    grid = _grid(grid_id)
    if not teams.is_admin_of(me, grid.community_id):
        abort(403)
    form = AppointForm()
    if form.validate_on_submit():
        member = grids.members_by_phone_or_no(grid.community_id, form.phone.data or "")
        ok, _result = submit(
            form,
            lambda: grids.appoint(
                me,
                grid.id,
                member.id if member else None,
                form.role.data or "",
                form.building.data or "",
            ),
        )
        if ok:
            flash(_("Appointed."), "success")
            return redirect(url_for("grids.index"), 303)
    for message in [e for errors in form.errors.values() for e in errors]:
        flash(str(message), "error")
    return redirect(url_for("grids.index"), 303)


@bp.post("/grids/<int:grid_id>/home")
@login_required
def set_home(grid_id: int) -> Response:
    """A grid worker (or admin) records a member's building and unit."""
    me = current_member()
    grid = _grid(grid_id)
    if not _may_manage_grid(me, grid):
        abort(403)
    form = HomeForm()
    if form.validate_on_submit():
        member = grids.members_by_phone_or_no(grid.community_id, form.member.data or "")
        ok, _result = submit(
            form,
            lambda: grids.set_home(
                me, member.id if member else 0, form.building.data or "", form.unit.data or ""
            ),
        )
        if ok:
            flash(_("The member's home was saved."), "success")
            return redirect(url_for("grids.index"), 303)
    for message in [e for errors in form.errors.values() for e in errors]:
        flash(str(message), "error")
    return redirect(url_for("grids.index"), 303)


# --- the grid register (一网格一档) -------------------------------------------------------


def _register_page(grid: Grid, form: HouseholdForm | None = None) -> str:
    me = current_member()
    category = request.args.get("category") or None
    rows, more = _run_read(
        lambda: grids.register(me, grid, category=category, after=query_id("after"))
    )
    form = form or HouseholdForm()
    form.building.choices = choices([(b, b) for b in grid.building_list])
    return render(
        "grids/register.html",
        grid=grid,
        rows=rows,
        more=more,
        category=category,
        form=form,
        button=EmptyForm(),
    )


def _run_read(action: Any) -> Any:
    """A page read that writes its audit line: committed with the page, or 403."""
    outcome = run_read(action)
    if outcome.error is not None:
        abort(400)
    return outcome.result


@bp.get("/grids/<int:grid_id>/register")
@login_required
def register(grid_id: int) -> str:
    grid = _grid(grid_id)
    return _register_page(db.get_or_404(Grid, grid.id))


@bp.post("/grids/<int:grid_id>/register/new")
@login_required
def add_household(grid_id: int) -> Response | tuple[str, int]:
    me = current_member()
    grid = _grid(grid_id)
    if not grids.may_see_register(me, grid):
        abort(403)
    form = HouseholdForm()
    form.building.choices = choices([(b, b) for b in grid.building_list])
    if form.validate_on_submit():
        ok, _result = submit(
            form,
            lambda: grids.add_household(
                me,
                grid,
                grids.HouseholdFields(
                    building=form.building.data or "",
                    unit=form.unit.data or "",
                    door=form.door.data or "",
                    note=form.note.data or "",
                    person=form.person.data or "",
                    categories=list(form.categories.data or []),
                    member_no=form.member_no.data or "",
                ),
            ),
        )
        if ok:
            flash(_("The household was added to the register."), "success")
            return redirect(url_for("grids.register", grid_id=grid.id), 303)
    return _register_page(db.get_or_404(Grid, grid_id), form), 422


@bp.post("/grids/<int:grid_id>/register/<int:household_id>/visit")
@login_required
def visit(grid_id: int, household_id: int) -> Response:
    _grid(grid_id)
    return one_button(
        lambda: grids.record_visit(current_member(), household_id),
        done=_("The visit was recorded."),
        back_to=url_for("grids.register", grid_id=grid_id),
    )


# --- posters and the grid's requests ---------------------------------------------------


@bp.get("/grids/<int:grid_id>/posters")
@login_required
def posters(grid_id: int) -> str:
    """One A4 poster per building: large print and a QR code that opens the request form
    with the grid already set."""
    grid = _grid(grid_id)
    if not _may_manage_grid(current_member(), grid):
        abort(403)
    sheets = []
    for building in grid.building_list:
        url = url_for("grids.point", grid_id=grid.id, building=building, _external=True)
        sheets.append((building, url, cards.qr_svg(url, scale=8)))
    return render("grids/posters.html", grid=grid, sheets=sheets)


@bp.get("/grids/<int:grid_id>/requests")
@login_required
def grid_requests_page(grid_id: int) -> str:
    """A grid's requests: its worker, coordinators and admins see all; a building head the
    requests of their building."""
    me = current_member()
    grid = _grid(grid_id)
    ids = grids.family_ids(grid) if grid.parent_id is None else [grid.id]
    stmt = (
        select(ServiceRequest)
        .where(ServiceRequest.grid_id.in_(ids))
        .order_by(ServiceRequest.id.desc())
        .limit(100)
    )
    if not grids.may_see_register(me, grid):
        buildings = [b for g, b in grids.headed_buildings(me) if g in ids]
        if not buildings:
            abort(403)
        stmt = stmt.join(Member, Member.id == ServiceRequest.requester_id).where(
            Member.building.in_(buildings)
        )
    return render("grids/requests.html", grid=grid, items=list(db.session.scalars(stmt)))


# --- 派单: the dispatch list, routing, opening, follow-ups ---------------------------------


def _dispatchable(request_id: int) -> ServiceRequest:
    # The service rides along: the dispatch list's heading shows it.
    service_request = db.get_or_404(
        ServiceRequest, request_id, options=[joinedload(ServiceRequest.service)]
    )
    if not request_service.may_dispatch(current_member(), service_request):
        abort(403)
    return service_request


@bp.get("/requests/<int:request_id>/candidates")
@login_required
def candidates(request_id: int) -> str:
    service_request = _dispatchable(request_id)
    route_form = RouteForm()
    route_form.team.choices = choices(
        [(0, _("Choose…")), *teams.team_choices(service_request.community_id)]
    )
    return render(
        "grids/candidates.html",
        r=service_request,
        rows=grid_requests.candidates(service_request),
        route_form=route_form,
        button=EmptyForm(),
    )


@bp.post("/requests/<int:request_id>/dispatch-to/<int:member_id>")
@login_required
def dispatch_to(request_id: int, member_id: int) -> Response:
    _dispatchable(request_id)
    return one_button(
        lambda: request_service.dispatch(current_member(), request_id, member_id),
        done=_("Dispatched. The volunteer has been told."),
        back_to=url_for("requests.show", request_id=request_id),
    )


@bp.post("/requests/<int:request_id>/route")
@login_required
def route(request_id: int) -> Response:
    _dispatchable(request_id)
    form = RouteForm()
    back = url_for("requests.show", request_id=request_id)
    if not form.validate_on_submit():
        abort(400)
    ok, _result = submit(
        form, lambda: grid_requests.route_to_team(current_member(), request_id, form.team.data)
    )
    if ok:
        flash(_("Given to the team. Its coordinators have been told."), "success")
    else:
        for message in [e for errors in form.errors.values() for e in errors]:
            flash(str(message), "error")
    return redirect(back, 303)


@bp.post("/requests/<int:request_id>/open")
@login_required
def open_up(request_id: int) -> Response:
    _dispatchable(request_id)
    return one_button(
        lambda: grid_requests.open_to_community(current_member(), request_id),
        done=_("Every volunteer of the community can now see it."),
        back_to=url_for("requests.show", request_id=request_id),
    )


@bp.post("/requests/<int:request_id>/complain")
@login_required
def complain(request_id: int) -> Response:
    service_request = db.get_or_404(ServiceRequest, request_id)
    if not request_service.may_act_for(current_member(), service_request.requester_id):
        abort(403)
    form = ComplaintForm()
    if not form.validate_on_submit():
        flash(_("Say what went wrong (up to 500 characters)."), "error")
        return redirect(url_for("requests.show", request_id=request_id), 303)
    ok, _result = submit(
        form,
        lambda: grid_requests.complain(current_member(), request_id, form.complaint.data or ""),
    )
    if ok:
        flash(_("Thank you. The grid worker will follow it up."), "success")
    else:
        for message in [e for errors in form.errors.values() for e in errors]:
            flash(str(message), "error")
    return redirect(url_for("requests.show", request_id=request_id), 303)


@bp.post("/requests/<int:request_id>/followup")
@login_required
def followup(request_id: int) -> Response:
    service_request = db.get_or_404(ServiceRequest, request_id)
    if not grid_requests.may_follow_up(current_member(), service_request):
        abort(403)
    form = OutcomeForm()
    if form.validate_on_submit():
        ok, _result = submit(
            form,
            lambda: grid_requests.record_outcome(
                current_member(), request_id, form.outcome.data or ""
            ),
        )
        if ok:
            flash(_("The outcome was recorded. The request is closed."), "success")
            return redirect(url_for("requests.show", request_id=request_id), 303)
    for message in [e for errors in form.errors.values() for e in errors]:
        flash(str(message), "error")
    return redirect(url_for("requests.show", request_id=request_id), 303)


# --- 点单 from a building poster, and the follow-up number -------------------------------


def _fill_services(form: PosterRequestForm, community_id: int) -> None:
    services = db.session.scalars(
        select(Service)
        .where(Service.community_id == community_id, Service.active.is_(True))
        .order_by(Service.id)
    )
    form.service.choices = choices([(0, _("Choose…")), *((s.id, s.name) for s in services)])


@bp.route("/point/<int:grid_id>/<building>", methods=["GET", "POST"])
@limiter.limit("10 per hour", key_func=client_address, methods=["POST"])
def point(grid_id: int, building: str) -> Response | tuple[str, int]:
    """The page a building poster's QR code opens (stable: printed on paper)."""
    grid = db.get_or_404(Grid, grid_id)
    if building not in grid.building_list:
        abort(404)
    if current_user.is_authenticated:
        return redirect(url_for("requests.new", grid=grid.id), 303)
    form = PosterRequestForm()
    _fill_services(form, grid.community_id)
    form.offer_days(today_local())
    if request.method == "GET" and not form.place.data:
        form.place.data = building
    if form.validate_on_submit():
        done = _post_once(form, grid.id, building)
        if done is not None:
            return redirect(done.url, 303)
        grid = db.get_or_404(Grid, grid_id)
        _fill_services(form, grid.community_id)
    status = 422 if request.method == "POST" else 200
    return render("grids/point.html", form=form, grid=grid, building=building), status


def _post_once(form: PosterRequestForm, grid_id: int, building: str) -> Done[Any] | None:
    """Like `submit_once`, with the one-time key claimed for the pending resident (there is
    no logged-in member): a double tap posts once and shows the same follow-up number."""

    def act() -> Done[Any]:
        member = grid_requests.pending_resident(
            grid_id,
            building,
            grid_requests.Resident(
                name=form.name.data or "",
                phone=form.phone.data or "",
                birth_year=form.birth_year.data,
                unit=form.unit.data or "",
            ),
        )
        earlier = idempotency.claim(form.once.data, member, idempotency.digest(form.data))
        if earlier is not None:
            return Done(earlier.result_url, None, True)
        created = grid_requests.post_for_pending(
            member,
            request_service.RequestFields(
                service_id=form.service.data,
                wanted_at=form.parsed_when,
                place=form.place.data or "",
                note=form.note.data or "",
                minutes=form.parsed_minutes,
                pay_with_hours=False,
            ),
        )
        url = url_for("grids.posted", number=created.follow_up_no or "")
        idempotency.remember_result(form.once.data, url)
        return Done(url, created, False)

    outcome = run(act)
    if outcome.error is not None:
        if isinstance(outcome.error, KeyReused):
            form.once.data = idempotency.new_key()
        show_error(form, outcome.error.message, outcome.error.field)
        return None
    return outcome.result


@bp.get("/point/posted/<number>")
def posted(number: str) -> str:
    return render("grids/posted.html", number=number)


@bp.route("/track", methods=["GET", "POST"])
@limiter.limit("30 per hour", key_func=client_address)
def track() -> str | tuple[str, int]:
    """Progress of a request by its follow-up number, without an account."""
    form = TrackForm(request.values)
    found = None
    if form.number.data:
        found = grid_requests.tracked(form.number.data or "", form.phone_tail.data or "")
        if found is None:
            form.number.errors = [_("No request matches that number and mobile number.")]
    confirm_form = TrackConfirmForm(
        number=form.number.data or "", phone_tail=form.phone_tail.data or ""
    )
    events = request_service.timeline(found) if found else []
    status = 422 if form.number.data and found is None else 200
    return render(
        "grids/track.html", form=form, r=found, events=events, confirm_form=confirm_form
    ), status


@bp.post("/track/confirm")
@limiter.limit("30 per hour", key_func=client_address)
def track_confirm() -> Response:
    form = TrackConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    found = grid_requests.tracked(form.number.data or "", form.phone_tail.data or "")
    if found is None:
        abort(404)
    resident = found.requester
    ok, _result = submit(
        form,
        lambda: request_service.confirm(
            resident, found.id, parse_int(form.rating.data, low=1, high=5), form.comment.data or ""
        ),
    )
    if ok:
        flash(_("Thank you for your rating."), "success")
    else:
        for message in [e for errors in form.errors.values() for e in errors]:
            flash(str(message), "error")
    return redirect(
        url_for("grids.track", number=form.number.data, phone_tail=form.phone_tail.data), 303
    )


# --- the party mark ------------------------------------------------------------------------


@bp.post("/admin/members/<int:member_id>/party")
@login_required
def confirm_party(member_id: int) -> Response:
    me = current_member()
    if not me.is_admin:
        abort(403)
    confirmed = request.form.get("confirmed", "1") == "1"
    return one_button(
        lambda: grids.confirm_party(me, member_id, confirmed=confirmed),
        done=_("Saved."),
        back_to=url_for("grids.index"),
    )


@bp.post("/me/settings/badge")
@login_required
def badge() -> Response:
    me = current_member()
    shows = request.form.get("shows", "1") == "1"

    def _set() -> Member:
        me.shows_party_badge = shows
        return me

    return one_button(_set, done=_("Saved."), back_to=url_for("me.settings"))


# --- the street office and the city -------------------------------------------------------


@bp.get("/street")
@login_required
def street() -> str:
    me = current_member()
    if me.role not in ("street_admin", "city_admin"):
        abort(403)
    items = grid_requests.escalated_for(me)
    ids = {r.community_id for r in items}
    names = dict(
        db.session.execute(select(Community.id, Community.name).where(Community.id.in_(ids))).all()
    )
    return render("grids/street.html", items=items, community_names=names, me=me)


def _city_admin() -> Member:
    me = current_member()
    if not grids.is_city_admin(me):
        abort(403)
    return me


@bp.get("/admin/city")
@login_required
def city() -> str:
    _city_admin()
    offices = grids.street_offices()
    office_choices = choices([(0, _("None")), *((o.id, o.name) for o in offices)])
    place_form = PlaceForm()
    place_form.office.choices = office_choices
    admin_form = StreetAdminForm()
    admin_form.office.choices = office_choices
    return render(
        "grids/city.html",
        offices=offices,
        communities=grids.communities_overview(),
        office_form=OfficeForm(),
        place_form=place_form,
        admin_form=admin_form,
    )


@bp.post("/admin/city/offices")
@login_required
def add_office() -> Response:
    me = _city_admin()
    form = OfficeForm()
    if form.validate_on_submit():
        ok, _result = submit(form, lambda: grids.create_street_office(me, form.name.data or ""))
        if ok:
            flash(_("Saved."), "success")
            return redirect(url_for("grids.city"), 303)
    for message in [e for errors in form.errors.values() for e in errors]:
        flash(str(message), "error")
    return redirect(url_for("grids.city"), 303)


@bp.post("/admin/city/communities/<int:community_id>")
@login_required
def place(community_id: int) -> Response:
    me = _city_admin()
    db.get_or_404(Community, community_id)
    form = PlaceForm()
    if not form.validate_on_submit():
        abort(400)
    ok, _result = submit(
        form, lambda: grids.place_community(me, community_id, form.office.data or None)
    )
    flash(_("Saved.") if ok else _("Choose a street office."), "success" if ok else "error")
    return redirect(url_for("grids.city"), 303)


@bp.post("/admin/city/street-admins")
@login_required
def street_admin() -> Response:
    me = _city_admin()
    form = StreetAdminForm()
    if form.validate_on_submit():
        member = grids.members_by_phone_or_no(None, form.phone.data or "")
        ok, _result = submit(
            form,
            lambda: grids.appoint_street_admin(
                me, member.id if member else None, form.office.data or None
            ),
        )
        if ok:
            flash(_("Saved."), "success")
            return redirect(url_for("grids.city"), 303)
    for message in [e for errors in form.errors.values() for e in errors]:
        flash(str(message), "error")
    return redirect(url_for("grids.city"), 303)
