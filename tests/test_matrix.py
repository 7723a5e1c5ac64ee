"""Who may do what: every route × every role, and a refused request changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, HourLog, JournalEntry
from tests.support import World, log_hours

ROLES = [
    "visitor",
    "member",
    "volunteer",
    "other_coordinator",
    "coordinator",
    "other_admin",
    "admin",
]


def _client(role: str, world: World, login, app) -> FlaskClient:  # type: ignore[no-untyped-def]
    if role == "visitor":
        return app.test_client()
    member = {
        "member": world.resident,
        "volunteer": world.volunteer,
        "other_coordinator": world.other_coordinator,
        "coordinator": world.coordinator,
        "other_admin": world.other_admin,
        "admin": world.admin,
    }[role]
    return login(member)


def _snapshot() -> tuple[int, ...]:
    return (
        db.session.scalar(select(func.count(JournalEntry.id))),
        db.session.scalar(select(func.count(AuditEvent.id))),
        db.session.scalar(select(func.count(HourLog.id)).where(HourLog.status == "pending")),
    )


# (method, path template, {role: expected status}); a log by `volunteer` in `team` is {log}.
LOGIN = 302
OPEN_PAGES: dict[str, int] = dict.fromkeys(ROLES, 200)
MEMBER_PAGES: dict[str, int] = {**dict.fromkeys(ROLES, 200), "visitor": LOGIN}
CASES: list[tuple[str, str, dict[str, int]]] = [
    ("GET", "/", OPEN_PAGES),
    ("GET", "/healthz", OPEN_PAGES),
    ("GET", "/login", OPEN_PAGES),
    ("GET", "/me", MEMBER_PAGES),
    ("GET", "/me/statement", MEMBER_PAGES),
    ("GET", "/me/statement.csv", MEMBER_PAGES),
    ("GET", "/me/settings", MEMBER_PAGES),
    ("GET", "/hours", MEMBER_PAGES),
    ("GET", "/hours/new", MEMBER_PAGES),
    ("GET", "/approvals", MEMBER_PAGES),
    (
        "POST",
        "/approvals/{log}/approve",
        {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "coordinator": 303},
    ),
    (
        "POST",
        "/approvals/{log}/reject",
        {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "coordinator": 303},
    ),
    (
        "POST",
        "/approvals/bulk",
        {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "coordinator": 303},
    ),
    (
        "POST",
        "/hours/{log}/cancel",
        {**dict.fromkeys(ROLES, 403), "visitor": LOGIN, "volunteer": 303},
    ),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "expected"), CASES, ids=[f"{m} {p}" for m, p, _ in CASES]
)
def test_route_by_role(
    world: World,
    login: Callable,
    app,
    role: str,
    method: str,
    path: str,
    expected: dict,  # type: ignore[no-untyped-def]
) -> None:
    log = log_hours(world.volunteer, world.team, world.service, minutes=60)
    db.session.commit()
    client = _client(role, world, login, app)
    before = _snapshot()
    data = {"once": uuid.uuid4().hex, "reason": "不符合", "logs": [str(log.id)]}
    url = path.format(log=log.id)
    response = client.get(url) if method == "GET" else client.post(url, data=data)
    assert response.status_code == expected[role], response.get_data(as_text=True)[:300]
    if method == "POST" and expected[role] != 303:
        assert _snapshot() == before
    response.close()
