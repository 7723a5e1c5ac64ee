"""The landing page's public figures: each community's year (portal/services/public_stats.py).

They are aggregates over a year of the city's hour logs and requests, so their cost grows
with the books: 115 ms at 100k logs on SQLite, seconds at 10M. The page is
public and the figures are city-wide totals that nobody needs to the second, so each worker
keeps them for `PUBLIC_FIGURES_SECONDS` (5 minutes) and the landing page runs no SQL at all
in between. Nothing that must be shared between workers lives here: each recomputes its own.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy import select

from portal.extensions import db
from portal.models import Community
from portal.services import public_stats
from portal.services.public_stats import YearTotals

_lock = threading.Lock()


@dataclass(frozen=True)
class CommunityName:
    """A community's names, kept across requests (not a model bound to one session)."""

    id: int
    name: str
    name_en: str | None

    def display_name(self, locale: str) -> str:
        return self.name_en if locale == "en" and self.name_en else self.name


@dataclass(frozen=True)
class CommunityYear:
    community: CommunityName
    year: YearTotals


def _compute(year: int) -> list[CommunityYear]:
    totals = public_stats.year_totals(year)
    communities = db.session.execute(
        select(Community.id, Community.name, Community.name_en).order_by(Community.id).limit(100)
    ).all()
    return [
        CommunityYear(CommunityName(*c), totals.get(c.id, YearTotals())) for c in communities
    ]


def public_figures(year: int) -> list[CommunityYear]:
    """Each community's totals of `year`, at most `PUBLIC_FIGURES_SECONDS` old (0 computes
    them every time). Once a worker has figures, stale ones are still shown while a thread
    of that worker computes the next (at 10M entries the people served took 1 s of SQL):
    no visitor waits for them but the worker's first."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    ttl = app.config.get("PUBLIC_FIGURES_SECONDS", 300)
    cached = app.extensions.get(_KEY)
    now = time.monotonic()
    if cached is not None and cached[1] == year:
        if now - cached[0] < ttl:
            return cached[2]  # type: ignore[no-any-return]
        if ttl > 0:
            if _refreshing.acquire(blocking=False):
                threading.Thread(target=_refresh, args=(app, year), daemon=True).start()
            return cached[2]  # type: ignore[no-any-return]
    with _lock:
        figures = _compute(year)
        app.extensions[_KEY] = (now, year, figures)
    return figures


_KEY = "portal_public_figures"
_refreshing = threading.Lock()


def _refresh(app: Flask, year: int) -> None:
    try:
        with app.app_context():
            started = time.monotonic()
            figures = _compute(year)
            db.session.remove()
            app.extensions[_KEY] = (started, year, figures)
    except Exception:  # the stale figures stay; the next visit tries again
        app.logger.exception("public figures: refresh failed")
    finally:
        _refreshing.release()
