"""/reports: figures and pictures for coordinators (their teams) and admins (their
community), and the CSV exports behind them."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import date, timedelta

from flask import Blueprint, Response, abort, current_app, request, stream_with_context
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from portal.auth_session import current_member
from portal.clock import today_local
from portal.htmx import render
from portal.inputs import query_date, query_id
from portal.models._time import utcnow
from portal.reports import charts
from portal.services import exports, liability, report_scope, reports
from portal.services.errors import Forbidden
from portal.services.report_scope import Scope

bp = Blueprint("reports", __name__, url_prefix="/reports")


def _range() -> tuple[date | None, date | None]:
    """`month=YYYY-MM` picks one month; otherwise `from` and `to`."""
    month = query_date("month")
    if month is not None:
        return month, month.replace(day=calendar.monthrange(month.year, month.month)[1])
    return query_date("from"), query_date("to")


FILTER_IDS = ("community", "team", "grid")


def _unreadable() -> list[str]:
    """Messages for filter values that are not dates or ids (they are then ignored)."""
    notes = []
    for name in ("month", "from", "to"):
        raw = request.args.get(name, "").strip()
        if raw and query_date(name) is None:
            notes.append(
                str(
                    _(
                        "“%(value)s” is not a date we can read (write it as 2026-03-31); "
                        "it was left out.",
                        value=raw[:40],
                    )
                )
            )
    for name in FILTER_IDS:
        raw = request.args.get(name, "").strip()
        if raw and query_id(name) is None:
            notes.append(
                str(
                    _(
                        "That choice of %(what)s could not be read; it was left out.",
                        what=FILTER_LABELS[name],
                    )
                )
            )
    return notes


FILTER_LABELS = {"community": _l("community"), "team": _l("team"), "grid": _l("grid")}


def _scope(*, narrowed: bool = True) -> Scope:
    """The scope the filter form asks for; Forbidden when it names something outside what
    the member may see. `narrowed=False` drops the community, team and grid filters."""
    start, end = _range()
    return report_scope.scope_for(
        current_member(),
        start=start,
        end=end,
        team_id=query_id("team") if narrowed else None,
        community_id=query_id("community") if narrowed else None,
        grid_id=query_id("grid") if narrowed else None,
        today=today_local(),
    )


def _allowed_scope() -> Scope:
    try:
        return _scope()
    except Forbidden:
        abort(403)


def _report(scope: Scope) -> reports.Report:
    return reports.build(scope, now=utcnow(), year_hours=current_app.config["REPORT_YEAR_HOURS"])


@bp.get("")
@login_required
def index() -> tuple[str, int]:
    me = current_member()
    if not report_scope.may_see_reports(me):
        abort(403)
    notes = _unreadable()
    status = 200
    try:
        scope = _scope()
    except Forbidden as refused:
        # An id of another community, team or grid: say so, and show what they may see.
        notes.append(str(refused.message) + " " + str(_("The figures below are without it.")))
        status = 403
        scope = _scope(narrowed=False)
    report = _report(scope)
    today = today_local()
    months = reports.months_between(today.replace(day=1) - timedelta(days=334), today)[::-1]
    owed = None
    if scope.is_admin:
        # The report's month totals are the delivery's months when it covers them.
        known = report.team_months.totals if liability.delivery_known(scope, today) else None
        owed = liability.liability(scope.community_ids, today, known)
    party = [(m, report.team_months.party[m]) for m in report.team_months.months][-12:]
    return render(
        "reports/index.html",
        "body",
        report=report,
        notes=notes,
        owed=owed,
        band_chart=charts.bars(list(owed.outstanding.items())) if owed else None,
        delivery_chart=charts.bars(list(owed.delivery.items())) if owed else None,
        communities=report_scope.communities_in_scope(me),
        teams=report_scope.teams_in_scope(me, scope.community_ids),
        grids=report_scope.grids_in_scope(scope.community_ids),
        months=months,
        args=request.args,
        chart=charts.bars(
            [(m, report.team_months.totals[m]) for m in report.team_months.months][-12:]
        ),
        party_chart=charts.bars(party),
        category_chart=charts.bars(list(report.categories.items())),
    ), status


@bp.get("/table/<any(team_months, party, categories, people, requests, service):name>.csv")
@login_required
def table_csv(name: str) -> Response:
    scope = _allowed_scope()
    header, rows = reports.table(_report(scope), name)
    filename = f"{name}_{scope.start.isoformat()}_{scope.end.isoformat()}.csv"
    return _download(exports.write_csv(header, rows), filename, "text/csv; charset=utf-8")


def _download(chunks: Iterator[str] | Iterator[bytes], filename: str, mimetype: str) -> Response:
    response = Response(stream_with_context(chunks), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/export/<any(hours, requests, ledger):kind>.csv")
@login_required
def export(kind: str) -> Response:
    scope = _allowed_scope()
    name = f"{kind}_{scope.start.isoformat()}_{scope.end.isoformat()}.csv"
    return _download(exports.export_csv(kind, scope), name, "text/csv; charset=utf-8")


@bp.get("/export.zip")
@login_required
def export_zip() -> Response:
    scope = _allowed_scope()
    if not scope.is_admin:
        abort(403)
    name = f"timebank_{scope.start.isoformat()}_{scope.end.isoformat()}.zip"
    return _download(exports.export_zip(scope), name, "application/zip")
