"""Who sees which figures: a coordinator their teams, an admin their community, a
street-office admin the communities under their street office, a city admin every community.

Every report and export takes a `Scope` built here from the actor and the filter form's
values (community, team, grid, date range), so no query can forget the bound. A filter
naming something outside what the actor may see is refused with a message saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from portal.extensions import db
from portal.models import Community, Grid, Member, Team
from portal.services import grids, teams
from portal.services.errors import Forbidden

# Without a range: the last twelve months to today.
DEFAULT_DAYS = 365
MAX_RANGE_DAYS = 3 * 366


@dataclass(frozen=True)
class Scope:
    # The communities the figures cover (one, unless a street office or the city looks).
    community_ids: tuple[int, ...]
    # None: whole communities; else the teams the figures may cover.
    team_ids: tuple[int, ...] | None
    start: date
    end: date  # inclusive
    # Sees whole communities (admin, street office, city): the liability view, the ZIP.
    is_admin: bool
    # None: every member; else the volunteers (and requests) of a grid and its micro-grids.
    grid_ids: tuple[int, ...] | None = None

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min)

    @property
    def end_before(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time.min)


def overseen_community_ids(actor: Member) -> tuple[int, ...]:
    """The communities whose figures `actor` sees whole (empty for a coordinator)."""
    if actor.role in ("street_admin", "city_admin"):
        return tuple(sorted(grids.overseen_community_ids(actor)))
    if actor.is_admin:
        return (actor.community_id,)
    return ()


def may_see_reports(actor: Member) -> bool:
    return bool(overseen_community_ids(actor)) or bool(teams.coordinated_team_ids(actor))


def scope_for(
    actor: Member,
    *,
    start: date | None,
    end: date | None,
    team_id: int | None,
    today: date,
    community_id: int | None = None,
    grid_id: int | None = None,
) -> Scope:
    """The figures `actor` may see, narrowed to a community, team, grid and date range.
    Raises Forbidden, with the reason, for anything outside that."""
    end = min(end or today, today)
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        start, end = end, start
    start = max(start, end - timedelta(days=MAX_RANGE_DAYS))
    communities = overseen_community_ids(actor)
    team_ids: tuple[int, ...] | None = None
    if not communities:
        team_ids = tuple(sorted(teams.coordinated_team_ids(actor)))
        if not team_ids:
            raise Forbidden(_l("Reports are for coordinators and admins."))
        communities = (actor.community_id,)
    if community_id is not None:
        if community_id not in communities:
            raise Forbidden(_l("You may not see that community's figures."))
        communities = (community_id,)
    if team_id is not None:
        team = db.session.get(Team, team_id)
        allowed = team is not None and team.community_id in communities
        if team_ids is not None:
            allowed = allowed and team_id in team_ids
        if not allowed:
            raise Forbidden(_l("You may not see that team's figures."))
        team_ids = (team_id,)
    grid_ids: tuple[int, ...] | None = None
    if grid_id is not None:
        grid = db.session.get(Grid, grid_id)
        if grid is None or grid.community_id not in communities:
            raise Forbidden(_l("You may not see that grid's figures."))
        grid_ids = tuple(
            sorted(
                db.session.scalars(
                    select(Grid.id).where(or_(Grid.id == grid_id, Grid.parent_id == grid_id))
                )
            )
        )
    is_admin = bool(overseen_community_ids(actor))
    return Scope(communities, team_ids, start, end, is_admin, grid_ids)


def communities_in_scope(actor: Member) -> list[Community]:
    """The communities the filter form offers (only to whoever sees more than one)."""
    ids = overseen_community_ids(actor)
    if len(ids) < 2:
        return []
    return list(
        db.session.scalars(select(Community).where(Community.id.in_(ids)).order_by(Community.name))
    )


def teams_in_scope(actor: Member, community_ids: tuple[int, ...]) -> list[Team]:
    """The teams the filter form offers: of the communities shown, or the actor's own."""
    stmt = select(Team).where(Team.community_id.in_(community_ids)).order_by(Team.name)
    if not overseen_community_ids(actor):
        stmt = stmt.where(Team.id.in_(teams.coordinated_team_ids(actor)))
    return list(db.session.scalars(stmt))


def grids_in_scope(community_ids: tuple[int, ...]) -> list[Grid]:
    """The grids of the communities shown (empty where none are drawn), parents first."""
    return list(
        db.session.scalars(
            select(Grid)
            .where(Grid.community_id.in_(community_ids))
            .order_by(Grid.community_id, Grid.name)
        )
    )
