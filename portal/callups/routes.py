"""Emergency call-ups: start one, answer it from any page's banner, run the live board,
stand the rest down, close it and credit who came."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal import clock
from portal.actions import flash_refusal, run, run_apart, submit, submit_once
from portal.auth_session import current_member
from portal.callups.forms import CallMoreForm, CallUpForm, CloseForm
from portal.extensions import db
from portal.forms import choices, safe_next
from portal.htmx import is_htmx, render
from portal.inputs import form_ids, parse_int
from portal.models import CallUp, Service, Team
from portal.services import callups, grids
from portal.services.errors import DomainError

bp = Blueprint("callups", __name__, url_prefix="/callups")


def get_run_callup(callup_id: int) -> CallUp:
    """The call-up, if the viewer runs it (its team's coordinators, the community's admins)."""
    callup = db.get_or_404(CallUp, callup_id)
    if not callups.may_run(current_member(), callup):
        abort(403)
    return callup


def escalate_due(callup_ids: list[int]) -> None:
    """Lazily, on the views that show call-ups: call the next group of any whose rule has
    fired (`flask callups tick` does the same from cron). Fires once whoever gets there first."""
    for item in callups.due(callup_ids):
        run_apart(lambda item=item: callups.escalate(item))


def group_choices(community_id: int, *, blank: str) -> list:  # type: ignore[type-arg]
    teams_here = db.session.scalars(
        select(Team)
        .where(Team.community_id == community_id, Team.archived.is_(False))
        .order_by(Team.name)
    )
    return choices(
        [
            ("", blank),
            *((f"team:{t.id}", t.name) for t in teams_here),
            ("community", _("All volunteers of the community")),
            ("party", _("All party members of the community")),
            *(
                (f"party:{g.id}", _("Party members of %(grid)s", grid=g.name))
                for g in grids.grids_of(community_id)
            ),
        ]
    )


@bp.get("")
@login_required
def index() -> str:
    me = current_member()
    may_start = callups.may_start(me)
    running = callups.running(me) if may_start else []
    escalate_due([c.id for c in running if c.status == "open"])
    return render("callups/index.html", running=running, may_start=may_start)


@bp.get("/banner")
@login_required
def banner() -> Response | str:
    """The banner every page shows a person called, alone (htmx polls it)."""
    if not is_htmx():
        return redirect(url_for("callups.index"), 303)
    me = current_member()
    escalate_due([c.callup.id for c in callups.calls_for(me)])
    return render_template("callups/_banner.html", my_calls=callups.calls_for(me))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> Response | tuple[str, int]:
    me = current_member()
    lead = callups.teams_to_lead(me)
    if not lead:
        abort(403)
    form = CallUpForm()
    form.team.choices = choices([(t.id, t.name) for t in lead])
    locale = str(get_locale())
    services = db.session.scalars(
        select(Service)
        .where(Service.community_id == me.community_id, Service.active.is_(True))
        .order_by(Service.category != "emergency", Service.id)
    )
    form.service.choices = choices([(s.id, s.display_name(locale)) for s in services])
    form.then1.choices = group_choices(me.community_id, blank=_("Nobody more"))
    form.then2.choices = group_choices(me.community_id, blank=_("Nobody more"))
    if request.method == "GET":
        form.needed_by.data = (clock.now_local() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    if form.validate_on_submit():
        then = [
            spec
            for spec in (
                callups.GroupSpec.parse(form.then1.data),
                callups.GroupSpec.parse(form.then2.data),
            )
            if spec is not None
        ]
        fields = callups.CallUpFields(
            team_id=form.team.data,
            service_id=form.service.data,
            what=form.what.data or "",
            place=form.place.data or "",
            needed_by=form.parsed_needed_by,
            needed=form.parsed_needed,
            escalate_after=form.parsed_after,
            then=then,
        )
        ok, callup = submit(form, lambda: callups.create(me, fields))
        if ok and callup is not None:
            flash(_("The call-up went out."), "success")
            return redirect(url_for("callups.show", callup_id=callup.id), 303)
    status = 422 if request.method == "POST" else 200
    return render("callups/new.html", form=form), status


@bp.get("/<int:callup_id>")
@login_required
def show(callup_id: int) -> str:
    callup = get_run_callup(callup_id)
    escalate_due([callup.id])
    if is_htmx():  # the board polling itself: only what its block shows
        return render("callups/show.html", "board", callup=callup, board=callups.board(callup))
    more = CallMoreForm()
    more.target.choices = group_choices(callup.community_id, blank=_("The next group in order"))
    return render(
        "callups/show.html",
        callup=callup,
        board=callups.board(callup),
        more=more,
        timeline=callups.timeline(callup, answers=False),
    )


@bp.post("/<int:callup_id>/answer")
@login_required
def answer(callup_id: int) -> Response | str:
    """我来 / 晚到 / 来不了, from the banner on any page."""
    db.get_or_404(CallUp, callup_id)
    me = current_member()
    choice = str(request.form.get("answer", ""))
    outcome = run(lambda: callups.answer(me, callup_id, choice))
    message = None
    if outcome.error is not None:
        message = outcome.error.message
    if is_htmx():
        return render_template(
            "callups/_banner.html", my_calls=callups.calls_for(me), banner_message=message
        )
    if message is not None:
        flash_refusal(outcome.error)  # type: ignore[arg-type]
    else:
        flash(_("Thank you, your answer was sent."), "success")
    return redirect(safe_next(request.form.get("next"), url_for("callups.index")), 303)


@bp.post("/<int:callup_id>/call-more")
@login_required
def call_more(callup_id: int) -> Response:
    callup = get_run_callup(callup_id)
    form = CallMoreForm()
    form.target.choices = []
    if not form.validate_on_submit():
        abort(400)
    target = callups.GroupSpec.parse(form.target.data)
    outcome = run(lambda: callups.call_more(current_member(), callup.id, target))
    if outcome.error is not None:
        flash_refusal(outcome.error)
    else:
        flash(_("%(count)s more people were called.", count=outcome.result), "success")
    return redirect(url_for("callups.show", callup_id=callup.id), 303)


@bp.post("/<int:callup_id>/stand-down")
@login_required
def stand_down(callup_id: int) -> Response:
    callup = get_run_callup(callup_id)
    if not CallMoreForm().validate_on_submit():
        abort(400)
    outcome = run(lambda: callups.stand_down(current_member(), callup.id))
    if outcome.error is not None:
        flash_refusal(outcome.error)
    else:
        flash(
            _("%(count)s people were told they are not needed.", count=outcome.result),
            "success",
        )
    return redirect(url_for("callups.show", callup_id=callup.id), 303)


def _came() -> dict[int, int | None]:
    """Ticked people and their minutes (blank: stood down on arrival, the minimum)."""
    came: dict[int, int | None] = {}
    for person_id in form_ids("came"):
        raw = request.form.get(f"minutes_{person_id}", "")
        minutes = parse_int(raw, high=720) if str(raw).strip() else None
        if str(raw).strip() and minutes is None:
            raise DomainError(_("Enter between 1 and 720 minutes."), field="came")
        came[person_id] = minutes
    return came


@bp.route("/<int:callup_id>/close", methods=["GET", "POST"])
@login_required
def close(callup_id: int) -> Response | tuple[str, int]:
    callup = get_run_callup(callup_id)
    form = CloseForm()
    board = callups.board(callup)
    if form.validate_on_submit():
        done = submit_once(
            form,
            lambda: callups.close(current_member(), callup.id, _came()),
            answer=lambda _logs: url_for("callups.show", callup_id=callup.id),
        )
        if done is not None:
            if not done.replayed:
                flash(_("Closed. The hours of those who came were credited."), "success")
            return redirect(done.url, 303)
    status = 422 if request.method == "POST" else 200
    return render(
        "callups/close.html",
        callup=callup,
        board=board,
        form=form,
        minimum=callups.minimum_minutes(),
    ), status
