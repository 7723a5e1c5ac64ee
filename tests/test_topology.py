"""The production topology: nginx in front of two gunicorn instances, PostgreSQL, and the
rate-limit counters in Redis, with PORTAL_PROXIES=1 (issue 8).

- An attacker guessing at an elder's number through the proxy (one address for everyone, and
  requests spread over both instances) is limited, while the elder's browser with its device
  cookie still logs in: the counters are shared in Redis, and the device cookie is honoured.
- Per-address limits count the real client (X-Forwarded-For from nginx), not the proxy, and a
  client cannot forge its own address.
- Double-tapped approvals through nginx: exactly one entry each, and the books verify.
- One instance is killed (SIGKILL, master and workers) in the middle of the traffic: every
  POST either took effect exactly once or got an error; its retry with the same one-time key
  then takes effect exactly once.

The kill comes last: the module shares one topology, and after it one instance is gone.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import HourLog, JournalEntry
from tests.processes import (
    Login,
    Outcome,
    Server,
    approve,
    csrf_token,
    fire,
    gunicorn,
    kill_hard,
    log_in,
    run_flask,
)
from tests.support import TEST_PASSWORD, World, log_hours, make_community, make_member, skip_or_fail
from tests.topology import NGINX, Nginx, client_at, nginx

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")


@dataclass
class Topology:
    proxy: Nginx
    instances: list[Server]


@pytest.fixture(scope="module")
def topology(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    if not database_url.startswith("postgresql"):
        skip_or_fail("needs PostgreSQL: set DATABASE_URL=postgresql+psycopg://...")
    if not Path(NGINX).exists():
        skip_or_fail("nginx not installed (apt-get install nginx-light)")
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError:
        skip_or_fail(f"needs Redis at {REDIS_URL}")
    env = {
        "PORTAL_PROXIES": "1",
        "PORTAL_TRUSTED_HOSTS": "127.0.0.1,localhost",
        "RATELIMIT_STORAGE_URI": REDIS_URL,
    }
    with (
        gunicorn(database_url, tmp_path_factory.mktemp("gunicorn-a"), workers=3, env=env) as a,
        gunicorn(database_url, tmp_path_factory.mktemp("gunicorn-b"), workers=3, env=env) as b,
        nginx([a.url, b.url], tmp_path_factory.mktemp("nginx")) as proxy,
    ):
        yield Topology(proxy, [a, b])


@pytest.fixture
def counters() -> Iterator[object]:
    """The rate-limit counters in our own Redis database, emptied before each test."""
    import redis

    store = redis.Redis.from_url(REDIS_URL)
    store.flushdb()  # only database 5 (ours), never the whole server
    yield store
    store.close()


def _login_token(http, url: str) -> str:  # type: ignore[no-untyped-def]
    with http.get(f"{url}/login", timeout=30) as page:
        assert page.status_code == 200
        return csrf_token(page.text)


def _try_login(http, url: str, token: str, phone: str, password: str, **headers: str) -> int:  # type: ignore[no-untyped-def]
    with http.post(
        f"{url}/login",
        data={"csrf_token": token, "phone": phone, "password": password},
        headers=headers,
        allow_redirects=False,
        timeout=30,
    ) as answer:
        return answer.status_code


def test_through_nginx_an_attacker_cannot_lock_out_the_elder(
    app_ctx: Flask, topology: Topology, counters
) -> None:  # type: ignore[no-untyped-def]
    elder = make_member(make_community(), "李奶奶", phone="13700000031")
    db.session.commit()
    url = topology.proxy.url
    owner = client_at("127.0.0.1")
    assert _try_login(owner, url, _login_token(owner, url), elder.phone, TEST_PASSWORD) == 303
    assert "portal_device" in owner.cookies
    owner.cookies.set("session", None)  # logged out; the device cookie stays

    attacker = client_at("127.0.0.1")  # the same address, as behind a shared proxy
    token = _login_token(attacker, url)
    statuses = [_try_login(attacker, url, token, elder.phone, f"guess-{i}") for i in range(20)]
    print(f"\n[nginx] attacker's 20 tries: {dict(Counter(statuses))}")
    assert statuses[:5] == [422] * 5 and statuses[5:] == [429] * 15
    # The counters live in Redis, shared by both instances.
    assert counters.keys("LIMITS*")

    assert _try_login(owner, url, _login_token(owner, url), elder.phone, TEST_PASSWORD) == 303


def test_through_nginx_limits_count_the_real_client_address(
    app_ctx: Flask, topology: Topology, counters
) -> None:  # type: ignore[no-untyped-def]
    """One machine trying many numbers (badly formed: no password hashing needed) is stopped
    by its own address, whatever X-Forwarded-For it sends; its neighbour is not."""
    url = topology.proxy.url
    scanner = client_at("127.0.0.2")
    token = _login_token(scanner, url)
    codes = [
        _try_login(scanner, url, token, f"1{i}", "x", **{"X-Forwarded-For": f"10.9.9.{i}"})
        for i in range(31)
    ]
    print(f"\n[nginx] scanner's 31 tries: {dict(Counter(codes))}")
    assert codes[:30] == [422] * 30 and codes[30] == 429
    neighbour = client_at("127.0.0.3")
    assert _try_login(neighbour, url, _login_token(neighbour, url), "1x", "x") == 422
    # A forged Host is refused by the app (PORTAL_TRUSTED_HOSTS), not reflected.
    with neighbour.get(f"{url}/me", headers={"Host": "evil.example"}, timeout=30) as forged:
        assert forged.status_code == 400


def _approval_jobs(world: World, count: int) -> tuple[list[int], list]:  # type: ignore[type-arg]
    logs = [
        log_hours(world.volunteer, world.team, world.service, minutes=30, days_ago=1 + i % 25)
        for i in range(count)
    ]
    db.session.commit()
    jobs = []
    for log in logs:
        once = uuid4().hex
        jobs += [approve(log.id, once), approve(log.id, once)]  # a double tap
    return [log.id for log in logs], jobs


def _assert_each_approved_once(log_ids: list[int], database_url: str) -> None:
    db.session.commit()  # see what the servers committed
    rows = db.session.scalars(select(HourLog).where(HourLog.id.in_(log_ids))).all()
    assert Counter(log.status for log in rows) == Counter({"approved": len(log_ids)})
    entries = db.session.scalar(select(func.count(JournalEntry.id)))
    assert entries == len(log_ids) == len({log.entry_id for log in rows})
    check = run_flask(database_url, "ledger", "verify")
    assert check.returncode == 0 and "ledger OK" in check.stdout, check.stdout + check.stderr


def test_double_taps_through_nginx_make_one_entry_each(
    app_ctx: Flask, world: World, topology: Topology, database_url: str, counters
) -> None:  # type: ignore[no-untyped-def]
    log_ids, jobs = _approval_jobs(world, 80)
    login = log_in(topology.proxy.url, world.coordinator.phone, TEST_PASSWORD)
    started = time.perf_counter()
    outcomes = fire(topology.proxy.url, login, jobs, threads=16)
    print(
        f"\n[nginx] {len(jobs)} double-tapped approvals over 2 instances in "
        f"{time.perf_counter() - started:.1f}s: {dict(Counter(o.status for o in outcomes))}"
    )
    assert Counter(o.status for o in outcomes) == Counter({303: len(jobs)})
    _assert_each_approved_once(log_ids, database_url)


def _kill_after(proxy: Nginx, instance: Server, posts: int) -> threading.Thread:
    """Kill `instance` once nginx has answered `posts` approval POSTs: mid-traffic."""

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            log = proxy.access_log.read_text(errors="replace")
            if log.count("POST /approvals/") >= posts:
                break
            time.sleep(0.02)
        kill_hard(instance)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_killing_one_instance_mid_traffic_loses_no_effect(
    app_ctx: Flask, world: World, topology: Topology, database_url: str, counters
) -> None:  # type: ignore[no-untyped-def]
    proxy, (victim, survivor) = topology.proxy, topology.instances
    log_ids, jobs = _approval_jobs(world, 150)
    login: Login = log_in(proxy.url, world.coordinator.phone, TEST_PASSWORD)
    before = proxy.access_log.read_text(errors="replace").count("POST /approvals/")
    killer = _kill_after(proxy, victim, before + 80)
    outcomes = fire(proxy.url, login, jobs, threads=16)
    killer.join(timeout=60)
    assert victim.process.poll() is not None, "the instance was not killed"

    failed: list[Outcome] = [o for o in outcomes if o.status != 303]
    # Only gateway errors (nginx: the instance died with the POST in hand) or a dropped
    # connection: never an application error, never a half-done approval.
    assert all(o.status in (None, 502, 504) for o in failed), Counter(o.status for o in failed)
    db.session.commit()  # see what the servers committed
    failed_ids = [int(o.post.path.split("/")[2]) for o in failed]
    done_anyway = db.session.scalar(
        select(func.count(HourLog.id)).where(
            HourLog.id.in_(failed_ids), HourLog.status == "approved"
        )
    )
    # The person sends the same form again (same one-time key), now to the survivor.
    retried = fire(proxy.url, login, [o.post for o in failed], threads=4) if failed else []
    print(
        f"\n[nginx] {len(jobs)} approval POSTs, instance killed mid-traffic: "
        f"{dict(Counter(o.status for o in outcomes))}; of the {len(failed)} that failed, "
        f"{done_anyway} had taken effect (the other tap, or committed before the kill); "
        f"retried with the same key → {dict(Counter(o.status for o in retried))}"
    )
    assert all(o.status == 303 for o in retried), retried[:3]
    _assert_each_approved_once(log_ids, database_url)
    assert survivor.process.poll() is None
