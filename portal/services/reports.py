"""The figures of /reports, each one bounded aggregate query over a `Scope`.

Hours are approved service (hour logs with status "approved", by service date); corrected
logs ("reversed") no longer count, their replacement does. Tests recompute every figure
from raw rows (tests/test_reports.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select

from portal.extensions import db
from portal.models import (
    HourLog,
    Member,
    RequestEvent,
    Service,
    ServiceRequest,
    Team,
    TeamMembership,
)
from portal.models.requests import REQUEST_STATUSES
from portal.services.report_scope import Scope


def month_of(column: Any) -> ColumnElement[str]:
    """'YYYY-MM' of a date or datetime column, in the database's own dialect."""
    if db.engine.dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM")
    return func.strftime("%Y-%m", column)


def months_between(start: date, end: date) -> list[str]:
    months = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _approved(scope: Scope) -> list[ColumnElement[bool]]:
    where = [
        HourLog.community_id == scope.community_id,
        HourLog.status == "approved",
        HourLog.service_date >= scope.start,
        HourLog.service_date <= scope.end,
    ]
    if scope.team_ids is not None:
        where.append(HourLog.team_id.in_(scope.team_ids))
    return where


@dataclass
class TeamMonths:
    months: list[str]
    # (team name, {month: minutes}) sorted by name; totals per month.
    teams: list[tuple[str, dict[str, int]]]
    totals: dict[str, int] = field(default_factory=dict)


def service_figures(scope: Scope) -> tuple[TeamMonths, dict[str, int], int]:
    """Hours by team and month, by category, and in all, from one pass over the range's
    approved logs (grouped by team, category and month) instead of three."""
    month = month_of(HourLog.service_date)
    rows = db.session.execute(
        select(Team.name, Service.category, month, func.sum(HourLog.minutes))
        .join(Team, Team.id == HourLog.team_id)
        .join(Service, Service.id == HourLog.service_id)
        .where(*_approved(scope))
        .group_by(Team.name, Service.category, month)
    ).all()
    by_team: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    totals: dict[str, int] = defaultdict(int)
    by_category: dict[str, int] = defaultdict(int)
    for team, category, m, minutes in rows:
        by_team[team][m] += int(minutes)
        totals[m] += int(minutes)
        by_category[category] += int(minutes)
    months = months_between(scope.start, scope.end)
    team_months = TeamMonths(
        months,
        sorted((team, dict(by_month)) for team, by_month in by_team.items()),
        {m: totals.get(m, 0) for m in months},
    )
    return team_months, dict(sorted(by_category.items())), sum(totals.values())


@dataclass(frozen=True)
class People:
    members: int  # in scope: the community's active members, or the teams' active members
    active: int  # of them, with approved service in the range
    inactive: int
    new: int  # joined (registered) in the range


def people(scope: Scope) -> People:
    if scope.team_ids is None:
        ids = select(Member.id).where(
            Member.community_id == scope.community_id, Member.active.is_(True)
        )
        new_at = Member.created_at
        new = select(func.count(Member.id)).where(
            Member.community_id == scope.community_id,
            new_at >= scope.start_at,
            new_at < scope.end_before,
        )
    else:
        ids = (
            select(TeamMembership.member_id)
            .where(TeamMembership.team_id.in_(scope.team_ids), TeamMembership.status == "active")
            .distinct()
        )
        # New to the team: joined (asked, then accepted) in the range.
        new = select(func.count(func.distinct(TeamMembership.member_id))).where(
            TeamMembership.team_id.in_(scope.team_ids),
            TeamMembership.status == "active",
            TeamMembership.created_at >= scope.start_at,
            TeamMembership.created_at < scope.end_before,
        )
    members = int(db.session.scalar(select(func.count()).select_from(ids.subquery())) or 0)
    active = int(
        db.session.scalar(
            select(func.count(func.distinct(HourLog.member_id))).where(
                *_approved(scope), HourLog.member_id.in_(ids)
            )
        )
        or 0
    )
    return People(members, active, members - active, int(db.session.scalar(new) or 0))


def _requests(scope: Scope) -> list[ColumnElement[bool]]:
    where = [
        ServiceRequest.community_id == scope.community_id,
        ServiceRequest.created_at >= scope.start_at,
        ServiceRequest.created_at < scope.end_before,
    ]
    if scope.team_ids is not None:
        where.append(ServiceRequest.team_id.in_(scope.team_ids))
    return where


def requests_by_status(scope: Scope) -> dict[str, int]:
    counts = dict(
        db.session.execute(
            select(ServiceRequest.status, func.count(ServiceRequest.id))
            .where(*_requests(scope))
            .group_by(ServiceRequest.status)
        ).all()
    )
    return {status: int(counts.get(status, 0)) for status in REQUEST_STATUSES}


@dataclass(frozen=True)
class Ratings:
    count: int
    average: float | None  # 1–5 stars


def ratings(scope: Scope) -> Ratings:
    count, average = db.session.execute(
        select(func.count(ServiceRequest.rating), func.avg(ServiceRequest.rating)).where(
            *_requests(scope), ServiceRequest.rating.is_not(None)
        )
    ).one()
    return Ratings(int(count), round(float(average), 2) if average is not None else None)


@dataclass(frozen=True)
class Dispatch:
    count: int  # requests that reached a volunteer
    average_minutes: int | None


def time_to_dispatch(scope: Scope) -> Dispatch:
    """From posting to the first dispatch or take, averaged over the range's requests."""
    first = (
        select(RequestEvent.request_id, func.min(RequestEvent.created_at).label("at"))
        .where(RequestEvent.kind.in_(("dispatched", "taken")))
        .group_by(RequestEvent.request_id)
        .subquery()
    )
    rows = db.session.execute(
        select(ServiceRequest.created_at, first.c.at)
        .join(first, first.c.request_id == ServiceRequest.id)
        .where(*_requests(scope))
    ).all()
    # Subtracting in Python keeps the arithmetic the same on both databases; the rows are
    # two timestamps per dispatched request of the range.
    waits = [(_dt(at) - _dt(created)).total_seconds() / 60 for created, at in rows]
    return Dispatch(len(waits), round(sum(waits) / len(waits)) if waits else None)


def _dt(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


@dataclass(frozen=True)
class Queue:
    pending: int
    oldest_days: int | None
    average_days: float | None


def approval_queue(scope: Scope, now: datetime) -> Queue:
    """The logs waiting for a coordinator now (whatever the date range), by age; `now` is
    naive UTC like the stored times."""
    where = [HourLog.community_id == scope.community_id, HourLog.status == "pending"]
    if scope.team_ids is not None:
        where.append(HourLog.team_id.in_(scope.team_ids))
    count, oldest, mean = db.session.execute(
        select(
            func.count(HourLog.id),
            func.min(HourLog.created_at),
            func.avg(_epoch(HourLog.created_at)),
        ).where(*where)
    ).one()
    if not count:
        return Queue(0, None, None)
    average = (now - datetime(1970, 1, 1)).total_seconds() - float(mean)
    return Queue(int(count), (now - _dt(oldest)).days, round(average / 86400, 1))


def _epoch(column: Any) -> ColumnElement[float]:
    """Seconds since 1970 of a (UTC, naive) timestamp column."""
    if db.engine.dialect.name == "postgresql":
        return func.extract("epoch", column)
    return (func.julianday(column) - 2440587.5) * 86400.0


def full_time_equivalents(minutes: int, scope: Scope, year_hours: int) -> float:
    """Hours of the range ÷ the working hours of as long a stretch of a year."""
    days = (scope.end - scope.start).days + 1
    return round(minutes / 60 / (year_hours * days / 365), 3) if year_hours else 0.0


@dataclass(frozen=True)
class Report:
    scope: Scope
    team_months: TeamMonths
    categories: dict[str, int]
    minutes: int
    people: People
    requests: dict[str, int]
    ratings: Ratings
    dispatch: Dispatch
    queue: Queue
    fte: float
    year_hours: int


def build(scope: Scope, *, now: datetime, year_hours: int) -> Report:
    team_months, categories, minutes = service_figures(scope)
    return Report(
        scope=scope,
        team_months=team_months,
        categories=categories,
        minutes=minutes,
        people=people(scope),
        requests=requests_by_status(scope),
        ratings=ratings(scope),
        dispatch=time_to_dispatch(scope),
        queue=approval_queue(scope, now),
        fte=full_time_equivalents(minutes, scope, year_hours),
        year_hours=year_hours,
    )


TABLES = ("team_months", "categories", "people", "requests", "service")


def table(report: Report, name: str) -> tuple[list[str], list[list[object]]]:
    """A report table as a header and rows (minutes as integers), for its CSV."""
    if name == "team_months":
        months = report.team_months.months
        rows: list[list[object]] = [
            [team, *[by_month.get(m, 0) for m in months]]
            for team, by_month in report.team_months.teams
        ]
        rows.append(["total", *[report.team_months.totals[m] for m in months]])
        return ["team", *[f"{m} minutes" for m in months]], rows
    if name == "categories":
        return ["category", "minutes"], [[c, m] for c, m in report.categories.items()]
    if name == "people":
        p = report.people
        return ["measure", "count"], [
            ["members", p.members],
            ["active", p.active],
            ["inactive", p.inactive],
            ["new", p.new],
        ]
    if name == "requests":
        return ["status", "count"], [[s, n] for s, n in report.requests.items()]
    if name == "service":
        return ["measure", "value"], [
            ["approved_minutes", report.minutes],
            ["full_time_equivalents", report.fte],
            ["year_hours", report.year_hours],
            ["ratings", report.ratings.count],
            ["average_rating", report.ratings.average],
            ["dispatched_requests", report.dispatch.count],
            ["average_minutes_to_dispatch", report.dispatch.average_minutes],
            ["pending_logs", report.queue.pending],
            ["oldest_pending_days", report.queue.oldest_days],
            ["average_pending_days", report.queue.average_days],
        ]
    raise KeyError(name)
