"""Today's date where the communities are (Asia/Shanghai unless configured)."""

from __future__ import annotations

import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context


def today_local() -> date:
    name = "Asia/Shanghai"
    if has_app_context():
        name = current_app.config.get("BABEL_DEFAULT_TIMEZONE", name)
    zone = ZoneInfo(name)
    return datetime.now(zone).date()


def now_local() -> datetime:
    """The city's wall-clock time, naive (activities are stored that way)."""
    name = "Asia/Shanghai"
    if has_app_context():
        name = current_app.config.get("BABEL_DEFAULT_TIMEZONE", name)
    return datetime.now(ZoneInfo(name)).replace(tzinfo=None, microsecond=0)


def epoch_seconds() -> int:
    """Seconds since the epoch; tests move it (monkeypatch) to age a session."""
    return int(time.time())


def utc_now() -> datetime:
    """Naive UTC now, for rules that age (escalation, the party head start): tests move it."""
    from portal.models._time import utcnow

    return utcnow()
