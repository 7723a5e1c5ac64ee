"""Story-like helpers: make_member, make_team, log_hours… (service level, no HTTP)."""

from __future__ import annotations

import itertools
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session, scoped_session

from portal import clock
from portal.clock import today_local
from portal.extensions import db
from portal.models import Community, HourLog, Member, Service, Team
from portal.services import credits, hours, ledger, members, teams
from portal.services import requests as req

TEST_PASSWORD = "correct-horse-9"
_phones = itertools.count(1)
_TEST_HASH: dict[str, str] = {}


def skip_or_fail(reason: str) -> None:
    """Skip — unless the run requires every test (CI), where a skip would hide a gap."""
    if os.environ.get("PORTAL_REQUIRE_ALL") == "1":
        pytest.fail(f"required in this run: {reason}")
    pytest.skip(reason)


def TEST_PASSWORD_HASH() -> str:  # noqa: N802 - reads like the constant it caches
    if "hash" not in _TEST_HASH:
        _TEST_HASH["hash"] = members.hash_secret(TEST_PASSWORD)
    return _TEST_HASH["hash"]


APPEND_ONLY_TABLES = ("journal_entries", "postings")


@contextmanager
def ledger_unguarded(conn: Connection | Session | scoped_session) -> Iterator[None]:
    """Lift the append-only triggers for the enclosed statements — for tests that must do
    what the portal never may: tamper with ledger rows (to show `verify` notices) or empty
    the tables between tests. Runs in the caller's transaction: PostgreSQL disables the
    tables' own triggers; SQLite drops them and creates them again from the very SQL the
    migration stored (read back from sqlite_master). No `finally`: if the body fails, the
    caller's rollback undoes this DDL too (both databases have transactional DDL), and a
    statement in an aborted PostgreSQL transaction would only hide the first error."""
    bind = conn if isinstance(conn, Connection) else conn.get_bind()
    tables = ", ".join(f"'{t}'" for t in APPEND_ONLY_TABLES)
    if bind.dialect.name == "postgresql":
        for table in APPEND_ONLY_TABLES:
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        yield
        for table in APPEND_ONLY_TABLES:
            conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        return
    triggers = conn.execute(
        text(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ({tables})"
        )
    ).all()
    for name, _sql in triggers:
        conn.execute(text(f'DROP TRIGGER "{name}"'))
    yield
    for _name, sql in triggers:
        conn.execute(text(sql))


def make_community(name: str | None = None, **settings: object) -> Community:
    community = Community(name=name or f"社区{next(_phones)}", **settings)
    db.session.add(community)
    db.session.flush()
    return community


def make_service(community: Community, name: str = "陪伴聊天", **fields: object) -> Service:
    service = Service(
        community_id=community.id,
        name=name,
        category=fields.pop("category", "elder_care"),
        **fields,
    )
    db.session.add(service)
    db.session.flush()
    return service


def make_member(
    community: Community,
    name: str = "王小明",
    *,
    age: int = 64,
    role: str = "member",
    phone: str | None = None,
) -> Member:
    member = members.register(
        members.Registration(
            name=name,
            phone=phone or f"139{next(_phones):08d}",
            password=TEST_PASSWORD,
            community_id=community.id,
            birth_year=today_local().year - age,
        ),
        password_hash=TEST_PASSWORD_HASH(),
    )
    if role == "admin":
        members.make_admin(member)
    db.session.flush()
    return member


def make_team(community: Community, name: str | None = None, category: str = "elder_care") -> Team:
    team = Team(community_id=community.id, name=name or f"队伍{next(_phones)}", category=category)
    db.session.add(team)
    db.session.flush()
    return team


def join(team: Team, member: Member, role: str = "member") -> None:
    teams.add_member(team, member, role=role)


def log_hours(
    member: Member,
    team: Team,
    service: Service,
    minutes: int = 60,
    days_ago: int = 1,
    note: str = "",
) -> HourLog:
    return hours.log_hours(
        member,
        hours.LogRequest(
            team_id=team.id,
            service_id=service.id,
            service_date=today_local() - timedelta(days=days_ago),
            minutes=minutes,
            note=note,
        ),
        today=today_local(),
    )


@dataclass
class World:
    community: Community
    other_community: Community
    team: Team
    other_team: Team
    service: Service
    coordinator: Member
    other_coordinator: Member
    volunteer: Member
    volunteer2: Member
    resident: Member
    admin: Member
    other_admin: Member


class Clock:
    """The portal's clock, moved by a test: `clock.move(hours=3)` and every `now_local` and
    `today_local` (the live server's too: it runs in this process) reads 3 hours later."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.shift = timedelta()
        real = clock.wall_clock
        monkeypatch.setattr(clock, "wall_clock", lambda zone: real(zone) + self.shift)

    def move(self, **delta: float) -> None:
        self.shift += timedelta(**delta)

    def now(self) -> datetime:
        return clock.now_local()


def build_world() -> World:
    community = make_community("幸福里")
    other = make_community("和平里")
    team = make_team(community, "助老队")
    other_team = make_team(community, "巡逻队", category="patrol")
    service = make_service(community)
    coordinator = make_member(community, "钱协调")
    other_coordinator = make_member(community, "吴协调")
    volunteer = make_member(community, "孙志愿")
    volunteer2 = make_member(community, "周志愿")
    resident = make_member(community, "李奶奶", age=82)
    admin = make_member(community, "赵管理", role="admin")
    other_admin = make_member(other, "郑管理", role="admin")
    join(team, coordinator, "coordinator")
    join(team, volunteer)
    join(team, volunteer2)
    join(other_team, other_coordinator, "coordinator")
    join(other_team, volunteer)
    # The admin has visited 李奶奶: her confirmations credit volunteers directly.
    credits.verify_member(admin, resident.id)
    db.session.commit()
    return World(
        community,
        other,
        team,
        other_team,
        service,
        coordinator,
        other_coordinator,
        volunteer,
        volunteer2,
        resident,
        admin,
        other_admin,
    )


def form_key(html: str) -> str:
    """The one-time key of the first form on a page."""
    match = re.search(r'name="once"[^>]*value="([0-9a-f]{32})"', html) or re.search(
        r'value="([0-9a-f]{32})"[^>]*name="once"', html
    )
    assert match, "no one-time key on the page"
    return match.group(1)


def days_ago(n: int) -> str:
    return (today_local() - timedelta(days=n)).isoformat()


__all__ = ["date"]


def empty_tables() -> None:
    """Each example of a property test starts from empty tables; the ledger's append-only
    guard is lifted for this cleanup only."""
    with ledger_unguarded(db.session):
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
    db.session.commit()


def fund(member: Member, minutes: int, issued_by: int | None = None) -> None:
    """Bank `minutes` for the member (issuance → member, the issuance of their community or
    of `issued_by`, which then names the entry's community), committed."""
    community_id = issued_by if issued_by is not None else member.community_id
    ledger.transfer(
        "hours",
        ledger.issuance_account(community_id),
        ledger.member_account(member),
        minutes,
        idempotency_key=f"fund:{member.id}:{uuid.uuid4().hex}",
        community_id=issued_by,
    )
    db.session.commit()


def request_fields(
    service_id: int,
    minutes: int,
    *,
    paid: bool = False,
    ask_pool: bool = False,
    place: str = "幸福里 3 栋 201",
) -> req.RequestFields:
    """What a resident types into "post a request", wanted ten minutes ago."""
    return req.RequestFields(
        service_id=service_id,
        wanted_at=clock.now_local() - timedelta(minutes=10),
        place=place,
        note="",
        minutes=minutes,
        pay_with_hours=paid,
        ask_pool=ask_pool,
    )
