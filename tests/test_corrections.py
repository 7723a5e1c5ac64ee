"""Corrections are visible reversals: a coordinator or admin reverses an approved record from
its page with a reason, may enter the corrected record in the same step, and the member sees
who did it and why on their statement, CSV and messages."""

from __future__ import annotations

import csv
import io
import json
import uuid

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, HourLog, JournalEntry, Notification
from portal.services import hours, ledger, teams
from portal.services.family import propose
from tests.support import World, days_ago, form_key, log_hours


def _approved(world: World, minutes: int = 120, member=None, days_ago_: int = 1) -> HourLog:  # type: ignore[no-untyped-def]
    log = log_hours(member or world.volunteer, world.team, world.service, minutes, days_ago_)
    hours.approve_log(world.coordinator, log.id)
    db.session.commit()
    return log


def _correction(reason: str = "分钟数录错了", **fields: object) -> dict[str, object]:
    return {"reason": reason, "once": uuid.uuid4().hex, **fields}


def _entries() -> int:
    return db.session.scalar(select(func.count(JournalEntry.id)))


def _messages(member_id: int) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.member_id == member_id)
            .order_by(Notification.id)
        )
    )


def test_the_log_page_shows_who_approved_it_and_when(world: World, login) -> None:  # type: ignore[no-untyped-def]
    log = _approved(world)
    page = login(world.volunteer).get(f"/hours/{log.id}").get_data(as_text=True)
    assert "批准人" in page and world.coordinator.name in page
    assert log.decided_at is not None
    assert "更正这条记录" not in page  # the volunteer sees no correction form
    event = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.subject_id == log.id, AuditEvent.action == "hour_log.approve"
        )
    ).one()
    assert event.actor_id == world.coordinator.id


def test_who_may_see_a_log_page(world: World, login) -> None:  # type: ignore[no-untyped-def]
    log = _approved(world)
    for member, status in [
        (world.volunteer, 200),
        (world.coordinator, 200),
        (world.admin, 200),
        (world.other_coordinator, 403),
        (world.volunteer2, 403),
        (world.resident, 403),
        (world.other_admin, 403),
    ]:
        assert login(member).get(f"/hours/{log.id}").status_code == status, member.name
    assert login(world.admin).get("/hours/999999").status_code == 404


def test_a_coordinator_corrects_the_minutes_in_one_step(world: World, login) -> None:  # type: ignore[no-untyped-def]
    log = _approved(world, minutes=120)
    client = login(world.coordinator)
    page = client.get(f"/hours/{log.id}").get_data(as_text=True)
    assert "更正这条记录" in page
    response = client.post(
        f"/hours/{log.id}/correct",
        data={"reason": "实际只服务了一小时", "minutes": "60", "once": form_key(page)},
    )
    assert response.status_code == 303 and response.headers["Location"] == f"/hours/{log.id}"

    db.session.refresh(log)
    assert log.status == "reversed" and log.reversal_entry_id is not None
    reversal = db.session.get(JournalEntry, log.reversal_entry_id)
    assert reversal.kind == "reversal" and reversal.reverses_id == log.entry_id
    assert reversal.memo == "实际只服务了一小时" and reversal.actor_id == world.coordinator.id
    replacement = db.session.scalars(select(HourLog).where(HourLog.corrects_id == log.id)).one()
    assert (replacement.status, replacement.minutes, replacement.member_id) == (
        "approved",
        60,
        world.volunteer.id,
    )
    assert replacement.source == "correction" and replacement.decided_by_id == world.coordinator.id
    assert replacement.service_date == log.service_date
    assert ledger.balance_of(world.volunteer) == 60
    assert ledger.verify().ok

    shown = client.get(f"/hours/{log.id}").get_data(as_text=True)
    assert "已更正" in shown and "更正人" in shown and "实际只服务了一小时" in shown
    assert f"/hours/{replacement.id}" in shown
    # The member is told, with who and why, and the message links to the corrected record.
    note = _messages(world.volunteer.id)[-1]
    assert note.kind == "log_corrected"
    inbox = login(world.volunteer).get("/notifications").get_data(as_text=True)
    assert "实际只服务了一小时" in inbox and world.coordinator.name in inbox
    assert f'href="/hours/{replacement.id}"' in inbox
    actions = list(
        db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.subject_id.in_([log.id, replacement.id]))
        )
    )
    assert "hour_log.reverse" in actions and actions.count("hour_log.approve") == 2


def test_the_reversal_shows_on_the_statement_and_csv(world: World, login) -> None:  # type: ignore[no-untyped-def]
    log = _approved(world, minutes=90)
    response = login(world.admin).post(f"/hours/{log.id}/correct", data=_correction("重复登记"))
    assert response.status_code == 303
    client = login(world.volunteer)
    statement = client.get("/me/statement").get_data(as_text=True)
    assert "更正" in statement and "重复登记" in statement and world.admin.name in statement
    assert "批准人" in statement and world.coordinator.name in statement  # the original line
    assert f"/hours/{log.id}" in statement

    rows = list(csv.reader(io.StringIO(client.get("/me/statement.csv").get_data(as_text=True))))
    assert rows[0] == ["\ufeffdate", "kind", "description", "minutes", "balance_minutes"]
    newest = rows[1]
    assert newest[1] == "冲正" and newest[3] == "-90" and newest[4] == "0"
    assert "重复登记" in newest[2] and world.admin.name in newest[2]
    assert rows[2][1] == "服务已审核通过" and world.coordinator.name in rows[2][2]
    note = _messages(world.volunteer.id)[-1]
    assert note.kind == "log_reversed" and json.loads(note.params)["reason"] == "重复登记"


def test_the_wrong_person_is_corrected_to_the_right_one(world: World, login) -> None:  # type: ignore[no-untyped-def]
    log = _approved(world, minutes=60)
    response = login(world.coordinator).post(
        f"/hours/{log.id}/correct",
        data=_correction("记错了人", member_no=world.volunteer2.member_no),
    )
    assert response.status_code == 303
    assert ledger.balance_of(world.volunteer) == 0
    assert ledger.balance_of(world.volunteer2) == 60
    replacement = db.session.scalars(select(HourLog).where(HourLog.corrects_id == log.id)).one()
    assert replacement.member_id == world.volunteer2.id
    assert [n.kind for n in _messages(world.volunteer.id)][-1] == "log_reversed"
    assert [n.kind for n in _messages(world.volunteer2.id)][-1] == "log_approved"
    assert ledger.verify().ok


def test_a_coordinator_of_another_team_is_refused(world: World, login) -> None:  # type: ignore[no-untyped-def]
    log = _approved(world)
    before = _entries()
    response = login(world.other_coordinator).post(f"/hours/{log.id}/correct", data=_correction())
    assert response.status_code == 403
    assert _entries() == before and db.session.get(HourLog, log.id).status == "approved"


def test_nobody_reverses_a_log_credited_to_themselves(world: World, login) -> None:  # type: ignore[no-untyped-def]
    # The coordinator's own hours, approved by an admin who also coordinates.
    teams.add_member(world.team, world.admin, role="coordinator")
    log = log_hours(world.coordinator, world.team, world.service, 60)
    hours.approve_log(world.admin, log.id)
    db.session.commit()
    before = _entries()
    client = login(world.coordinator)
    assert "更正这条记录" not in client.get(f"/hours/{log.id}").get_data(as_text=True)
    assert client.post(f"/hours/{log.id}/correct", data=_correction()).status_code == 403
    own = _approved(world)
    assert (
        login(world.volunteer).post(f"/hours/{own.id}/correct", data=_correction()).status_code
        == 403
    )
    assert _entries() == before + 1 and ledger.balance_of(world.coordinator) == 60


def test_a_reason_is_required(world: World, login) -> None:  # type: ignore[no-untyped-def]
    log = _approved(world)
    before = _entries()
    response = login(world.coordinator).post(
        f"/hours/{log.id}/correct", data=_correction(reason="   ", minutes="30")
    )
    assert response.status_code == 422
    assert "请填写冲正原因" in response.get_data(as_text=True)
    assert _entries() == before and db.session.get(HourLog, log.id).status == "approved"


def test_a_double_tap_reverses_once(world: World, login) -> None:  # type: ignore[no-untyped-def]
    log = _approved(world, minutes=60)
    client = login(world.coordinator)
    data = _correction(minutes="30")
    first = client.post(f"/hours/{log.id}/correct", data=data)
    second = client.post(f"/hours/{log.id}/correct", data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    # A second correction with a fresh form is refused with a message.
    third = client.post(f"/hours/{log.id}/correct", data=_correction("again"))
    assert third.status_code == 422 and "已经更正过" in third.get_data(as_text=True)
    assert (
        db.session.scalar(
            select(func.count(JournalEntry.id)).where(JournalEntry.kind == "reversal")
        )
        == 1
    )
    assert ledger.balance_of(world.volunteer) == 30
    assert ledger.verify().ok


def test_spent_hours_cannot_be_reversed(world: World, login) -> None:  # type: ignore[no-untyped-def]
    log = _approved(world, minutes=60)
    ledger.transfer(
        "gift",
        ledger.member_account(world.volunteer),
        ledger.member_account(world.resident),
        50,
        idempotency_key="gift-spent",
    )
    db.session.commit()
    before = _entries()
    response = login(world.admin).post(f"/hours/{log.id}/correct", data=_correction())
    assert response.status_code == 422
    assert "已使用这些时长" in response.get_data(as_text=True)
    assert _entries() == before and db.session.get(HourLog, log.id).status == "approved"
    # Still refused when the corrected record does not cover the difference (10 + 20 < 60)…
    response = login(world.admin).post(f"/hours/{log.id}/correct", data=_correction(minutes="20"))
    assert response.status_code == 422 and _entries() == before
    # …and allowed when it does: 60 → 55 minutes, with 10 left, leaves 5.
    response = login(world.admin).post(f"/hours/{log.id}/correct", data=_correction(minutes="55"))
    assert response.status_code == 303
    assert ledger.balance_of(world.volunteer) == 5
    assert ledger.verify().ok


def test_the_replacement_obeys_the_limits_and_the_witness_rule(world: World, login) -> None:  # type: ignore[no-untyped-def]
    log = _approved(world, minutes=60)
    client = login(world.coordinator)
    cases = [
        ({"minutes": "721"}, "1 到 720"),
        ({"minutes": "0"}, "1 到 720"),
        ({"date": days_ago(-1)}, "晚于今天"),
        ({"member_no": "000000"}, "没有这个会员号"),
        ({"member_no": world.coordinator.member_no}, "不能审核自己"),
        ({"member_no": world.resident.member_no}, "不在"),
    ]
    for fields, message in cases:
        response = client.post(f"/hours/{log.id}/correct", data=_correction(**fields))
        assert response.status_code == 422, fields
        assert message in response.get_data(as_text=True), fields
    # 24 hours a day: another 720 + 660 minutes that day leave room for 60 once the original
    # is reversed, not for 61.
    for minutes in (720, 660):
        other = log_hours(world.volunteer, world.team, world.service, minutes, days_ago=1)
        hours.approve_log(world.coordinator, other.id)
    db.session.commit()
    response = client.post(f"/hours/{log.id}/correct", data=_correction(minutes="61"))
    assert response.status_code == 422 and "24" in response.get_data(as_text=True)
    assert db.session.get(HourLog, log.id).status == "approved"
    response = client.post(f"/hours/{log.id}/correct", data=_correction(minutes="60"))
    assert response.status_code == 303
    assert ledger.verify().ok


def test_a_relative_cannot_witness_the_replacement(world: World, login) -> None:  # type: ignore[no-untyped-def]
    log = _approved(world, minutes=60)
    link = propose(world.volunteer2, world.coordinator.phone)
    link.status = "accepted"
    db.session.commit()
    response = login(world.coordinator).post(
        f"/hours/{log.id}/correct",
        data=_correction(member_no=world.volunteer2.member_no),
    )
    assert response.status_code == 422 and "家人" in response.get_data(as_text=True)
    assert ledger.balance_of(world.volunteer2) == 0
    assert db.session.get(HourLog, log.id).status == "approved"


def test_only_an_approved_log_can_be_corrected(world: World, login) -> None:  # type: ignore[no-untyped-def]
    pending = log_hours(world.volunteer, world.team, world.service, 60)
    db.session.commit()
    client = login(world.coordinator)
    assert "更正这条记录" not in client.get(f"/hours/{pending.id}").get_data(as_text=True)
    response = client.post(f"/hours/{pending.id}/correct", data=_correction())
    assert response.status_code == 422 and "只有已通过的记录" in response.get_data(as_text=True)
    assert db.session.get(HourLog, pending.id).status == "pending"


def test_a_service_paid_with_the_residents_hours_is_not_corrected_here(world: World, login) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from portal.clock import now_local
    from portal.services import requests as req

    ledger.transfer(
        "hours",
        ledger.issuance_account(world.community.id),
        ledger.member_account(world.resident),
        120,
        idempotency_key="fund-resident",
    )
    request = req.post(
        world.resident,
        req.RequestFields(
            service_id=world.service.id,
            wanted_at=now_local() - timedelta(minutes=10),
            place="家里",
            note="",
            minutes=60,
            pay_with_hours=True,
        ),
    )
    req.dispatch(world.coordinator, request.id, world.volunteer.id)
    req.accept(world.volunteer, request.id)
    req.mark_done(world.volunteer, request.id, 60)
    req.confirm(world.resident, request.id, 5, "")
    db.session.commit()
    log_id = request.hour_log_id
    client = login(world.admin)
    assert "更正这条记录" not in client.get(f"/hours/{log_id}").get_data(as_text=True)
    before = _entries()
    response = client.post(f"/hours/{log_id}/correct", data=_correction())
    assert response.status_code == 422 and "自己的时长" in response.get_data(as_text=True)
    assert _entries() == before and ledger.verify().ok
