"""An escalation fires once (issue 13), not once per worker or per page view: gunicorn with
4 workers serves 60 board refreshes (12 at a time) and banner polls at the same moment while three
`flask callups tick` processes run, all after the delay has passed. One group call, one
message per person, no 5xx. On the configured database (SQLite file or PostgreSQL)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, CallUpGroup, CallUpPerson, Notification
from portal.services import callups
from tests.processes import ROOT, VENV_BIN, Server, gunicorn, log_in_at, server_env
from tests.support import TEST_PASSWORD
from tests.test_callups import build_scene, called_names, start

pytestmark = pytest.mark.slow


@pytest.fixture
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with gunicorn(database_url, tmp_path_factory.mktemp("gunicorn"), workers=4) as live:
        yield live


def _tick(database_url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(VENV_BIN / "flask"), "callups", "tick"],
        cwd=ROOT,
        env=server_env(database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_many_views_and_ticks_escalate_once(
    app_ctx: Flask,
    server: Server,
    database_url: str,
) -> None:
    scene = build_scene()
    callup = start(scene, needed=3, after=10)
    callups.answer(scene.rescuers[0], callup.id, "coming")
    db.session.commit()
    lead = log_in_at(server.url, scene.lead.phone, TEST_PASSWORD, page=f"/callups/{callup.id}")
    rescuer = log_in_at(server.url, scene.rescuers[1].phone, TEST_PASSWORD, page="/me")
    # The clock moves: the rescue team was called 11 minutes ago.
    first = db.session.scalars(
        select(CallUpGroup).where(CallUpGroup.callup_id == callup.id, CallUpGroup.position == 1)
    ).one()
    first.called_at -= timedelta(minutes=11)
    db.session.commit()

    threads, each = 12, 5
    views = threads * each

    board = f"/callups/{callup.id}"

    def viewer(i: int) -> list[int]:
        login, path = (lead, board) if i % 2 else (rescuer, "/callups/banner")
        statuses = []
        for _ in range(each):
            with requests.get(
                server.url + path,
                cookies=login.cookies,
                headers={"HX-Request": "true"},
                allow_redirects=False,
                timeout=90,
            ) as response:
                statuses.append(response.status_code)
        return statuses

    ticks = [_tick(database_url) for _ in range(3)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        statuses = [s for batch in pool.map(viewer, range(threads)) for s in batch]
    outputs = [t.communicate(timeout=120)[0] for t in ticks]
    assert all(t.returncode == 0 for t in ticks), outputs
    assert statuses == [200] * views, (statuses, server.log_tail())
    assert "Traceback" not in server.log_path.read_text(errors="replace"), server.log_tail()

    db.session.commit()  # see what the processes committed
    escalations = db.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action == "callup.escalate")
    )
    assert escalations == 1
    assert called_names(callup) >= {"郑巡查", "王巡查"}
    for patroller in scene.patrollers:
        assert (
            db.session.scalar(
                select(func.count(Notification.id)).where(
                    Notification.member_id == patroller.id, Notification.kind == "callup_called"
                )
            )
            == 1
        )
        assert (
            db.session.scalar(
                select(func.count(CallUpPerson.id)).where(CallUpPerson.member_id == patroller.id)
            )
            == 1
        )
