"""/reports: figures and pictures for coordinators (their teams) and admins (their
community), and the CSV exports behind them."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response, abort, stream_with_context
from flask_login import login_required

from portal.auth_session import current_member
from portal.clock import today_local
from portal.inputs import query_date, query_id
from portal.services import exports, report_scope
from portal.services.errors import Forbidden
from portal.services.report_scope import Scope

bp = Blueprint("reports", __name__, url_prefix="/reports")


def _scope() -> Scope:
    try:
        return report_scope.scope_for(
            current_member(),
            start=query_date("from"),
            end=query_date("to"),
            team_id=query_id("team"),
            today=today_local(),
        )
    except Forbidden:
        abort(403)


def _download(chunks: Iterator[str] | Iterator[bytes], filename: str, mimetype: str) -> Response:
    response = Response(stream_with_context(chunks), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/export/<any(hours, requests, ledger):kind>.csv")
@login_required
def export(kind: str) -> Response:
    scope = _scope()
    name = f"{kind}_{scope.start.isoformat()}_{scope.end.isoformat()}.csv"
    return _download(exports.export_csv(kind, scope), name, "text/csv; charset=utf-8")


@bp.get("/export.zip")
@login_required
def export_zip() -> Response:
    scope = _scope()
    if not scope.is_admin:
        abort(403)
    name = f"timebank_{scope.start.isoformat()}_{scope.end.isoformat()}.zip"
    return _download(exports.export_zip(scope), name, "application/zip")
