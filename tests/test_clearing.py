"""通存通兑: hours banked in one community pay for service in another.

Written first: the abuse. Nobody creates hours by moving between communities, a relative
elsewhere spends nobody's hours without their consent, the minimum age still holds, the
witness rules still hold — and whatever happens every community's own books sum to zero,
the clearing accounts carry the net between them, and `verify` passes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from portal.clock import now_local
from portal.extensions import db
from portal.models import Account, Community, FamilyLink, Member, Posting
from portal.services import clearing, family, ledger
from portal.services import requests as req
from portal.services.errors import DomainError, Forbidden
from tests.support import (
    World,
    empty_tables,
    fund,
    join,
    make_member,
    make_service,
    make_team,
    request_fields,
)


@dataclass
class Elsewhere:
    """The other community of the world, with its own catalogue, team and people."""

    community: Community
    service_id: int
    coordinator: Member
    volunteer: Member


def _elsewhere(world: World) -> Elsewhere:
    b = world.other_community
    service = make_service(b, "上门理发")
    team = make_team(b, "和平助老队")
    coordinator = make_member(b, "冯协调")
    volunteer = make_member(b, "陈志愿")
    join(team, coordinator, "coordinator")
    join(team, volunteer)
    db.session.commit()
    return Elsewhere(b, service.id, coordinator, volunteer)


def _fund(community_id: int, member: Member, minutes: int) -> None:
    fund(member, minutes, issued_by=community_id)


def _fields(service_id: int, minutes: int = 120, paid: bool = True) -> req.RequestFields:
    return request_fields(service_id, minutes, paid=paid, place="和平里 5 栋 102")


def _balance(code: str) -> int:
    return db.session.scalar(select(Account.balance).where(Account.code == code)) or 0


def _community_sums() -> dict[int, int]:
    """Every community's accounts together: zero, whatever moved between them."""
    rows = db.session.execute(
        select(Account.community_id, func.sum(Account.balance)).group_by(Account.community_id)
    )
    return {community_id: int(total) for community_id, total in rows}


def _books_right() -> None:
    assert all(total == 0 for total in _community_sums().values()), _community_sums()
    clearing_total = db.session.scalar(
        select(func.coalesce(func.sum(Account.balance), 0)).where(Account.kind == "clearing")
    )
    assert clearing_total == 0
    report = ledger.verify()
    assert report.ok, report.problems


def _serve(b: Elsewhere, request_id: int, spent: int) -> None:
    req.dispatch(b.coordinator, request_id, b.volunteer.id)
    req.accept(b.volunteer, request_id)
    req.mark_done(b.volunteer, request_id, spent)


# --- the flow -----------------------------------------------------------------------------


def test_hours_banked_in_a_pay_a_volunteer_in_b_and_b_is_owed(world: World) -> None:
    b = _elsewhere(world)
    a = world.community
    _fund(a.id, world.resident, 300)
    request = req.post(world.resident, _fields(b.service_id, 120), community_id=b.community.id)
    db.session.commit()
    # The hold stays where the hours were banked: nothing has crossed yet.
    assert request.community_id == b.community.id and request.funding_community_id == a.id
    assert _balance(f"escrow:{a.id}") == 120 and _balance(f"escrow:{b.community.id}") == 0
    assert _balance(f"clearing:{a.id}") == 0
    _serve(b, request.id, 90)
    req.confirm(world.resident, request.id, 5, "好")
    db.session.commit()
    assert ledger.balance_of(world.resident) == 210
    assert ledger.balance_of(b.volunteer) == 90
    # A's member paid B's volunteer: A owes B 90 minutes.
    assert _balance(f"clearing:{a.id}") == 90
    assert _balance(f"clearing:{b.community.id}") == -90
    positions = {p.community_id: p.minutes for p in clearing.positions()}
    assert positions[b.community.id] == 90 and positions[a.id] == -90
    _books_right()


def test_a_cancelled_request_elsewhere_crosses_nothing(world: World) -> None:
    b = _elsewhere(world)
    _fund(world.community.id, world.resident, 300)
    request = req.post(world.resident, _fields(b.service_id, 120), community_id=b.community.id)
    req.cancel(world.resident, request.id)
    db.session.commit()
    assert ledger.balance_of(world.resident) == 300
    assert db.session.scalar(select(func.count()).where(Account.kind == "clearing")) == 0
    _books_right()


def test_extra_time_is_funded_by_the_community_that_delivered(world: World) -> None:
    b = _elsewhere(world)
    a = world.community
    _fund(a.id, world.resident, 300)
    request = req.post(world.resident, _fields(b.service_id, 60), community_id=b.community.id)
    _serve(b, request.id, 80)
    req.confirm(world.resident, request.id, 5, "")
    db.session.commit()
    # The resident never pays past the hold; B funds the 20 extra minutes it witnessed.
    assert ledger.balance_of(world.resident) == 240
    assert ledger.balance_of(b.volunteer) == 80
    assert _balance(f"issuance:{b.community.id}") == -20
    assert _balance(f"clearing:{a.id}") == 60
    _books_right()


def test_a_gift_to_a_relative_elsewhere_is_cleared_and_redeemed_there(world: World) -> None:
    b = _elsewhere(world)
    daughter = make_member(b.community, "李女儿", age=45)
    db.session.add(
        FamilyLink(proposer_id=daughter.id, relative_id=world.resident.id, status="accepted")
    )
    _fund(world.community.id, world.resident, 300)
    family.gift(world.resident, daughter.id, 100, key=uuid.uuid4().hex)
    db.session.commit()
    assert _balance(f"clearing:{world.community.id}") == 100
    # The daughter spends the gift at home in B: no further crossing.
    request = req.post(daughter, _fields(b.service_id, 60))
    _serve(b, request.id, 60)
    req.confirm(daughter, request.id, 4, "")
    db.session.commit()
    assert ledger.balance_of(daughter) == 40
    assert _balance(f"clearing:{world.community.id}") == 100
    _books_right()


# --- the abuse ----------------------------------------------------------------------------


def test_moving_to_another_community_creates_no_hours(world: World) -> None:
    b = _elsewhere(world)
    _fund(world.community.id, world.resident, 300)
    total_before = db.session.scalar(
        select(func.sum(Account.balance)).where(Account.kind == "member")
    )
    # She moves to B: her banked hours stay one account, where they were banked.
    world.resident.community_id = b.community.id
    db.session.commit()
    account = ledger.member_account(world.resident)
    assert account.community_id == world.community.id and account.balance == 300
    request = req.post(world.resident, _fields(b.service_id, 120))
    assert request.funding_community_id == world.community.id
    _serve(b, request.id, 120)
    req.confirm(world.resident, request.id, 5, "")
    db.session.commit()
    total_after = db.session.scalar(
        select(func.sum(Account.balance)).where(Account.kind == "member")
    )
    assert total_after == total_before  # moved from her to the volunteer, not created
    assert ledger.balance_of(world.resident) == 180
    assert (
        db.session.scalar(
            select(func.count()).select_from(Account).where(Account.member_id == world.resident.id)
        )
        == 1
    )
    _books_right()


def test_nobody_serves_their_own_request_in_another_community(world: World) -> None:
    b = _elsewhere(world)
    _fund(world.community.id, b.volunteer, 300)  # (an odd account: still one member)
    request = req.post(b.volunteer, _fields(b.service_id, 60))
    with pytest.raises(Forbidden):
        req.take(world.volunteer, request.id)  # a volunteer of A cannot take B's request
    db.session.rollback()
    with pytest.raises(DomainError):
        req.dispatch(b.coordinator, request.id, b.volunteer.id)
    db.session.rollback()


def test_a_relative_in_another_community_cannot_spend_without_consent(world: World) -> None:
    b = _elsewhere(world)
    son = make_member(b.community, "李儿子", age=50)
    db.session.add(FamilyLink(proposer_id=son.id, relative_id=world.resident.id, status="accepted"))
    _fund(world.community.id, world.resident, 300)
    request = req.post(
        son,
        _fields(b.service_id, 120),
        for_member_id=world.resident.id,
        community_id=b.community.id,
    )
    db.session.commit()
    assert request.status == "awaiting_consent"
    assert ledger.balance_of(world.resident) == 300 and request.held_minutes == 0
    with pytest.raises(Forbidden):
        req.consent(son, request.id, agree=True)
    db.session.rollback()
    with pytest.raises(DomainError):
        req.take(b.volunteer, request.id)  # not open until she agrees
    db.session.rollback()
    req.consent(world.resident, request.id, agree=True)
    db.session.commit()
    assert ledger.balance_of(world.resident) == 180
    assert _balance(f"escrow:{world.community.id}") == 120
    _books_right()


def test_the_minimum_age_of_either_community_still_applies(world: World) -> None:
    b = _elsewhere(world)
    young = make_member(world.community, "年轻人", age=40)
    _fund(world.community.id, young, 300)
    b.community.redemption_min_age = 60
    db.session.commit()
    with pytest.raises(DomainError) as refused:
        req.post(young, _fields(b.service_id, 60), community_id=b.community.id)
    assert refused.value.field == "pay_with_hours"
    db.session.rollback()
    # …and her own community's minimum follows her hours to B.
    b.community.redemption_min_age = None
    world.community.redemption_min_age = 60
    db.session.commit()
    with pytest.raises(DomainError):
        req.post(young, _fields(b.service_id, 60), community_id=b.community.id)
    db.session.rollback()
    assert ledger.balance_of(young) == 300


def test_the_witness_rules_hold_across_communities(world: World) -> None:
    b = _elsewhere(world)
    _fund(world.community.id, world.resident, 300)
    request = req.post(world.resident, _fields(b.service_id, 60), community_id=b.community.id)
    _serve(b, request.id, 60)
    db.session.commit()
    # The volunteer cannot confirm her own service, nor can B's coordinator (not the resident).
    for who in (b.volunteer, b.coordinator):
        with pytest.raises(Forbidden):
            req.confirm(who, request.id, 5, "")
        db.session.rollback()
    assert ledger.balance_of(b.volunteer) == 0


def test_a_service_of_another_community_needs_that_community(world: World) -> None:
    b = _elsewhere(world)
    _fund(world.community.id, world.resident, 300)
    with pytest.raises(DomainError) as refused:
        req.post(world.resident, _fields(b.service_id, 60))  # B's service, A's request
    assert refused.value.field == "service"
    db.session.rollback()
    with pytest.raises(DomainError) as refused:
        req.post(world.resident, _fields(b.service_id, 60), community_id=999_999)
    assert refused.value.field == "community"
    db.session.rollback()
    assert ledger.balance_of(world.resident) == 300


def test_a_reversed_settlement_unwinds_the_clearing(world: World) -> None:
    b = _elsewhere(world)
    _fund(world.community.id, world.resident, 300)
    request = req.post(world.resident, _fields(b.service_id, 60), community_id=b.community.id)
    _serve(b, request.id, 60)
    req.confirm(world.resident, request.id, 5, "")
    db.session.commit()
    entry = db.session.get(ledger.JournalEntry, request.resolution_entry_id)
    ledger.reverse(entry, reason="录错了", actor=world.admin)
    db.session.commit()
    # Everything as before the settlement: the hold back in A's escrow, B's volunteer at 0.
    assert _balance(f"clearing:{world.community.id}") == 0
    assert _balance(f"escrow:{world.community.id}") == 60
    assert ledger.balance_of(b.volunteer) == 0
    _books_right()


# --- the city report ----------------------------------------------------------------------


def test_the_city_sees_each_communitys_position(world: World, login) -> None:
    b = _elsewhere(world)
    _fund(world.community.id, world.resident, 300)
    request = req.post(world.resident, _fields(b.service_id, 90), community_id=b.community.id)
    _serve(b, request.id, 90)
    req.confirm(world.resident, request.id, 5, "")
    city = make_member(world.community, "市管理", age=50)
    city.role = "city_admin"
    db.session.commit()
    page = login(city).get("/reports/clearing")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "和平里" in html and "幸福里" in html
    assert 'data-minutes="90"' in html and 'data-minutes="-90"' in html
    assert login(world.admin).get("/reports/clearing").status_code == 403
    assert login(world.resident).get("/reports/clearing").status_code == 403


def test_a_member_asks_for_service_where_they_live_now(world: World, login) -> None:
    b = _elsewhere(world)
    _fund(world.community.id, world.resident, 300)
    client = login(world.resident)
    page = client.get(f"/requests/new?community={b.community.id}")
    assert page.status_code == 200 and "上门理发" in page.get_data(as_text=True)
    from tests.support import form_key

    response = client.post(
        f"/requests/new?community={b.community.id}",
        data={
            "community": str(b.community.id),
            "service": str(b.service_id),
            "when": (now_local() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
            "place": "和平里 5 栋",
            "minutes": "60",
            "note": "",
            "pay_with_hours": "y",
            "once": form_key(page.get_data(as_text=True)),
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    assert ledger.balance_of(world.resident) == 240
    # A community that does not exist is a clear message, not a 500.
    bad = client.get("/requests/new?community=abc")
    assert bad.status_code == 200


# --- property: any mix of cross-community requests keeps every community's books -----------


steps = st.lists(
    st.tuples(
        st.booleans(),  # requester in A (True) or B
        st.booleans(),  # service in the other community
        st.sampled_from(["settle", "cancel", "free"]),
        st.integers(min_value=1, max_value=240),  # estimate
        st.integers(min_value=1, max_value=300),  # spent
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=steps)
def test_random_cross_community_requests_clear_to_zero(app_ctx: Flask, plan) -> None:  # type: ignore[no-untyped-def]
    from tests.support import build_world

    empty_tables()
    world = build_world()
    b = _elsewhere(world)
    a_side = (world.community.id, world.service.id, world.coordinator, world.volunteer2)
    b_side = (b.community.id, b.service_id, b.coordinator, b.volunteer)
    people = {
        True: make_member(world.community, "甲", age=75),
        False: make_member(b.community, "乙", age=75),
    }
    for home, person in people.items():
        _fund(world.community.id if home else b.community.id, person, 2000)
    member_total = 4000
    issued = 0
    for in_a, elsewhere, outcome, estimate, spent in plan:
        person = people[in_a]
        where_a = in_a != elsewhere
        community_id, service_id, coordinator, volunteer = a_side if where_a else b_side
        try:
            with db.session.begin_nested():
                request = req.post(
                    person,
                    _fields(service_id, estimate, paid=outcome != "free"),
                    community_id=community_id,
                )
                if outcome == "cancel":
                    req.cancel(person, request.id)
                    continue
                req.dispatch(coordinator, request.id, volunteer.id)
                req.accept(volunteer, request.id)
                req.mark_done(volunteer, request.id, min(spent, 720))
                before = db.session.scalar(
                    select(func.coalesce(func.sum(Posting.amount), 0))
                    .join(Account, Account.id == Posting.account_id)
                    .where(Account.kind == "issuance")
                )
                req.confirm(person, request.id, 5, "")
                after = db.session.scalar(
                    select(func.coalesce(func.sum(Posting.amount), 0))
                    .join(Account, Account.id == Posting.account_id)
                    .where(Account.kind == "issuance")
                )
                issued += before - after
        except DomainError:
            pass
    db.session.commit()
    # Hours are only created by an issuance account, as for any witnessed service.
    members_now = db.session.scalar(
        select(func.coalesce(func.sum(Account.balance), 0)).where(
            Account.kind.in_(("member", "escrow", "pool"))
        )
    )
    assert members_now == member_total + issued
    _books_right()


def test_verify_names_a_clearing_posting_without_its_counterpart(world: World) -> None:
    _fund(world.community.id, world.resident, 300)
    # Balanced overall and within the community, yet A "owes" nobody in particular.
    ledger.post_entry(
        "gift",
        [
            (ledger.clearing_account(world.community.id), 10),
            (ledger.member_account(world.resident), -10),
        ],
        idempotency_key="odd-clearing",
    )
    db.session.commit()
    assert any("clearing accounts sum to 10" in p for p in ledger.verify().problems)
