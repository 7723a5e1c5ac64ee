"""CSV exports: what the spreadsheet gets is exactly what the books hold, and safe to open."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.clock import now_local
from portal.extensions import db
from portal.models import Account, HourLog, JournalEntry, Posting, ServiceRequest
from portal.services import exports, hours
from portal.services import requests as req
from tests.support import World, log_hours

TRICKY_NOTES = [
    "普通的备注",
    '带逗号, "引号" 和\n换行',
    '=HYPERLINK("http://evil","点我")',
    "+1+2",
    "-3+4",
    "@SUM(A1)",
    "\tstarts with a tab",
    "\rstarts with a carriage return",
    "'already quoted",
]


def _read(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    body = response.get_data()
    assert body.startswith("\ufeff".encode()), "no BOM: Excel would garble the Chinese"
    return list(csv.DictReader(io.StringIO(body.decode("utf-8")[1:], newline="")))


def _logs(world: World) -> list[HourLog]:
    made = []
    for n, note in enumerate(TRICKY_NOTES):
        log = log_hours(
            world.volunteer, world.team, world.service, 30 + n, days_ago=1 + n, note=note
        )
        if n % 2 == 0:
            hours.approve_log(world.coordinator, log.id)
        made.append(log)
    made.append(log_hours(world.volunteer, world.other_team, world.service, 45, days_ago=2))
    db.session.commit()
    return made


def test_hour_logs_round_trip_exactly_and_formulas_are_neutralised(world: World, login) -> None:
    _logs(world)
    rows = _read(login(world.admin).get("/reports/export/hours.csv"))
    in_db = {log.id: log for log in db.session.scalars(select(HourLog))}
    assert sorted(int(r["id"]) for r in rows) == sorted(in_db)
    for row in rows:
        log = in_db[int(row["id"])]
        assert int(row["minutes"]) == log.minutes
        assert row["service_date"] == log.service_date.isoformat()
        assert row["status"] == log.status
        assert row["member_no"] == log.member.member_no
        # The cell is the note itself, or — when a spreadsheet would run it — the note
        # behind a leading apostrophe, and nothing else.
        if log.note.startswith(("=", "+", "-", "@", "\t", "\r")):
            assert row["note"] == "'" + log.note
        else:
            assert row["note"] == log.note
        for cell in row.values():
            assert not cell.startswith(("=", "+", "@", "\t", "\r"))


def test_a_coordinator_exports_only_their_teams(world: World, login) -> None:
    logs = _logs(world)
    rows = _read(login(world.coordinator).get("/reports/export/hours.csv"))
    team_logs = {log.id for log in logs if log.team_id == world.team.id}
    assert {int(r["id"]) for r in rows} == team_logs
    other = _read(login(world.other_coordinator).get("/reports/export/hours.csv"))
    assert {int(r["id"]) for r in other} == {
        log.id for log in logs if log.team_id == world.other_team.id
    }
    # Asking for a team they do not run is refused, not quietly emptied.
    assert (
        login(world.other_coordinator)
        .get(f"/reports/export/hours.csv?team={world.team.id}")
        .status_code
        == 403
    )
    assert login(world.volunteer).get("/reports/export/hours.csv").status_code == 403
    assert login(world.resident).get("/reports/export/ledger.csv").status_code == 403
    assert _read(login(world.other_admin).get("/reports/export/hours.csv")) == []


def test_the_date_range_bounds_the_rows(world: World, login) -> None:
    logs = _logs(world)
    start = (now_local().date() - timedelta(days=4)).isoformat()
    end = (now_local().date() - timedelta(days=2)).isoformat()
    rows = _read(login(world.admin).get(f"/reports/export/hours.csv?from={start}&to={end}"))
    expected = {log.id for log in logs if start <= log.service_date.isoformat() <= end}
    assert {int(r["id"]) for r in rows} == expected and expected


def test_ledger_rows_are_the_postings_and_each_entry_sums_to_zero(world: World, login) -> None:
    _logs(world)
    rows = _read(login(world.admin).get("/reports/export/ledger.csv"))
    postings = {
        p.id: p
        for p in db.session.scalars(
            select(Posting)
            .join(JournalEntry)
            .where(JournalEntry.community_id == world.community.id)
        )
    }
    assert sorted(int(r["posting_id"]) for r in rows) == sorted(postings) and postings
    sums: dict[str, int] = {}
    for row in rows:
        posting = postings[int(row["posting_id"])]
        assert int(row["minutes"]) == posting.amount  # negative numbers stay numbers
        assert int(row["balance_after_minutes"]) == posting.balance_after
        assert row["account"] == db.session.get(Account, posting.account_id).code
        sums[row["entry_id"]] = sums.get(row["entry_id"], 0) + int(row["minutes"])
    assert set(sums.values()) == {0}


def test_requests_export_round_trips(world: World, login) -> None:
    made = []
    for note in TRICKY_NOTES[:4]:
        r = req.post(
            world.resident,
            req.RequestFields(
                world.service.id, now_local() + timedelta(days=1), "家里", note, 60, False
            ),
        )
        made.append(r)
    req.dispatch(world.coordinator, made[0].id, world.volunteer.id)
    db.session.commit()
    rows = _read(login(world.admin).get("/reports/export/requests.csv"))
    in_db = {r.id: r for r in db.session.scalars(select(ServiceRequest))}
    assert {int(r["id"]) for r in rows} == set(in_db)
    for row in rows:
        request = in_db[int(row["id"])]
        assert row["status"] == request.status
        assert row["note"] == exports.safe_cell(request.note)
        assert int(row["estimate_minutes"]) == request.estimate_minutes


def test_the_admin_zip_holds_every_export(world: World, login) -> None:
    _logs(world)
    assert login(world.coordinator).get("/reports/export.zip").status_code == 403
    response = login(world.admin).get("/reports/export.zip")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    assert {"hours.csv", "requests.csv", "ledger.csv"} <= set(archive.namelist())
    hours_csv = archive.read("hours.csv").decode("utf-8")
    direct = login(world.admin).get("/reports/export/hours.csv").get_data(as_text=True)
    assert hours_csv == direct


def test_rows_stream_in_keyset_batches_without_loss(
    world: World, login, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = _logs(world)
    monkeypatch.setattr(exports, "BATCH", 2)
    rows = _read(login(world.admin).get("/reports/export/hours.csv"))
    assert [int(r["id"]) for r in rows] == sorted(log.id for log in logs)
