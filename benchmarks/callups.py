"""Server time of a call-up's live board with N people called (issue 13: 200 under 50 ms p95).

    DATABASE_URL=sqlite:////tmp/bench.sqlite3 .venv/bin/python benchmarks/callups.py [-n 200]

Runs in-process like benchmarks/pages.py (Flask test client, `time.perf_counter()` around each
request, CSRF on, gzip accepted) on any migrated database (`flask db upgrade`; a seeded city
from benchmarks/seed.py makes the other tables large). It adds a community of its own with a
rescue team of N volunteers and a coordinator, starts a call-up that calls all N, answers for
them (a third coming, a sixth late, a sixth cannot, the rest silent), then times the
coordinator's GET /callups/<id> — the whole page, and the board fragment that htmx polls —
`--requests` times each after `--warmup`. Prints min/median/p95/max in ms of wall time and,
on a shared machine where other processes take the cores, of this thread's CPU time
(`time.thread_time()`: the server's own work, without waiting for a core; the database
server's CPU is not in it on PostgreSQL). What it adds is
left in the database (use a copy).
"""

from __future__ import annotations

import argparse
import re
import secrets
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from portal import create_app  # noqa: E402
from portal.clock import now_local  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import CallUpPerson, Community, JournalEntry, Member, Service, Team  # noqa: E402
from portal.services import callups, members, teams  # noqa: E402

PASSWORD = "bench-callup-password"


def pctl(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _member(community: Community, name: str, password_hash: str) -> Member:
    return members.register(
        members.Registration(
            name=name,
            phone="17" + "".join(secrets.choice("0123456789") for _ in range(9)),
            password=PASSWORD,
            community_id=community.id,
            birth_year=1970,
        ),
        password_hash=password_hash,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=200, help="people called")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()

    app = create_app({"RATELIMIT_ENABLED": False})
    with app.app_context():
        password_hash = members.hash_secret(PASSWORD)
        community = Community(name=f"召集基准社区{secrets.token_hex(3)}")
        db.session.add(community)
        db.session.flush()
        service = Service(community_id=community.id, name="应急抢险", category="emergency")
        team = Team(community_id=community.id, name="应急救援队", category="emergency")
        db.session.add_all([service, team])
        db.session.flush()
        lead = _member(community, "钱协调", password_hash)
        teams.add_member(team, lead, role="coordinator")
        called = [_member(community, f"志愿者{i:03d}", password_hash) for i in range(args.n)]
        for member in called:
            teams.add_member(team, member)
        callup = callups.create(
            lead,
            callups.CallUpFields(
                team_id=team.id,
                service_id=service.id,
                what="水管爆裂，搬沙袋",
                place="东门",
                needed_by=now_local() + timedelta(hours=1),
                needed=args.n // 2,
                escalate_after=30,
            ),
        )
        for i, member in enumerate(called):
            choice = {0: "coming", 1: "coming", 2: "late20", 3: "cannot"}.get(i % 6)
            if choice:
                callups.answer(member, callup.id, choice)
        db.session.commit()
        callup_id, phone = callup.id, lead.phone
        scale = (
            db.session.scalar(select(func.count(Member.id))),
            db.session.scalar(select(func.count(JournalEntry.id))),
            db.session.scalar(
                select(func.count(CallUpPerson.id)).where(CallUpPerson.callup_id == callup_id)
            ),
        )

    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        "/login", data={"csrf_token": csrf, "phone": phone, "password": PASSWORD}
    )
    assert response.status_code == 303, response.status_code

    url = f"/callups/{callup_id}"
    results: dict[str, list[float]] = {}
    for label, headers in (
        ("GET board page", {"Accept-Encoding": "gzip"}),
        ("GET board fragment (htmx poll)", {"Accept-Encoding": "gzip", "HX-Request": "true"}),
    ):
        times: list[float] = []
        cpu: list[float] = []
        for i in range(args.warmup + args.requests):
            t0, c0 = time.perf_counter(), time.thread_time()
            response = client.get(url, headers=headers)
            elapsed = (time.perf_counter() - t0) * 1000
            used = (time.thread_time() - c0) * 1000
            assert response.status_code == 200, response.status_code
            if i >= args.warmup:
                times.append(elapsed)
                cpu.append(used)
        results[label] = times
        results[label + ", CPU"] = cpu

    engine = app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0]
    print(
        f"{engine}: {scale[0]} members, {scale[1]} ledger entries; a call-up of {scale[2]} "
        f"people; {args.requests} requests each after {args.warmup} warm-up"
    )
    for label, values in results.items():
        print(
            f"  {label:37s} min {min(values):6.1f}  median {statistics.median(values):6.1f}  "
            f"p95 {pctl(values, 95):6.1f}  max {max(values):6.1f} ms"
        )


if __name__ == "__main__":
    main()
