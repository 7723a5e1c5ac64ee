"""Today's date where the communities are (Asia/Shanghai unless configured)."""

from __future__ import annotations

import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context


def _zone() -> ZoneInfo:
    name = "Asia/Shanghai"
    if has_app_context():
        name = current_app.config.get("BABEL_DEFAULT_TIMEZONE", name)
    return ZoneInfo(name)


def wall_clock(zone: ZoneInfo) -> datetime:
    """The real time in `zone`. The one place the time is read, so a test can move every
    clock of the portal at once (monkeypatch `portal.clock.wall_clock`; see tests/support.py
    `Clock`), even for modules that imported `today_local` or `now_local` by name."""
    return datetime.now(zone)


def today_local() -> date:
    return wall_clock(_zone()).date()


def now_local() -> datetime:
    """The city's wall-clock time, naive (activities are stored that way)."""
    return wall_clock(_zone()).replace(tzinfo=None, microsecond=0)


def epoch_seconds() -> int:
    """Seconds since the epoch; tests move it (monkeypatch) to age a session."""
    return int(time.time())


def utc_now() -> datetime:
    """Naive UTC now, for rules that age (escalation, the party head start): tests move it,
    with every other clock of the portal (`wall_clock`)."""
    return wall_clock(ZoneInfo("UTC")).replace(tzinfo=None)
