"""The community-centre kiosk, as stories at the service level (no HTTP) and through the
routes where the separation of kiosk and member sessions is the point."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.clock import now_local
from portal.extensions import db
from portal.models import Activity, AuditEvent, CheckIn, HourLog, JournalEntry, Member
from portal.services import cards, devices, kiosk, ledger, presence
from portal.services.errors import DomainError
from tests.support import World

PLACE = "社区党群服务中心"


def _device(world: World):  # type: ignore[no-untyped-def]
    device, enrol_token = devices.register_device(world.admin, PLACE)
    device, token = devices.enrol(enrol_token)
    db.session.commit()
    return device, token


def _activity(world: World, start: datetime, hours: int = 2) -> Activity:
    activity = Activity(
        team_id=world.team.id,
        service_id=world.service.id,
        title="义诊",
        place=PLACE,
        starts_at=start,
        ends_at=start + timedelta(hours=hours),
        capacity=20,
        created_by_id=world.coordinator.id,
    )
    db.session.add(activity)
    db.session.flush()
    return activity


def _today_at(hour: int, minute: int = 0) -> datetime:
    return now_local().replace(hour=hour, minute=minute, second=0)


def _where(device) -> kiosk.Where:  # type: ignore[no-untyped-def]
    return kiosk.Where.kiosk(device)


def test_enrolment_link_works_once_and_a_revoked_device_is_refused(world: World) -> None:
    device, enrol_token = devices.register_device(world.admin, PLACE)
    device, token = devices.enrol(enrol_token)
    with pytest.raises(DomainError):
        devices.enrol(enrol_token)
    assert devices.device_by_token(token) is device
    devices.revoke(world.admin, device.id)
    db.session.commit()
    assert devices.device_by_token(token) is None


def test_a_revoked_kiosk_is_refused_at_once_over_http(
    world: World, app: Flask, app_ctx: Flask
) -> None:
    device, enrol_token = devices.register_device(world.admin, PLACE)
    db.session.commit()
    client = app.test_client()
    assert client.post(f"/kiosk/enrol/{enrol_token}").status_code == 303
    assert client.get("/kiosk").status_code == 200
    devices.revoke(world.admin, device.id)
    db.session.commit()
    assert client.get("/kiosk").status_code == 403
    assert client.post("/kiosk/card", data={"card": "x"}).status_code == 403


def test_a_member_session_cannot_use_kiosk_actions_and_a_kiosk_holds_no_login(
    world: World, app: Flask, app_ctx: Flask, login
) -> None:  # type: ignore[no-untyped-def]
    member_client = login(world.volunteer)
    assert member_client.get("/kiosk").status_code == 403
    card = cards.card_token(world.volunteer)
    assert member_client.post("/kiosk/card", data={"card": card}).status_code == 403
    # Enrolling a browser where a member is logged in logs that member out first.
    _device_row, enrol_token = devices.register_device(world.admin, PLACE)
    db.session.commit()
    assert member_client.post(f"/kiosk/enrol/{enrol_token}").status_code == 303
    assert member_client.get("/me").status_code == 302  # no member any more
    # A kiosk reaches only kiosk pages: member pages send it back to the start screen.
    response = member_client.get("/hours/new")
    assert response.status_code == 302 and response.headers["Location"].endswith("/kiosk")
    assert member_client.get("/kiosk").status_code == 200


def test_five_wrong_pins_lock_the_pin_for_15_minutes_but_not_the_card(world: World) -> None:
    device, _token = _device(world)
    member = world.volunteer
    cards.set_pin(member, "2468")
    now = _today_at(9)
    for _ in range(5):
        assert kiosk.identify_by_pin(device, member.member_no, "0000", now) is None
    db.session.commit()
    # Locked: even the right PIN fails, with the same answer as a wrong number.
    assert kiosk.identify_by_pin(device, member.member_no, "2468", now) is None
    assert kiosk.identify_by_pin(device, "99999999", "2468", now) is None
    assert kiosk.identify_by_card(device, cards.card_token(member)) is member
    later = now + timedelta(minutes=15, seconds=1)
    assert kiosk.identify_by_pin(device, member.member_no, "2468", later) is member


def test_a_pin_is_4_to_6_digits_and_an_admin_reset_is_audited(world: World) -> None:
    for bad in ("123", "1234567", "12a4", ""):
        with pytest.raises(DomainError):
            cards.set_pin(world.volunteer, bad)
    cards.set_pin(world.volunteer, "123456")
    cards.reset_pin(world.admin, world.volunteer)
    assert world.volunteer.pin_hash is None
    assert db.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action == "member.pin_reset")
    )


def test_reissuing_a_card_invalidates_the_old_one(world: World) -> None:
    device, _token = _device(world)
    old = cards.card_token(world.volunteer)
    cards.reissue_card(world.admin, world.volunteer)
    assert kiosk.identify_by_card(device, old) is None
    assert kiosk.identify_by_card(device, cards.card_token(world.volunteer)) is world.volunteer
    assert kiosk.identify_by_card(device, old[:-2] + "xx") is None


def test_a_card_carries_no_phone_number(world: World) -> None:
    assert world.volunteer.phone not in cards.card_token(world.volunteer)


def test_early_arrival_counts_from_the_start_and_minutes_round_to_5(world: World) -> None:
    device, _token = _device(world)
    activity = _activity(world, _today_at(9))
    visit = kiosk.check_in(
        world.volunteer, _where(device), at=_today_at(8, 20), key="in-1", activity_id=activity.id
    )
    visit = kiosk.check_out(world.volunteer, visit.id, at=_today_at(10, 32), key="out-1")
    log = kiosk.log_of(visit)
    assert log is not None and log.minutes == 90 and log.source == "kiosk"
    assert log.status == "pending"  # the team does not auto-approve
    late = kiosk.check_in(
        world.volunteer2, _where(device), at=_today_at(9, 13), key="in-2", activity_id=activity.id
    )
    late = kiosk.check_out(world.volunteer2, late.id, at=_today_at(10, 0), key="out-2")
    assert kiosk.log_of(late).minutes == 45  # 47 minutes, rounded to 5


def test_a_replayed_check_in_and_check_out_make_one_visit_and_one_log(world: World) -> None:
    device, _token = _device(world)
    activity = _activity(world, _today_at(9))
    first = kiosk.check_in(
        world.volunteer, _where(device), at=_today_at(9), key="same", activity_id=activity.id
    )
    again = kiosk.check_in(
        world.volunteer, _where(device), at=_today_at(9), key="same", activity_id=activity.id
    )
    assert again.id == first.id
    for _ in range(3):
        kiosk.check_out(world.volunteer, first.id, at=_today_at(10), key="out")
    db.session.commit()
    assert db.session.scalar(select(func.count(HourLog.id))) == 1
    assert db.session.scalar(select(func.count(CheckIn.id))) == 1


def test_a_check_out_within_5_minutes_offers_to_cancel(world: World) -> None:
    device, _token = _device(world)
    activity = _activity(world, _today_at(9))
    visit = kiosk.check_in(
        world.volunteer, _where(device), at=_today_at(9, 30), key="k", activity_id=activity.id
    )
    with pytest.raises(kiosk.TooShort):
        kiosk.check_out(world.volunteer, visit.id, at=_today_at(9, 33), key="o")
    kiosk.cancel_check_in(world.volunteer, visit.id)
    assert visit.cancelled_at is not None and visit.hour_log_id is None


def test_the_day_limit_refuses_a_kiosk_check_out_with_its_message(world: World) -> None:
    from tests.support import log_hours

    device, _token = _device(world)
    activity = _activity(world, _today_at(9))
    for _ in range(2):
        log_hours(world.volunteer, world.team, world.service, minutes=720, days_ago=0)
    visit = kiosk.check_in(
        world.volunteer, _where(device), at=_today_at(9), key="k", activity_id=activity.id
    )
    with pytest.raises(DomainError) as refused:
        kiosk.check_out(world.volunteer, visit.id, at=_today_at(10), key="o")
    assert "1440" in str(refused.value.message)


def test_auto_approve_credits_at_once_with_the_device_as_witness(world: World) -> None:
    device, _token = _device(world)
    world.team.kiosk_auto_approve = True
    activity = _activity(world, _today_at(9))
    visit = kiosk.check_in(
        world.volunteer, _where(device), at=_today_at(9), key="k", activity_id=activity.id
    )
    visit = kiosk.check_out(world.volunteer, visit.id, at=_today_at(10), key="o", device=device)
    db.session.commit()
    log = kiosk.log_of(visit)
    assert log.status == "approved" and log.decided_by_id is None and log.decided_at
    assert ledger.balance_of(world.volunteer) == 60
    entry = db.session.get(JournalEntry, log.entry_id)
    assert f"kiosk:{device.id}" in entry.memo
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "hour_log.approve_kiosk")
    ).one()
    assert event.actor_id is None and f'"device_id": {device.id}' in event.detail


def test_a_forgotten_check_out_is_closed_then_corrected_at_the_next_visit(world: World) -> None:
    device, _token = _device(world)
    world.team.kiosk_auto_approve = True  # a forgotten one still waits for a coordinator
    activity = _activity(world, _today_at(9), hours=3)
    visit = kiosk.check_in(
        world.volunteer, _where(device), at=_today_at(8, 50), key="k", activity_id=activity.id
    )
    walk_in = kiosk.check_in(
        world.volunteer2,
        _where(device),
        at=_today_at(8),
        key="w",
        team_id=world.team.id,
        service_id=world.service.id,
    )
    assert presence.close_open(_today_at(11, 59)) == []
    closed = presence.close_open(_today_at(12, 5))
    assert {c.id for c in closed} == {visit.id, walk_in.id}
    db.session.commit()
    log = kiosk.log_of(visit)
    assert log.minutes == 180 and log.status == "pending"
    assert log.review_reason == "forgotten_checkout"  # shown in the approval queue
    assert visit.flag == "forgotten_checkout"
    assert kiosk.log_of(walk_in).minutes == 240
    assert presence.close_open(_today_at(13)) == []  # run again: nothing more
    # Next time 孙志愿 is identified, the kiosk asks when they left: "1 hour earlier".
    due = presence.correction_due(world.volunteer)
    assert due is not None and due.id == visit.id
    presence.correct_leaving(world.volunteer, visit.id, 60)
    db.session.commit()
    assert kiosk.log_of(visit).minutes == 120
    assert presence.correction_due(world.volunteer) is None


def test_an_offline_check_in_arriving_more_than_12_hours_late_is_flagged(world: World) -> None:
    device, _token = _device(world)
    activity = _activity(world, _today_at(9))
    happened = _today_at(9)
    visit = kiosk.check_in(
        world.volunteer,
        _where(device),
        at=happened,
        key="offline-1",
        activity_id=activity.id,
        received=happened + timedelta(hours=13),
    )
    assert visit.flag == "late_sync"
    on_time = kiosk.check_in(
        world.volunteer2,
        _where(device),
        at=happened,
        key="offline-2",
        activity_id=activity.id,
        received=happened + timedelta(minutes=5),
    )
    assert on_time.flag is None


def test_an_expired_rotating_code_is_refused(world: World) -> None:
    device, _token = _device(world)
    now = time.time()
    code = devices.place_code(device, now)
    assert devices.device_from_code(code, now) is device
    assert devices.device_from_code(code, now + 30) is device  # scanned as it rotated
    with pytest.raises(devices.CodeExpired):
        devices.device_from_code(code, now + 90)
    with pytest.raises(DomainError):
        devices.device_from_code(code + "x", now)


def test_the_identity_between_screens_expires_and_is_bound_to_the_device(
    world: World, app: Flask
) -> None:
    device, _token = _device(world)
    other, _ = _device(world)
    token = kiosk.who_token(world.volunteer, device)
    assert kiosk.who_from(token, device) is world.volunteer
    assert kiosk.who_from(token, other) is None
    from flask import current_app

    current_app.config["KIOSK_IDENTIFY_SECONDS"] = -1
    assert kiosk.who_from(token, device) is None


def test_a_member_of_another_community_is_not_identified_here(world: World) -> None:
    from tests.support import make_member

    device, _token = _device(world)
    stranger = make_member(world.other_community, "外社区")
    assert kiosk.identify_by_card(device, cards.card_token(stranger)) is None
    assert isinstance(stranger, Member)


def _enrolled_client(world: World, app: Flask):  # type: ignore[no-untyped-def]
    device, enrol_token = devices.register_device(world.admin, PLACE)
    db.session.commit()
    client = app.test_client()
    assert client.get(f"/kiosk/enrol/{enrol_token}").status_code == 200
    assert client.post(f"/kiosk/enrol/{enrol_token}").status_code == 303
    return client, device


def _hidden(html: str, name: str) -> str:
    import re

    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html) or re.search(
        rf'value="([^"]*)"[^>]*name="{name}"', html
    )
    assert match, f"no {name} on the page"
    return match.group(1)


def test_a_card_check_in_and_out_through_the_screens(
    world: World, app: Flask, app_ctx: Flask
) -> None:
    client, _device = _enrolled_client(world, app)
    activity = _activity(world, now_local() - timedelta(minutes=30))
    db.session.commit()
    screen = client.post("/kiosk/card", data={"card": cards.card_token(world.volunteer)})
    html = screen.get_data(as_text=True)
    assert screen.status_code == 200 and "孙**" in html and "孙志愿" not in html
    assert "义诊" in html
    done = client.post(
        "/kiosk/in",
        data={"who": _hidden(html, "who"), "key": "k1", "activity": str(activity.id)},
    )
    assert done.status_code == 200 and "孙**" in done.get_data(as_text=True)
    visit = db.session.scalars(select(CheckIn)).one()
    visit.checked_in_at -= timedelta(minutes=50)
    db.session.commit()
    html = client.post("/kiosk/card", data={"card": cards.card_token(world.volunteer)}).get_data(
        as_text=True
    )
    out = client.post(
        "/kiosk/out", data={"who": _hidden(html, "who"), "key": "o1", "visit": str(visit.id)}
    )
    assert out.status_code == 200, out.get_data(as_text=True)[:400]
    assert "30" in out.get_data(as_text=True)  # counted from the start: 30 minutes
    assert db.session.scalars(select(HourLog)).one().minutes == 30


def test_the_keypad_identifies_by_number_and_pin_with_one_message_for_all_refusals(
    world: World, app: Flask, app_ctx: Flask
) -> None:
    cards.set_pin(world.volunteer2, "1357")
    db.session.commit()
    client, _device = _enrolled_client(world, app)
    assert client.get("/kiosk/pin").status_code == 200

    def tap(number: str, pin: str, key: str, stage: str):  # type: ignore[no-untyped-def]
        return client.post(
            "/kiosk/pin", data={"number": number, "pin": pin, "stage": stage, "key": key}
        )

    assert "12" in tap("1", "", "2", "number").get_data(as_text=True)
    wrong_pin = tap(world.volunteer2.member_no, "1111", "ok", "pin")
    no_such = tap("00000001", "1357", "ok", "pin")
    assert wrong_pin.status_code == no_such.status_code == 422
    message = "The member number or PIN is not right"
    assert message in wrong_pin.get_data(as_text=True) or "会员号或密码不对" in wrong_pin.get_data(
        as_text=True
    )
    ok = tap(world.volunteer2.member_no, "1357", "ok", "pin")
    assert ok.status_code == 200 and "周**" in ok.get_data(as_text=True)
    htmx = client.post(
        "/kiosk/pin",
        data={"number": world.volunteer2.member_no, "pin": "1357", "stage": "pin", "key": "ok"},
        headers={"HX-Request": "true"},
    )
    assert htmx.headers["HX-Redirect"].startswith("/kiosk/member?who=")
    assert client.get(htmx.headers["HX-Redirect"]).status_code == 200


def test_an_expired_identity_goes_back_to_the_start(
    world: World, app: Flask, app_ctx: Flask
) -> None:
    client, device = _enrolled_client(world, app)
    app.config["KIOSK_IDENTIFY_SECONDS"] = -1
    who = kiosk.who_token(world.volunteer, device)
    response = client.post("/kiosk/in", data={"who": who, "key": "k", "activity": "1"})
    assert response.status_code == 303 and "/kiosk" in response.headers["Location"]


def test_offline_sync_is_accepted_once(world: World, app: Flask, app_ctx: Flask) -> None:
    client, _device = _enrolled_client(world, app)
    _activity(world, now_local() - timedelta(minutes=30))
    db.session.commit()
    at = int(time.time() * 1000) - 60_000
    data = {"card": cards.card_token(world.volunteer), "at": str(at), "key": "offline-key-1"}
    assert client.post("/kiosk/sync", data=data).get_data(as_text=True) == "in"
    assert client.post("/kiosk/sync", data=data).get_data(as_text=True) == "already"
    assert db.session.scalar(select(func.count(CheckIn.id))) == 1


def test_close_open_command(world: World, app: Flask, app_ctx: Flask) -> None:
    device, _token = _device(world)
    activity = _activity(world, now_local() - timedelta(hours=3), hours=2)
    kiosk.check_in(
        world.volunteer,
        _where(device),
        at=activity.starts_at,
        key="k",
        activity_id=activity.id,
    )
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["kiosk", "close-open"])
    assert "closed 1" in result.output


@pytest.mark.parametrize(
    "path",
    ["/me/card", "/kiosk/here", "/admin/kiosks", "/kiosk/cards/{team}"],
)
def test_member_pages_render(world: World, app: Flask, app_ctx: Flask, login, path: str) -> None:  # type: ignore[no-untyped-def]
    _device(world)
    client = login(world.admin)
    assert client.get(path.format(team=world.team.id)).status_code == 200


def test_the_rotating_code_on_a_phone(world: World, app: Flask, app_ctx: Flask, login) -> None:  # type: ignore[no-untyped-def]
    client, device = _enrolled_client(world, app)
    activity = _activity(world, now_local() - timedelta(minutes=10))
    db.session.commit()
    assert client.get("/kiosk/code").status_code == 200
    phone = login(world.volunteer)
    code = devices.place_code(device, time.time())
    page = phone.get(f"/kiosk/at/{code}")
    assert page.status_code == 200 and "义诊" in page.get_data(as_text=True)
    done = phone.post(f"/kiosk/at/{code}/in", data={"key": "p1", "activity": str(activity.id)})
    assert done.status_code == 303
    assert db.session.scalars(select(CheckIn)).one().source == "place_code"
    old = devices.place_code(device, time.time() - 120)
    assert phone.get(f"/kiosk/at/{old}").status_code == 410


def test_the_coordinator_sees_who_is_here_and_the_flagged_records(
    world: World, app: Flask, app_ctx: Flask, login
) -> None:  # type: ignore[no-untyped-def]
    device, _token = _device(world)
    activity = _activity(world, now_local() - timedelta(hours=4), hours=3)
    kiosk.check_in(
        world.volunteer, _where(device), at=activity.starts_at, key="a", activity_id=activity.id
    )
    presence.close_open(now_local())
    kiosk.check_in(
        world.volunteer2,
        _where(device),
        at=now_local(),
        key="b",
        team_id=world.team.id,
        service_id=world.service.id,
    )
    db.session.commit()
    coordinator = login(world.coordinator)
    page = coordinator.get("/kiosk/here").get_data(as_text=True)
    assert "周志愿" in page and "孙志愿" in page  # here now, and flagged
    fragment = coordinator.get(f"/kiosk/here?place={PLACE}", headers={"HX-Request": "true"})
    assert fragment.get_data(as_text=True).lstrip().startswith('<div id="here"')
    response = coordinator.post("/kiosk/here/checkout-all", data={"place": PLACE})
    assert response.status_code == 303
    assert presence.here_now(world.community.id, PLACE) == []


def test_wrong_tries_are_limited_per_device(
    world: World, app: Flask, app_ctx: Flask, make_app, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import _test_config

    limited = make_app({**_test_config(database_url), "RATELIMIT_ENABLED": True})
    _device_row, enrol_token = devices.register_device(world.admin, PLACE)
    db.session.commit()
    client = limited.test_client()
    assert client.post(f"/kiosk/enrol/{enrol_token}").status_code == 303
    statuses = [
        client.post(
            "/kiosk/pin", data={"number": "12345678", "pin": "0000", "stage": "pin", "key": "ok"}
        ).status_code
        for _ in range(31)
    ]
    assert statuses[:30] == [422] * 30 and statuses[30] == 429
    # Another kiosk is not held up by this one.
    _other, other_token = devices.register_device(world.admin, "活动室")
    db.session.commit()
    other = limited.test_client()
    assert other.post(f"/kiosk/enrol/{other_token}").status_code == 303
    wrong = {"number": "12345678", "pin": "0000", "stage": "pin", "key": "ok"}
    assert other.post("/kiosk/pin", data=wrong).status_code == 422


def test_a_kiosk_visit_and_marked_attendance_never_credit_twice(world: World) -> None:
    from portal.models import ActivitySignup
    from portal.services import activities

    device, _token = _device(world)
    activity = _activity(world, now_local() - timedelta(hours=3), hours=2)
    for member in (world.volunteer, world.volunteer2):
        db.session.add(ActivitySignup(activity_id=activity.id, member_id=member.id))
    db.session.flush()
    visit = kiosk.check_in(
        world.volunteer, _where(device), at=activity.starts_at, key="a", activity_id=activity.id
    )
    kiosk.check_out(world.volunteer, visit.id, at=activity.ends_at, key="o")
    created = activities.mark_attendance(
        world.coordinator, activity.id, [world.volunteer.id, world.volunteer2.id]
    )
    assert [log.member_id for log in created] == [world.volunteer2.id]
    # 周志愿 was marked by the coordinator: a late kiosk check-out adds nothing.
    late = kiosk.check_in(
        world.volunteer2, _where(device), at=activity.ends_at, key="b", activity_id=activity.id
    )
    with pytest.raises(DomainError):
        kiosk.check_out(
            world.volunteer2, late.id, at=activity.ends_at + timedelta(minutes=30), key="c"
        )
