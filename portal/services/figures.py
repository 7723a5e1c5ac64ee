"""The landing page's public figures: members and approved hours per community.

Both are aggregates over whole tables (every member, every approved hour log of the city), so
their cost grows with the books: 115 ms at 100k logs on SQLite, seconds at 10M. The page is
public and the figures are city-wide totals that nobody needs to the second, so each worker
keeps them for `PUBLIC_FIGURES_SECONDS` (5 minutes) and the landing page runs no SQL at all
in between. Nothing that must be shared between workers lives here: each recomputes its own.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Community, HourLog, Member

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
class CommunityFigures:
    community: CommunityName
    members: int
    minutes: int


def _compute() -> list[CommunityFigures]:
    members = dict(
        db.session.execute(
            select(Member.community_id, func.count(Member.id)).group_by(Member.community_id)
        ).all()
    )
    minutes = dict(
        db.session.execute(
            select(HourLog.community_id, func.sum(HourLog.minutes))
            .where(HourLog.status == "approved")
            .group_by(HourLog.community_id)
        ).all()
    )
    communities = db.session.execute(
        select(Community.id, Community.name, Community.name_en).order_by(Community.id).limit(100)
    ).all()
    return [
        CommunityFigures(CommunityName(*c), members.get(c.id, 0), int(minutes.get(c.id) or 0))
        for c in communities
    ]


def public_figures() -> list[CommunityFigures]:
    """The figures, at most `PUBLIC_FIGURES_SECONDS` old (0 computes them every time)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    ttl = app.config.get("PUBLIC_FIGURES_SECONDS", 300)
    cached = app.extensions.get("portal_public_figures")
    now = time.monotonic()
    if cached is not None and now - cached[0] < ttl:
        return cached[1]  # type: ignore[no-any-return]
    with _lock:
        figures = _compute()
        app.extensions["portal_public_figures"] = (now, figures)
    return figures
