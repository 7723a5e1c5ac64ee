"""Server time of a kiosk visit: identify by card → check in → the confirmation screen.

    DATABASE_URL=sqlite:////tmp/bench.sqlite3 .venv/bin/python benchmarks/kiosk.py [-n 300]

Runs in-process like benchmarks/pages.py (Flask test client, `time.perf_counter()` around each
request, CSRF on, gzip accepted), on a database loaded by benchmarks/seed.py (whose demo data
has the kiosk's community centre). It enrols a fresh kiosk there, adds `-n` members of the
demo community to 助老服务队 and opens an activity at the centre now; then each member in turn
scans their card (POST /kiosk/card: find the device, check the card, list today's
activities) and taps check-in (POST /kiosk/in: the check-in and the confirmation screen).
Prints min/median/p95/max of each request and of the round trip (the two together); each
visit is a different member, so nothing is served from an earlier visit's work. The check-ins
it makes are left in the database (use a copy).
"""

from __future__ import annotations

import argparse
import gzip
import re
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
from portal.demo import KIOSK_PLACE  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import (  # noqa: E402
    Activity,
    HourLog,
    JournalEntry,
    Member,
    Team,
    TeamMembership,
)
from portal.services import cards, devices, teams  # noqa: E402

ADMIN = "13800000000"
TEAM = "助老服务队"


def pctl(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=300, help="visits (different members)")
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()

    app = create_app({"RATELIMIT_ENABLED": False})
    with app.app_context():
        admin = db.session.scalar(select(Member).where(Member.phone == ADMIN))
        assert admin is not None, "load the demo data first (benchmarks/seed.py does)"
        team = db.session.scalar(
            select(Team).where(Team.community_id == admin.community_id, Team.name == TEAM)
        )
        assert team is not None
        in_team = select(TeamMembership.member_id).where(TeamMembership.team_id == team.id)
        newcomers = db.session.scalars(
            select(Member)
            .where(Member.community_id == admin.community_id, Member.id.not_in(in_team))
            .order_by(Member.id)
            .limit(args.n + args.warmup)
        ).all()
        if len(newcomers) < args.n + args.warmup:
            sys.exit(f"only {len(newcomers)} members left to add to {TEAM}; seed more")
        for member in newcomers:
            teams.add_member(team, member)
        start = now_local() - timedelta(minutes=30)
        db.session.add(
            Activity(
                team_id=team.id,
                service_id=db.session.scalar(
                    select(Activity.service_id).where(Activity.team_id == team.id).limit(1)
                ),
                title="基准测试活动",
                starts_at=start,
                ends_at=start + timedelta(hours=3),
                place=KIOSK_PLACE,
                capacity=1000,
                created_by_id=admin.id,
            )
        )
        _device, enrol_token = devices.register_device(admin, KIOSK_PLACE)
        tokens = [cards.card_token(m) for m in newcomers]
        scale = (
            db.session.scalar(select(func.count(Member.id))),
            db.session.scalar(select(func.count(JournalEntry.id))),
            db.session.scalar(select(func.count(HourLog.id))),
        )
        db.session.commit()

    client = app.test_client()
    headers = {"Accept-Encoding": "gzip"}
    # CSRF is on: read the token from the enrolment page like a browser.
    page = client.get(f"/kiosk/enrol/{enrol_token}").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(f"/kiosk/enrol/{enrol_token}", data={"csrf_token": csrf})
    assert response.status_code == 303, response.status_code

    identify: list[float] = []
    check_in: list[float] = []
    for i, token in enumerate(tokens):
        t0 = time.perf_counter()
        screen = client.post(
            "/kiosk/card", data={"csrf_token": csrf, "card": token}, headers=headers
        )
        t1 = time.perf_counter()
        assert screen.status_code == 200, screen.status_code
        html = gzip.decompress(screen.get_data()).decode()
        activity_id = re.search(r'name="activity" value="(\d+)"', html).group(1)
        who = re.search(r'name="who" value="([^"]+)"', html).group(1)
        key = re.search(r'name="key" value="([^"]+)"', html).group(1)
        t2 = time.perf_counter()
        done = client.post(
            "/kiosk/in",
            data={"csrf_token": csrf, "who": who, "key": key, "activity": activity_id},
            headers=headers,
        )
        t3 = time.perf_counter()
        assert done.status_code == 200, done.status_code
        if i >= args.warmup:
            identify.append((t1 - t0) * 1000)
            check_in.append((t3 - t2) * 1000)

    trip = [a + b for a, b in zip(identify, check_in, strict=True)]
    engine = app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0]
    print(
        f"{engine}: {scale[0]} members, {scale[1]} ledger entries, {scale[2]} hour logs; "
        f"{len(trip)} visits after {args.warmup} warm-up"
    )
    for label, values in (
        ("POST /kiosk/card (identify)", identify),
        ("POST /kiosk/in (check in + confirmation)", check_in),
        ("round trip", trip),
    ):
        print(
            f"  {label:44s} min {min(values):6.1f}  median {statistics.median(values):6.1f}  "
            f"p95 {pctl(values, 95):6.1f}  max {max(values):6.1f} ms"
        )


if __name__ == "__main__":
    main()
