"""The coordinator's approval queue: approve, reject with a reason, approve a selection."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select, union_all
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response

from portal.actions import flash_refusal, run_once
from portal.auth_session import current_member
from portal.extensions import db
from portal.forms import OnceForm
from portal.htmx import is_htmx, render
from portal.inputs import form_ids, query_id
from portal.models import HourLog
from portal.models._time import utcnow
from portal.services import family, teams
from portal.services import hours as hour_service
from portal.services.errors import AlreadyDecided

bp = Blueprint("approvals", __name__, url_prefix="/approvals")


_pending_count = hour_service.pending_count


def _queue(team_ids: list[int], after: int | None, size: int) -> tuple[list[HourLog], int | None]:
    if not team_ids:
        return [], None
    # One keyset range per team, merged: each walks the (team_id, status, id) index from the
    # cursor and stops after a page, so the query reads at most teams × page rows however long
    # the history is. (Written as `team_id IN (…) ORDER BY id`, PostgreSQL walks the primary
    # key through every older log of the city instead: 33 ms at 100k logs, growing with them.)
    per_team = []
    for team_id in team_ids:
        part = select(HourLog.id).where(HourLog.team_id == team_id, HourLog.status == "pending")
        if after is not None:
            part = part.where(HourLog.id > after)
        per_team.append(select(part.order_by(HourLog.id).limit(size + 1).subquery().c.id))
    page = union_all(*per_team).subquery()
    stmt = (
        select(HourLog)
        .join(page, page.c.id == HourLog.id)
        .order_by(page.c.id)
        .limit(size + 1)
        # Each row shows its member, team and service: joined in the same statement (three
        # batched loads before, each a statement of its own).
        .options(
            joinedload(HourLog.member),
            joinedload(HourLog.team),
            joinedload(HourLog.service),
        )
    )
    logs = list(db.session.scalars(stmt))
    return logs[:size], (logs[size - 1].id if len(logs) > size else None)


@bp.get("")
@login_required
def index() -> str:
    me = current_member()
    team_ids = teams.coordinated_team_ids(me)
    logs, next_cursor = _queue(
        team_ids, query_id("after"), current_app.config["APPROVALS_PAGE_SIZE"]
    )
    return render(
        "approvals/index.html",
        "rows",
        logs=logs,
        next_cursor=next_cursor,
        is_coordinator=bool(team_ids),
        select_all=request.args.get("select") == "all",
        # Their own and their family's logs are shown but decided by another coordinator.
        conflicted={me.id, *(r.id for r in family.relatives(me))},
        pending_count=_pending_count(team_ids),
        now=utcnow(),
    )


def _answer(log_id: int, message: str | None = None) -> Response | str:
    """After a decision: the updated row (plus the pending count, out of band) for htmx,
    else back to the queue."""
    if is_htmx():
        log = db.session.get(HourLog, log_id)
        return render(
            "approvals/index.html",
            ["row", "pending_count_oob"],
            log=log,
            message=message,
            now=utcnow(),
            form=OnceForm(),
            pending_count=_pending_count(teams.coordinated_team_ids(current_member())),
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
