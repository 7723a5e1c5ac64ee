"""Service requests, redemption holds, family links and gifts."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.clock import now_local
from portal.extensions import db
from portal.models import (
    AuditEvent,
    FamilyLink,
    HourLog,
    JournalEntry,
    ServiceRequest,
)
from portal.services import family, ledger
from portal.services import requests as req
from portal.services.errors import AlreadyDecided, DomainError, Forbidden
from tests.support import World, fund, log_hours, make_member, request_fields


def _fund(world: World, member, minutes: int) -> None:  # type: ignore[no-untyped-def]
    fund(member, minutes)


def _fields(world: World, minutes: int = 120, paid: bool = True) -> req.RequestFields:
    return request_fields(world.service.id, minutes, paid=paid)


def _form(world: World, **overrides: object) -> dict[str, object]:
    data = {
        "service": world.service.id,
        "when": (now_local() - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M"),
        "place": "幸福里 3 栋 201",
        "minutes": "120",
        "note": "",
        "pay_with_hours": "y",
        "once": uuid.uuid4().hex,
    }
    data.update(overrides)
    return data


def _escrow(world: World) -> int:
    return ledger.escrow_account(world.community.id).balance


# --- the paid flow at the service level ------------------------------------------------


def test_paid_request_end_to_end(world: World) -> None:
    _fund(world, world.resident, 300)
    request = req.post(world.resident, _fields(world, 120))
    db.session.commit()
    assert ledger.balance_of(world.resident) == 180
    assert req.reserved_minutes(world.resident) == 120 and _escrow(world) == 120
    req.dispatch(world.coordinator, request.id, world.volunteer.id)
    req.accept(world.volunteer, request.id)
    req.mark_done(world.volunteer, request.id, 90)
    req.confirm(world.resident, request.id, 5, "很好")
    db.session.commit()
    assert ledger.balance_of(world.resident) == 300 - 90
    assert ledger.balance_of(world.volunteer) == 90
    assert _escrow(world) == 0 and req.reserved_minutes(world.resident) == 0
    log = db.session.get(HourLog, request.hour_log_id)
    assert (log.status, log.minutes, log.source) == ("approved", 90, "request")
    assert ledger.verify().ok
    kinds = [e.kind for e in db.session.scalars(select(JournalEntry).order_by(JournalEntry.id))]
    assert kinds == ["hours", "redeem_hold", "redeem_settle"]


def test_longer_than_reserved_never_costs_the_resident_more(world: World) -> None:
    _fund(world, world.resident, 60)
    request = req.post(world.resident, _fields(world, 60))
    req.take(world.volunteer, request.id)
    # 90 minutes: within the tolerance (60 + 30), so the extra half hour is credited at once.
    req.mark_done(world.volunteer, request.id, 90)
    req.confirm(world.resident, request.id, 4, "")
    db.session.commit()
    assert ledger.balance_of(world.resident) == 0
    assert ledger.balance_of(world.volunteer) == 90
    assert ledger.verify().ok


def test_cancel_returns_the_whole_hold_once(world: World) -> None:
    _fund(world, world.resident, 120)
    request = req.post(world.resident, _fields(world, 120))
    req.cancel(world.resident, request.id)
    with pytest.raises(AlreadyDecided):
        req.cancel(world.resident, request.id)
    with pytest.raises(AlreadyDecided):
        req.take(world.volunteer, request.id)
    db.session.commit()
    assert ledger.balance_of(world.resident) == 120 and _escrow(world) == 0
    assert ledger.verify().ok


def test_confirm_after_cancel_and_cancel_after_confirm_do_nothing(world: World) -> None:
    _fund(world, world.resident, 120)
    request = req.post(world.resident, _fields(world, 60))
    req.take(world.volunteer, request.id)
    req.mark_done(world.volunteer, request.id, 60)
    with pytest.raises(AlreadyDecided):
        req.cancel(world.resident, request.id)  # done: only confirmation remains
    req.confirm(world.resident, request.id, 5, "")
    with pytest.raises(AlreadyDecided):
        req.confirm(world.resident, request.id, 5, "")
    db.session.commit()
    assert ledger.balance_of(world.volunteer) == 60
    assert (
        db.session.scalar(
            select(func.count(JournalEntry.id)).where(
                JournalEntry.kind.in_(["redeem_settle", "redeem_release"])
            )
        )
        == 1
    )


def test_short_balance_is_refused_with_the_figures(world: World) -> None:
    _fund(world, world.resident, 30)
    with pytest.raises(DomainError) as refused:
        req.post(world.resident, _fields(world, 120))
    assert refused.value.field == "minutes"
    db.session.rollback()
    assert db.session.scalar(select(func.count(ServiceRequest.id))) == 0
    assert ledger.balance_of(world.resident) == 30


def test_reserved_hours_are_not_spendable(world: World) -> None:
    _fund(world, world.resident, 120)
    req.post(world.resident, _fields(world, 120))
    db.session.commit()
    with pytest.raises(DomainError):
        req.post(world.resident, _fields(world, 60))


def test_minimum_age_for_redemption(world: World) -> None:
    world.community.redemption_min_age = 70
    young = make_member(world.community, "年轻人", age=40)
    _fund(world, young, 120)
    with pytest.raises(DomainError) as refused:
        req.post(young, _fields(world, 60))
    assert refused.value.field == "pay_with_hours"
    db.session.rollback()
    # The community can still fund it.
    request = req.post(young, _fields(world, 60, paid=False))
    assert request.held_minutes == 0 and ledger.balance_of(young) == 120


def test_community_funded_confirmation_credits_the_volunteer(world: World) -> None:
    request = req.post(world.resident, _fields(world, 60, paid=False))
    req.take(world.volunteer, request.id)
    req.mark_done(world.volunteer, request.id, 45)
    req.confirm(world.resident, request.id, 5, "")
    db.session.commit()
    assert ledger.balance_of(world.volunteer) == 45
    assert ledger.issuance_account(world.community.id).balance == -45


def test_roles_of_each_step(world: World) -> None:
    request = req.post(world.resident, _fields(world, 60, paid=False))
    with pytest.raises(Forbidden):
        req.dispatch(world.volunteer, request.id, world.volunteer2.id)
    with pytest.raises(DomainError):
        req.dispatch(world.coordinator, request.id, world.resident.id)  # own request
    req.dispatch(world.coordinator, request.id, world.volunteer.id)
    with pytest.raises(Forbidden):
        req.accept(world.volunteer2, request.id)
    req.decline(world.volunteer, request.id)
    assert request.status == "open" and request.assignee_id is None
    with pytest.raises(DomainError):
        req.take(world.resident, request.id)
    req.take(world.volunteer2, request.id)
    with pytest.raises(Forbidden):
        req.mark_done(world.volunteer, request.id, 30)
    req.mark_done(world.volunteer2, request.id, 30)
    with pytest.raises(Forbidden):
        req.confirm(world.volunteer2, request.id, 5, "")
    with pytest.raises(DomainError):
        req.confirm(world.resident, request.id, 6, "")


def test_a_linked_relative_may_post_and_confirm_for_an_elder(world: World) -> None:
    daughter = make_member(world.community, "李女儿", age=50)
    link = family.propose(daughter, world.resident.phone)
    with pytest.raises(Forbidden):
        req.post(daughter, _fields(world, 60, paid=False), for_member_id=world.resident.id)
    family.decide(world.resident, link.id, accept=True)
    request = req.post(daughter, _fields(world, 60, paid=False), for_member_id=world.resident.id)
    assert request.requester_id == world.resident.id
    req.take(world.volunteer, request.id)
    req.mark_done(world.volunteer, request.id, 60)
    req.confirm(daughter, request.id, 5, "谢谢")
    assert request.status == "confirmed"


def test_stuck_requests_are_flagged(world: World, login) -> None:  # type: ignore[no-untyped-def]
    old = req.post(world.resident, _fields(world, 60, paid=False))
    fresh = req.post(world.resident, _fields(world, 30, paid=False))
    old.status_changed_at = old.status_changed_at - timedelta(hours=25)
    db.session.commit()
    html = login(world.coordinator).get("/requests?view=dispatch").get_data(as_text=True)
    old_row = html.split(f"/requests/{old.id}", 1)[1].split("</li>", 1)[0]
    fresh_row = html.split(f"/requests/{fresh.id}", 1)[1].split("</li>", 1)[0]
    assert "⚠" in old_row and "⚠" not in fresh_row


# --- through the pages ---------------------------------------------------------------


def test_post_a_paid_request_through_the_page(world: World, login) -> None:  # type: ignore[no-untyped-def]
    _fund(world, world.resident, 300)
    client = login(world.resident)
    data = _form(world)
    first = client.post("/requests/new", data=data)
    again = client.post("/requests/new", data=data)  # a double tap
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]
    assert db.session.scalar(select(func.count(ServiceRequest.id))) == 1
    assert ledger.balance_of(world.resident) == 180
    me = client.get("/me").get_data(as_text=True)
    assert 'id="my-reserved">2 小时<' in me


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"service": 0}, "service", "服务项目"),
        ({"when": "soon"}, "when", "日期和时间"),
        ({"place": ""}, "place", "地点"),
        ({"minutes": "0"}, "minutes", "720"),
        ({"minutes": "999"}, "minutes", "720"),
        ({"minutes": "6000", "pay_with_hours": "y"}, "minutes", "720"),
        ({"minutes": "600"}, "minutes", "不够"),
    ],
)
def test_bad_requests_are_explained_and_change_nothing(
    world: World,
    login,
    overrides,
    field,
    message,  # type: ignore[no-untyped-def]
) -> None:
    _fund(world, world.resident, 60)
    response = login(world.resident).post("/requests/new", data=_form(world, **overrides))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error = html.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
    assert message in error, error
    assert db.session.scalar(select(func.count(ServiceRequest.id))) == 0
    assert ledger.balance_of(world.resident) == 60


def test_each_step_through_the_pages(world: World, login) -> None:  # type: ignore[no-untyped-def]
    _fund(world, world.resident, 300)
    resident = login(world.resident)
    resident.post("/requests/new", data=_form(world))
    request = db.session.scalars(select(ServiceRequest)).one()
    coordinator = login(world.coordinator)
    page = coordinator.get(f"/requests/{request.id}").get_data(as_text=True)
    assert world.volunteer.name in page
    assert (
        coordinator.post(
            f"/requests/{request.id}/dispatch", data={"volunteer": world.volunteer.id}
        ).status_code
        == 303
    )
    volunteer = login(world.volunteer)
    assert "请接受或拒绝" in volunteer.get("/notifications").get_data(as_text=True)
    volunteer.post(f"/requests/{request.id}/accept")
    volunteer.post(f"/requests/{request.id}/accept")  # double tap: nothing more
    bad = volunteer.post(f"/requests/{request.id}/done", data={"minutes": "abc"})
    assert bad.status_code == 422
    volunteer.post(f"/requests/{request.id}/done", data={"minutes": "90"})
    no_stars = resident.post(
        f"/requests/{request.id}/confirm", data={"comment": "", "once": uuid.uuid4().hex}
    )
    assert no_stars.status_code == 422
    key = uuid.uuid4().hex
    for _ in range(3):
        resident.post(
            f"/requests/{request.id}/confirm", data={"rating": "5", "comment": "很好", "once": key}
        )
    db.session.refresh(request)
    assert (request.status, request.rating) == ("confirmed", 5)
    assert ledger.balance_of(world.resident) == 210
    assert ledger.balance_of(world.volunteer) == 90
    timeline = resident.get(f"/requests/{request.id}").get_data(as_text=True)
    for label in ("已发布", "已派单", "已接单", "已完成", "已确认"):
        assert label in timeline, label
    assert (
        db.session.scalar(
            select(func.count(AuditEvent.id)).where(AuditEvent.action.like("request.%"))
        )
        == 5
    )
    assert ledger.verify().ok


def test_open_list_filters_by_category(world: World, login) -> None:  # type: ignore[no-untyped-def]
    req.post(world.resident, _fields(world, 60, paid=False))
    db.session.commit()
    client = login(world.volunteer)
    assert "陪伴聊天" in client.get("/requests").get_data(as_text=True)
    other = client.get("/requests?category=patrol", headers={"HX-Request": "true"})
    text = other.get_data(as_text=True)
    assert "<html" not in text and "陪伴聊天" not in text


# --- family and gifts ----------------------------------------------------------------


def test_family_link_and_gift_through_the_pages(world: World, login) -> None:  # type: ignore[no-untyped-def]
    daughter = make_member(world.community, "李女儿", age=50)
    _fund(world, daughter, 600)
    client = login(daughter)
    assert client.post("/family/link", data={"phone": world.resident.phone}).status_code == 303
    link = db.session.scalars(select(FamilyLink)).one()
    refused = client.post(
        "/gift", data={"to": world.resident.id, "minutes": "60", "once": uuid.uuid4().hex}
    )
    assert refused.status_code == 422 and ledger.balance_of(world.resident) == 0
    assert login(world.volunteer).post(f"/family/{link.id}/accept").status_code == 403
    login(world.resident).post(f"/family/{link.id}/accept")
    data = {"to": world.resident.id, "minutes": "", "hours": "5", "once": uuid.uuid4().hex}
    assert client.post("/gift", data=data).status_code == 303
    client.post("/gift", data=data)  # replay
    assert ledger.balance_of(world.resident) == 300 and ledger.balance_of(daughter) == 300


def test_gift_yearly_cap(world: World) -> None:
    world.community.gift_yearly_cap_minutes = 100
    daughter = make_member(world.community, "李女儿", age=50)
    _fund(world, daughter, 600)
    link = family.propose(daughter, world.resident.phone)
    family.decide(world.resident, link.id, accept=True)
    family.gift(daughter, world.resident.id, 60, key="a")
    with pytest.raises(DomainError) as refused:
        family.gift(daughter, world.resident.id, 60, key="b")
    assert refused.value.field == "minutes"
    family.gift(daughter, world.resident.id, 40, key="c")
    assert family.gifted_this_year(daughter) == 100


def test_gift_more_than_the_balance(world: World) -> None:
    daughter = make_member(world.community, "李女儿", age=50)
    _fund(world, daughter, 30)
    link = family.propose(daughter, world.resident.phone)
    family.decide(world.resident, link.id, accept=True)
    with pytest.raises(DomainError):
        family.gift(daughter, world.resident.id, 60, key="x")
    assert ledger.balance_of(daughter) == 30


# --- the person served confirms a self-reported log ---------------------------------------


def test_beneficiary_confirms_a_logged_service(world: World, login) -> None:  # type: ignore[no-untyped-def]
    client = login(world.volunteer)
    response = client.post(
        "/hours/new",
        data={
            "date": (now_local().date() - timedelta(days=1)).isoformat(),
            "minutes": "60",
            "team": world.team.id,
            "service": world.service.id,
            "note": "",
            "beneficiary": world.resident.member_no,
            "once": uuid.uuid4().hex,
        },
    )
    assert response.status_code == 303
    log = db.session.scalars(select(HourLog)).one()
    assert log.beneficiary_id == world.resident.id
    queue = login(world.coordinator).get("/approvals").get_data(as_text=True)
    assert "尚未确认" in queue
    assert login(world.volunteer2).post(f"/hours/{log.id}/confirm").status_code == 403
    resident = login(world.resident)
    assert "请确认" in resident.get("/me").get_data(as_text=True)
    resident.post(f"/hours/{log.id}/confirm")
    db.session.refresh(log)
    assert log.beneficiary_confirmed_by_id == world.resident.id
    queue = login(world.coordinator).get("/approvals").get_data(as_text=True)
    assert "服务对象已确认" in queue


def test_unknown_beneficiary_number(world: World, login) -> None:  # type: ignore[no-untyped-def]
    response = login(world.volunteer).post(
        "/hours/new",
        data={
            "date": (now_local().date() - timedelta(days=1)).isoformat(),
            "minutes": "60",
            "team": world.team.id,
            "service": world.service.id,
            "beneficiary": "00000000",
            "once": uuid.uuid4().hex,
        },
    )
    assert response.status_code == 422
    assert db.session.scalar(select(func.count(HourLog.id))) == 0


def test_self_logged_hours_unaffected(world: World) -> None:
    log = log_hours(world.volunteer, world.team, world.service)
    assert log.beneficiary_id is None
