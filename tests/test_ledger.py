"""The ledger: balanced entries, no negative members, append-only corrections, a hash chain
that names a tampered row, and random sequences that always verify."""

from __future__ import annotations

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from portal.clock import today_local
from portal.extensions import db
from portal.models import Account, JournalEntry, Posting
from portal.services import corrections, hours, ledger
from portal.services.errors import AlreadyDecided, DomainError, InsufficientBalance
from tests.support import World, empty_tables, ledger_unguarded, log_hours


def _sum_all() -> int:
    return db.session.scalar(select(func.coalesce(func.sum(Account.balance), 0)))


def test_approval_credits_the_volunteer_from_issuance(world: World) -> None:
    log = log_hours(world.volunteer, world.team, world.service, minutes=90)
    hours.approve_log(world.coordinator, log.id)
    db.session.commit()
    assert ledger.balance_of(world.volunteer) == 90
    issuance = ledger.issuance_account(world.community.id)
    assert issuance.balance == -90
    entry = db.session.get(JournalEntry, log.entry_id)
    assert entry is not None and entry.kind == "hours"
    assert sorted(p.amount for p in entry.postings) == [-90, 90]
    assert ledger.verify().ok


def test_entries_must_balance_and_use_whole_minutes(world: World) -> None:
    a = ledger.member_account(world.volunteer)
    b = ledger.issuance_account(world.community.id)
    with pytest.raises(ValueError, match="sum to zero"):
        ledger.post_entry("gift", [(a, 10), (b, -9)], idempotency_key="x1")
    with pytest.raises(ValueError, match="integer"):
        ledger.post_entry("gift", [(a, 1.5), (b, -1.5)], idempotency_key="x2")  # type: ignore[list-item]
    with pytest.raises(ValueError, match="two postings"):
        ledger.post_entry("gift", [(a, 0)], idempotency_key="x3")
    with pytest.raises(ValueError, match="non-zero"):
        ledger.post_entry("gift", [(a, 0), (b, 0)], idempotency_key="x4")
    assert db.session.scalar(select(func.count(JournalEntry.id))) == 0


def test_a_member_never_goes_below_zero(world: World) -> None:
    giver = ledger.member_account(world.volunteer)
    taker = ledger.member_account(world.volunteer2)
    with pytest.raises(InsufficientBalance):
        ledger.transfer("gift", giver, taker, 1, idempotency_key="g1")
    db.session.rollback()
    assert ledger.balance_of(world.volunteer) == 0
    assert db.session.scalar(select(func.count(Posting.id))) == 0


def test_the_database_refuses_a_negative_member_balance(world: World) -> None:
    account = ledger.member_account(world.volunteer)
    db.session.commit()
    with pytest.raises(Exception, match="(?i)check|constraint"):
        db.session.execute(
            text("UPDATE accounts SET balance = -5 WHERE id = :id"), {"id": account.id}
        )
        db.session.flush()
    db.session.rollback()


def test_same_cause_posts_once(world: World) -> None:
    issuance = ledger.issuance_account(world.community.id)
    account = ledger.member_account(world.volunteer)
    first = ledger.transfer("hours", issuance, account, 30, idempotency_key="same")
    second = ledger.transfer("hours", issuance, account, 30, idempotency_key="same")
    assert first.id == second.id
    assert ledger.balance_of(world.volunteer) == 30


def test_a_log_is_approved_once(world: World) -> None:
    log = log_hours(world.volunteer, world.team, world.service, minutes=60)
    hours.approve_log(world.coordinator, log.id)
    with pytest.raises(AlreadyDecided):
        hours.approve_log(world.coordinator, log.id)
    with pytest.raises(AlreadyDecided):
        hours.reject_log(world.coordinator, log.id, "late")
    assert ledger.balance_of(world.volunteer) == 60


def test_reversal_names_the_original_and_the_reason(world: World) -> None:
    log = log_hours(world.volunteer, world.team, world.service, minutes=45)
    hours.approve_log(world.coordinator, log.id)
    original = db.session.get(JournalEntry, log.entry_id)
    assert original is not None
    with pytest.raises(DomainError):
        ledger.reverse(original, reason="  ", actor=world.admin)
    correction = ledger.reverse(original, reason="logged twice", actor=world.admin)
    assert correction.reverses_id == original.id and correction.memo == "logged twice"
    assert ledger.balance_of(world.volunteer) == 0
    with pytest.raises(DomainError):
        ledger.reverse(original, reason="again", actor=world.admin)
    with pytest.raises(DomainError):
        ledger.reverse(correction, reason="undo the undo", actor=world.admin)
    # The original entry is still there, untouched.
    assert db.session.get(JournalEntry, original.id).hash == original.hash
    assert ledger.verify().ok


def test_reversal_refused_when_the_hours_are_spent(world: World) -> None:
    log = log_hours(world.volunteer, world.team, world.service, minutes=60)
    hours.approve_log(world.coordinator, log.id)
    ledger.transfer(
        "gift",
        ledger.member_account(world.volunteer),
        ledger.member_account(world.resident),
        60,
        idempotency_key="gift-1",
    )
    original = db.session.get(JournalEntry, log.entry_id)
    with pytest.raises(InsufficientBalance):
        ledger.reverse(original, reason="mistake", actor=world.admin)


def _approved_world(world: World, count: int = 3) -> list[int]:
    entry_ids = []
    for i in range(count):
        log = log_hours(world.volunteer, world.team, world.service, minutes=30 + i, days_ago=i)
        hours.approve_log(world.coordinator, log.id)
        entry_ids.append(log.entry_id)
    db.session.commit()
    return entry_ids


def test_verify_names_an_edited_posting(world: World, runner) -> None:  # type: ignore[no-untyped-def]
    entry_ids = _approved_world(world)
    assert runner.invoke(args=["ledger", "verify"]).exit_code == 0
    target = db.session.scalars(
        select(Posting).where(Posting.entry_id == entry_ids[1], Posting.amount > 0)
    ).one()
    with ledger_unguarded(db.session):
        db.session.execute(
            text("UPDATE postings SET amount = amount + 60 WHERE id = :id"), {"id": target.id}
        )
    db.session.commit()
    report = ledger.verify()
    assert not report.ok
    assert any(f"entry {entry_ids[1]}" in problem for problem in report.problems)
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 1
    assert f"entry {entry_ids[1]}" in result.output or f"posting {target.id}" in result.output


def test_verify_names_an_edited_entry_and_a_cached_balance(world: World) -> None:
    entry_ids = _approved_world(world)
    with ledger_unguarded(db.session):
        db.session.execute(
            text("UPDATE journal_entries SET memo = 'changed' WHERE id = :id"),
            {"id": entry_ids[0]},
        )
    account = ledger.member_account(world.volunteer)
    db.session.execute(
        text("UPDATE accounts SET balance = balance + 1 WHERE id = :id"), {"id": account.id}
    )
    db.session.commit()
    problems = ledger.verify().problems
    assert problems[0].startswith(f"entry {entry_ids[0]}:")
    assert any(f"account {account.id}" in p for p in problems)


def test_verify_notices_a_deleted_last_entry(world: World) -> None:
    entry_ids = _approved_world(world)
    db.session.execute(text("UPDATE hour_logs SET entry_id = NULL, status = 'pending'"))
    with ledger_unguarded(db.session):
        db.session.execute(text("DELETE FROM postings WHERE entry_id = :id"), {"id": entry_ids[-1]})
        db.session.execute(
            text("DELETE FROM journal_entries WHERE id = :id"), {"id": entry_ids[-1]}
        )
    db.session.commit()
    assert any("ledger head" in p for p in ledger.verify().problems)


# --- property: any sequence of decisions keeps the books right -------------------------

actions = st.lists(
    st.tuples(
        st.sampled_from(["log", "approve", "reject", "reverse", "correct", "cancel", "gift"]),
        st.integers(min_value=0, max_value=50),
        st.integers(min_value=1, max_value=720),
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=actions)
def test_random_sequences_keep_the_books_right(app_ctx: Flask, steps) -> None:  # type: ignore[no-untyped-def]
    from tests.support import build_world

    empty_tables()
    world = build_world()
    volunteers = [world.volunteer, world.volunteer2]
    logs: list[int] = []
    entries: list[int] = []
    expected = {m.id: 0 for m in volunteers}
    for n, (action, pick, minutes) in enumerate(steps):
        who = volunteers[pick % 2]
        try:
            with db.session.begin_nested():
                if action == "log":
                    logs.append(
                        log_hours(who, world.team, world.service, minutes, days_ago=pick % 20).id
                    )
                elif action == "approve" and logs:
                    log = hours.approve_log(world.coordinator, logs[pick % len(logs)])
                    expected[log.member_id] += log.minutes
                    entries.append(log.entry_id)
                elif action == "reject" and logs:
                    hours.reject_log(world.coordinator, logs[pick % len(logs)], "no")
                elif action == "cancel" and logs:
                    log_id = logs[pick % len(logs)]
                    owner = db.session.get(hours.HourLog, log_id).member  # type: ignore[attr-defined]
                    hours.cancel_log(owner, log_id)
                elif action == "reverse" and entries:
                    entry = db.session.get(JournalEntry, entries[pick % len(entries)])
                    ledger.reverse(entry, reason="test", actor=world.admin)
                    for p in entry.postings:
                        account = db.session.get(Account, p.account_id)
                        if account.member_id in expected:
                            expected[account.member_id] -= p.amount
                elif action == "correct" and logs:
                    # Through the corrections service: reverse, maybe with a replacement.
                    log, new = corrections.correct_log(
                        world.admin,
                        logs[pick % len(logs)],
                        "test",
                        corrections.Replacement(minutes=minutes if pick % 2 else None),
                        today=today_local(),
                    )
                    expected[log.member_id] -= log.minutes
                    if new is not None:
                        expected[new.member_id] += new.minutes
                        logs.append(new.id)
                        entries.append(new.entry_id)
                elif action == "gift":
                    other = volunteers[(pick + 1) % 2]
                    ledger.transfer(
                        "gift",
                        ledger.member_account(who),
                        ledger.member_account(other),
                        minutes,
                        idempotency_key=f"gift-{n}",
                    )
                    expected[who.id] -= minutes
                    expected[other.id] += minutes
        except DomainError:
            pass
    db.session.commit()
    report = ledger.verify()
    assert report.ok, report.problems
    assert report.total_minutes == 0 and _sum_all() == 0
    for member in volunteers:
        assert ledger.balance_of(member) == expected[member.id] >= 0


# --- append-only in the database itself ------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE postings SET amount = amount + 60",
        "UPDATE journal_entries SET memo = 'changed'",
        "DELETE FROM postings",
        "DELETE FROM journal_entries",
    ],
)
def test_the_database_refuses_to_change_or_remove_ledger_rows(world: World, statement: str) -> None:
    """Even SQL that bypasses the portal cannot edit the books: only a reversing entry can."""
    _approved_world(world)
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text(statement))
    db.session.rollback()
    assert ledger.verify().ok
    assert ledger.balance_of(world.volunteer) == 30 + 31 + 32
