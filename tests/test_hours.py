"""Logging hours, cancelling, approving and rejecting — through the pages, as people do."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, HourLog, JournalEntry
from portal.services import ledger
from tests.support import World, days_ago, form_key, log_hours


def _log_form(world: World, **overrides: object) -> dict[str, object]:
    data = {
        "date": days_ago(1),
        "minutes": "90",
        "hours": "",
        "team": world.team.id,
        "service": world.service.id,
        "note": "陪王奶奶聊天",
        "once": uuid.uuid4().hex,
    }
    data.update(overrides)
    return data


def _logs() -> int:
    return db.session.scalar(select(func.count(HourLog.id)))


def test_volunteer_logs_hours(world: World, login) -> None:  # type: ignore[no-untyped-def]
    client = login(world.volunteer)
    page = client.get("/hours/new").get_data(as_text=True)
    assert world.team.name in page and "陪伴聊天" in page
    response = client.post("/hours/new", data=_log_form(world))
    assert response.status_code == 303
    log = db.session.scalars(select(HourLog)).one()
    assert (log.minutes, log.status, log.member_id) == (90, "pending", world.volunteer.id)
    listing = client.get("/hours").get_data(as_text=True)
    assert "待审核" in listing and "1 小时 30 分" in listing
    assert "1 小时 30 分" in client.get("/me").get_data(as_text=True)  # pending, on the dashboard


def test_hours_may_be_given_instead_of_minutes(world: World, login) -> None:  # type: ignore[no-untyped-def]
    client = login(world.volunteer)
    client.post("/hours/new", data=_log_form(world, minutes="", hours="1.5"))
    assert db.session.scalars(select(HourLog.minutes)).one() == 90


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"minutes": "0"}, "minutes", "1 到 720"),
        ({"minutes": "721"}, "minutes", "1 到 720"),
        ({"minutes": "abc"}, "minutes", "请写清楚时长"),
        ({"minutes": "2"}, "minutes", "您是说 2 小时吗？"),
        ({"minutes": "", "hours": ""}, "minutes", "服务时长"),
        ({"minutes": "", "hours": "x"}, "minutes", "请写清楚时长"),
        ({"minutes": "", "hours": "13"}, "minutes", "1 到 720"),
        ({"date": "2026-13-45"}, "date", "日期"),
        ({"date": days_ago(-1)}, "date", "晚于今天"),
        ({"date": days_ago(31)}, "date", "30 天"),
        ({"team": 0}, "team", "队伍"),
        ({"service": 0}, "service", "服务项目"),
        ({"note": "字" * 501}, "note", "500"),
    ],
)
def test_bad_logs_are_explained_and_change_nothing(
    world: World,
    login,
    overrides: dict,
    field: str,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    client = login(world.volunteer)
    response = client.post("/hours/new", data=_log_form(world, **overrides))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error = html.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
    assert message in error, error
    assert _logs() == 0


def test_a_team_the_volunteer_is_not_in_is_refused(world: World, login) -> None:  # type: ignore[no-untyped-def]
    client = login(world.resident)
    response = client.post("/hours/new", data=_log_form(world))
    assert response.status_code == 422
    assert _logs() == 0


def test_no_more_than_24_hours_a_day(world: World, login) -> None:  # type: ignore[no-untyped-def]
    client = login(world.volunteer)
    for _ in range(2):
        assert client.post("/hours/new", data=_log_form(world, minutes="720")).status_code == 303
    response = client.post("/hours/new", data=_log_form(world, minutes="30"))
    assert response.status_code == 422
    assert "24 小时" in response.get_data(as_text=True)
    assert _logs() == 2


def test_a_replayed_log_post_creates_one_log(world: World, login) -> None:  # type: ignore[no-untyped-def]
    client = login(world.volunteer)
    data = _log_form(world)
    first = client.post("/hours/new", data=data)
    second = client.post("/hours/new", data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert _logs() == 1


def test_the_log_form_carries_a_one_time_key(world: World, login) -> None:  # type: ignore[no-untyped-def]
    client = login(world.volunteer)
    assert len(form_key(client.get("/hours/new").get_data(as_text=True))) == 32
    missing = client.post("/hours/new", data=_log_form(world, once=""))
    assert missing.status_code == 422 and _logs() == 0


def test_cancel_own_pending_log(world: World, login) -> None:  # type: ignore[no-untyped-def]
    log = log_hours(world.volunteer, world.team, world.service)
    db.session.commit()
    assert login(world.volunteer2).post(f"/hours/{log.id}/cancel").status_code == 403
    assert db.session.get(HourLog, log.id).status == "pending"
    client = login(world.volunteer)
    assert client.post(f"/hours/{log.id}/cancel").status_code == 303
    assert db.session.get(HourLog, log.id).status == "cancelled"
    # A second cancel explains itself and changes nothing.
    html = client.post(f"/hours/{log.id}/cancel", follow_redirects=True).get_data(as_text=True)
    assert "只有待审核" in html


# --- approvals ---------------------------------------------------------------------------


@pytest.fixture
def pending(world: World) -> HourLog:
    log = log_hours(world.volunteer, world.team, world.service, minutes=90)
    db.session.commit()
    return log


def test_queue_lists_pending_logs_oldest_first_with_age(world: World, login) -> None:  # type: ignore[no-untyped-def]
    first = log_hours(world.volunteer, world.team, world.service, minutes=30, days_ago=3)
    second = log_hours(world.volunteer2, world.team, world.service, minutes=40, days_ago=2)
    elsewhere = log_hours(world.volunteer, world.other_team, world.service, minutes=50)
    db.session.commit()
    html = login(world.coordinator).get("/approvals").get_data(as_text=True)
    assert html.index(f'id="log-{first.id}"') < html.index(f'id="log-{second.id}"')
    assert f'id="log-{elsewhere.id}"' not in html
    assert "已等待" in html and "2 条待审核" in html


def test_approve_with_htmx_returns_the_row_and_the_count(world: World, login, pending) -> None:  # type: ignore[no-untyped-def]
    client = login(world.coordinator)
    response = client.post(
        f"/approvals/{pending.id}/approve",
        data={"once": uuid.uuid4().hex},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert f'id="log-{pending.id}"' in html and "已通过" in html
    assert 'hx-swap-oob="true"' in html and "0 条待审核" in html
    assert len(response.get_data()) <= 5 * 1024
    assert ledger.balance_of(world.volunteer) == 90
    assert (
        db.session.scalar(
            select(func.count(AuditEvent.id)).where(AuditEvent.action == "hour_log.approve")
        )
        == 1
    )


def test_approve_without_javascript_redirects(world: World, login, pending) -> None:  # type: ignore[no-untyped-def]
    client = login(world.coordinator)
    response = client.post(f"/approvals/{pending.id}/approve", data={"once": uuid.uuid4().hex})
    assert response.status_code == 303 and response.headers["Location"].endswith("/approvals")
    assert db.session.get(HourLog, pending.id).status == "approved"


def test_a_double_tap_approves_once(world: World, login, pending) -> None:  # type: ignore[no-untyped-def]
    client = login(world.coordinator)
    key = uuid.uuid4().hex
    for _ in range(3):
        client.post(f"/approvals/{pending.id}/approve", data={"once": key})
    client.post(f"/approvals/{pending.id}/approve", data={"once": uuid.uuid4().hex})
    assert db.session.scalar(select(func.count(JournalEntry.id))) == 1
    assert ledger.balance_of(world.volunteer) == 90


def test_reject_needs_a_reason(world: World, login, pending) -> None:  # type: ignore[no-untyped-def]
    client = login(world.coordinator)
    html = client.post(
        f"/approvals/{pending.id}/reject",
        data={"once": uuid.uuid4().hex, "reason": " "},
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    assert "请写明退回原因" in html
    assert db.session.get(HourLog, pending.id).status == "pending"
    client.post(
        f"/approvals/{pending.id}/reject", data={"once": uuid.uuid4().hex, "reason": "日期不对"}
    )
    log = db.session.get(HourLog, pending.id)
    assert (log.status, log.reject_reason) == ("rejected", "日期不对")
    assert ledger.balance_of(world.volunteer) == 0
    mine = login(world.volunteer).get("/hours").get_data(as_text=True)
    assert "已退回" in mine and "日期不对" in mine


def test_nobody_approves_their_own_hours(world: World, login) -> None:  # type: ignore[no-untyped-def]
    own = log_hours(world.coordinator, world.team, world.service)
    db.session.commit()
    client = login(world.coordinator)
    assert f'id="log-{own.id}"' in client.get("/approvals").get_data(as_text=True)
    response = client.post(f"/approvals/{own.id}/approve", data={"once": uuid.uuid4().hex})
    assert response.status_code == 403
    assert db.session.get(HourLog, own.id).status == "pending"
    assert ledger.balance_of(world.coordinator) == 0


def test_bulk_approve_a_selection(world: World, login) -> None:  # type: ignore[no-untyped-def]
    logs = [
        log_hours(world.volunteer, world.team, world.service, minutes=10 * (i + 1), days_ago=i)
        for i in range(3)
    ]
    db.session.commit()
    client = login(world.coordinator)
    data = {"logs": [str(logs[0].id), str(logs[2].id)], "once": uuid.uuid4().hex}
    response = client.post("/approvals/bulk", data=data)
    assert response.status_code == 303
    assert ledger.balance_of(world.volunteer) == 40
    assert db.session.get(HourLog, logs[1].id).status == "pending"
    client.post("/approvals/bulk", data=data)  # replay: nothing more
    assert ledger.balance_of(world.volunteer) == 40


def test_bulk_with_a_foreign_log_changes_nothing(world: World, login) -> None:  # type: ignore[no-untyped-def]
    mine = log_hours(world.volunteer, world.team, world.service, minutes=10)
    foreign = log_hours(world.volunteer, world.other_team, world.service, minutes=20)
    db.session.commit()
    response = login(world.coordinator).post(
        "/approvals/bulk", data={"logs": [str(mine.id), str(foreign.id)], "once": uuid.uuid4().hex}
    )
    assert response.status_code == 403
    assert ledger.balance_of(world.volunteer) == 0


def test_dashboard_statement_and_csv(world: World, login, pending) -> None:  # type: ignore[no-untyped-def]
    login(world.coordinator).post(
        f"/approvals/{pending.id}/approve", data={"once": uuid.uuid4().hex}
    )
    client = login(world.volunteer)
    me = client.get("/me").get_data(as_text=True)
    assert 'id="my-balance">1 小时 30 分<' in me
    statement = client.get("/me/statement").get_data(as_text=True)
    assert "陪伴聊天" in statement
    response = client.get("/me/statement.csv")
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == ["date", "kind", "description", "minutes", "balance_minutes"]
    assert rows[1][1] == "服务已审核通过" and rows[1][3:] == ["90", "90"]
    assert "陪伴聊天" in rows[1][2]


def test_statement_pages_by_keyset(world: World, login, app) -> None:  # type: ignore[no-untyped-def]
    app.config["PAGE_SIZE"] = 2
    for i in range(5):
        log = log_hours(world.volunteer, world.team, world.service, minutes=10 + i, days_ago=i)
        from portal.services import hours as hour_service

        hour_service.approve_log(world.coordinator, log.id)
    db.session.commit()
    client = login(world.volunteer)
    first = client.get("/me/statement").get_data(as_text=True)
    assert "before=" in first
    cursor = first.split("before=", 1)[1].split('"', 1)[0]
    fragment = client.get(f"/me/statement?before={cursor}", headers={"HX-Request": "true"})
    text = fragment.get_data(as_text=True)
    assert "<html" not in text and "<tr" in text
    csv_rows = client.get("/me/statement.csv").get_data(as_text=True).splitlines()
    assert len(csv_rows) == 6
