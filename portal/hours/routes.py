"""A volunteer's own hour logs: log service, see the list, cancel a pending one."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.actions import one_button, submit_once
from portal.auth_session import current_member
from portal.clock import today_local
from portal.extensions import db
from portal.forms import EmptyForm, choices
from portal.hours import rows
from portal.hours.forms import CorrectionForm, HourLogForm
from portal.htmx import is_htmx, render
from portal.inputs import query_id
from portal.models import HourLog, Member
from portal.services import catalogue, corrections, teams
from portal.services import hours as hour_service
from portal.services.errors import DomainError

bp = Blueprint("hours", __name__, url_prefix="/hours")


def _fill_choices(form: HourLogForm) -> None:
    """The member's teams, and the services of the chosen team (all the community's active
    services until a team is chosen)."""
    locale = str(get_locale())
    my_teams = teams.active_teams_of(current_member())
    form.team.choices = choices([(0, _("Choose…")), *((t.id, t.name) for t in my_teams)])
    team = next((t for t in my_teams if t.id == form.team.data), None)
    services = (
        catalogue.services_for_team(team)
        if team is not None
        else catalogue.active_services(current_user.community_id)
    )
    form.service.choices = choices(
        [(0, _("Choose…")), *((s.id, s.display_name(locale)) for s in services)]
    )


def _beneficiary_id(form: HourLogForm) -> int | None:
    number = (form.beneficiary.data or "").strip()
    if not number:
        return None
    member_id = db.session.scalar(select(Member.id).where(Member.member_no == number))
    if member_id is None:
        raise DomainError(_("No member has that member number."), field="beneficiary")
    return member_id


@bp.get("")
@login_required
def index() -> str:
    before = query_id("before")
    size = current_app.config["PAGE_SIZE"]
    logs = rows.page(current_user.id, before, size + 1, str(get_locale()))
    next_cursor = logs[size - 1].id if len(logs) > size else None
    return render(
        "hours/index.html",
        "rows",
        logs=logs[:size],
        next_cursor=next_cursor,
        cancel_form=EmptyForm(),
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> Response | tuple[str, int]:
    form = HourLogForm()
    if request.method == "GET":
        # ?team= narrows the services: htmx asks for the service field alone when the team
        # changes; a plain link or bookmark gets the whole page.
        form.team.data = query_id("team") or 0
        form.service.data = query_id("service") or 0
    _fill_choices(form)
    form.offer_days(today_local())
    if request.method == "GET" and not form.day.data:
        form.day.data = today_local().isoformat()
    if request.method == "POST" and "pick" in request.form:
        # Without JavaScript the 选择 button beside the team sends the form back to be shown
        # again with that team's services, keeping everything typed; nothing is saved.
        return render("hours/new.html", form=form), 200
    if request.method == "GET" and is_htmx():
        return render("hours/new.html", "service_field", form=form), 200
    if form.validate_on_submit():
        done = submit_once(
            form,
            lambda: hour_service.log_hours(
                current_member(),
                hour_service.LogRequest(
                    team_id=form.team.data,
                    service_id=form.service.data,
                    service_date=form.parsed_date,
                    minutes=form.parsed_minutes,
                    note=form.note.data or "",
                    beneficiary_id=_beneficiary_id(form),
                ),
                today=today_local(),
            ),
            answer=lambda log: url_for("hours.index", logged=log.id),
        )
        if done is not None:
            if not done.replayed:
                flash(_("Logged. A coordinator will review it."), "success")
            return redirect(done.url or url_for("hours.index"), 303)
        # The rollback expired the choices' rows: fill them again for the page.
        _fill_choices(form)
    status = 422 if request.method == "POST" else 200
    return render("hours/new.html", form=form), status


@bp.post("/<int:log_id>/cancel")
@login_required
def cancel(log_id: int) -> Response:
    return one_button(
        lambda: hour_service.cancel_log(current_member(), log_id),
        done=_("The record was cancelled."),
        back_to=url_for("hours.index"),
    )


@bp.post("/<int:log_id>/confirm")
@login_required
def confirm(log_id: int) -> Response:
    """The person served (or their family) confirms a volunteer's log."""
    return one_button(
        lambda: hour_service.confirm_as_beneficiary(current_member(), log_id),
        done=_("Thank you for confirming."),
        back_to=url_for("me.dashboard"),
    )


def _visible_log(log_id: int) -> HourLog:
    """The log, for its volunteer, the team's coordinators and the community's admins."""
    log = db.get_or_404(HourLog, log_id)
    if not corrections.may_view(current_member(), log):
        abort(403)
    return log


def _show(log: HourLog, form: CorrectionForm) -> str:
    return render(
        "hours/show.html",
        log=log,
        details=corrections.details(log),
        may_correct=log.status == "approved"
        and corrections.may_correct(current_member(), log)
        and corrections.credited_by_community(log),
        form=form,
    )


@bp.get("/<int:log_id>")
@login_required
def show(log_id: int) -> str:
    """One record: who approved it and when, its corrections, and (for those allowed) the
    form that corrects it."""
    return _show(_visible_log(log_id), CorrectionForm())


@bp.post("/<int:log_id>/correct")
@login_required
def correct(log_id: int) -> Response | tuple[str, int]:
    log = _visible_log(log_id)
    me = current_member()
    if not corrections.may_correct(me, log):
        abort(403)
    form = CorrectionForm()
    if form.validate_on_submit():
        done = submit_once(
            form,
            lambda: corrections.correct_log(
                me,
                log_id,
                form.reason.data or "",
                corrections.Replacement(
                    member_no=(form.member_no.data or "").strip() or None,
                    minutes=form.parsed_minutes,
                    service_date=form.parsed_date,
                ),
                today=today_local(),
            ),
            answer=lambda _result: url_for("hours.show", log_id=log_id),
        )
        if done is not None:
            if not done.replayed:
                flash(_("The record was corrected. The member has been told."), "success")
            return redirect(done.url, 303)
    status = 422 if request.method == "POST" else 200
    return _show(db.get_or_404(HourLog, log_id), form), status
