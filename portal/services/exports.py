"""CSV exports of raw rows: hour logs, requests and ledger postings, streamed.

Each export is a generator of text chunks: rows are read by keyset (`id > last`, a batch at
a time) and written as they come, so a million rows need the memory of one batch. Cells are
spreadsheet-safe (OWASP "CSV injection"): a text cell that starts with = + - @, a tab or a
carriage return gets a leading ' so no spreadsheet reads it as a formula; numbers are
written as numbers. Files start with a BOM so Excel reads the Chinese text as UTF-8.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import aliased

from portal.extensions import db
from portal.models import (
    Account,
    HourLog,
    JournalEntry,
    Member,
    Posting,
    Service,
    ServiceRequest,
    Team,
)
from portal.services.report_scope import Scope

BATCH = 2000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """What a spreadsheet may be given for `value`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_csv(header: list[str], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """The CSV text of `rows` under `header`, a chunk per few hundred rows, BOM first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff"
    writer.writerow(header)
    for count, row in enumerate(rows, start=1):
        writer.writerow([safe_cell(cell) for cell in row])
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _keyset(stmt: Select[Any], key: Any) -> Iterator[Any]:
    """Every row of `stmt` in `key` order, BATCH rows per query."""
    last = 0
    while True:
        rows = db.session.execute(stmt.where(key > last).order_by(key).limit(BATCH)).all()
        yield from rows
        if len(rows) < BATCH:
            return
        last = rows[-1][0]


# --- hour logs -----------------------------------------------------------------------------

HOUR_LOG_HEADER = [
    "id", "service_date", "member_no", "member", "team", "service", "category", "minutes",
    "status", "source", "beneficiary", "note", "created_at", "decided_at",
]  # fmt: skip


def hour_log_rows(scope: Scope) -> Iterator[Any]:
    volunteer = aliased(Member)
    served = aliased(Member)
    stmt = (
        select(
            HourLog.id,
            HourLog.service_date,
            volunteer.member_no,
            volunteer.name,
            Team.name,
            Service.name,
            Service.category,
            HourLog.minutes,
            HourLog.status,
            HourLog.source,
            served.name,
            HourLog.note,
            HourLog.created_at,
            HourLog.decided_at,
        )
        .join(volunteer, volunteer.id == HourLog.member_id)
        .join(Team, Team.id == HourLog.team_id)
        .join(Service, Service.id == HourLog.service_id)
        .outerjoin(served, served.id == HourLog.beneficiary_id)
        .where(
            HourLog.community_id.in_(scope.community_ids),
            HourLog.service_date >= scope.start,
            HourLog.service_date <= scope.end,
        )
    )
    if scope.team_ids is not None:
        stmt = stmt.where(HourLog.team_id.in_(scope.team_ids))
    if scope.grid_ids is not None:
        stmt = stmt.where(volunteer.grid_id.in_(scope.grid_ids))
    return _keyset(stmt, HourLog.id)


# --- requests ------------------------------------------------------------------------------

REQUEST_HEADER = [
    "id", "created_at", "status", "service", "category", "team", "requester", "volunteer",
    "estimate_minutes", "minutes_spent", "pay_with_hours", "rating", "comment", "note",
]  # fmt: skip


def request_rows(scope: Scope) -> Iterator[Any]:
    requester = aliased(Member)
    assignee = aliased(Member)
    stmt = (
        select(
            ServiceRequest.id,
            ServiceRequest.created_at,
            ServiceRequest.status,
            Service.name,
            Service.category,
            Team.name,
            requester.name,
            assignee.name,
            ServiceRequest.estimate_minutes,
            ServiceRequest.minutes_spent,
            ServiceRequest.pay_with_hours,
            ServiceRequest.rating,
            ServiceRequest.comment,
            ServiceRequest.note,
        )
        .join(Service, Service.id == ServiceRequest.service_id)
        .join(requester, requester.id == ServiceRequest.requester_id)
        .outerjoin(assignee, assignee.id == ServiceRequest.assignee_id)
        .outerjoin(Team, Team.id == ServiceRequest.team_id)
        .where(
            ServiceRequest.community_id.in_(scope.community_ids),
            ServiceRequest.created_at >= scope.start_at,
            ServiceRequest.created_at < scope.end_before,
        )
    )
    if scope.team_ids is not None:
        stmt = stmt.where(ServiceRequest.team_id.in_(scope.team_ids))
    if scope.grid_ids is not None:
        stmt = stmt.where(ServiceRequest.grid_id.in_(scope.grid_ids))
    return _keyset(stmt, ServiceRequest.id)


# --- ledger postings -----------------------------------------------------------------------

LEDGER_HEADER = [
    "posting_id", "entry_id", "created_at", "kind", "memo", "account", "member_no", "minutes",
    "balance_after_minutes", "entry_hash",
]  # fmt: skip


def ledger_rows(scope: Scope) -> Iterator[Any]:
    """One row per posting. An admin's community: its entries; a coordinator's teams: the
    entries that credited or corrected their teams' hour logs."""
    stmt = (
        select(
            Posting.id,
            Posting.entry_id,
            JournalEntry.created_at,
            JournalEntry.kind,
            JournalEntry.memo,
            Account.code,
            Member.member_no,
            Posting.amount,
            Posting.balance_after,
            JournalEntry.hash,
        )
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(Account, Account.id == Posting.account_id)
        .outerjoin(Member, Member.id == Account.member_id)
        .where(
            JournalEntry.created_at >= scope.start_at,
            JournalEntry.created_at < scope.end_before,
        )
    )
    if scope.team_ids is None:
        stmt = stmt.where(JournalEntry.community_id.in_(scope.community_ids))
    else:
        team_entries = select(HourLog.id).where(
            HourLog.team_id.in_(scope.team_ids),
            or_(HourLog.entry_id == JournalEntry.id, HourLog.reversal_entry_id == JournalEntry.id),
        )
        stmt = stmt.where(team_entries.exists())
    if scope.grid_ids is not None:
        # A grid's ledger: the postings on its members' own accounts.
        stmt = stmt.where(Member.grid_id.in_(scope.grid_ids))
    return _keyset(stmt, Posting.id)


EXPORTS: dict[str, tuple[list[str], Callable[[Scope], Iterator[Any]]]] = {
    "hours": (HOUR_LOG_HEADER, hour_log_rows),
    "requests": (REQUEST_HEADER, request_rows),
    "ledger": (LEDGER_HEADER, ledger_rows),
}


def export_csv(kind: str, scope: Scope) -> Iterator[str]:
    header, rows = EXPORTS[kind]
    return write_csv(header, rows(scope))


class _Sink:
    """A write-only file for zipfile: what is written is taken away chunk by chunk."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def export_zip(
    scope: Scope, extra: dict[str, Callable[[], Iterator[str]]] | None = None
) -> Iterator[bytes]:
    """A ZIP of every export (and `extra` named CSVs), written as it streams."""
    sink = _Sink()
    files: dict[str, Callable[[], Iterator[str]]] = {
        f"{kind}.csv": (lambda kind=kind: export_csv(kind, scope)) for kind in EXPORTS
    }
    files.update(extra or {})
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:  # type: ignore[arg-type]
        for name, chunks in files.items():
            with archive.open(name, "w", force_zip64=True) as member:
                for chunk in chunks():
                    member.write(chunk.encode("utf-8"))
                    if len(sink.chunks) > 8:
                        yield sink.drain()
            yield sink.drain()
    yield sink.drain()
