"""Server time of the pages that must stay flat as the books grow.

    DATABASE_URL=sqlite:////tmp/bench.sqlite3 .venv/bin/python benchmarks/pages.py [--sql]

Runs in-process: the Flask test client, `time.perf_counter()` around each request (no
network, no browser), on a database loaded by benchmarks/seed.py. Measures, after
`--warmup` untimed requests each:

- GET /me, GET /me/statement, GET /me/statement?before=<cursor ~9,000 lines deep> as the demo
  volunteer 13800000002 (the member seed.py gives 10,000 entries);
- GET /me as the demo coordinator 13800000001;
- GET /approvals and POST /approvals/<id>/approve (a fresh one-time key, each on a
  different pending log, oldest first) as the demo coordinator.

Requests carry `Accept-Encoding: gzip` like a browser, so compression is in the time.
CSRF protection stays on, as in production (its tokens are rendered into every form, which
costs time): the client reads the token from the page like a browser (`--no-csrf` turns
it off instead). Everything else is the app as configured.

`--ratio` instead serves the floor (benchmarks/floor.py) and the portal under gunicorn and
drives every often-opened page with wrk: each page's share of the floor's throughput and its
p90/p99 (benchmarks/ratio.py).

`--sql` also counts the SQL statements each request runs (a SQLAlchemy
`before_cursor_execute` listener) and prints min/max per page, with the time spent in them;
`-v` prints one request's statements per page.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, func, select, text  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import (  # noqa: E402
    Account,
    Community,
    HourLog,
    JournalEntry,
    Member,
    Posting,
    TeamMembership,
)

COORDINATOR = "13800000001"
VOLUNTEER = "13800000002"
PASSWORD = "timebank-demo"
DEEP = 9_000  # the statement cursor: this many lines below the newest


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-n", "--requests", type=int, default=200, help="timed requests per page")
    p.add_argument("--warmup", type=int, default=10, help="untimed requests per page first")
    p.add_argument("--no-csrf", action="store_true", help="WTF_CSRF_ENABLED=False")
    p.add_argument("--sql", action="store_true", help="count SQL statements per request")
    p.add_argument("-v", "--verbose", action="store_true", help="with --sql: print them")
    p.add_argument(
        "--only", help="measure only the pages whose name contains this (e.g. approvals)"
    )
    p.add_argument("--json", help="append the results as one JSON line to this file")
    p.add_argument("--label", default="", help="a label for the JSON line")
    return p.parse_args()


class QueryCounter:
    """Statements per request, and the time spent executing them (cursor.execute, which
    for these small results includes the fetch on both drivers to within a little)."""

    def __init__(self, engine) -> None:  # type: ignore[no-untyped-def]
        self.count = 0
        self.seconds = 0.0
        self._started = 0.0
        self.statements: list[str] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, _conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        self.count += 1
        self.statements.append(" ".join(statement.split()))
        self._started = time.perf_counter()

    def _after(self, *_args) -> None:  # type: ignore[no-untyped-def]
        self.seconds += time.perf_counter() - self._started

    def reset(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.statements = []


def facts(app) -> dict[str, object]:  # type: ignore[no-untyped-def]
    with app.app_context():
        s = db.session
        coordinator = s.scalar(select(Member).where(Member.phone == COORDINATOR))
        volunteer = s.scalar(select(Member).where(Member.phone == VOLUNTEER))
        if coordinator is None or volunteer is None:
            sys.exit("no demo members: run `flask demo load` and benchmarks/seed.py first")
        queue_teams = select(TeamMembership.team_id).where(
            TeamMembership.member_id == coordinator.id,
            TeamMembership.role == "coordinator",
            TeamMembership.status == "active",
        )
        v_account = s.scalar(select(Account.id).where(Account.member_id == volunteer.id))
        engine = db.engine
        if engine.dialect.name == "sqlite":
            path = Path(engine.url.database or "")
            size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        else:
            size = s.scalar(text("SELECT pg_database_size(current_database())"))
        out = {
            "database": engine.url.render_as_string(hide_password=True),
            "dialect": engine.dialect.name,
            "db_size_mib": round(size / 2**20),
            "communities": s.scalar(select(func.count(Community.id))),
            "members": s.scalar(select(func.count(Member.id))),
            "entries": s.scalar(select(func.count(JournalEntry.id))),
            "postings": s.scalar(select(func.count(Posting.id))),
            "hour_logs": s.scalar(select(func.count(HourLog.id))),
            "volunteer_entries": s.scalar(
                select(func.count(Posting.id)).where(Posting.account_id == v_account)
            ),
            "coordinator_queue": s.scalar(
                select(func.count(HourLog.id)).where(
                    HourLog.team_id.in_(queue_teams), HourLog.status == "pending"
                )
            ),
            "coordinator_id": coordinator.id,
            "volunteer_account": v_account,
        }
        db.session.remove()
        return out


def deep_cursor(app, account_id: int) -> int | None:  # type: ignore[no-untyped-def]
    with app.app_context():
        cursor = db.session.scalar(
            select(Posting.id)
            .where(Posting.account_id == account_id)
            .order_by(Posting.id.desc())
            .offset(DEEP)
            .limit(1)
        )
        db.session.remove()
        return cursor


def pending_ids(app, coordinator_id: int, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    with app.app_context():
        teams = select(TeamMembership.team_id).where(
            TeamMembership.member_id == coordinator_id,
            TeamMembership.role == "coordinator",
            TeamMembership.status == "active",
        )
        ids = list(
            db.session.scalars(
                select(HourLog.id)
                .where(
                    HourLog.team_id.in_(teams),
                    HourLog.status == "pending",
                    HourLog.member_id != coordinator_id,
                    # The demo volunteer's 10,000 seeded entries bring him to the community's
                    # storage cap: approving his own pending demo logs is refused (rightly).
                    HourLog.member_id.not_in(select(Member.id).where(Member.phone == VOLUNTEER)),
                )
                .order_by(HourLog.id)
                .limit(n)
            )
        )
        db.session.remove()
        return ids


TOKEN = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')


def csrf_token(client, path: str) -> str:  # type: ignore[no-untyped-def]
    """The CSRF token a browser would send: the one in the page's forms."""
    match = TOKEN.search(client.get(path).get_data(as_text=True))
    return match.group(1) if match else ""


def login(app, phone: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    data = {"phone": phone, "password": PASSWORD, "csrf_token": csrf_token(client, "/login")}
    response = client.post("/login", data=data)
    if response.status_code != 303:
        sys.exit(f"login as {phone} failed: HTTP {response.status_code}")
    return client


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def measure(
    name: str,
    call: Callable[[int], object],
    expect: int,
    args: argparse.Namespace,
    counter: QueryCounter | None,
) -> dict[str, object]:
    times: list[float] = []
    cpu: list[float] = []
    db_times: list[float] = []
    queries: list[int] = []
    example: list[str] = []
    size = 0
    for i in range(args.warmup + args.requests):
        if counter:
            counter.reset()
        start, start_cpu = time.perf_counter(), time.thread_time()
        response = call(i)
        elapsed, elapsed_cpu = time.perf_counter() - start, time.thread_time() - start_cpu
        if response.status_code != expect:  # type: ignore[attr-defined]
            sys.exit(f"{name}: HTTP {response.status_code}, expected {expect}")  # type: ignore[attr-defined]
        if i < args.warmup:
            continue
        times.append(elapsed * 1000)
        cpu.append(elapsed_cpu * 1000)
        size = len(response.data)  # type: ignore[attr-defined]
        if counter:
            queries.append(counter.count)
            db_times.append(counter.seconds * 1000)
            if not example:
                example = list(counter.statements)
    row: dict[str, object] = {
        "page": name,
        "n": len(times),
        "p50": statistics.median(times),
        "p95": percentile(times, 0.95),
        "max": max(times),
        "cpu_p50": statistics.median(cpu),
        "bytes": size,
    }
    if counter:
        row["queries_min"], row["queries_max"] = min(queries), max(queries)
        row["db_p50"] = statistics.median(db_times)
        row["statements"] = example
    return row


def main() -> None:
    args = parse_args()
    app = create_app({"WTF_CSRF_ENABLED": not args.no_csrf})
    f = facts(app)
    need = args.warmup + args.requests
    if int(f["coordinator_queue"]) < need:  # type: ignore[call-overload]
        sys.exit(f"only {f['coordinator_queue']} pending logs in the queue; need {need}")
    cursor = deep_cursor(app, int(f["volunteer_account"]))  # type: ignore[call-overload]
    to_approve = pending_ids(app, int(f["coordinator_id"]), need)  # type: ignore[call-overload]

    load_before = os.getloadavg()
    print(f"database  {f['database']}  ({f['db_size_mib']:,} MiB)")
    print(
        f"members {f['members']:,} · communities {f['communities']:,} · entries "
        f"{f['entries']:,} · postings {f['postings']:,} · hour logs {f['hour_logs']:,}"
    )
    print(
        f"demo volunteer {VOLUNTEER}: {f['volunteer_entries']:,} entries · demo coordinator "
        f"{COORDINATOR}: {f['coordinator_queue']:,} pending logs in his queue"
    )
    print(
        f"{args.requests} timed requests per page after {args.warmup} warm-up; CSRF "
        f"{'off' if args.no_csrf else 'on'}; "
        f"load average before {load_before[0]:.2f} {load_before[1]:.2f}, {os.cpu_count()} CPUs"
    )

    volunteer = login(app, VOLUNTEER)
    coordinator = login(app, COORDINATOR)
    token = csrf_token(coordinator, "/approvals")
    headers = {"Accept-Encoding": "gzip"}
    counter = None
    if args.sql:
        with app.app_context():
            counter = QueryCounter(db.engine)

    pages: list[tuple[str, Callable[[int], object], int]] = [
        ("GET /me (volunteer)", lambda i: volunteer.get("/me", headers=headers), 200),
        (
            "GET /me/statement (volunteer)",
            lambda i: volunteer.get("/me/statement", headers=headers),
            200,
        ),
        (
            f"GET /me/statement?before= ({DEEP:,} deep)",
            lambda i: volunteer.get(f"/me/statement?before={cursor}", headers=headers),
            200,
        ),
        ("GET /me (coordinator)", lambda i: coordinator.get("/me", headers=headers), 200),
        (
            "GET /approvals (coordinator)",
            lambda i: coordinator.get("/approvals", headers=headers),
            200,
        ),
        (
            "POST /approvals/<id>/approve",
            lambda i: coordinator.post(
                f"/approvals/{to_approve[i]}/approve",
                data={"once": uuid.uuid4().hex, "csrf_token": token},
                headers=headers,
            ),
            303,
        ),
    ]
    if args.only:
        pages = [page for page in pages if args.only in page[0]]
    rows = [measure(name, call, expect, args, counter) for name, call, expect in pages]
    load_after = os.getloadavg()

    with app.app_context():
        approved = db.session.scalar(
            select(func.count(HourLog.id)).where(
                HourLog.id.in_(to_approve), HourLog.status == "approved"
            )
        )
        db.session.remove()
    measured_posts = any(str(r["page"]).startswith("POST") for r in rows)
    if measured_posts and approved != len(to_approve):
        sys.exit(f"only {approved} of {len(to_approve)} approvals took effect")

    width = max(len(str(r["page"])) for r in rows)
    head = (
        f"{'page':<{width}}  {'n':>4}  {'p50 ms':>7}  {'p95 ms':>7}  {'max ms':>7}  "
        f"{'cpu p50':>7}  {'KiB':>5}"
    )
    if counter:
        head += f"  {'sql p50':>7}  queries"
    print()
    print(head)
    print("-" * len(head))
    for r in rows:
        line = (
            f"{r['page']:<{width}}  {r['n']:>4}  {r['p50']:>7.1f}  {r['p95']:>7.1f}  "
            f"{r['max']:>7.1f}  {r['cpu_p50']:>7.1f}  "
            f"{int(r['bytes']) / 1024:>5.1f}"  # type: ignore[call-overload]
        )
        if counter:
            lo, hi = r["queries_min"], r["queries_max"]
            line += f"  {r['db_p50']:>7.1f}  " + (f"{lo}" if lo == hi else f"{lo}–{hi}")
        print(line)
    print(
        "p50/p95/max: wall time of the request in the test client; cpu p50: this process's "
        "CPU time (does not count the PostgreSQL server's)"
        + ("; sql p50: time inside cursor.execute" if counter else "")
    )
    print(f"load average after {load_after[0]:.2f} {load_after[1]:.2f}")
    if counter and args.verbose:
        for r in rows:
            print(f"\n{r['page']}: {len(r['statements'])} statements")  # type: ignore[arg-type]
            for statement in r["statements"]:  # type: ignore[attr-defined]
                print("  " + statement[:200])
    if args.json:
        with open(args.json, "a") as out:
            record = {
                "label": args.label,
                "facts": f,
                "load": [load_before, load_after],
                "rows": [{k: v for k, v in r.items() if k != "statements"} for r in rows],
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    if "--ratio" in sys.argv[1:]:
        # Throughput under gunicorn and wrk against the floor: benchmarks/ratio.py.
        from ratio import main as ratio_main

        ratio_main(sys.argv[1:])
    else:
        main()
