"""Real processes for the concurrency tests: a gunicorn server with many workers, a client
that fires POSTs from many threads at the same moment, and a worker for races between
separate Python processes (multiprocessing, spawn)."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
# The project's venv, else the one running the tests (a worktree without its own .venv).
VENV_BIN = ROOT / ".venv" / "bin"
if not (VENV_BIN / "gunicorn").exists():
    VENV_BIN = Path(sys.executable).parent
SERVER_SECRET = "concurrency-test-secret"
CSRF_INPUT = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')
LISTENING = re.compile(r"Listening at: (http://127\.0\.0\.1:\d+)")


def server_env(database_url: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": SERVER_SECRET}
    env.pop("PORTAL_ENV", None)  # plain HTTP: the session cookie must not be Secure-only
    env["FLASK_APP"] = "wsgi.py"
    return env


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    log_path: Path
    url: str = ""

    def log_tail(self, chars: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


@contextmanager
def gunicorn(
    database_url: str,
    log_dir: Path,
    workers: int = 8,
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """`gunicorn --workers N wsgi:app` on a free port; stopped (terminate, wait) on exit.

    The port is 0: the kernel picks a free one when gunicorn binds (no window in which
    another process could take it), and gunicorn's log says which. gunicorn and its workers
    form their own process group, so `kill_hard` can end them all at once, mid-request."""
    log_path = log_dir / "gunicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(VENV_BIN / "gunicorn"),
                "--workers",
                str(workers),
                "--bind",
                "127.0.0.1:0",
                # Not the shared default under ~/.gunicorn: another server (a colleague's
                # test run, `make serve-prod`) may be using it.
                "--no-control-socket",
                "wsgi:app",
            ],
            cwd=ROOT,
            env={**server_env(database_url), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(process, log_path)
    try:
        _wait_healthy(server)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung shutdown
            process.kill()
            process.wait()


def kill_hard(server: Server) -> None:
    """SIGKILL the gunicorn master and its workers (their own process group): a machine
    that dies, with requests in the middle of being handled."""
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=20)


def _wait_healthy(server: Server, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited early:\n{server.log_tail()}")
        if not server.url:
            listening = LISTENING.search(server.log_path.read_text(errors="replace"))
            if listening is None:
                time.sleep(0.1)
                continue
            server.url = listening.group(1)
        try:
            with requests.get(f"{server.url}/healthz", timeout=2) as response:
                if response.status_code == 200:
                    return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn not healthy after {timeout}s:\n{server.log_tail()}")


def csrf_token(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "no csrf_token input on the page"
    return match.group(1)


@dataclass
class Login:
    cookies: dict[str, str]
    csrf: str


def log_in(base_url: str, phone: str, password: str) -> Login:
    """Log in as a browser would; return the session cookie and a CSRF token of the
    approval queue."""
    return log_in_at(base_url, phone, password, page="/approvals")


@dataclass(frozen=True)
class Post:
    path: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    post: Post
    status: int | None  # None: the request itself failed (see error)
    location: str = ""
    error: str = ""


def approve(log_id: int, once: str) -> Post:
    return Post(f"/approvals/{log_id}/approve", {"once": once})


def approve_bulk(log_ids: Sequence[int], once: str) -> Post:
    return Post("/approvals/bulk", {"once": once, "logs": list(log_ids)})


def fire(base_url: str, login: Login, posts: Sequence[Post], threads: int) -> list[Outcome]:
    """Send every POST (with the login's cookie and CSRF token) from `threads` threads that
    start together (a barrier) and take the posts in order, so neighbouring posts (a double
    tap) are in flight at the same moment. Redirects are not followed."""
    todo: queue.SimpleQueue[Post] = queue.SimpleQueue()
    for post in posts:
        todo.put(post)
    start = threading.Barrier(threads)

    def worker() -> list[Outcome]:
        done: list[Outcome] = []
        start.wait(timeout=60)
        while True:
            try:
                post = todo.get_nowait()
            except queue.Empty:
                return done
            try:
                with requests.post(
                    base_url + post.path,
                    data={"csrf_token": login.csrf, **post.data},
                    cookies=login.cookies,
                    allow_redirects=False,
                    timeout=90,
                ) as response:
                    location = response.headers.get("Location", "")
                    done.append(Outcome(post, response.status_code, location))
            except requests.RequestException as error:
                done.append(Outcome(post, None, error=repr(error)))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(worker) for _ in range(threads)]
        return [outcome for future in futures for outcome in future.result()]


def run_flask(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "flask"), *args],
        cwd=ROOT,
        env=server_env(database_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- a race between processes (multiprocessing, spawn) -----------------------------------


def race_transfers(
    database_url: str,
    index: int,
    rounds: Sequence[int],
    giver_code: str,
    taker_code: str,
    barrier: Any,
    results: Any,
) -> None:
    """One racer: its own app, engine and connection. For each round, wait at the barrier
    with everyone else, then try to move `minutes` from giver to taker as a gift."""
    from sqlalchemy import select, text

    from portal import create_app
    from portal.extensions import db
    from portal.models import Account
    from portal.services import ledger
    from portal.services.errors import InsufficientBalance

    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": SERVER_SECRET}
    )
    with app.app_context():
        try:
            # Connect before the race, and hold no transaction (on SQLite a transaction
            # outside a GET request starts with BEGIN IMMEDIATE, i.e. takes the write lock).
            db.session.execute(text("SELECT 1"))
            db.session.rollback()
            for round_no, minutes in enumerate(rounds):
                try:
                    barrier.wait(timeout=90)
                except threading.BrokenBarrierError:
                    return  # the test gave up (it failed or a racer died): stop quietly
                try:
                    giver = db.session.scalars(
                        select(Account).where(Account.code == giver_code)
                    ).one()
                    taker = db.session.scalars(
                        select(Account).where(Account.code == taker_code)
                    ).one()
                    ledger.transfer(
                        "gift",
                        giver,
                        taker,
                        minutes,
                        idempotency_key=f"race:{round_no}:{index}",
                        memo=f"racer {index}",
                    )
                    db.session.commit()
                    outcome = "ok"
                except InsufficientBalance:
                    db.session.rollback()
                    outcome = "insufficient"
                except Exception as error:  # noqa: BLE001 - reported to the test as a failure
                    db.session.rollback()
                    outcome = f"error: {error!r}"
                results.put((round_no, index, outcome))
        finally:
            db.session.remove()
            db.engine.dispose()


# --- several members at once, and the answers' pages (redemption races) ------------------


def log_in_at(base_url: str, phone: str, password: str, page: str = "/requests/new") -> Login:
    """Log in as a browser would; the CSRF token comes from `page` (any page with a form
    that member may open: a resident has no approval queue)."""
    with requests.Session() as http:
        with http.get(f"{base_url}/login", timeout=30) as login_page:
            assert login_page.status_code == 200, login_page.status_code
            token = csrf_token(login_page.text)
        with http.post(
            f"{base_url}/login",
            data={"csrf_token": token, "phone": phone, "password": password},
            allow_redirects=False,
            timeout=30,
        ) as answer:
            assert answer.status_code == 303, (answer.status_code, answer.text[:500])
        with http.get(f"{base_url}{page}", timeout=30) as form_page:
            assert form_page.status_code == 200, (page, form_page.status_code)
            token = csrf_token(form_page.text)
        return Login(cookies=http.cookies.get_dict(), csrf=token)


def fire_as(
    base_url: str, jobs: Sequence[tuple[Login, Post]], threads: int
) -> list[tuple[int, Outcome, str]]:
    """Like `fire`, but each POST is sent with its own login (several members racing), and
    each answer comes back as (index of its job, outcome, page text)."""
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(len(jobs)):
        todo.put(index)
    start = threading.Barrier(threads)

    def worker() -> list[tuple[int, Outcome, str]]:
        done: list[tuple[int, Outcome, str]] = []
        start.wait(timeout=60)
        while True:
            try:
                index = todo.get_nowait()
            except queue.Empty:
                return done
            login, post = jobs[index]
            try:
                with requests.post(
                    base_url + post.path,
                    data={"csrf_token": login.csrf, **post.data},
                    cookies=login.cookies,
                    allow_redirects=False,
                    timeout=90,
                ) as response:
                    location = response.headers.get("Location", "")
                    outcome = Outcome(post, response.status_code, location)
                    done.append((index, outcome, response.text))
            except requests.RequestException as error:
                done.append((index, Outcome(post, None, error=repr(error)), ""))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(worker) for _ in range(threads)]
        return sorted(
            (answer for future in futures for answer in future.result()), key=lambda a: a[0]
        )


def race_paid_requests(
    database_url: str,
    index: int,
    rounds: Sequence[int],
    requester_id: int,
    service_id: int,
    barrier: Any,
    results: Any,
) -> None:
    """One racer: its own app, engine and connection. For each round, wait at the barrier
    with everyone else, then post a request paid with `minutes` of the requester's banked
    hours (portal.services.requests.post, as the page does) and commit."""
    from datetime import timedelta

    from flask_babel import force_locale
    from sqlalchemy import text

    from portal import create_app
    from portal.clock import now_local
    from portal.extensions import db
    from portal.models import Member
    from portal.services import requests as request_service
    from portal.services.errors import DomainError

    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": SERVER_SECRET}
    )
    with app.app_context():
        try:
            db.session.execute(text("SELECT 1"))  # connect before the race, hold nothing
            db.session.rollback()
            for round_no, minutes in enumerate(rounds):
                try:
                    barrier.wait(timeout=90)
                except threading.BrokenBarrierError:
                    return  # the test gave up (it failed or a racer died): stop quietly
                try:
                    requester = db.session.get(Member, requester_id)
                    assert requester is not None
                    created = request_service.post(
                        requester,
                        request_service.RequestFields(
                            service_id=service_id,
                            wanted_at=now_local() + timedelta(days=1),
                            place=f"racer {index}",
                            note=f"round {round_no}",
                            minutes=minutes,
                            pay_with_hours=True,
                        ),
                    )
                    request_id = created.id
                    db.session.commit()
                    outcome = f"ok:{request_id}"
                except DomainError as error:
                    db.session.rollback()
                    with force_locale("en"):
                        message = str(error.message)
                    short = error.field == "minutes" and message.startswith("Not enough")
                    outcome = "insufficient" if short else f"refused: {message}"
                except Exception as error:  # noqa: BLE001 - reported to the test as a failure
                    db.session.rollback()
                    outcome = f"error: {error!r}"
                results.put((round_no, index, outcome))
        finally:
            db.session.remove()
            db.engine.dispose()
