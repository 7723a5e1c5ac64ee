"""CPU per request in-process, for every page `pages.py --ratio` drives (issue 14).

    DATABASE_URL=sqlite:////tmp/bench-100k.sqlite3 .venv/bin/python benchmarks/cpu.py \
        [-n 60] [--only /teams] [--profile /approvals]

The Flask test client (CSRF on, `Accept-Encoding: gzip`, the session cookie of a real login,
the kiosk's device cookie of a real enrolment), `time.thread_time()` around each request
after 5 warm-up: prints each page's 10th percentile and median in ms and the SQL statements
it ran (SQLite's BEGIN counted). Load-independent enough to compare two branches; the
machine's load average is printed. `--profile PAGE` prints cProfile's top functions for
the pages whose name contains PAGE. `--empty` also times a route that returns "ok" (added
here, never in the app) for a visitor and a member: what every request pays in the portal's
hooks (session, member and session-version check, locale, input guard, headers, compression)
before its own work.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import time  # noqa: E402

from sqlalchemy import event, select  # noqa: E402

from portal import create_app  # noqa: E402
from portal.demo import KIOSK_PLACE  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import Member  # noqa: E402
from portal.services import cards, devices  # noqa: E402

TOKEN = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
PASSWORD = "timebank-demo"


def token(client, path: str) -> str:  # type: ignore[no-untyped-def]
    match = TOKEN.search(client.get(path).get_data(as_text=True))
    return match.group(1) if match else ""


def login(app, phone: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    data = {"phone": phone, "password": PASSWORD, "csrf_token": token(client, "/login")}
    assert client.post("/login", data=data).status_code == 303, phone
    return client


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("-n", type=int, default=60)
    p.add_argument("--only")
    p.add_argument("--profile")
    p.add_argument("--dump", help="with --profile: write the cProfile stats to this file")
    p.add_argument("--empty", action="store_true", help="also time an empty route")
    args = p.parse_args()
    app = create_app()
    if args.empty:  # before the first request, as Flask requires
        app.add_url_rule("/bench-empty", "bench_empty", lambda: "ok")
    v, c, r = (login(app, phone) for phone in ("13800000002", "13800000001", "13800000003"))
    with app.app_context():
        admin = db.session.scalar(select(Member).where(Member.phone == "13800000000"))
        volunteer = db.session.scalar(select(Member).where(Member.phone == "13800000002"))
        _device, enrol = devices.register_device(admin, KIOSK_PLACE)
        card = cards.card_token(volunteer)
        db.session.commit()
    k = app.test_client()
    k.post(f"/kiosk/enrol/{enrol}", data={"csrf_token": token(k, f"/kiosk/enrol/{enrol}")})
    kiosk_token = token(k, "/kiosk")
    team = re.search(r'href="/teams/(\d+)"', v.get("/teams").get_data(as_text=True))
    team_path = f"/teams/{team.group(1)}" if team else "/teams"
    htmx = {"HX-Request": "true"}
    # The roster's "More" (its second page), when the team has more than one page.
    more = re.search(r'hx-get="(/teams/\d+\?after=\d+)"', c.get(team_path).get_data(as_text=True))
    roster_more = more.group(1) if more else team_path
    pages = [
        ("GET / (visitor)", app.test_client(), "/", {}, None),
        ("GET /login (visitor)", app.test_client(), "/login", {}, None),
        ("GET /register (visitor)", app.test_client(), "/register", {}, None),
        ("GET /me (volunteer)", v, "/me", {}, None),
        ("GET /me (resident)", r, "/me", {}, None),
        ("GET /me (coordinator)", c, "/me", {}, None),
        ("GET /me/statement", v, "/me/statement", {}, None),
        ("GET /me/statement rows (htmx)", v, "/me/statement", htmx, None),
        ("GET /hours", v, "/hours", {}, None),
        ("GET /hours/new", v, "/hours/new", {}, None),
        ("GET /teams", v, "/teams", {}, None),
        ("GET /teams/<id> (coordinator)", c, team_path, {}, None),
        ("GET /teams/<id> rows (htmx)", c, roster_more, htmx, None),
        ("GET /requests", r, "/requests", {}, None),
        ("GET /notifications", v, "/notifications", {}, None),
        ("GET /approvals", c, "/approvals", {}, None),
        ("GET /approvals rows (htmx)", c, "/approvals?after=1", htmx, None),
        ("GET /kiosk", k, "/kiosk", {}, None),
        ("GET /kiosk/pin", k, "/kiosk/pin", {}, None),
        ("GET /kiosk/code", k, "/kiosk/code", {}, None),
        (
            "POST /kiosk/card (identify)",
            k,
            "/kiosk/card",
            {},
            {"csrf_token": kiosk_token, "card": card},
        ),
    ]
    if args.empty:
        pages[:0] = [
            ("GET empty route (visitor)", app.test_client(), "/bench-empty", {}, None),
            ("GET empty route (volunteer)", v, "/bench-empty", {}, None),
        ]
    if args.only:
        pages = [page for page in pages if args.only in page[0]]
    count = [0]
    with app.app_context():
        event.listen(
            db.engine, "before_cursor_execute", lambda *a: count.__setitem__(0, count[0] + 1)
        )
    load = os.getloadavg()
    print(f"load average before {load[0]:.2f} {load[1]:.2f}")
    print(f"{'page':<32} {'p10 ms':>7} {'p50 ms':>7} {'stmts':>5} {'status':>6}")
    for name, client, path, headers, form in pages:
        headers = {"Accept-Encoding": "gzip", **headers}

        def call(client=client, path=path, headers=headers, form=form):  # type: ignore[no-untyped-def]
            if form is None:
                return client.get(path, headers=headers)
            return client.post(path, data=form, headers=headers)

        cpu, stmts, status = [], [], 0
        for i in range(5 + args.n):
            count[0] = 0
            start = time.thread_time()
            response = call()
            took = time.thread_time() - start
            status = response.status_code
            if i >= 5:
                cpu.append(took * 1000)
                stmts.append(count[0])
        cpu.sort()
        print(
            f"{name:<32} {cpu[len(cpu) // 10]:>7.2f} {statistics.median(cpu):>7.2f} "
            f"{min(stmts):>2}-{max(stmts):<2} {status:>6}"
        )
        if args.profile and args.profile in name:
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(20):
                call()
            prof.disable()
            if args.dump:
                prof.dump_stats(args.dump)
            stats = pstats.Stats(prof)
            print(f"  calls per request: {stats.total_calls // 20}")  # type: ignore[attr-defined]
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats(45)
    load = os.getloadavg()
    print(f"load average after {load[0]:.2f} {load[1]:.2f}")


if __name__ == "__main__":
    main()
