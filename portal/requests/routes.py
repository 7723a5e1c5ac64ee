"""Service requests: post a need, the lists, and each step on the request's page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.actions import one_button, run, run_once, submit_once
from portal.auth_session import current_member
from portal.clock import today_local
from portal.extensions import db
from portal.forms import EmptyForm, OnceForm, choices, show_error
from portal.grids.forms import ComplaintForm, OutcomeForm
from portal.htmx import render
from portal.i18n import CATEGORY_LABELS
from portal.inputs import parse_int
from portal.models import Community, Grid, Member, Service, ServiceRequest
from portal.requests.forms import ConfirmForm, DispatchForm, DoneForm, FilterForm, RequestForm
from portal.services import credits, family, grid_requests, grids, ledger, pool
from portal.services import requests as request_service
from portal.services.errors import AlreadyDecided, DomainError

bp = Blueprint("requests", __name__, url_prefix="/requests")


def get_request(request_id: int) -> ServiceRequest:
    service_request = db.get_or_404(ServiceRequest, request_id)
    me = current_member()
    if not (
        request_service.may_view(me, service_request)
        or grid_requests.may_oversee(me, service_request)
    ):
        abort(403)
    return service_request


def _stuck(items: list[ServiceRequest]) -> set[int]:
    config = current_app.config
    return {
        r.id
        for r in items
        if request_service.is_stuck(
            r,
            open_hours=config["REQUEST_STUCK_OPEN_HOURS"],
            dispatched_hours=config["REQUEST_STUCK_DISPATCHED_HOURS"],
        )
    }


@bp.get("")
@login_required
def index() -> str:
    me = current_member()
    view = request.args.get("view", "open")
    worker_grids = grids.worker_grid_ids(me)
    coordinates = request_service.is_dispatcher(me, me.community_id)
    dispatcher = coordinates or bool(worker_grids)
    if view not in ("open", "mine", "tasks", "dispatch") or (view == "dispatch" and not dispatcher):
        view = "open"
    filter_form = FilterForm(request.args)
    filter_form.category.choices = choices([("", _("All")), *CATEGORY_LABELS.items()])
    category = request.args.get("category") or None
    if category not in CATEGORY_LABELS:
        category = None
    if view == "mine":
        items = request_service.mine(me)
    elif view == "tasks":
        items = request_service.tasks(me)
    elif view == "dispatch":
        items = request_service.dispatch_queue(
            me.community_id,
            grid_ids=None if coordinates else worker_grids,
        )
    else:
        items = request_service.board(
            me.community_id, category=category, viewer=me, viewer_grids=worker_grids
        )
    return render(
        "requests/index.html",
        "list",
        view=view,
        items=items,
        stuck=_stuck(items) if view == "dispatch" else set(),
        dispatcher=dispatcher,
        filter_form=filter_form,
    )


def _fill_services(form: RequestForm, community_id: int) -> None:
    locale = str(get_locale())
    services = db.session.scalars(
        select(Service)
        .where(Service.community_id == community_id, Service.active.is_(True))
        .order_by(Service.id)
    )
    form.service.choices = choices(
        [(0, _("Choose…")), *((s.id, s.display_name(locale)) for s in services)]
    )


def _for_member_id(form: RequestForm) -> int | None:
    number = (form.for_member.data or "").strip()
    if not number:
        return None
    member_id = db.session.scalar(select(Member.id).where(Member.member_no == number))
    if member_id is None:
        raise DomainError(_("No member has that member number."), field="for_member")
    return member_id


def _grid_id(form: RequestForm, community_id: int) -> int | None:
    """The grid a building poster set (?grid=), when it is one of the request's community."""
    grid_id = parse_int(form.grid.data or request.args.get("grid"), low=1, high=2**31 - 1)
    grid = db.session.get(Grid, grid_id) if grid_id else None
    return grid.id if grid is not None and grid.community_id == community_id else None


def _where(form: RequestForm, me: Member) -> Community:
    """Where the service is wanted (通存通兑): the form's or the link's community, else the
    member's own. Anything unknown falls back to their own community."""
    community_id = parse_int(form.community.data or request.args.get("community"), low=1)
    where = db.session.get(Community, community_id) if community_id else None
    return where or db.session.get(Community, me.community_id)  # type: ignore[return-value]


def _communities() -> list[Community]:
    """The city's communities (tens), for "where do you live now"."""
    return list(db.session.scalars(select(Community).order_by(Community.name).limit(500)))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> Response | tuple[str, int]:
    me = current_member()
    form = RequestForm()
    where = _where(form, me)
    where_id = where.id
    form.community.data = str(where_id)
    if not form.grid.data and request.args.get("grid"):
        form.grid.data = str(_grid_id(form, where_id) or "")
    _fill_services(form, where_id)
    form.offer_days(today_local())
    if form.validate_on_submit():
        done = submit_once(
            form,
            lambda: request_service.post(
                me,
                request_service.RequestFields(
                    service_id=form.service.data,
                    wanted_at=form.parsed_when,
                    place=form.place.data or "",
                    note=form.note.data or "",
                    minutes=form.parsed_minutes,
                    pay_with_hours=bool(form.pay_with_hours.data),
                    ask_pool=bool(form.ask_pool.data),
                ),
                for_member_id=_for_member_id(form),
                grid_id=_grid_id(form, where_id),
                community_id=where_id,
            ),
            answer=lambda created: url_for("requests.show", request_id=created.id),
        )
        if done is not None:
            if not done.replayed:
                flash(
                    _("Your request is posted. We will tell you when a volunteer takes it."),
                    "success",
                )
            return redirect(done.url or url_for("requests.index", view="mine"), 303)
        # The rollback expired the choices' rows: fill them again for the page.
        _fill_services(form, where_id)
    status = 422 if request.method == "POST" else 200
    return render(
        "requests/new.html",
        form=form,
        where_id=where_id,
        communities=_communities(),
        available=ledger.balance_of(me),
        dispatcher=request_service.is_dispatcher(me, me.community_id),
        relatives=family.relatives(me),
    ), status


def _page(service_request: ServiceRequest, **forms: Any) -> str:
    me = current_member()
    dispatch_form = forms.get("dispatch_form") or DispatchForm()
    dispatcher = request_service.may_dispatch(me, service_request)
    if dispatcher:
        family_ids = request_service.family_of(service_request)
        dispatch_form.volunteer.choices = choices(
            [(0, _("Choose…"))]
            + [
                (m.id, f"{m.name} · {m.phone[-4:]}")
                for m in request_service.volunteers_for(service_request.community_id)
                if m.id not in family_ids
            ]
        )
    return render(
        "requests/show.html",
        r=service_request,
        events=request_service.timeline(service_request),
        me=me,
        dispatcher=dispatcher,
        may_act=request_service.may_act_for(me, service_request.requester_id),
        may_serve=request_service.may_serve(me, service_request),
        may_consent=request_service.may_consent(me, service_request),
        may_approve_pool=service_request.pool_status == "asked"
        and request_service.may_approve_pool(me, service_request),
        pool_balance=pool.balance(service_request.community_id)
        if service_request.pool_status == "asked"
        else None,
        may_verify=credits.may_verify(me, service_request.requester),
        is_assignee=service_request.assignee_id == me.id,
        started=request_service.has_started(service_request),
        has_team=bool(request_service.teams.active_teams_of(me)),
        dispatch_form=dispatch_form,
        done_form=forms.get("done_form") or DoneForm(),
        confirm_form=forms.get("confirm_form") or ConfirmForm(),
        button=EmptyForm(),
        may_follow_up=grid_requests.may_follow_up(me, service_request),
        complaint_form=ComplaintForm(),
        outcome_form=OutcomeForm(),
        closed=request_service.is_closed(service_request),
    )


@bp.get("/<int:request_id>")
@login_required
def show(request_id: int) -> str:
    return _page(get_request(request_id))


def _step(
    request_id: int, action: Callable[[], Any], *, form: Any, form_name: str, done: str
) -> Response | tuple[str, int]:
    """A step with a form: on a field error re-render the page with the message (422)."""
    service_request = get_request(request_id)
    if not form.validate_on_submit():
        if not form.errors.get("csrf_token"):
            return _page(service_request, **{form_name: form}), 422
        abort(400)
    back = url_for("requests.show", request_id=request_id)
    # A form with a one-time key (confirm) acts once; a replay is answered like the first.
    outcome = (
        run_once(form, action, answer=lambda _result: back)
        if isinstance(form, OnceForm)
        else run(action)
    )
    if isinstance(outcome.error, AlreadyDecided):
        flash(str(outcome.error.message), "info")
    elif outcome.error is not None:
        show_error(form, outcome.error.message, outcome.error.field)
        return _page(get_request(request_id), **{form_name: form}), 422
    else:
        flash(done, "success")
    return redirect(back, 303)


@bp.post("/<int:request_id>/dispatch")
@login_required
def dispatch(request_id: int) -> Response | tuple[str, int]:
    form = DispatchForm()
    return _step(
        request_id,
        lambda: request_service.dispatch(current_member(), request_id, form.volunteer.data),
        form=form,
        form_name="dispatch_form",
        done=_("Dispatched. The volunteer has been told."),
    )


@bp.post("/<int:request_id>/done")
@login_required
def done(request_id: int) -> Response | tuple[str, int]:
    form = DoneForm()
    return _step(
        request_id,
        lambda: request_service.mark_done(current_member(), request_id, form.parsed_minutes),
        form=form,
        form_name="done_form",
        done=_("Marked done. The resident will confirm."),
    )


@bp.post("/<int:request_id>/confirm")
@login_required
def confirm(request_id: int) -> Response | tuple[str, int]:
    form = ConfirmForm()

    return _step(
        request_id,
        lambda: request_service.confirm(
            current_member(),
            request_id,
            parse_int(form.rating.data, low=1, high=5),
            form.comment.data or "",
        ),
        form=form,
        form_name="confirm_form",
        done=_("Thank you! The volunteer's hours have been credited."),
    )


def _simple(request_id: int, action: Callable[[], Any], done: str) -> Response:
    get_request(request_id)
    return one_button(action, done=done, back_to=url_for("requests.show", request_id=request_id))


@bp.post("/<int:request_id>/take")
@login_required
def take(request_id: int) -> Response:
    return _simple(
        request_id,
        lambda: request_service.take(current_member(), request_id),
        _("It is yours. Thank you for helping!"),
    )


@bp.post("/<int:request_id>/accept")
@login_required
def accept(request_id: int) -> Response:
    return _simple(
        request_id,
        lambda: request_service.accept(current_member(), request_id),
        _("Accepted. The resident has been told."),
    )


@bp.post("/<int:request_id>/decline")
@login_required
def decline(request_id: int) -> Response:
    return _simple(
        request_id,
        lambda: request_service.decline(current_member(), request_id),
        _("Declined. The request is open again."),
    )


@bp.post("/<int:request_id>/cancel")
@login_required
def cancel(request_id: int) -> Response:
    return _simple(
        request_id,
        lambda: request_service.cancel(current_member(), request_id),
        _("The request was cancelled. Any reserved hours are back."),
    )


@bp.post("/<int:request_id>/consent")
@login_required
def consent(request_id: int) -> Response:
    return _simple(
        request_id,
        lambda: request_service.consent(current_member(), request_id, agree=True),
        _("Thank you. The hours are reserved and volunteers can now see the request."),
    )


@bp.post("/<int:request_id>/pool")
@login_required
def approve_pool(request_id: int) -> Response:
    return _simple(
        request_id,
        lambda: request_service.approve_pool(current_member(), request_id),
        _("Approved: the public-welfare pool pays for this request. Its time is reserved."),
    )


@bp.post("/<int:request_id>/refuse")
@login_required
def refuse(request_id: int) -> Response:
    return _simple(
        request_id,
        lambda: request_service.consent(current_member(), request_id, agree=False),
        _("The request was cancelled. None of your hours were used."),
    )
