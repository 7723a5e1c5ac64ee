"""The coordinator's approval queue: approve, reject with a reason, approve a selection."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.wrappers import Response

from portal.actions import flash_refusal, run_once
from portal.approvals import queue
from portal.auth_session import current_member
from portal.extensions import db
from portal.forms import OnceForm
from portal.htmx import is_htmx, render
from portal.inputs import form_ids, query_id
from portal.models import HourLog
from portal.models._time import utcnow
from portal.services import family, members, teams
from portal.services import hours as hour_service
from portal.services.errors import AlreadyDecided
from portal.templating import TopBar

bp = Blueprint("approvals", __name__, url_prefix="/approvals")


def _locale() -> str:
    # As the templates' `locale`: the language the rows' service names are read in.
    return str(get_locale() or "zh_CN")


@bp.get("")
@login_required
def index() -> str:
    me = current_member()
    team_ids = teams.coordinated_team_ids(me)
    logs, next_cursor = queue.page(
        team_ids, query_id("after"), current_app.config["APPROVALS_PAGE_SIZE"], _locale()
    )
    page: dict[str, object] = {}
    if not is_htmx():
        # The whole page: its waiting count rides in the top bar's statement. (The rows
        # fragment shows neither: it reads neither.)
        *figures, queue_count = members.top_bar_figures(me.id, hour_service.queue_count_select)
        page = {"top": TopBar(me.id, tuple(figures)), "pending_count": queue_count}
    return render(
        "approvals/index.html",
        "rows",
        logs=logs,
        next_cursor=next_cursor,
        is_coordinator=bool(team_ids),
        select_all=request.args.get("select") == "all",
        # Their own and their family's logs are shown but decided by another coordinator.
        conflicted={me.id, *family.relative_ids({me.id})},
        now=utcnow(),
        **page,
    )


def _answer(log_id: int, message: str | None = None) -> Response | str:
    """After a decision: the updated row (plus the pending count, out of band) for htmx,
    else back to the queue."""
    if is_htmx():
        return render(
            "approvals/index.html",
            ["row", "pending_count_oob"],
            log=queue.row(log_id, _locale()),
            message=message,
            now=utcnow(),
            form=OnceForm(),
            # One statement, their teams a subquery of it (two before).
            pending_count=db.session.scalar(hour_service.queue_count_select(current_member().id)),
        )
    if message:
        flash(message, "info")
    return redirect(url_for("approvals.index"), 303)


def _decide(log_id: int, decide) -> Response | str:  # type: ignore[no-untyped-def]
    form = OnceForm()
    if not form.validate_on_submit():
        abort(400)
    log = db.get_or_404(HourLog, log_id)
    outcome = run_once(
        form,
        decide,
        answer=lambda _message: url_for("approvals.index"),
        # Checked before the key: someone else's replayed key still gets a 403.
        before=lambda: hour_service.check_may_decide(current_member(), log),
    )
    error = outcome.error
    if error is None:
        done = outcome.result
        return _answer(log_id, None if done is None or done.replayed else done.result)
    if isinstance(error, AlreadyDecided) or is_htmx():
        return _answer(log_id, str(error.message))
    flash(str(error.message), "error")
    return redirect(url_for("approvals.index"), 303)


@bp.post("/<int:log_id>/approve")
@login_required
def approve(log_id: int) -> Response | str:
    def decide() -> str:
        log = hour_service.approve_log(current_member(), log_id)
        return _("Approved %(name)s's record.", name=log.member.name)

    return _decide(log_id, decide)


@bp.post("/<int:log_id>/reject")
@login_required
def reject(log_id: int) -> Response | str:
    def decide() -> str:
        log = hour_service.reject_log(current_member(), log_id, request.form.get("reason", ""))
        return _("Rejected %(name)s's record.", name=log.member.name)

    return _decide(log_id, decide)


@bp.post("/bulk")
@login_required
def bulk() -> Response:
    form = OnceForm()
    if not form.validate_on_submit():
        abort(400)
    ids = form_ids("logs")
    queue = url_for("approvals.index")
    outcome = run_once(
        form,
        lambda: hour_service.approve_many(current_member(), ids),
        answer=lambda _counts: queue,
    )
    if outcome.error is not None:
        flash_refusal(outcome.error)
    elif outcome.result is not None and outcome.result.result is not None:
        approved, skipped = outcome.result.result
        flash(
            _("Approved %(count)s records.", count=len(approved))
            + (" " + _("%(count)s were already decided.", count=skipped) if skipped else ""),
            "success",
        )
    return redirect(queue, 303)
