"""The storage cap (存储上限), the public-welfare pool (公益池) and star levels.

Written first: the abuse and the race. Two coordinators approving at once for a member near
the cap must not both get through; a gift cannot carry anyone past it; and whatever
happens the books still verify.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal import create_app
from portal.extensions import db
from portal.models import Account, FamilyLink, HourLog, JournalEntry, Member, Posting
from portal.services import family, hours, ledger, stars
from portal.services.errors import StorageCapReached
from tests.conftest import _test_config
from tests.support import World, join, log_hours, make_member

CAP = 120


def _bank(world: World, member: Member, minutes: int) -> None:
    ledger.transfer(
        "hours",
        ledger.issuance_account(world.community.id),
        ledger.member_account(member),
        minutes,
        idempotency_key=f"test:bank:{member.id}:{minutes}",
        community_id=world.community.id,
    )


def _balance(code: str) -> int:
    return db.session.scalar(select(Account.balance).where(Account.code == code)) or 0


def _capped(world: World) -> None:
    world.community.storage_cap_minutes = CAP
    db.session.commit()


def test_a_credit_past_the_cap_is_refused_with_a_clear_message(world: World, login) -> None:
    _capped(world)
    _bank(world, world.volunteer, 100)
    log = log_hours(world.volunteer, world.team, world.service, 60)
    db.session.commit()
    with pytest.raises(StorageCapReached) as refused:
        hours.approve_log(world.coordinator, log.id)
    db.session.rollback()
    assert "20" in str(refused.value.message)  # only 20 more minutes fit
    # Through the queue: the coordinator sees why, and nothing moved.
    response = login(world.coordinator).post(
        f"/approvals/{log.id}/approve", data={"once": "a" * 32}
    )
    assert response.status_code in (303, 422)
    assert db.session.get(HourLog, log.id).status == "pending"
    assert _balance(f"member:{world.volunteer.id}") == 100
    assert ledger.verify().ok


def test_the_member_may_donate_the_excess_to_the_pool(world: World) -> None:
    _capped(world)
    _bank(world, world.volunteer, 100)
    world.volunteer.donate_excess = True
    log = log_hours(world.volunteer, world.team, world.service, 60)
    hours.approve_log(world.coordinator, log.id)
    db.session.commit()
    assert _balance(f"member:{world.volunteer.id}") == CAP
    assert _balance(f"pool:{world.community.id}") == 40
    entry = db.session.get(JournalEntry, db.session.get(HourLog, log.id).entry_id)
    assert sorted(p.amount for p in entry.postings) == [-60, 20, 40]
    assert ledger.verify().ok


def test_at_the_cap_everything_goes_to_the_pool(world: World) -> None:
    _capped(world)
    _bank(world, world.volunteer, CAP)
    world.volunteer.donate_excess = True
    log = log_hours(world.volunteer, world.team, world.service, 30)
    hours.approve_log(world.coordinator, log.id)
    db.session.commit()
    assert _balance(f"member:{world.volunteer.id}") == CAP
    assert _balance(f"pool:{world.community.id}") == 30
    assert ledger.verify().ok


def test_a_gift_cannot_carry_a_relative_past_the_cap(world: World) -> None:
    _capped(world)
    _bank(world, world.volunteer, 100)
    _bank(world, world.resident, CAP)
    db.session.add(
        FamilyLink(proposer_id=world.volunteer.id, relative_id=world.resident.id, status="accepted")
    )
    db.session.commit()
    with pytest.raises(StorageCapReached):
        family.gift(world.volunteer, world.resident.id, 30, key="gift-over-cap")
    db.session.rollback()
    assert _balance(f"member:{world.resident.id}") == CAP
    assert _balance(f"member:{world.volunteer.id}") == 100


def _race(database_url: str, jobs: list[Callable[[], object]]) -> list[object]:
    """Run each job in its own thread, app and session, released together."""
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)
    # The apps are made here, one after the other: CPython 3.11.7's `ast.parse`, which
    # Werkzeug's routing calls for every rule, is not safe in threads at once
    # ("SystemError: AST constructor recursion depth mismatch": seen in CI, and the race
    # then never ran).
    apps = [create_app(_test_config(database_url)) for _ in jobs]

    def run(index: int) -> None:
        app = apps[index]
        with app.app_context():
            barrier.wait(timeout=30)
            try:
                results[index] = jobs[index]()
                db.session.commit()
            except Exception as error:  # the outcome is what the test looks at
                db.session.rollback()
                results[index] = error
            finally:
                db.session.remove()
                db.engine.dispose()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.mark.parametrize("donate", [False, True])
def test_racing_approvals_never_carry_a_member_past_the_cap(
    world: World, database_url: str, donate: bool
) -> None:
    _capped(world)
    coordinator2 = make_member(world.community, "冯协调")
    join(world.team, coordinator2, "coordinator")
    world.volunteer.donate_excess = donate
    logs = [
        log_hours(world.volunteer, world.team, world.service, 50, days_ago=1 + n) for n in range(4)
    ]
    db.session.commit()
    approvers = [world.coordinator.id, coordinator2.id] * 2

    def approve(log_id: int, approver_id: int) -> Callable[[], object]:
        return lambda: hours.approve_log(db.session.get(Member, approver_id), log_id).id

    results = _race(
        database_url, [approve(log.id, a) for log, a in zip(logs, approvers, strict=True)]
    )
    db.session.commit()  # a fresh read of what the racers committed
    refused = [r for r in results if isinstance(r, StorageCapReached)]
    assert not [
        r for r in results if isinstance(r, Exception) and not isinstance(r, StorageCapReached)
    ]
    balance = _balance(f"member:{world.volunteer.id}")
    pool = _balance(f"pool:{world.community.id}")
    assert balance <= CAP
    if donate:
        assert not refused and balance == CAP and pool == 4 * 50 - CAP
    else:
        # 50 + 50 fit under 120; a third would not: exactly two went through.
        assert len(refused) == 2 and balance == 100 and pool == 0
    approved = db.session.scalar(
        select(func.count(HourLog.id)).where(
            HourLog.member_id == world.volunteer.id, HourLog.status == "approved"
        )
    )
    assert approved == 4 - len(refused)
    credited = db.session.scalar(
        select(func.sum(Posting.amount))
        .join(Account)
        .where(Account.code == f"member:{world.volunteer.id}")
    )
    assert credited == balance
    assert ledger.verify().ok


def test_star_levels_follow_approved_service(world: World, login) -> None:
    world.community.star_minutes = "60,120,180,240,300"
    world.community.storage_cap_minutes = None
    db.session.commit()
    assert stars.level(world.volunteer) == stars.Stars(0, 0, 60)
    for n in range(3):
        log = log_hours(world.volunteer, world.team, world.service, 60, days_ago=1 + n)
        hours.approve_log(world.coordinator, log.id)
    db.session.commit()
    assert stars.level(world.volunteer) == stars.Stars(3, 180, 240)
    client = login(world.volunteer)
    assert "★★★☆☆" in client.get("/me").get_data(as_text=True)
    assert "★★★☆☆" in client.get("/me/card").get_data(as_text=True)


def test_the_member_chooses_donation_in_settings(world: World, login, app_ctx: Flask) -> None:
    client = login(world.volunteer)
    assert client.post("/me/settings/donate", data={"donate": "1"}).status_code == 303
    assert db.session.get(Member, world.volunteer.id).donate_excess is True
    assert client.post("/me/settings/donate", data={"donate": "0"}).status_code == 303
    assert db.session.get(Member, world.volunteer.id).donate_excess is False
