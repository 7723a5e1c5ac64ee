"""Who sees which figures: a coordinator their teams, an admin their community.

Every report and export takes a `Scope` built here from the actor and the filter form's
values, so no query can forget the bound. (Grids are coming: a `grid_id` filter belongs
here, next to `team_id`, once grids exist.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.extensions import db
from portal.models import Member, Team
from portal.services import teams
from portal.services.errors import Forbidden

# Without a range: the last twelve months to today.
DEFAULT_DAYS = 365
MAX_RANGE_DAYS = 3 * 366


@dataclass(frozen=True)
class Scope:
    community_id: int
    # None: the whole community (an admin); else the teams the figures may cover.
    team_ids: tuple[int, ...] | None
    start: date
    end: date  # inclusive
    is_admin: bool

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min)

    @property
    def end_before(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time.min)


def may_see_reports(actor: Member) -> bool:
    return actor.is_admin or bool(teams.coordinated_team_ids(actor))


def scope_for(
    actor: Member,
    *,
    start: date | None,
    end: date | None,
    team_id: int | None,
    today: date,
) -> Scope:
    """The figures `actor` may see, narrowed to a team and a date range."""
    end = min(end or today, today)
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        start, end = end, start
    start = max(start, end - timedelta(days=MAX_RANGE_DAYS))
    if actor.is_admin:
        team_ids: tuple[int, ...] | None = None
    else:
        team_ids = tuple(sorted(teams.coordinated_team_ids(actor)))
        if not team_ids:
            raise Forbidden(_l("Reports are for coordinators and admins."))
    if team_id is not None:
        team = db.session.get(Team, team_id)
        allowed = team is not None and team.community_id == actor.community_id
        if team_ids is not None:
            allowed = allowed and team_id in team_ids
        if not allowed:
            raise Forbidden(_l("You may not see that team's figures."))
        team_ids = (team_id,)
    return Scope(actor.community_id, team_ids, start, end, actor.is_admin)


def teams_in_scope(actor: Member) -> list[Team]:
    """The teams the filter form offers."""
    stmt = select(Team).where(Team.community_id == actor.community_id).order_by(Team.name)
    if not actor.is_admin:
        stmt = stmt.where(Team.id.in_(teams.coordinated_team_ids(actor)))
    return list(db.session.scalars(stmt))
