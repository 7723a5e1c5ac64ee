"""Server time of /reports at city scale, and the memory of a streamed CSV export.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/bench .venv/bin/python \
        benchmarks/reports.py [--requests 40] [--csv-rows 1000000]

On a database loaded by benchmarks/seed.py (demo data + N members, M entries). In-process
(Flask test client, `time.perf_counter()` around each request, gzip accepted):

- GET /reports as the demo admin 13800000000 (the liability view and the community's
  figures for the last 12 months), and with `?month=` (one month);
- GET /reports as the demo coordinator 13800000001 (his two teams), and `?team=` one team;
- GET /reports as a street office's admin 13800000098 (made here, with the demo community's
  street office put above half the city's communities if it has fewer than two), and as
  the city admin 13800000099 (every community), with `?community=` and `?grid=` filters;
- GET /reports/export/ledger.csv as the admin (the community's postings, 3 years).

Then, in a fresh child process each, the peak resident memory (ru_maxrss) of streaming a
CSV of `--csv-rows` ledger postings city-wide through the export code (`exports.write_csv`
over `exports._keyset`, the same generator the route streams), against the same process
before it starts streaming: flat memory means the difference stays at one batch, whatever
the number of rows.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from portal import create_app  # noqa: E402
from portal.clock import today_local  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import (  # noqa: E402
    Community,
    Grid,
    JournalEntry,
    Member,
    Posting,
    StreetOffice,
    TeamMembership,
)

ADMIN = "13800000000"
COORDINATOR = "13800000001"
# Made here if missing: a city admin (every community) with the demo password.
CITY_ADMIN = "13800000099"
# Made here too: a street office's admin (the demo community's street office).
STREET_ADMIN = "13800000098"
PASSWORD = "timebank-demo"
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--requests", type=int, default=40, help="timed requests per page (40)")
    p.add_argument("--warmup", type=int, default=3, help="untimed requests first (3)")
    p.add_argument("--csv-rows", type=int, default=1_000_000, help="rows for the RSS test")
    p.add_argument("--json", help="append the results to this file")
    p.add_argument(
        "--pages-only", action="store_true", help="time the pages only (no CSV export, no RSS)"
    )
    p.add_argument("--child", choices=("csv",), help=argparse.SUPPRESS)
    return p.parse_args()


def login(app, phone: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    match = TOKEN.search(client.get("/login").get_data(as_text=True))
    data = {"phone": phone, "password": PASSWORD, "csrf_token": match.group(1) if match else ""}
    if client.post("/login", data=data).status_code != 303:
        sys.exit(f"login as {phone} failed: run `flask demo load` and benchmarks/seed.py first")
    return client


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def measure(name: str, client, path: str, args: argparse.Namespace) -> dict[str, object]:  # type: ignore[no-untyped-def]
    times = []
    size = 0
    for i in range(args.warmup + args.requests):
        start = time.perf_counter()
        response = client.get(path, headers={"Accept-Encoding": "gzip"})
        body = response.get_data()
        elapsed = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            sys.exit(f"{name}: HTTP {response.status_code}")
        if i >= args.warmup:
            times.append(elapsed)
            size = len(body)
    row = {
        "page": name,
        "n": len(times),
        "p50": round(statistics.median(times), 1),
        "p95": round(percentile(times, 0.95), 1),
        "max": round(max(times), 1),
        "bytes": size,
    }
    print(
        f"{name:38} p50 {row['p50']:7.1f}  p95 {row['p95']:7.1f}  "
        f"max {row['max']:7.1f} ms  {size} B"
    )
    return row


def _admin_twin(phone: str, name: str, member_no: str, role: str, **extra: Any) -> None:
    """A twin of the demo admin (same password and community) with another role, once."""
    if db.session.scalar(select(Member.id).where(Member.phone == phone)) is not None:
        return
    admin = db.session.scalar(select(Member).where(Member.phone == ADMIN))
    db.session.add(
        Member(
            name=name,
            phone=phone,
            password_hash=admin.password_hash,
            member_no=member_no,
            birth_year=1970,
            community_id=admin.community_id,
            role=role,
            **extra,
        )
    )


def ensure_city_admin() -> None:
    """A city admin for the city-wide page: the demo admin's twin (same password)."""
    _admin_twin(CITY_ADMIN, "市管理", "99000099", "city_admin")
    db.session.commit()


def ensure_street_admin() -> None:
    """A street office admin for the demo community's street office; the office is put above
    half the city's communities if it has fewer than two (a street office's page is then
    several communities, between the admin's and the city's)."""
    admin = db.session.scalar(select(Member).where(Member.phone == ADMIN))
    community = db.session.get(Community, admin.community_id)
    office_id = community.street_office_id
    if office_id is None:
        office = StreetOffice(name="银州街道")
        db.session.add(office)
        db.session.flush()
        office_id = community.street_office_id = office.id
    under = db.session.scalars(select(Community).where(Community.street_office_id == office_id))
    if len(list(under)) < 2:
        ids = sorted(db.session.scalars(select(Community.id)))
        for c in db.session.scalars(
            select(Community).where(Community.id.in_(ids[: len(ids) // 2]))
        ):
            c.street_office_id = office_id
    _admin_twin(STREET_ADMIN, "街道管理", "99000098", "street_admin", street_office_id=office_id)
    db.session.commit()


def csv_child(rows: int) -> None:
    """Stream `rows` ledger postings as CSV to /dev/null; print RSS before and after (KiB)."""
    from portal.services import exports

    app = create_app()
    with app.app_context():
        stmt = select(
            Posting.id,
            Posting.entry_id,
            JournalEntry.created_at,
            JournalEntry.kind,
            JournalEntry.memo,
            Posting.account_id,
            Posting.amount,
            Posting.balance_after,
            JournalEntry.hash,
        ).join(JournalEntry, JournalEntry.id == Posting.entry_id)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        written = 0
        size = 0
        start = time.perf_counter()
        rows_iter = exports._keyset(stmt, Posting.id)
        limited = (row for n, row in zip(range(rows), rows_iter, strict=False))
        with open("/dev/null", "w", encoding="utf-8") as sink:
            for chunk in exports.write_csv(exports.LEDGER_HEADER, limited):
                sink.write(chunk)
                size += len(chunk)
                written += chunk.count("\n")
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            json.dumps(
                {
                    "rows": written - 1,
                    "chars": size,
                    "seconds": round(time.perf_counter() - start, 1),
                    "rss_before_kib": before,
                    "rss_peak_kib": after,
                }
            )
        )


def main() -> None:
    args = parse_args()
    if args.child == "csv":
        csv_child(args.csv_rows)
        return
    app = create_app({"WTF_CSRF_ENABLED": True})
    with app.app_context():
        s = db.session
        facts = {
            "dialect": db.engine.dialect.name,
            "members": s.scalar(select(func.count(Member.id))),
            "entries": s.scalar(select(func.count(JournalEntry.id))),
            "postings": s.scalar(select(func.count(Posting.id))),
        }
        coordinator = s.scalar(select(Member).where(Member.phone == COORDINATOR))
        team_id = s.scalar(
            select(TeamMembership.team_id).where(
                TeamMembership.member_id == coordinator.id, TeamMembership.role == "coordinator"
            )
        )
        ensure_city_admin()
        ensure_street_admin()
        community_id = coordinator.community_id
        # The grid with the most members (the filter's usual case: a grid worker's own).
        grid_id = s.scalar(
            select(Member.grid_id)
            .where(Member.grid_id.is_not(None))
            .group_by(Member.grid_id)
            .order_by(func.count().desc())
            .limit(1)
        ) or s.scalar(select(Grid.id).limit(1))
        db.session.remove()
    print(json.dumps(facts))
    month = today_local().strftime("%Y-%m")
    admin = login(app, ADMIN)
    coord = login(app, COORDINATOR)
    city = login(app, CITY_ADMIN)
    street = login(app, STREET_ADMIN)
    results = [
        measure("GET /reports (admin, 12 months)", admin, "/reports", args),
        measure("GET /reports?month= (admin)", admin, f"/reports?month={month}", args),
        measure("GET /reports (coordinator)", coord, "/reports", args),
        measure("GET /reports?team= (coordinator)", coord, f"/reports?team={team_id}", args),
        measure("GET /reports?grid= (admin)", admin, f"/reports?grid={grid_id}", args),
        measure("GET /reports (street office)", street, "/reports", args),
        measure("GET /reports (city admin, all communities)", city, "/reports", args),
        measure(
            "GET /reports?community= (city admin)", city, f"/reports?community={community_id}", args
        ),
        measure("GET /reports?month= (city admin)", city, f"/reports?month={month}", args),
    ]
    if args.pages_only:
        return
    start = time.perf_counter()
    response = admin.get("/reports/export/ledger.csv?from=2000-01-01")
    body = response.get_data()
    lines = body.count(b"\n") - 1
    print(
        f"GET /reports/export/ledger.csv (admin): {lines} rows, "
        f"{len(body) / 2**20:.1f} MiB in {time.perf_counter() - start:.1f} s"
    )
    child = subprocess.run(
        [sys.executable, __file__, "--child", "csv", "--csv-rows", str(args.csv_rows)],
        capture_output=True,
        text=True,
        check=True,
    )
    csv = json.loads(child.stdout.strip().splitlines()[-1])
    print(
        f"CSV of {csv['rows']:,} postings: {csv['chars'] / 2**20:.0f} MiB of text in "
        f"{csv['seconds']} s; RSS {csv['rss_before_kib'] / 1024:.0f} MiB before streaming, "
        f"peak {csv['rss_peak_kib'] / 1024:.0f} MiB"
    )
    if args.json:
        with open(args.json, "a", encoding="utf-8") as out:
            out.write(json.dumps({"facts": facts, "pages": results, "csv": csv}) + "\n")


if __name__ == "__main__":
    main()
