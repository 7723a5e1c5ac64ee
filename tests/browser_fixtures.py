"""A live server and Playwright driving Debian's Chromium, plus the checks every page gets:
axe-core finds no violations, the page works without JavaScript, its compressed transfer fits
DESIGN.md's budget (50 KB a page, 5 KB a fragment), and nothing scrolls sideways at the page's
width. Each checked page's transfer is written to test-artifacts/page-sizes.txt."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from portal import create_app
from tests.support import skip_or_fail

ROOT = Path(__file__).resolve().parent.parent
AXE_PATH = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")
PAGE_BUDGET = 50 * 1024
FRAGMENT_BUDGET = 5 * 1024
ARTIFACTS = ROOT / "test-artifacts"
PAGE_SIZES = ARTIFACTS / "page-sizes.txt"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


# Flask-Compress (COMPRESS_STREAMS, needed to gzip the static files) wraps a static file's
# stream in its own generator and never closes the file underneath, so each CSS/JS response
# leaves an unclosed file for the garbage collector: a ResourceWarning, made an error by
# filterwarnings=error. Ignored for that case only (a file under static/), for browser tests.
@dataclass
class LiveServer:
    url: str
    app: Flask
    page_sizes: dict[str, int] = field(default_factory=dict)


@pytest.fixture
def live_server(database_url: str, app: Flask) -> Iterator[LiveServer]:
    """The portal served over HTTP on a free port, with CSRF and everything real."""
    live_app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "browser-test-secret",
            "RATELIMIT_ENABLED": False,
            "PASSWORD_HASH": app.config["PASSWORD_HASH"],
        }
    )
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", app=live_app)
    finally:
        server.shutdown()
        thread.join(timeout=5)
        with live_app.app_context():
            from portal.extensions import db

            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="session")
def _playwright() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        skip_or_fail(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover
        skip_or_fail("needs the playwright Python package")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(_playwright: Any) -> Iterator[Any]:
    browser = _playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE_PATH.exists():
        skip_or_fail("needs axe-core: run `npm ci` (make test does)")
    return AXE_PATH.read_text()


class Checked:
    """A Playwright page that checks each page it visits."""

    def __init__(
        self, page: Any, live: LiveServer, axe: str, name: str, *, js: bool = True
    ) -> None:
        self.page = page
        self.live = live
        self.axe = axe
        self.name = name
        self.js = js
        self._auditor: Any = None
        self._audited: tuple[str, str] = ("", "")
        self.visited: list[str] = []
        self.sizes: dict[str, int] = {}
        self._transfer = 0
        self._in_flight: set[Any] = set()
        page.on("request", self._started)
        page.on("requestfailed", self._failed)
        page.on("requestfinished", self._count)

    def _started(self, request: Any) -> None:
        self._in_flight.add(request)

    def _failed(self, request: Any) -> None:
        self._in_flight.discard(request)

    def _count(self, request: Any) -> None:
        sizes = request.sizes()
        self._transfer += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        self._in_flight.discard(request)

    def settle(self, timeout_ms: int = 15_000) -> None:
        """Wait until the page has loaded and no request is in flight: what "networkidle"
        means, without its half-second quiet period after every page."""
        self.page.wait_for_load_state("load")
        waited = 0
        while self._in_flight and waited < timeout_ms:
            self.page.wait_for_timeout(10)
            waited += 10
        assert not self._in_flight, f"requests still in flight: {self._in_flight}"

    def goto(self, path: str, *, cold: bool = False) -> Any:
        """Open `path`; `cold` empties the browser cache first, so the transfer counted is a
        first visit's (HTML, CSS and JavaScript)."""
        self.settle()  # what an earlier click started is not counted against this page
        if cold:
            cdp = self.page.context.new_cdp_session(self.page)
            cdp.send("Network.clearBrowserCache")
            cdp.detach()
        self._transfer = 0
        response = self.page.goto(self.live.url + path)
        self.settle()
        return response

    def reset_transfer(self) -> None:
        self._transfer = 0

    @property
    def transfer(self) -> int:
        """Bytes transferred (compressed, with headers) since the last goto, check or reset."""
        return self._transfer

    def check(self, label: str | None = None) -> None:
        """axe + budget + no sideways scrolling on the page now shown (after a goto or a form
        submission). The transfer counted is everything since the last goto or check."""
        self.settle()
        label = label or self.page.url.replace(self.live.url, "")
        violations = axe_violations(self.page if self.js else self._audit_copy(), self.axe)
        assert not violations, f"axe violations on {label}: {violations}"
        width = self.page.viewport_size["width"]
        scroll_width = self.page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, f"{label} scrolls sideways: {scroll_width}px > {width}px"
        self.sizes[label] = self._transfer
        assert self._transfer <= PAGE_BUDGET, f"{label}: {self._transfer} bytes > {PAGE_BUDGET}"
        self.visited.append(label)
        self._transfer = 0

    def _audit_copy(self) -> Any:
        """axe needs JavaScript (its timers never fire where scripting is off), so a page shown
        with JavaScript off is audited as a copy: its DOM, at its URL and width, in a second
        context with JavaScript on, where the page's own scripts are blocked."""
        self._audited = (self.page.url, self.page.content())
        if self._auditor is None:
            context = self.page.context.browser.new_context(
                viewport=self.page.viewport_size, java_script_enabled=True, locale="zh-CN"
            )
            context.add_init_script(self.axe)
            self._auditor = context.new_page()
            self._auditor.route("**/*", self._serve_copy)
        self._auditor.goto(self._audited[0], wait_until="load")
        return self._auditor

    def _serve_copy(self, route: Any) -> None:
        request = route.request
        if request.resource_type == "document" and request.url == self._audited[0]:
            route.fulfill(body=self._audited[1], content_type="text/html; charset=utf-8")
        elif request.resource_type == "script":
            route.abort()
        else:
            route.continue_()

    def close(self) -> None:
        if self._auditor is not None:
            self._auditor.context.close()
            self._auditor = None

    def screenshot(self, label: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{self.name}-{label}.png"), full_page=True)


NewPage = Callable[..., Checked]
"""The type of the `new_page` fixture: `new_page(name, js=True, width=360)`."""


def logged_in(new_page: NewPage, member: Any, name: str, *, js: bool = True) -> Checked:
    """A new page in which `member` has logged in through the login form."""
    import re

    from playwright.sync_api import expect

    from tests.support import TEST_PASSWORD

    p: Checked = new_page(name, js=js)
    p.goto("/login")
    p.page.get_by_label("手机号").fill(member.phone)
    p.page.get_by_label("密码").fill(TEST_PASSWORD)
    p.page.locator("main").get_by_role("button", name="登录").click()
    expect(p.page).to_have_url(re.compile(re.escape(p.live.url) + "/me$"))
    return p


def axe_violations(page: Any, axe_source: str) -> list[str]:
    # Once a document: after an htmx-boosted navigation the document, and axe in it, remain.
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(axe_source)
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => v.id + ': ' + v.help + ' @ ' +
                v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '));
        }"""
    )
    return list(result)


@pytest.fixture(scope="session")
def _page_sizes() -> Path:
    """The page-size report: started afresh each run, one `label bytes` line per check."""
    ARTIFACTS.mkdir(exist_ok=True)
    PAGE_SIZES.unlink(missing_ok=True)
    return PAGE_SIZES


@pytest.fixture
def new_page(  # type: ignore[no-untyped-def]
    browser: Any, live_server: LiveServer, axe_source: str, _page_sizes: Path
):
    """`new_page(name, js=True, width=360)` → a Checked page in a fresh browser context."""
    contexts: list[Any] = []
    pages: list[Checked] = []

    def _new(name: str = "page", *, js: bool = True, width: int = 360) -> Checked:
        context = browser.new_context(
            viewport={"width": width, "height": 800},
            java_script_enabled=js,
            locale="zh-CN",
        )
        contexts.append(context)
        if js:
            context.add_init_script(axe_source)  # parsed by the browser, not sent per check
        page = context.new_page()
        page.set_default_timeout(15_000)
        checked = Checked(page, live_server, axe_source, name, js=js)
        pages.append(checked)
        return checked

    yield _new
    for checked in pages:
        checked.close()
    for context in contexts:
        context.close()
    with _page_sizes.open("a", encoding="utf-8") as report:
        for checked in pages:
            for label, size in checked.sizes.items():
                report.write(f"{checked.name}:{label} {size}\n")
