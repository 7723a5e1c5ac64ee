"""Server time of the grid worker's two heavy pages at city scale (issue 11): the dispatch list
(GET /requests/<id>/candidates) and the grid register (GET /grids/<id>/register).

    DATABASE_URL=sqlite:////tmp/bench-grids.sqlite3 .venv/bin/python benchmarks/grids.py

Runs the migrations and loads the demo data when the database is empty, then (once) seeds a
city: 50,000 members over the demo community and 9 new ones, 500 grids (each community 10 grids
of 4 micro-grids each, plus the demo's own), every member housed in a grid, 10 % of them
confirmed party members, half of the demo community's members volunteers of 助老服务队,
5,000 requests with volunteers and ratings, and 20 households a grid (300 in the demo
worker's grid, the register's page size). Rows go in by SQLAlchemy Core executemany in one
transaction. Then it logs in as the demo grid worker 吴网格 (CSRF on, like a browser), posts
one request in 东一微网格 as 李奶奶, and times each page in-process (Flask test client,
`time.perf_counter()` around each request), printing min/median/p95/max. Each register view
writes its audit line, as in production. Use a copy of a database you care about.

`--sql` also counts the statements each request runs and the time inside cursor.execute
(median), `-v` prints one request's statements, `--profile N` prints cProfile's top N
functions (cumulative) over the timed requests of each page (slower; not for the figures).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import re
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, func, insert, select, text  # noqa: E402

from portal import create_app  # noqa: E402
from portal.clock import now_local  # noqa: E402
from portal.demo import DEMO_PASSWORD  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import (  # noqa: E402
    CarePerson,
    Community,
    Grid,
    Household,
    Member,
    Service,
    ServiceRequest,
    Team,
    TeamMembership,
)
from portal.models._time import utcnow  # noqa: E402
from portal.services import members  # noqa: E402
from portal.services import requests as req  # noqa: E402

WORKER = "13800000006"
RESIDENT = "13800000003"
MEMBERS = 50_000
COMMUNITIES = 9
TOPS, MICROS = 10, 4
CATEGORIES = ("alone", "over_80", "disabled", "low_income")


class QueryCounter:
    """Statements per request and the time spent inside cursor.execute."""

    def __init__(self, engine) -> None:  # type: ignore[no-untyped-def]
        self.count = 0
        self.seconds = 0.0
        self.statements: list[str] = []
        self.each_ms: list[float] = []
        self._started = 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, _conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        self.count += 1
        self.statements.append(" ".join(statement.split()))
        self._started = time.perf_counter()

    def _after(self, *_args) -> None:  # type: ignore[no-untyped-def]
        spent = time.perf_counter() - self._started
        self.seconds += spent
        self.each_ms.append(spent * 1000)

    def reset(self) -> None:
        self.count, self.seconds, self.statements, self.each_ms = 0, 0.0, [], []


def pctl(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _grids(community_id: int, prefix: str, start_building: int) -> list[int]:
    ids = []
    building = start_building
    for t in range(TOPS):
        names = [f"{building + i}号楼" for i in range(MICROS * 2)]
        top = Grid(
            community_id=community_id, name=f"{prefix}{t + 1}网格", buildings="\n".join(names)
        )
        db.session.add(top)
        db.session.flush()
        ids.append(top.id)
        for m in range(MICROS):
            micro = Grid(
                community_id=community_id,
                parent_id=top.id,
                name=f"{prefix}{t + 1}-{m + 1}微网格",
                buildings="\n".join(names[m * 2 : m * 2 + 2]),
            )
            db.session.add(micro)
            db.session.flush()
            ids.append(micro.id)
        building += MICROS * 2
    return ids


def seed(rng: random.Random) -> None:
    worker = db.session.scalar(select(Member).where(Member.phone == WORKER))
    assert worker is not None
    home = worker.community_id
    if db.session.scalar(select(func.count(Grid.id))) >= 500:
        return
    password_hash = members.hash_secret("not-a-login-1")
    communities = [home]
    for c in range(COMMUNITIES):
        community = Community(name=f"基准社区{c + 1}")
        db.session.add(community)
        db.session.flush()
        communities.append(community.id)
    grids_of = {home: _grids(home, "基准", 100)}
    grids_of[home] += list(db.session.scalars(select(Grid.id).where(Grid.community_id == home)))
    for cid in communities[1:]:
        grids_of[cid] = _grids(cid, "", 1)
    total_grids = db.session.scalar(select(func.count(Grid.id)))
    rows = []
    per_home = MEMBERS // 5
    for i in range(MEMBERS):
        cid = home if i < per_home else communities[1 + i % COMMUNITIES]
        rows.append(
            {
                "name": f"居民{i}",
                "phone": f"15{i:09d}",
                "password_hash": password_hash,
                "member_no": f"{60_000_000 + i}",
                "birth_year": 1940 + i % 50,
                "community_id": cid,
                "grid_id": rng.choice(grids_of[cid]),
                "party_member": i % 10 == 0,
                "shows_party_badge": i % 20 == 0,
                "created_at": utcnow(),
            }
        )
    for n in range(0, len(rows), 10_000):
        db.session.execute(insert(Member), rows[n : n + 10_000])
    team = db.session.scalar(
        select(Team).where(Team.community_id == home, Team.name == "助老服务队")
    )
    assert team is not None
    volunteer_ids = list(
        db.session.scalars(
            select(Member.id).where(Member.community_id == home, Member.phone.like("15%"))
        )
    )[: per_home // 2]
    db.session.execute(
        insert(TeamMembership),
        [
            {
                "team_id": team.id,
                "member_id": m,
                "role": "member",
                "status": "active",
                "created_at": utcnow(),
            }
            for m in volunteer_ids
        ],
    )
    service_id = db.session.scalar(select(Service.id).where(Service.community_id == home))
    requests = []
    wanted = now_local() + timedelta(days=1)
    for i in range(5_000):
        status = ("accepted", "dispatched", "confirmed", "confirmed", "open")[i % 5]
        requests.append(
            {
                "community_id": home,
                "requester_id": volunteer_ids[-1 - i % 1000],
                "posted_by_id": volunteer_ids[-1 - i % 1000],
                "service_id": service_id,
                "wanted_at": wanted,
                "place": "楼下",
                "note": "",
                "estimate_minutes": 60,
                "pay_with_hours": False,
                "status": status,
                "status_changed_at": utcnow(),
                "assignee_id": None if status == "open" else rng.choice(volunteer_ids),
                "rating": rng.randint(1, 5) if status == "confirmed" else None,
                "grid_id": rng.choice(grids_of[home]),
                "open_to_community": True,
                "escalation_level": 0,
                "complaint": "",
                "followup_outcome": "",
                "held_minutes": 0,
                "created_at": utcnow(),
            }
        )
    db.session.execute(insert(ServiceRequest), requests)
    worker_grid = db.session.scalar(
        select(Grid).where(Grid.community_id == home, Grid.name == "东区网格")
    )
    assert worker_grid is not None
    micro_ids = [
        worker_grid.id,
        *db.session.scalars(select(Grid.id).where(Grid.parent_id == worker_grid.id)),
    ]
    households = []
    for ids in grids_of.values():
        for gid in ids:
            for h in range(20):
                households.append(
                    {
                        "grid_id": gid,
                        "building": "1号楼",
                        "unit": f"{h % 4 + 1}单元",
                        "door": f"{h + 100}",
                        "note": "",
                        "created_at": utcnow(),
                    }
                )
    for h in range(300):
        households.append(
            {
                "grid_id": rng.choice(micro_ids),
                "building": "1号楼",
                "unit": f"{h % 6 + 1}单元",
                "door": f"{h + 200}",
                "note": "",
                "created_at": utcnow(),
            }
        )
    for n in range(0, len(households), 10_000):
        db.session.execute(insert(Household), households[n : n + 10_000])
    people = [
        {
            "household_id": hid,
            "name": f"长者{hid}",
            "categories": CATEGORIES[hid % 4],
            "member_id": volunteer_ids[hid % len(volunteer_ids)] if hid % 3 == 0 else None,
        }
        for hid in db.session.scalars(select(Household.id))
    ]
    for n in range(0, len(people), 10_000):
        db.session.execute(insert(CarePerson), people[n : n + 10_000])
    db.session.commit()
    print(
        f"seeded {MEMBERS} members, {total_grids} grids, {len(requests)} requests, "
        f"{len(households)} households"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=200, help="requests per page")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--sql", action="store_true", help="count statements per request")
    parser.add_argument("-v", "--verbose", action="store_true", help="with --sql: list them")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile top N")
    args = parser.parse_args()
    app = create_app({"RATELIMIT_ENABLED": False})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        if db.session.scalar(select(Member.id).where(Member.phone == WORKER)) is None:
            from portal.demo import load_demo

            load_demo()
            db.session.commit()
        seed(random.Random(11))
        if db.engine.dialect.name == "postgresql":
            # Fresh planner statistics, as autovacuum keeps them in production (without,
            # the first runs planned with the empty tables' estimates: sequential scans).
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        resident = db.session.scalar(select(Member).where(Member.phone == RESIDENT))
        assert resident is not None
        request = req.post(
            resident,
            req.RequestFields(
                db.session.scalar(
                    select(Service.id).where(Service.community_id == resident.community_id)
                ),
                now_local() + timedelta(days=1),
                "2号楼1单元301",
                "",
                60,
                False,
            ),
        )
        grid_id = db.session.scalar(select(Grid.id).where(Grid.name == "东区网格"))
        scale = (
            db.session.scalar(select(func.count(Member.id))),
            db.session.scalar(select(func.count(Grid.id))),
            db.session.scalar(select(func.count(ServiceRequest.id))),
            db.session.scalar(select(func.count(Household.id))),
        )
        request_id = request.id
        db.session.commit()

    counter = None
    if args.sql:
        with app.app_context():
            counter = QueryCounter(db.engine)
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        "/login", data={"csrf_token": csrf, "phone": WORKER, "password": DEMO_PASSWORD}
    )
    assert response.status_code == 303, response.status_code
    engine = app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0]
    print(
        f"{engine}: {scale[0]} members, {scale[1]} grids, {scale[2]} requests, "
        f"{scale[3]} households; "
        f"{args.n} requests per page after {args.warmup} warm-up"
    )
    for label, url in (
        ("GET /requests/<id>/candidates (dispatch list)", f"/requests/{request_id}/candidates"),
        ("GET /grids/<id>/register (grid register)", f"/grids/{grid_id}/register"),
    ):
        times: list[float] = []
        cpu: list[float] = []
        counts: list[int] = []
        sql_ms: list[float] = []
        example: list[str] = []
        profile = cProfile.Profile() if args.profile else None
        for i in range(args.n + args.warmup):
            if counter:
                counter.reset()
            if profile and i >= args.warmup:
                profile.enable()
            t0, cpu0 = time.perf_counter(), time.thread_time()
            response = client.get(url)
            elapsed = (time.perf_counter() - t0) * 1000
            elapsed_cpu = (time.thread_time() - cpu0) * 1000
            if profile:
                profile.disable()
            assert response.status_code == 200, (url, response.status_code)
            if i >= args.warmup:
                times.append(elapsed)
                cpu.append(elapsed_cpu)
                if counter:
                    counts.append(counter.count)
                    sql_ms.append(counter.seconds * 1000)
                    example = example or [
                        f"{ms:5.1f} ms  {text}"
                        for ms, text in zip(counter.each_ms, counter.statements, strict=True)
                    ]
        print(
            f"  {label:48s} min {min(times):6.1f}  median {statistics.median(times):6.1f}  "
            f"p95 {pctl(times, 95):6.1f}  max {max(times):6.1f} ms  "
            f"(this process's CPU median {statistics.median(cpu):5.1f} ms)"
        )
        if counter:
            print(
                f"    statements {min(counts)}–{max(counts)}, "
                f"SQL median {statistics.median(sql_ms):.1f} ms"
            )
            if args.verbose:
                for statement in example:
                    print(f"      {statement[:300]}")
        if profile:
            pstats.Stats(profile).sort_stats("cumulative").print_stats(args.profile)
            stats = pstats.Stats(profile).sort_stats("tottime")
            stats.print_stats(args.profile)


if __name__ == "__main__":
    main()
