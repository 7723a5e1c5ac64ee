"""The liability view: what members hold, by age, against what the community delivers."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, time, timedelta

from sqlalchemy import select

from portal.clock import today_local
from portal.extensions import db
from portal.models import Account, HourLog, JournalEntry, Member, Posting
from portal.services import hours, ledger, liability
from tests.support import World, join, log_hours, make_member


def _bank(world: World, member: Member, minutes: int, key: str) -> None:
    ledger.transfer(
        "hours",
        ledger.issuance_account(world.community.id),
        ledger.member_account(member),
        minutes,
        idempotency_key=key,
        community_id=world.community.id,
    )


def _expected(world: World) -> dict:
    today = today_local()
    bands: Counter[str] = Counter()
    older_ids = set()
    for account in db.session.scalars(select(Account).where(Account.kind == "member")):
        member = db.session.get(Member, account.member_id)
        if member.community_id != world.community.id:
            continue
        age = today.year - member.birth_year
        bands[liability.band_of(age)] += account.balance
        if age >= 60:
            older_ids.add(account.id)
    first = today.replace(day=1)
    months = []
    for _ in range(12):
        months.append(first.strftime("%Y-%m"))
        first = (first - timedelta(days=1)).replace(day=1)
    delivery = Counter(
        log.service_date.strftime("%Y-%m")
        for log in db.session.scalars(select(HourLog))
        for _ in range(log.minutes)
        if log.status == "approved"
        and log.community_id == world.community.id
        and log.service_date.strftime("%Y-%m") in months
    )
    # The same 12 months as the delivery, by the entries' month.
    since = datetime.combine(first + timedelta(days=32), time.min).replace(day=1)
    growth = sum(
        p.amount
        for p in db.session.scalars(select(Posting))
        if p.account_id in older_ids
        and db.session.get(JournalEntry, p.entry_id).created_at >= since
    )
    return {
        "bands": bands,
        "delivery": {m: delivery.get(m, 0) for m in reversed(months)},
        "growth": growth,
    }


def test_outstanding_by_age_against_delivery_and_the_projection(world: World, login) -> None:
    world.community.log_window_days = 366
    elders = [
        make_member(world.community, f"老人{age}", age=age) for age in (55, 62, 68, 75, 79, 81, 90)
    ]
    for n, member in enumerate(elders):
        _bank(world, member, 600 * (n + 1), f"test:bank:{n}")
    for n in range(24):
        log = log_hours(world.volunteer, world.team, world.service, 60 + n, days_ago=5 + n * 14)
        hours.approve_log(world.coordinator, log.id)
    db.session.commit()

    owed = liability.liability(world.community.id, today_local())
    expected = _expected(world)
    assert owed.outstanding == {band: expected["bands"].get(band, 0) for band in liability.BANDS}
    assert owed.total == sum(expected["bands"].values())
    assert owed.delivery == expected["delivery"]
    year = sum(expected["delivery"].values())
    assert owed.average_delivery == year // 12
    assert owed.months_of_delivery == round(owed.total / (year // 12), 1)
    older = owed.total - expected["bands"]["under_60"]
    assert owed.older == older
    assert owed.older_growth == expected["growth"] // 12
    if older > year:
        assert owed.older_exceed_in == 0
    else:
        months = math.ceil((year - older + 1) / owed.older_growth)
        assert owed.older_exceed_in == months
        assert older + months * owed.older_growth > year >= older + (months - 1) * owed.older_growth

    page = login(world.admin).get("/reports").get_data(as_text=True)
    assert 'id="h-liability"' in page
    assert page.index('id="h-liability"') < page.index('id="h-team-months"')  # first on the page
    # Coordinators see their teams' figures, not the community's promises.
    assert 'id="h-liability"' not in login(world.coordinator).get("/reports").get_data(as_text=True)


def test_claims_already_beyond_a_year_of_delivery_say_so(world: World) -> None:
    elder = make_member(world.community, "高龄", age=85)
    _bank(world, elder, 6000, "test:bank:elder")
    log = log_hours(world.volunteer, world.team, world.service, 60)
    hours.approve_log(world.coordinator, log.id)
    db.session.commit()
    owed = liability.liability(world.community.id, today_local())
    assert owed.older > sum(owed.delivery.values())
    assert owed.older_exceed_in == 0


def test_a_young_community_with_no_older_savers_never_crosses(world: World) -> None:
    young = make_member(world.community, "年轻", age=30)
    join(world.team, young)
    log = log_hours(young, world.team, world.service, 120)
    hours.approve_log(world.coordinator, log.id)
    db.session.commit()
    owed = liability.liability(world.community.id, today_local())
    assert owed.outstanding["under_60"] >= 120
    assert owed.older_exceed_in is None
