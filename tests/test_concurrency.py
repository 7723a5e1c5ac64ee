"""Races with real processes (DESIGN.md, "The ledger": idempotency and concurrency).

- 400 approval POSTs (200 logs, each double-tapped with one one-time key) against gunicorn
  with 8 workers: every log is approved once, with one entry, and the books verify.
- 50 simultaneous POSTs approving one log, with one key or with 50 different keys.
- Bulk approvals racing single approvals of the same logs: no deadlock, no 500.
- 8 separate Python processes racing to spend the same last minutes: exactly as many
  succeed as the balance covers; it never goes below zero.

Runs on the configured database: a SQLite file by default, PostgreSQL with
DATABASE_URL=postgresql+psycopg://... .
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from collections.abc import Iterator
from uuid import uuid4

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Account, AuditEvent, HourLog, JournalEntry, Posting
from portal.models.idempotency import FormKey
from portal.services import ledger
from tests.processes import (
    Login,
    Outcome,
    Server,
    approve,
    approve_bulk,
    fire,
    gunicorn,
    log_in,
    race_transfers,
    run_flask,
)
from tests.support import TEST_PASSWORD, World, log_hours

pytestmark = pytest.mark.slow

LOGS = 200
MINUTES = 30


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One gunicorn (8 sync workers) for the module; every test empties the tables and
    logs in afresh, so sharing it only saves the start-up."""
    with gunicorn(database_url, tmp_path_factory.mktemp("gunicorn")) as live:
        yield live


def _db_name(url: str) -> str:
    return url.split(":", 1)[0]


def _statuses(outcomes: list[Outcome]) -> Counter[int | None]:
    return Counter(outcome.status for outcome in outcomes)


def _assert_all_answered(outcomes: list[Outcome], server: Server, expected: int) -> None:
    assert len(outcomes) == expected
    failed = [o for o in outcomes if o.status is None]
    assert not failed, f"requests failed: {failed[:3]}"
    errors = [o for o in outcomes if o.status >= 500]  # type: ignore[operator]
    assert not errors, f"{len(errors)} server errors; log:\n{server.log_tail()}"
    # Every answer, first or replayed or "already decided", goes back to the queue.
    assert _statuses(outcomes) == Counter({303: expected}), _statuses(outcomes)
    assert {o.location.rsplit("/", 1)[-1] for o in outcomes} == {"approvals"}
    log = server.log_path.read_text(errors="replace")
    assert "Traceback" not in log and "WORKER TIMEOUT" not in log, server.log_tail()


def _observe() -> None:
    """End the test's own transaction, so that its next read sees what the server and the
    other processes committed since. (conftest ends it after each test-client request;
    these tests talk to real processes instead.)"""
    db.session.commit()


def _balance(account_id: int) -> int:
    """The cached balance as committed now (a select, never the identity map)."""
    return db.session.scalar(select(Account.balance).where(Account.id == account_id))


def _posting_sum(account_id: int) -> int:
    return db.session.scalar(
        select(func.coalesce(func.sum(Posting.amount), 0)).where(Posting.account_id == account_id)
    )


def _assert_books_verify(cli_database_url: str | None = None) -> None:
    """ledger.verify() is ok and no member or escrow posting left a balance below zero;
    with a database url, `flask ledger verify` in its own process agrees (exit code 0)."""
    report = ledger.verify()
    assert report.ok, report.problems[:5]
    lowest = db.session.scalar(
        select(func.min(Posting.balance_after))
        .join(Account, Account.id == Posting.account_id)
        .where(Account.kind != "issuance")
    )
    assert lowest is None or lowest >= 0
    if cli_database_url is not None:
        check = run_flask(cli_database_url, "ledger", "verify")
        assert check.returncode == 0, check.stdout + check.stderr
        assert "ledger OK" in check.stdout


def _login(server: Server, world: World) -> Login:
    return log_in(server.url, world.coordinator.phone, TEST_PASSWORD)


def test_two_hundred_double_tapped_approvals_on_gunicorn(
    app_ctx: Flask, world: World, server: Server, database_url: str
) -> None:
    logs = [
        log_hours(world.volunteer, world.team, world.service, minutes=MINUTES, days_ago=1 + i % 25)
        for i in range(LOGS)
    ]
    log_ids = [log.id for log in logs]
    db.session.commit()
    login = _login(server, world)

    # Each log twice in a row with one key: the two taps are taken by two threads at once.
    jobs = []
    for log_id in log_ids:
        once = uuid4().hex
        jobs += [approve(log_id, once), approve(log_id, once)]
    started = time.perf_counter()
    outcomes = fire(server.url, login, jobs, threads=32)
    elapsed = time.perf_counter() - started
    _observe()
    print(
        f"\n[{_db_name(database_url)}] {len(jobs)} approval POSTs (32 threads, 8 workers) in "
        f"{elapsed:.1f}s: statuses {dict(_statuses(outcomes))}"
    )
    _assert_all_answered(outcomes, server, 2 * LOGS)

    rows = db.session.scalars(select(HourLog).where(HourLog.id.in_(log_ids))).all()
    assert Counter(log.status for log in rows) == Counter({"approved": LOGS})
    assert all(log.decided_by_id == world.coordinator.id for log in rows)
    entry_ids = {log.entry_id for log in rows}
    assert None not in entry_ids and len(entry_ids) == LOGS

    entries = db.session.scalars(select(JournalEntry)).all()
    assert Counter(entry.kind for entry in entries) == Counter({"hours": LOGS})
    keys = [entry.idempotency_key for entry in entries]
    assert len(set(keys)) == len(keys)
    assert set(keys) == {f"hour_log:{log_id}" for log_id in log_ids}
    assert {entry.id for entry in entries} == entry_ids
    approvals = db.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action == "hour_log.approve")
    )
    assert approvals == LOGS
    # One claimed key per double tap: the second tap found the first one's key.
    assert db.session.scalar(select(func.count()).select_from(FormKey)) == LOGS

    account = ledger.member_account(world.volunteer)
    assert account.balance == _posting_sum(account.id) == LOGS * MINUTES
    issuance = ledger.issuance_account(world.community.id)
    assert issuance.balance == _posting_sum(issuance.id) == -LOGS * MINUTES
    _assert_books_verify(database_url)


@pytest.mark.parametrize("keys", ["one key", "fifty keys"])
def test_fifty_simultaneous_approvals_of_one_log(
    app_ctx: Flask, world: World, server: Server, database_url: str, keys: str
) -> None:
    log = log_hours(world.volunteer, world.team, world.service, minutes=45)
    log_id = log.id
    db.session.commit()
    login = _login(server, world)

    shared = uuid4().hex
    jobs = [approve(log_id, shared if keys == "one key" else uuid4().hex) for _ in range(50)]
    started = time.perf_counter()
    outcomes = fire(server.url, login, jobs, threads=50)
    elapsed = time.perf_counter() - started
    _observe()
    print(
        f"\n[{_db_name(database_url)}] 50 POSTs approving one log ({keys}) in {elapsed:.1f}s: "
        f"statuses {dict(_statuses(outcomes))}"
    )
    _assert_all_answered(outcomes, server, 50)

    entries = db.session.scalars(select(JournalEntry)).all()
    assert [(e.kind, e.idempotency_key) for e in entries] == [("hours", f"hour_log:{log_id}")]
    approved = db.session.get(HourLog, log_id)
    assert approved is not None
    assert approved.status == "approved" and approved.entry_id == entries[0].id
    assert ledger.balance_of(world.volunteer) == 45
    # Only the winning request's key stays claimed: a losing attempt rolls its claim back.
    assert db.session.scalar(select(func.count()).select_from(FormKey)) == 1
    _assert_books_verify()


BULK_LOGS = 60


def test_bulk_approvals_racing_single_approvals(
    app_ctx: Flask, world: World, server: Server, database_url: str
) -> None:
    """Two coordinators' tabs approve a selection (all, and the newer half) while single
    approvals of the same logs arrive newest first: every log is approved once, and no
    request fails (a bulk approval must not deadlock against a single one)."""
    logs = [
        log_hours(world.volunteer, world.team, world.service, minutes=MINUTES, days_ago=1 + i % 25)
        for i in range(BULK_LOGS)
    ]
    log_ids = [log.id for log in logs]
    db.session.commit()
    login = _login(server, world)

    posts = [
        approve_bulk(log_ids, uuid4().hex),
        approve_bulk(log_ids[BULK_LOGS // 2 :], uuid4().hex),
        *(approve(log_id, uuid4().hex) for log_id in reversed(log_ids)),
    ]
    started = time.perf_counter()
    outcomes = fire(server.url, login, posts, threads=16)
    elapsed = time.perf_counter() - started
    _observe()
    print(
        f"\n[{_db_name(database_url)}] 2 bulk + {BULK_LOGS} single approval POSTs in "
        f"{elapsed:.1f}s: statuses {dict(_statuses(outcomes))}"
    )
    _assert_all_answered(outcomes, server, len(posts))

    rows = db.session.scalars(select(HourLog).where(HourLog.id.in_(log_ids))).all()
    assert Counter(log.status for log in rows) == Counter({"approved": BULK_LOGS})
    entries = db.session.scalars(select(JournalEntry)).all()
    assert sorted(e.idempotency_key for e in entries) == sorted(
        f"hour_log:{log_id}" for log_id in log_ids
    )
    assert {log.entry_id for log in rows} == {e.id for e in entries}
    assert ledger.balance_of(world.volunteer) == BULK_LOGS * MINUTES
    _assert_books_verify()


RACERS = 8
# Minutes each racer tries to move per round, always out of a balance of 60:
# 60 → exactly one succeeds; 25 → two; 8 → seven (of eight).
ROUNDS = [60, 60, 60, 25, 8]


def test_processes_racing_for_the_last_minutes(
    app_ctx: Flask, world: World, database_url: str
) -> None:
    giver = ledger.member_account(world.volunteer)
    taker = ledger.member_account(world.volunteer2)
    issuance = ledger.issuance_account(world.community.id)
    giver_id, taker_id = giver.id, taker.id
    db.session.commit()

    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(RACERS + 1)  # the racers and this test, which refills between rounds
    results = spawn.Queue()
    racers = [
        spawn.Process(
            target=race_transfers,
            args=(database_url, i, ROUNDS, giver.code, taker.code, barrier, results),
        )
        for i in range(RACERS)
    ]
    for racer in racers:
        racer.start()
    seen: list[Counter[str]] = []
    taken = 0
    started = time.perf_counter()
    try:
        for round_no, minutes in enumerate(ROUNDS):
            # Refill the giver to exactly 60 minutes.
            _observe()
            balance = _balance(giver_id)
            if balance < 60:
                ledger.transfer(
                    "hours", issuance, giver, 60 - balance, idempotency_key=f"refill:{round_no}"
                )
                db.session.commit()
            assert _balance(giver_id) == 60
            barrier.wait(timeout=120)
            outcomes = [results.get(timeout=120) for _ in range(RACERS)]
            _observe()
            assert {(r, i) for r, i, _ in outcomes} == {(round_no, i) for i in range(RACERS)}
            counts = Counter(outcome for _, _, outcome in outcomes)
            seen.append(counts)
            winners = min(RACERS, 60 // minutes)
            assert counts == Counter({"ok": winners, "insufficient": RACERS - winners}), counts
            taken += winners * minutes
            left = _balance(giver_id)
            assert left == 60 - winners * minutes
            assert left == _posting_sum(giver_id)
            if minutes == 60:
                assert left == 0
    finally:
        barrier.abort()  # after a failed round, release racers still waiting for the next
        for racer in racers:
            racer.join(timeout=30)
            if racer.is_alive():  # pragma: no cover - a stuck racer
                racer.kill()
                racer.join()
            racer.close()
        results.close()
        results.join_thread()
    elapsed = time.perf_counter() - started
    print(
        f"\n[{_db_name(database_url)}] {RACERS} processes × {len(ROUNDS)} rounds {ROUNDS} "
        f"in {elapsed:.1f}s: {[dict(c) for c in seen]}"
    )

    gifts = db.session.scalars(select(JournalEntry).where(JournalEntry.kind == "gift")).all()
    assert len(gifts) == sum(min(RACERS, 60 // m) for m in ROUNDS)
    assert _balance(taker_id) == taken == _posting_sum(taker_id)
    _assert_books_verify()
