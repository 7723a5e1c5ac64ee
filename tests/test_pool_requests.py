"""The public-welfare pool (公益池) paying requests of the residents a community names.

Written first: the abuse. The pool pays only for residents the community named; only a
coordinator approves, never the resident, their family or the volunteer (the approval is
the credit's witness); the approver cannot then earn it; a short pool is refused with a
clear message and nothing moves; and the pool's hours are never lost, duplicated or
edited: what is not spent, or a cancelled request's hold, goes back to the pool.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.clock import now_local
from portal.extensions import db
from portal.models import (
    Account,
    CarePerson,
    FamilyLink,
    Grid,
    Household,
    RequestEvent,
    ServiceRequest,
)
from portal.services import ledger, pool
from portal.services import requests as req
from portal.services.errors import AlreadyDecided, DomainError, Forbidden
from tests.support import World, form_key, join, make_member, request_fields


def _feed_pool(world: World, minutes: int) -> None:
    ledger.transfer(
        "hours",
        ledger.issuance_account(world.community.id),
        ledger.pool_account(world.community.id),
        minutes,
        idempotency_key=f"donated:{uuid.uuid4().hex}",
        community_id=world.community.id,
    )
    db.session.commit()


def _fields(world: World, minutes: int = 60, ask_pool: bool = True) -> req.RequestFields:
    return request_fields(world.service.id, minutes, ask_pool=ask_pool)


def _pool() -> int:
    return db.session.scalar(select(Account.balance).where(Account.kind == "pool")) or 0


def _escrow(world: World) -> int:
    return ledger.escrow_account(world.community.id).balance


def _in_register(world: World, member, categories: str) -> None:  # type: ignore[no-untyped-def]
    grid = Grid(community_id=world.community.id, name=f"网格{uuid.uuid4().hex[:6]}")
    db.session.add(grid)
    db.session.flush()
    household = Household(grid_id=grid.id, building="3号楼")
    db.session.add(household)
    db.session.flush()
    db.session.add(
        CarePerson(
            household_id=household.id, name=member.name, categories=categories, member_id=member.id
        )
    )
    db.session.commit()


def _named_alone(world: World):  # type: ignore[no-untyped-def]
    """A resident of 70 living alone, in the register; the community names 'living alone'."""
    elder = make_member(world.community, "独居张", age=70)
    _in_register(world, elder, "alone")
    pool.name_category(world.admin, "alone")
    db.session.commit()
    return elder


# --- who the pool serves --------------------------------------------------------------------


def test_a_resident_the_community_has_not_named_is_refused_clearly(world: World) -> None:
    _feed_pool(world, 600)
    other = make_member(world.community, "普通居民", age=66)
    db.session.commit()
    with pytest.raises(DomainError) as refused:
        req.post(other, _fields(world))
    assert refused.value.field == "ask_pool"
    assert "公益池" in str(refused.value.message) or "pool" in str(refused.value.message)
    db.session.rollback()
    assert db.session.scalar(select(ServiceRequest.id)) is None


def test_named_by_category_by_age_or_one_by_one(world: World) -> None:
    elder = _named_alone(world)
    assert pool.serves(world.community.id, elder)
    # 80 or older: the birth year says it as the register would.
    assert not pool.serves(world.community.id, world.resident)
    pool.name_category(world.admin, "over_80")
    assert pool.serves(world.community.id, world.resident)
    one = make_member(world.community, "个别户", age=60)
    assert not pool.serves(world.community.id, one)
    pool.name_member(world.admin, one.member_no)
    assert pool.serves(world.community.id, one)
    # …but not by another community's pool.
    assert not pool.serves(world.other_community.id, one)


def test_only_the_communitys_admin_names_whom_the_pool_serves(world: World) -> None:
    with pytest.raises(Forbidden):
        pool.name_category(world.coordinator, "alone")
    # Another community's admin names for their own community only.
    assert pool.name_category(world.other_admin, "alone").community_id == (world.other_community.id)
    with pytest.raises(DomainError):
        pool.name_category(world.admin, "rich")
    with pytest.raises(DomainError):
        pool.name_member(world.admin, "no-such-number")
    outsider = make_member(world.other_community, "外社区", age=70)
    with pytest.raises(DomainError):
        pool.name_member(world.admin, outsider.member_no)


# --- the approval is the witness --------------------------------------------------------------


def test_the_pool_pays_with_a_coordinators_approval(world: World) -> None:
    elder = _named_alone(world)
    _feed_pool(world, 600)
    request = req.post(elder, _fields(world, 60))
    db.session.commit()
    assert request.pool_status == "asked" and _pool() == 600  # nothing moves on asking
    req.approve_pool(world.coordinator, request.id)
    db.session.commit()
    assert request.pool_status == "approved" and _pool() == 540 and _escrow(world) == 60
    req.dispatch(world.admin, request.id, world.volunteer.id)
    req.accept(world.volunteer, request.id)
    req.mark_done(world.volunteer, request.id, 45)
    req.confirm(elder, request.id, 5, "")
    db.session.commit()
    assert ledger.balance_of(world.volunteer) == 45
    assert _pool() == 555 and _escrow(world) == 0  # the unspent 15 went back to the pool
    assert ledger.balance_of(elder) == 0
    kinds = [e.kind for e in req.timeline(request)]
    assert "pool_asked" in kinds and "pool_approved" in kinds
    statement = pool.statement(world.community.id)
    assert [line.amount for line in statement][:2] == [15, -60]
    assert ledger.verify().ok


def test_nobody_approves_for_themselves_their_family_or_whom_they_serve(world: World) -> None:
    elder = _named_alone(world)
    _feed_pool(world, 600)
    request = req.post(elder, _fields(world, 60))
    db.session.commit()
    # Not the resident, not a plain volunteer.
    for who in (elder, world.volunteer):
        with pytest.raises(Forbidden):
            req.approve_pool(who, request.id)
        db.session.rollback()
    # Not the coordinator's own relative.
    db.session.add(
        FamilyLink(proposer_id=world.coordinator.id, relative_id=elder.id, status="accepted")
    )
    db.session.commit()
    with pytest.raises(Forbidden):
        req.approve_pool(world.coordinator, request.id)
    db.session.rollback()
    # Not the coordinator who is to serve it.
    join(world.team, world.other_coordinator)
    req.dispatch(world.admin, request.id, world.other_coordinator.id)
    db.session.commit()
    with pytest.raises(Forbidden):
        req.approve_pool(world.other_coordinator, request.id)
    db.session.rollback()
    assert _pool() == 600


def test_the_approver_cannot_then_earn_it(world: World) -> None:
    elder = _named_alone(world)
    _feed_pool(world, 600)
    request = req.post(elder, _fields(world, 60))
    req.approve_pool(world.coordinator, request.id)
    db.session.commit()
    with pytest.raises(DomainError):
        req.take(world.coordinator, request.id)
    db.session.rollback()
    with pytest.raises(DomainError):
        req.dispatch(world.admin, request.id, world.coordinator.id)
    db.session.rollback()


def test_a_short_pool_is_refused_and_nothing_moves(world: World) -> None:
    elder = _named_alone(world)
    _feed_pool(world, 30)
    request = req.post(elder, _fields(world, 60))
    db.session.commit()
    with pytest.raises(DomainError) as refused:
        req.approve_pool(world.coordinator, request.id)
    message = str(refused.value.message)
    assert "30" in message and "60" in message
    db.session.rollback()
    assert _pool() == 30 and _escrow(world) == 0
    assert db.session.get(ServiceRequest, request.id).pool_status == "asked"


def test_approving_twice_holds_once(world: World) -> None:
    elder = _named_alone(world)
    _feed_pool(world, 600)
    request = req.post(elder, _fields(world, 60))
    req.approve_pool(world.coordinator, request.id)
    db.session.commit()
    with pytest.raises(AlreadyDecided):
        req.approve_pool(world.admin, request.id)
    db.session.rollback()
    assert _pool() == 540


def test_a_resident_struck_off_the_list_is_not_approved(world: World) -> None:
    elder = _named_alone(world)
    _feed_pool(world, 600)
    request = req.post(elder, _fields(world, 60))
    line = pool.named(world.community.id)[0]
    pool.unname(world.admin, line.id)
    db.session.commit()
    with pytest.raises(DomainError):
        req.approve_pool(world.coordinator, request.id)
    db.session.rollback()
    assert _pool() == 600


def test_a_cancelled_pool_request_gives_the_hold_back_to_the_pool(world: World) -> None:
    elder = _named_alone(world)
    _feed_pool(world, 600)
    request = req.post(elder, _fields(world, 60))
    req.approve_pool(world.coordinator, request.id)
    req.cancel(elder, request.id)
    db.session.commit()
    assert _pool() == 600 and _escrow(world) == 0 and ledger.balance_of(elder) == 0
    assert ledger.verify().ok


def test_hours_and_pool_are_one_or_the_other(world: World) -> None:
    elder = _named_alone(world)
    fields = _fields(world)
    both = req.RequestFields(**{**fields.__dict__, "pay_with_hours": True})
    with pytest.raises(DomainError):
        req.post(elder, both)
    db.session.rollback()


# --- through the pages ---------------------------------------------------------------------


def test_the_coordinator_approves_on_the_request_page(world: World, login) -> None:
    elder = _named_alone(world)
    _feed_pool(world, 600)
    request = req.post(elder, _fields(world, 60))
    db.session.commit()
    coordinator = login(world.coordinator)
    page = coordinator.get(f"/requests/{request.id}").get_data(as_text=True)
    assert f"/requests/{request.id}/pool" in page
    # The resident sees no approve button, and a POST of hers is refused.
    mine = login(elder)
    assert f"/requests/{request.id}/pool" not in mine.get(f"/requests/{request.id}").get_data(
        as_text=True
    )
    assert mine.post(f"/requests/{request.id}/pool").status_code == 403
    assert _pool() == 600
    assert coordinator.post(f"/requests/{request.id}/pool").status_code == 303
    assert _pool() == 540
    shown = coordinator.get(f"/requests/{request.id}").get_data(as_text=True)
    events = db.session.scalars(
        select(RequestEvent.kind).where(RequestEvent.request_id == request.id)
    ).all()
    assert "pool_approved" in events and "/requests/" in shown


def test_the_pool_page_names_and_shows_the_statement(world: World, login) -> None:
    _feed_pool(world, 600)
    admin = login(world.admin)
    assert admin.get("/pool").status_code == 200
    assert admin.post("/pool/categories", data={"category": "alone"}).status_code == 303
    again = admin.post("/pool/categories", data={"category": "alone"})
    assert again.status_code == 422
    assert admin.post("/pool/categories", data={"category": "x"}).status_code == 422
    assert admin.post("/pool/members", data={"member": "nope"}).status_code == 422
    page = admin.get("/pool").get_data(as_text=True)
    assert "10" in page  # 600 minutes = 10 h
    assert login(world.coordinator).get("/pool").status_code == 200
    assert (
        login(world.coordinator).post("/pool/categories", data={"category": "over_80"}).status_code
        == 403
    )
    assert login(world.volunteer2).get("/pool").status_code == 403


def test_asking_the_pool_from_the_form(world: World, login) -> None:
    elder = _named_alone(world)
    other = make_member(world.community, "没登记", age=66)
    db.session.commit()
    for who, expected in ((other, 422), (elder, 303)):
        client = login(who)
        page = client.get("/requests/new").get_data(as_text=True)
        response = client.post(
            "/requests/new",
            data={
                "service": str(world.service.id),
                "when": (now_local() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
                "place": "幸福里",
                "estimate": "60",
                "ask_pool": "y",
                "once": form_key(page),
            },
        )
        assert response.status_code == expected
