"""`benchmarks/pages.py --ratio`: each page's throughput as a share of the floor's.

Serves the floor (benchmarks/floor.py, a bare Flask + Jinja Fortunes page on the same
database engine) and the portal, one after the other, each under gunicorn as in production
(`--workers 2`, sync workers), and drives every page with wrk (Debian's `wrk`: `make
bench-tools` installs it) for `--seconds` after a one-second warm-up: one wrk thread and
`--connections` connections, so the load generator's own cost stays small (wrk is C and
epoll) and is the same for the floor and the portal. The floor is measured before the pages
and again after them; the ratio divides by their mean, and the two floor runs are printed so
the drift of a shared machine shows.

Each page's ratio is its requests per second over the floor's; p90 and p99 are wrk's
latency percentiles. Requests carry `Accept-Encoding: gzip` and the session (or kiosk device)
cookie of a real login; CSRF stays on (POSTs send the token read from a page, like a browser).
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "timebank-demo"
COORDINATOR = "13800000001"
VOLUNTEER = "13800000002"
RESIDENT = "13800000003"


@dataclass
class Page:
    name: str
    path: str
    cookie: str = ""
    method: str = "GET"
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Result:
    name: str
    rps: float
    p50: float
    p90: float
    p99: float
    errors: int


class Browser:
    """Just enough of a browser over http.client: cookies, the CSRF token of a page."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> str:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Cookie": self.cookie_header()}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        text = response.read().decode("utf-8", "replace")
        conn.close()
        if response.status >= 400:
            sys.exit(f"{method} {path}: HTTP {response.status}")
        return text

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def csrf(self, path: str) -> str:
        match = re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', self.request("GET", path))
        return match.group(1) if match else ""


def login(port: int, phone: str) -> Browser:
    browser = Browser(port)
    token = browser.csrf("/login")
    browser.request("POST", "/login", {"phone": phone, "password": PASSWORD, "csrf_token": token})
    if "session" not in browser.cookies:
        sys.exit(f"login as {phone} failed")
    return browser


def serve(
    app: str, port: int, workers: int, env: dict[str, str], chdir: Path, ready: str = "/healthz"
) -> subprocess.Popen:
    gunicorn = Path(sys.executable).parent / "gunicorn"
    command = [
        str(gunicorn),
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--chdir",
        str(chdir),
        "--log-level",
        "warning",
        app,
    ]
    process = subprocess.Popen(command, env={**os.environ, **env}, start_new_session=True)
    for _ in range(100):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", ready)
            conn.getresponse().read()
            return process
        except OSError:
            time.sleep(0.2)
    stop(process)
    sys.exit(f"{app} did not start on port {port}")


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


LUA = """
wrk.method = "{method}"
wrk.body = "{body}"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
"""


def drive(port: int, page: Page, seconds: int, connections: int) -> Result:
    headers = {"Accept-Encoding": "gzip", **page.headers}
    if page.cookie:
        headers["Cookie"] = page.cookie
    base = ["wrk", "-t1", f"-c{connections}", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        base += ["-H", f"{name}: {value}"]
    url = f"http://127.0.0.1:{port}{page.path}"
    with tempfile.TemporaryDirectory() as tmp:
        if page.method != "GET":
            script = Path(tmp) / "request.lua"
            script.write_text(LUA.format(method=page.method, body=page.body))
            base += ["-s", str(script)]
        subprocess.run([*base, "-d1s", url], capture_output=True, check=True)  # warm-up
        out = subprocess.run([*base, f"-d{seconds}s", url], capture_output=True, text=True).stdout
    return Result(
        page.name,
        float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        _percentile(out, "50"),
        _percentile(out, "90"),
        _percentile(out, "99"),
        int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0,
    )


def _percentile(out: str, p: str) -> float:
    match = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def kiosk_browser(port: int) -> tuple[Browser, str]:
    """A browser enrolled as a kiosk at the demo community centre, and a member's card."""
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import select

    from portal import create_app
    from portal.demo import KIOSK_PLACE
    from portal.extensions import db
    from portal.models import Member
    from portal.services import cards, devices

    app = create_app()
    with app.app_context():
        admin = db.session.scalar(select(Member).where(Member.phone == "13800000000"))
        volunteer = db.session.scalar(select(Member).where(Member.phone == VOLUNTEER))
        assert admin is not None and volunteer is not None, "load the demo data first"
        _device, enrol = devices.register_device(admin, KIOSK_PLACE)
        card = cards.card_token(volunteer)
        db.session.commit()
        db.engine.dispose()
    browser = Browser(port)
    token = browser.csrf(f"/kiosk/enrol/{enrol}")
    browser.request("POST", f"/kiosk/enrol/{enrol}", {"csrf_token": token})
    return browser, card


def probe_pages(cookie: str) -> list[Page]:
    """benchmarks/probe.py: what every page shares, measured on its own."""
    return [
        Page("probe: empty answer (visitor)", "/_probe/empty"),
        Page("probe: empty answer (logged in)", "/_probe/empty", cookie),
        Page("probe: base layout, no content (logged in)", "/_probe/layout", cookie),
        Page("probe: Fortunes through the portal (visitor)", "/_probe/fortunes"),
    ]


def pages(port: int) -> list[Page]:
    volunteer, coordinator, resident = (login(port, p) for p in (VOLUNTEER, COORDINATOR, RESIDENT))
    kiosk, card = kiosk_browser(port)
    kiosk_token = kiosk.csrf("/kiosk")  # the session holding the token, then the cookies
    v, c, r, k = (b.cookie_header() for b in (volunteer, coordinator, resident, kiosk))
    htmx = {"HX-Request": "true"}
    team = re.search(r'href="/teams/(\d+)"', volunteer.request("GET", "/teams"))
    team_path = f"/teams/{team.group(1)}" if team else "/teams"
    more = re.search(r'hx-get="(/teams/\d+\?after=\d+)"', coordinator.request("GET", team_path))
    roster_more = more.group(1) if more else team_path
    identify = urllib.parse.urlencode({"csrf_token": kiosk_token, "card": card})
    return [
        Page("GET / (visitor)", "/"),
        Page("GET /login (visitor)", "/login"),
        Page("GET /register (visitor)", "/register"),
        Page("GET /me (volunteer)", "/me", v),
        Page("GET /me (resident)", "/me", r),
        Page("GET /me (coordinator)", "/me", c),
        Page("GET /me/statement", "/me/statement", v),
        Page("GET /me/statement rows (htmx)", "/me/statement", v, headers=htmx),
        Page("GET /hours", "/hours", v),
        Page("GET /hours/new", "/hours/new", v),
        Page("GET /teams", "/teams", v),
        Page("GET /teams/<id> (coordinator)", team_path, c),
        Page("GET /teams/<id> rows (htmx)", roster_more, c, headers=htmx),
        Page("GET /requests", "/requests", r),
        Page("GET /notifications", "/notifications", v),
        Page("GET /approvals", "/approvals", c),
        Page("GET /approvals rows (htmx)", "/approvals?after=1", c, headers=htmx),
        Page("GET /kiosk", "/kiosk", k),
        Page("GET /kiosk/pin", "/kiosk/pin", k),
        Page("GET /kiosk/code", "/kiosk/code", k),
        Page("POST /kiosk/card (identify)", "/kiosk/card", k, "POST", identify),
    ]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--ratio", action="store_true")
    p.add_argument("--seconds", type=int, default=5, help="wrk run per page (after 1 s warm-up)")
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers, floor and portal")
    p.add_argument("--only", help="only the pages whose name contains this")
    p.add_argument("--port", type=int, default=8790)
    p.add_argument(
        "--probes",
        action="store_true",
        help="also serve benchmarks/probe.py: an empty answer, the bare layout and the "
        "floor's page through the portal's stack",
    )
    args = p.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: `make bench-tools` (apt-get install wrk)")
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        sys.exit("set DATABASE_URL to the seeded database (benchmarks/README.md)")
    floor_db = (
        url if url.startswith("postgresql") else str(Path(tempfile.gettempdir()) / "floor.sqlite3")
    )
    # One key for the server and for the card this script signs in-process (kiosk_browser).
    secret = os.environ.setdefault("SECRET_KEY", os.urandom(16).hex())
    env = {"SECRET_KEY": secret, "FLASK_APP": "wsgi.py"}
    floor_page = Page("floor: Flask + Jinja Fortunes", "/fortunes")

    def floor_run() -> Result:
        server = serve(
            "floor:app",
            args.port + 1,
            args.workers,
            {"FLOOR_DATABASE": floor_db},
            ROOT / "benchmarks",
            "/fortunes",
        )
        try:
            return drive(args.port + 1, floor_page, args.seconds, args.connections)
        finally:
            stop(server)

    load = [os.getloadavg()[0]]
    floor_before = floor_run()
    server = serve("wsgi:app", args.port, args.workers, env, ROOT)
    try:
        todo = [pg for pg in pages(args.port) if not args.only or args.only in pg.name]
        results = [drive(args.port, pg, args.seconds, args.connections) for pg in todo]
        volunteer = next((pg.cookie for pg in todo if pg.name == "GET /me (volunteer)"), "")
        volunteer = volunteer or login(args.port, VOLUNTEER).cookie_header()
    finally:
        stop(server)
    if args.probes:
        # The same secret and database: the volunteer's session cookie is valid here too.
        probe = serve("probe:app", args.port, args.workers, env, ROOT / "benchmarks")
        try:
            results += [
                drive(args.port, pg, args.seconds, args.connections)
                for pg in probe_pages(volunteer)
            ]
        finally:
            stop(probe)
    floor_after = floor_run()
    load.append(os.getloadavg()[0])
    floor = (floor_before.rps + floor_after.rps) / 2

    engine = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(
        f"{engine}: gunicorn --workers {args.workers}, wrk -t1 -c{args.connections} "
        f"-d{args.seconds}s per page; load average {load[0]:.2f} -> {load[1]:.2f}, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"floor {floor_before.rps:.0f} req/s before, {floor_after.rps:.0f} after "
        f"(p90 {floor_before.p90:.1f} / {floor_after.p90:.1f} ms)"
    )
    width = max(len(r.name) for r in results)
    head = ("req/s", "ratio", "p50 ms", "p90 ms", "p99 ms")
    print(f"{'page':<{width}}  " + "  ".join(f"{h:>7}" for h in head))
    for r in [floor_before, *results]:
        ratio = r.rps / floor if floor else 0.0
        flag = f"  {r.errors} non-2xx/3xx!" if r.errors else ""
        print(
            f"{r.name:<{width}}  {r.rps:>7.0f}  {ratio:>7.2f}  {r.p50:>7.1f}  {r.p90:>7.1f}  "
            f"{r.p99:>7.1f}{flag}"
        )
    worst = min(results, key=lambda r: r.rps)
    print(f"worst page: {worst.name}, {worst.rps / floor:.2f} of the floor")
