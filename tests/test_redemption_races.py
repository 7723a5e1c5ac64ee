"""Redemption races with real processes (DESIGN.md, "The ledger": two redemptions racing for
the last hour must not both succeed; a hold resolves exactly once, delivered or released).

- The resident holds exactly 60 minutes; 2 or 8 simultaneous POST /requests/new, each paying
  60 minutes (each with its own one-time key), reach gunicorn's 8 workers: one request is
  posted with its hold, every other gets the 422 page saying the hours are not enough.
- The same race between 8 separate Python processes calling requests.post directly, round
  after round (60, 60, 25 and 8 minutes out of 60): exactly as many win as the balance covers.
- Confirm and cancel POSTs (the resident's and the coordinator's) racing on one paid
  request: when it is done, confirmation wins; when it is accepted, cancellation wins; with
  the volunteer's "done" racing too, either may win. Whatever wins, the hold is resolved by
  one entry (key request:<id>:resolve) and escrow is back to zero.
- 50 simultaneous confirmations of one request (one key, or fifty): one settlement, the
  volunteer is credited once, one hour log.

Runs on the configured database: a SQLite file by default, PostgreSQL with
DATABASE_URL=postgresql+psycopg://... .
"""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.clock import now_local
from portal.extensions import db
from portal.models import (
    Account,
    AuditEvent,
    HourLog,
    JournalEntry,
    Member,
    Notification,
    Posting,
    RequestEvent,
    ServiceRequest,
)
from portal.models.idempotency import FormKey
from portal.services import ledger
from portal.services import requests as request_service
from tests.processes import (
    Login,
    Outcome,
    Post,
    Server,
    fire_as,
    gunicorn,
    log_in_at,
    race_paid_requests,
)
from tests.support import TEST_PASSWORD, World, fund

pytestmark = pytest.mark.slow

HOLD = 60  # minutes each paid request reserves
SPENT = 45  # minutes the volunteer reports: 15 of the hold go back to the resident
NOT_ENOUGH = "存储时长不够"  # "Not enough banked hours" on the resident's (Chinese) page


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One gunicorn (8 sync workers) for the module; every test empties the tables and
    logs in afresh, so sharing it only saves the start-up."""
    with gunicorn(database_url, tmp_path_factory.mktemp("gunicorn")) as live:
        yield live


# --- helpers ------------------------------------------------------------------------------


def _db_name(url: str) -> str:
    return url.split(":", 1)[0]


def _observe() -> None:
    """End the test's own transaction, so that its next read sees what the server and the
    other processes committed since."""
    db.session.commit()


def _balance(account_id: int) -> int:
    """The cached balance as committed now (a select, never the identity map)."""
    return db.session.scalar(select(Account.balance).where(Account.id == account_id))


def _posting_sum(account_id: int) -> int:
    return db.session.scalar(
        select(func.coalesce(func.sum(Posting.amount), 0)).where(Posting.account_id == account_id)
    )


def _count(model: type, *where: object) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _fund(world: World, member: Member, minutes: int) -> None:
    """Bank `minutes` for the member (issuance → member), committed."""
    fund(member, minutes)


def _accounts(world: World) -> tuple[int, int, int]:
    """Account ids of the resident, the volunteer and the community's escrow (created now,
    so that the test can read them; the races do not depend on their existing)."""
    ids = (
        ledger.member_account(world.resident).id,
        ledger.member_account(world.volunteer).id,
        ledger.escrow_account(world.community.id).id,
    )
    db.session.commit()
    return ids


def _paid_request(world: World, state: str) -> int:
    """A request paying HOLD minutes of the resident's hours, taken by the volunteer
    ("accepted") and, for "done", reported done with SPENT minutes. Committed."""
    fields = request_service.RequestFields(
        service_id=world.service.id,
        wanted_at=now_local() - timedelta(minutes=10),
        place="幸福里 3 栋 201",
        note="",
        minutes=HOLD,
        pay_with_hours=True,
    )
    request = request_service.post(world.resident, fields)
    request_service.take(world.volunteer, request.id)
    if state == "done":
        request_service.mark_done(world.volunteer, request.id, SPENT)
    request_id = request.id
    db.session.commit()
    return request_id


def _login(server: Server, member: Member) -> Login:
    return log_in_at(server.url, member.phone, TEST_PASSWORD)


def _new_request_form(world: World, minutes: int) -> dict[str, object]:
    return {
        "service": world.service.id,
        "when": (now_local() - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M"),
        "place": "幸福里 3 栋 201",
        "note": "",
        "minutes": str(minutes),
        "pay_with_hours": "y",
        "once": uuid.uuid4().hex,
    }


def confirm(request_id: int, once: str, rating: int = 5, comment: str = "很好") -> Post:
    return Post(
        f"/requests/{request_id}/confirm",
        {"rating": str(rating), "comment": comment, "once": once},
    )


def cancel(request_id: int) -> Post:
    return Post(f"/requests/{request_id}/cancel", {})


def done(request_id: int, minutes: int = SPENT) -> Post:
    return Post(f"/requests/{request_id}/done", {"minutes": str(minutes)})


Answer = tuple[int, Outcome, str]


def _statuses(answers: Sequence[Answer]) -> Counter[int | None]:
    return Counter(outcome.status for _, outcome, _ in answers)


def _assert_answered(answers: Sequence[Answer], server: Server, expected: int) -> None:
    """Every POST got an answer, none a server error, and the server logged no traceback."""
    assert len(answers) == expected
    failed = [outcome for _, outcome, _ in answers if outcome.status is None]
    assert not failed, f"requests failed: {failed[:3]}"
    errors = [outcome for _, outcome, _ in answers if outcome.status >= 500]  # type: ignore[operator]
    assert not errors, f"{len(errors)} server errors; log:\n{server.log_tail()}"
    log = server.log_path.read_text(errors="replace")
    assert "Traceback" not in log and "WORKER TIMEOUT" not in log, server.log_tail()


def _assert_all_back_to_the_request(answers: Sequence[Answer], request_ids: set[int]) -> None:
    """Winner or loser (a refused step is "this request has moved on"), every answer is a
    303 back to the request's page."""
    assert _statuses(answers) == Counter({303: len(answers)}), _statuses(answers)
    back_to = {urlsplit(outcome.location).path for _, outcome, _ in answers}
    assert back_to == {f"/requests/{i}" for i in request_ids}


def _assert_books_verify() -> None:
    """ledger.verify() is ok and no member or escrow posting left a balance below zero."""
    report = ledger.verify()
    assert report.ok, report.problems[:5]
    lowest = db.session.scalar(
        select(func.min(Posting.balance_after))
        .join(Account, Account.id == Posting.account_id)
        .where(Account.kind != "issuance")
    )
    assert lowest is None or lowest >= 0


# --- 1. two requests racing for the last hour ---------------------------------------------


@pytest.mark.parametrize("racers", [2, 8])
def test_requests_racing_for_the_last_hour_on_gunicorn(
    app_ctx: Flask, world: World, server: Server, database_url: str, racers: int
) -> None:
    _fund(world, world.resident, HOLD)
    resident_id = ledger.member_account(world.resident).id
    db.session.commit()
    login = _login(server, world.resident)
    jobs = [(login, Post("/requests/new", _new_request_form(world, HOLD))) for _ in range(racers)]

    started = time.perf_counter()
    answers = fire_as(server.url, jobs, threads=racers)
    elapsed = time.perf_counter() - started
    _observe()
    print(
        f"\n[{_db_name(database_url)}] {racers} POST /requests/new for the last {HOLD} minutes "
        f"in {elapsed:.2f}s: statuses {dict(_statuses(answers))}"
    )
    _assert_answered(answers, server, racers)
    assert _statuses(answers) == Counter({303: 1, 422: racers - 1}), _statuses(answers)

    request = db.session.scalars(select(ServiceRequest)).one()
    (winner,) = [outcome for _, outcome, _ in answers if outcome.status == 303]
    assert winner.location.endswith(f"/requests/{request.id}")
    for _, outcome, page in answers:
        if outcome.status == 422:
            error = page.split('id="minutes-error">', 1)[1].split("</p>", 1)[0]
            assert NOT_ENOUGH in error, error
            assert f"您现有 0 分钟，这次需要 {HOLD} 分钟" in error, error

    assert (request.status, request.held_minutes, request.pay_with_hours) == ("open", HOLD, True)
    hold = db.session.get(JournalEntry, request.hold_entry_id)
    assert hold is not None
    assert (hold.kind, hold.idempotency_key) == ("redeem_hold", f"request:{request.id}:hold")
    assert _count(JournalEntry, JournalEntry.kind == "redeem_hold") == 1
    assert _count(RequestEvent, RequestEvent.kind == "posted") == 1
    # Only the winner's one-time key stays claimed: a refused post rolls its claim back.
    assert _count(FormKey) == 1
    escrow = ledger.escrow_account(world.community.id)
    assert _balance(resident_id) == _posting_sum(resident_id) == 0
    assert _balance(escrow.id) == _posting_sum(escrow.id) == HOLD
    assert request_service.reserved_minutes(world.resident) == HOLD
    _assert_books_verify()


RACERS = 8
# Minutes each racing process asks to hold per round, always out of a balance of 60:
# 60 → exactly one succeeds; 25 → two; 8 → seven (of eight).
ROUNDS = [60, 60, 25, 8]


def test_processes_racing_to_post_paid_requests(
    app_ctx: Flask, world: World, database_url: str
) -> None:
    resident_id = world.resident.id
    account_id = ledger.member_account(world.resident).id
    db.session.commit()

    # A fork server that has imported the portal once: each racer starts as a fork of it
    # (clean, with no threads or connections) instead of importing everything anew.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["portal", "portal.services.requests", "tests.processes"])
    barrier = context.Barrier(RACERS + 1)  # the racers and this test, which refills each round
    results = context.Queue()
    racers = [
        context.Process(
            target=race_paid_requests,
            args=(database_url, i, ROUNDS, resident_id, world.service.id, barrier, results),
        )
        for i in range(RACERS)
    ]
    for racer in racers:
        racer.start()
    seen: list[dict[str, int]] = []
    winners_by_round: list[list[int]] = []
    started = time.perf_counter()
    try:
        for round_no, minutes in enumerate(ROUNDS):
            _observe()
            balance = _balance(account_id)
            if balance < HOLD:
                _fund(world, world.resident, HOLD - balance)
            assert _balance(account_id) == HOLD
            barrier.wait(timeout=120)
            outcomes = [results.get(timeout=120) for _ in range(RACERS)]
            _observe()
            assert {(r, i) for r, i, _ in outcomes} == {(round_no, i) for i in range(RACERS)}
            counts = Counter(outcome.split(":", 1)[0] for _, _, outcome in outcomes)
            seen.append(dict(counts))
            winners = min(RACERS, HOLD // minutes)
            assert counts == Counter({"ok": winners, "insufficient": RACERS - winners}), outcomes
            winners_by_round.append(
                [int(o.split(":", 1)[1]) for _, _, o in outcomes if o.startswith("ok:")]
            )
            left = _balance(account_id)
            assert left == _posting_sum(account_id) == HOLD - winners * minutes
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
        f"posting paid requests in {elapsed:.1f}s: {seen}"
    )

    # Every winner's request exists with its hold; no loser left a request behind.
    posted = db.session.scalars(select(ServiceRequest).order_by(ServiceRequest.id)).all()
    assert sorted(r.id for r in posted) == sorted(i for ids in winners_by_round for i in ids)
    by_id = {r.id: r for r in posted}
    for round_no, ids in enumerate(winners_by_round):
        for request_id in ids:
            assert by_id[request_id].held_minutes == ROUNDS[round_no]
            assert by_id[request_id].hold_entry_id is not None
    holds = db.session.scalars(select(JournalEntry).where(JournalEntry.kind == "redeem_hold")).all()
    assert sorted(e.idempotency_key for e in holds) == sorted(
        f"request:{r.id}:hold" for r in posted
    )
    escrow = ledger.escrow_account(world.community.id)
    reserved = sum(r.held_minutes for r in posted)
    assert _balance(escrow.id) == _posting_sum(escrow.id) == reserved
    assert request_service.reserved_minutes(world.resident) == reserved
    _assert_books_verify()


# --- 2. confirm and cancel racing on one paid request -------------------------------------


def _assert_resolved_once(world: World, request_ids: Sequence[int]) -> Counter[str]:
    """Each request is confirmed (settled once), cancelled (released once) or still waiting
    (nothing resolved); the balances are exactly what those outcomes imply."""
    _observe()
    resident_id, volunteer_id, escrow_id = _accounts(world)
    owed_back = to_volunteer = in_escrow = 0
    finals: Counter[str] = Counter()
    for request_id in request_ids:
        request = db.session.get(ServiceRequest, request_id)
        assert request is not None
        finals[request.status] += 1
        resolving = db.session.scalars(
            select(JournalEntry).where(
                JournalEntry.idempotency_key == f"request:{request_id}:resolve"
            )
        ).all()
        events = Counter(
            db.session.scalars(
                select(RequestEvent.kind).where(RequestEvent.request_id == request_id)
            )
        )
        # A paid request is never also paid by the community (an "hours" entry).
        community_paid = JournalEntry.idempotency_key == f"request:{request_id}:hours"
        assert _count(JournalEntry, community_paid) == 0
        if request.status == "confirmed":
            assert [e.kind for e in resolving] == ["redeem_settle"]
            assert request.resolution_entry_id == resolving[0].id
            log = db.session.get(HourLog, request.hour_log_id)
            assert log is not None and log.entry_id == resolving[0].id
            assert (log.minutes, log.status, log.member_id) == (
                SPENT,
                "approved",
                request.assignee_id,
            )
            assert events["confirmed"] == 1 and events["cancelled"] == 0
            owed_back += HOLD - SPENT
            to_volunteer += SPENT
        elif request.status == "cancelled":
            assert [e.kind for e in resolving] == ["redeem_release"]
            assert request.resolution_entry_id == resolving[0].id
            assert request.hour_log_id is None
            assert events["cancelled"] == 1 and events["confirmed"] == 0
            owed_back += HOLD
        else:
            assert request.status in ("accepted", "done"), request.status
            assert resolving == [] and request.resolution_entry_id is None
            assert events["confirmed"] == events["cancelled"] == 0
            in_escrow += HOLD
        assert events["done"] <= 1
    assert _count(HourLog, HourLog.source == "request") == finals["confirmed"]
    assert _count(JournalEntry, JournalEntry.kind == "redeem_settle") == finals["confirmed"]
    assert _count(JournalEntry, JournalEntry.kind == "redeem_release") == finals["cancelled"]
    assert _count(AuditEvent, AuditEvent.action == "request.confirmed") == finals["confirmed"]
    assert _count(AuditEvent, AuditEvent.action == "request.cancelled") == finals["cancelled"]
    assert _balance(resident_id) == _posting_sum(resident_id) == owed_back
    assert _balance(volunteer_id) == _posting_sum(volunteer_id) == to_volunteer
    assert _balance(escrow_id) == _posting_sum(escrow_id) == in_escrow
    _assert_books_verify()
    return finals


@pytest.mark.parametrize(
    ("state", "count", "expected"),
    [
        ("done", 1, "confirmed"),  # cancel is refused once done: confirmation must win
        ("accepted", 1, "cancelled"),  # not done yet: confirmation is refused
        ("accepted, volunteer marking done", 3, None),  # either may win, once
    ],
)
def test_confirm_and_cancel_racing_on_a_paid_request(
    app_ctx: Flask,
    world: World,
    server: Server,
    database_url: str,
    state: str,
    count: int,
    expected: str | None,
) -> None:
    _fund(world, world.resident, HOLD * count)
    request_ids = [_paid_request(world, state.split(",")[0]) for _ in range(count)]
    resident = _login(server, world.resident)
    coordinator = _login(server, world.coordinator)
    volunteer = _login(server, world.volunteer)

    keys: dict[str, tuple[int, str]] = {}  # one-time key → (request id, comment sent with it)
    jobs: list[tuple[Login, Post]] = []
    rounds = 12 if count == 1 else 4
    for n in range(rounds):
        for request_id in request_ids:
            if state.endswith("marking done") and n % 2 == 0:
                jobs.append((volunteer, done(request_id)))
            once = uuid.uuid4().hex
            keys[once] = (request_id, f"第{n}次")
            jobs += [
                (resident, confirm(request_id, once, comment=f"第{n}次")),
                (resident, cancel(request_id)),
                (coordinator, cancel(request_id)),
            ]

    started = time.perf_counter()
    answers = fire_as(server.url, jobs, threads=min(len(jobs), 48))
    elapsed = time.perf_counter() - started
    _assert_answered(answers, server, len(jobs))
    _assert_all_back_to_the_request(answers, set(request_ids))
    finals = _assert_resolved_once(world, request_ids)
    print(
        f"\n[{_db_name(database_url)}] {len(jobs)} confirm/cancel POSTs on {count} "
        f"request(s) ({state}) in {elapsed:.2f}s: statuses {dict(_statuses(answers))}, "
        f"final {dict(finals)}"
    )
    if expected is not None:
        assert finals == Counter({expected: count})

    # The winning confirmation's key is the only one claimed, and it is the one whose
    # comment the request keeps: the claim and the settlement committed together.
    claimed = db.session.scalars(select(FormKey.key)).all()
    assert len(claimed) == finals["confirmed"]
    for key in claimed:
        request_id, comment = keys[key]
        request = db.session.get(ServiceRequest, request_id)
        assert request is not None
        assert (request.status, request.comment) == ("confirmed", comment)
    for request_id in request_ids:
        request = db.session.get(ServiceRequest, request_id)
        assert request is not None
        event = db.session.scalars(
            select(RequestEvent).where(
                RequestEvent.request_id == request_id,
                RequestEvent.kind.in_(["confirmed", "cancelled"]),
            )
        ).one_or_none()
        if request.status == "confirmed":
            assert event is not None and event.actor_id == world.resident.id
        elif request.status == "cancelled":
            assert event is not None
            assert event.actor_id in (world.resident.id, world.coordinator.id)


# --- 3. fifty confirmations at once --------------------------------------------------------


@pytest.mark.parametrize("keys", ["one key", "fifty keys"])
def test_fifty_simultaneous_confirmations(
    app_ctx: Flask, world: World, server: Server, database_url: str, keys: str
) -> None:
    _fund(world, world.resident, HOLD)
    request_id = _paid_request(world, "done")
    resident = _login(server, world.resident)

    shared = uuid.uuid4().hex
    sent: dict[str, tuple[int, str]] = {}
    jobs = []
    for n in range(50):
        # A double tap sends the same form again; different keys are different forms.
        if keys == "one key":
            once, rating, comment = shared, 4, "很好"
        else:
            once, rating, comment = uuid.uuid4().hex, 1 + n % 5, f"第{n}次"
        sent.setdefault(once, (rating, comment))
        jobs.append((resident, confirm(request_id, once, rating, comment)))

    started = time.perf_counter()
    answers = fire_as(server.url, jobs, threads=50)
    elapsed = time.perf_counter() - started
    print(
        f"\n[{_db_name(database_url)}] 50 confirmations of one request ({keys}) in "
        f"{elapsed:.2f}s: statuses {dict(_statuses(answers))}"
    )
    _assert_answered(answers, server, 50)
    _assert_all_back_to_the_request(answers, {request_id})
    assert _assert_resolved_once(world, [request_id]) == Counter({"confirmed": 1})

    (entry,) = db.session.scalars(
        select(JournalEntry).where(JournalEntry.kind == "redeem_settle")
    ).all()
    assert entry.idempotency_key == f"request:{request_id}:resolve"
    (log,) = db.session.scalars(select(HourLog)).all()
    assert (log.member_id, log.minutes, log.entry_id) == (world.volunteer.id, SPENT, entry.id)
    assert ledger.balance_of(world.volunteer) == SPENT
    assert ledger.balance_of(world.resident) == HOLD - SPENT
    told = _count(
        Notification,
        Notification.member_id == world.volunteer.id,
        Notification.kind == "request_confirmed",
    )
    assert told == 1
    # One claimed key; the rating and comment kept are the ones sent with it.
    (key,) = db.session.scalars(select(FormKey.key)).all()
    request = db.session.get(ServiceRequest, request_id)
    assert request is not None
    assert (request.rating, request.comment) == sent[key]
