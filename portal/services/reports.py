"""The figures of /reports, each one bounded aggregate query over a `Scope`.

Hours are approved service (hour logs with status "approved", by service date); corrected
logs ("reversed") no longer count, their replacement does. Tests recompute every figure
from raw rows (tests/test_reports.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, select

from portal.extensions import db
from portal.models import (
    Community,
    HourLog,
    Member,
    MemberLastServed,
    MonthlyHours,
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


def _next_month(first: date) -> date:
    return date(first.year + 1, 1, 1) if first.month == 12 else date(first.year, first.month + 1, 1)


def _month_end(first: date) -> date:
    return _next_month(first) - timedelta(days=1)


def split_months(
    start: date, end: date
) -> tuple[tuple[date, date] | None, list[tuple[date, date]]]:
    """The whole calendar months inside [start, end] (first days of the first and last),
    and the days left over at either end (at most two part-months)."""
    first_whole = start if start.day == 1 else _next_month(start.replace(day=1))
    last_whole = end.replace(day=1)
    if end != _month_end(last_whole):
        last_whole = (last_whole - timedelta(days=1)).replace(day=1)
    if first_whole > last_whole:
        # No whole month: one part-month, or the ends of two neighbouring months.
        start_end = _month_end(start.replace(day=1))
        if end <= start_end:
            return None, [(start, end)]
        return None, [(start, start_end), (start_end + timedelta(days=1), end)]
    edges = []
    if start < first_whole:
        edges.append((start, first_whole - timedelta(days=1)))
    if end > _month_end(last_whole):
        edges.append((_month_end(last_whole) + timedelta(days=1), end))
    return (first_whole, last_whole), edges


def _approved(scope: Scope) -> list[ColumnElement[bool]]:
    where = [
        HourLog.community_id.in_(scope.community_ids),
        HourLog.status == "approved",
        HourLog.service_date >= scope.start,
        HourLog.service_date <= scope.end,
    ]
    if scope.team_ids is not None:
        where.append(HourLog.team_id.in_(scope.team_ids))
    if scope.grid_ids is not None:
        where.append(HourLog.member_id.in_(_grid_members(scope.grid_ids)))
    return where


def _grid_members(grid_ids: tuple[int, ...]) -> Any:
    return select(Member.id).where(Member.grid_id.in_(grid_ids)).scalar_subquery()


@dataclass
class TeamMonths:
    months: list[str]
    # (team name, {month: minutes}) sorted by name; totals per month.
    teams: list[tuple[str, dict[str, int]]]
    totals: dict[str, int] = field(default_factory=dict)
    # Of the totals, the minutes of party members (党员), per month.
    party: dict[str, int] = field(default_factory=dict)


def _plan(start: date, end: date) -> tuple[list[date], list[tuple[int, date, date]]]:
    """How to sum [start, end] exactly: the months to read from the rollup, and day ranges
    of hour logs to add (+1) or take away (-1). A part-month at either end is read as its
    days, or — when it covers more than half its month — as the whole month less the days
    outside the range (so today's month, to date, costs the few days after today)."""
    whole, edges = split_months(start, end)
    months: list[date] = []
    if whole is not None:
        month = whole[0]
        while month <= whole[1]:
            months.append(month)
            month = _next_month(month)
    raw: list[tuple[int, date, date]] = []
    for first, last in edges:
        month = first.replace(day=1)
        month_end = _month_end(month)
        inside = (last - first).days + 1
        if inside * 2 <= (month_end - month).days + 1:
            raw.append((1, first, last))
            continue
        months.append(month)
        if first > month:
            raw.append((-1, month, first - timedelta(days=1)))
        if last < month_end:
            raw.append((-1, last + timedelta(days=1), month_end))
    return sorted(months), raw


def hour_sums(scope: Scope) -> list[tuple[int, str, str, bool, int]]:
    """(team id, service category, 'YYYY-MM', party member?, minutes) of the scope's approved
    service: months from the monthly rollup, corrected by the hour logs of a few days at
    either end of the range (see `_plan`). Rows may repeat a key and carry negative
    minutes; their sums are exact."""
    return sums_by(scope, ("team", "category", "month", "party"))  # type: ignore[return-value]


def sums_by(scope: Scope, dims: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """Like `hour_sums`, grouped by some of its dimensions only (rows: the dimensions in the
    order asked, then minutes): the city's year is 8,958 rows by all four, 1,440 by team,
    month and party, and a few by category."""
    months, raw = _plan(scope.start, scope.end)
    rows: list[tuple[Any, ...]] = []
    labels: dict[date, str] = {}
    at = {d: i for i, d in enumerate(dims)}
    month_index = at.get("month")
    party_index = at.get("party")
    if months:
        rolled = {
            "team": MonthlyHours.team_id,
            "category": Service.category,
            "month": MonthlyHours.month,
            "party": MonthlyHours.party,
        }
        columns = [rolled[d] for d in dims]
        where = [
            MonthlyHours.community_id.in_(scope.community_ids),
            MonthlyHours.month.in_(months),
        ]
        if scope.team_ids is not None:
            where.append(MonthlyHours.team_id.in_(scope.team_ids))
        if scope.grid_ids is not None:
            where.append(MonthlyHours.grid_id.in_(scope.grid_ids))
        stmt = select(*columns, func.sum(MonthlyHours.minutes)).where(*where).group_by(*columns)
        if "category" in at:
            stmt = stmt.join(Service, Service.id == MonthlyHours.service_id)
        for row in db.session.execute(stmt):
            if not row[-1]:
                continue
            out = list(row)
            if month_index is not None:
                m = row[month_index]
                out[month_index] = labels.get(m) or labels.setdefault(m, f"{m:%Y-%m}")
            if party_index is not None:
                out[party_index] = bool(row[party_index])
            out[-1] = int(row[-1])
            rows.append(tuple(out))
    if not raw:
        return rows
    # The volunteer's party mark, looked up per log: the few days' logs (hundreds to a few
    # thousand) cost as many index lookups, where a join hashed every member of the city.
    party = (
        select(Member.party_member)
        .where(Member.id == HourLog.member_id)
        .correlate(HourLog)
        .scalar_subquery()
    )
    logged = {
        "team": HourLog.team_id,
        "category": Service.category,
        "month": month_of(HourLog.service_date),
        "party": party,
    }
    columns = [logged[d] for d in dims]
    for sign, start, end in raw:
        where = [
            HourLog.community_id.in_(scope.community_ids),
            HourLog.status == "approved",
            HourLog.service_date >= start,
            HourLog.service_date <= end,
        ]
        if scope.team_ids is not None:
            where.append(HourLog.team_id.in_(scope.team_ids))
        if scope.grid_ids is not None:
            where.append(HourLog.member_id.in_(_grid_members(scope.grid_ids)))
        stmt = select(*columns, func.sum(HourLog.minutes)).where(*where).group_by(*columns)
        if "category" in at:
            stmt = stmt.join(Service, Service.id == HourLog.service_id)
        for row in db.session.execute(stmt):
            out = list(row)
            if party_index is not None:
                out[party_index] = bool(row[party_index])
            out[-1] = sign * int(row[-1])
            rows.append(tuple(out))
    return rows


def service_figures(scope: Scope) -> tuple[TeamMonths, dict[str, int], int]:
    """Hours by team and month (with the party members' share), by category, and in all,
    from two reads of the monthly rollup (plus the part-months at the ends): by team, month
    and party, and by category — a sixth of the rows of one read by all four."""
    rows = sums_by(scope, ("team", "month", "party"))
    team_ids = {r[0] for r in rows}
    names: dict[int, str] = {}
    if team_ids:
        several = len(scope.community_ids) > 1
        for tid, name, community in db.session.execute(
            select(Team.id, Team.name, Community.name)
            .join(Community, Community.id == Team.community_id)
            .where(Team.id.in_(team_ids))
        ):
            names[tid] = f"{community} · {name}" if several else name
    by_team: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    totals: dict[str, int] = defaultdict(int)
    party: dict[str, int] = defaultdict(int)
    by_category: dict[str, int] = defaultdict(int)
    for team, m, is_party, minutes in rows:
        by_team[names[team]][m] += minutes
        totals[m] += minutes
        if is_party:
            party[m] += minutes
    for category, minutes in sums_by(scope, ("category",)):
        by_category[category] += minutes
    months = months_between(scope.start, scope.end)
    # A key the rollup counted and the days outside the range took back nets to 0.
    kept = {t: {m: n for m, n in by.items() if n} for t, by in by_team.items()}
    team_months = TeamMonths(
        months,
        sorted((team, by_month) for team, by_month in kept.items() if by_month),
        {m: totals.get(m, 0) for m in months},
        {m: party.get(m, 0) for m in months},
    )
    categories = {c: n for c, n in sorted(by_category.items()) if n}
    return team_months, categories, sum(totals.values())


@dataclass(frozen=True)
class People:
    members: int  # in scope: the community's active members, or the teams' active members
    active: int  # of them, with approved service in the range
    inactive: int
    new: int  # joined (registered) in the range


def people(scope: Scope) -> People:
    in_grid = [] if scope.grid_ids is None else [Member.grid_id.in_(scope.grid_ids)]
    new_at = Member.created_at
    served = _served_from_last(scope)
    if scope.team_ids is None:
        if served is not None:
            # One pass over the community's members: in scope (active), of them served in
            # the range, and new (joined in the range, active or not).
            # `IN (subquery)`: one hashed set of the served ids on both databases (a join to
            # the DISTINCT subquery had SQLite look it up per member: seconds).
            is_active = Member.active.is_(True)
            served_ids = served.scalar_subquery()
            members, active, new_count = db.session.execute(
                select(
                    func.sum(case((is_active, 1), else_=0)),
                    func.sum(case((and_(is_active, Member.id.in_(served_ids)), 1), else_=0)),
                    func.sum(
                        case(
                            (and_(new_at >= scope.start_at, new_at < scope.end_before), 1),
                            else_=0,
                        )
                    ),
                ).where(Member.community_id.in_(scope.community_ids), *in_grid)
            ).one()
            members, active = int(members or 0), int(active or 0)
            return People(members, active, members - active, int(new_count or 0))
        ids = select(Member.id).where(
            Member.community_id.in_(scope.community_ids), Member.active.is_(True), *in_grid
        )
        new = select(func.count(Member.id)).where(
            Member.community_id.in_(scope.community_ids),
            new_at >= scope.start_at,
            new_at < scope.end_before,
            *in_grid,
        )
    else:
        of_grid = (
            []
            if scope.grid_ids is None
            else [TeamMembership.member_id.in_(_grid_members(scope.grid_ids))]
        )
        ids = (
            select(TeamMembership.member_id)
            .where(
                TeamMembership.team_id.in_(scope.team_ids),
                TeamMembership.status == "active",
                *of_grid,
            )
            .distinct()
        )
        # New to the team: joined (asked, then accepted) in the range.
        new = select(func.count(func.distinct(TeamMembership.member_id))).where(
            TeamMembership.team_id.in_(scope.team_ids),
            TeamMembership.status == "active",
            TeamMembership.created_at >= scope.start_at,
            TeamMembership.created_at < scope.end_before,
            *of_grid,
        )
    members = int(db.session.scalar(select(func.count()).select_from(ids.subquery())) or 0)
    if served is not None:
        in_scope = ids.subquery()
        active_ids = select(func.count()).where(in_scope.c.member_id.in_(served.scalar_subquery()))
        active = int(db.session.scalar(active_ids.select_from(in_scope)) or 0)
    else:
        active = int(
            db.session.scalar(
                select(func.count(func.distinct(HourLog.member_id))).where(
                    *_approved(scope), HourLog.member_id.in_(ids)
                )
            )
            or 0
        )
    return People(members, active, members - active, int(db.session.scalar(new) or 0))


# Above this many members whose latest day is after the range's end (a range in the past),
# counting the range's logs is cheaper than looking up each of them.
LATE_LIMIT = 500


def _served_from_last(scope: Scope) -> Select[tuple[int]] | None:
    """The ids (for `IN`: a member of several teams repeats) of the members with approved
    service in the scope's range (its communities, or its teams), from `member_last_served`
    (a row per member and team): those whose latest day is inside the range, and those whose
    latest day is after it who have an approved log inside it (one index lookup each).
    Exact, and a row per member and team instead of every log of the range — when few
    members served after the range's end (a range reaching today). None otherwise: then
    the range's logs are counted."""
    last = MemberLastServed
    in_scope = [last.community_id.in_(scope.community_ids), last.service_date >= scope.start]
    if scope.team_ids is not None:
        in_scope.append(last.team_id.in_(scope.team_ids))
    late = db.session.scalar(
        select(func.count()).select_from(
            select(last.member_id)
            .where(*in_scope, last.service_date > scope.end)
            .limit(LATE_LIMIT + 1)
            .subquery()
        )
    )
    if (late or 0) > LATE_LIMIT:
        return None
    inside = select(last.member_id).where(*in_scope, last.service_date <= scope.end)
    if not late:
        return inside  # read as `IN (…)`: repeated ids (several teams) do no harm
    # Apart, so the usual query has no subplan for the planner to price.
    served_inside = exists().where(
        HourLog.member_id == last.member_id,
        HourLog.team_id == last.team_id,
        HourLog.status == "approved",
        HourLog.service_date >= scope.start,
        HourLog.service_date <= scope.end,
    )
    return inside.union(
        select(last.member_id).where(*in_scope, last.service_date > scope.end, served_inside)
    )


def _requests(scope: Scope) -> list[ColumnElement[bool]]:
    where = [
        ServiceRequest.community_id.in_(scope.community_ids),
        ServiceRequest.created_at >= scope.start_at,
        ServiceRequest.created_at < scope.end_before,
    ]
    if scope.team_ids is not None:
        where.append(ServiceRequest.team_id.in_(scope.team_ids))
    if scope.grid_ids is not None:
        where.append(ServiceRequest.grid_id.in_(scope.grid_ids))
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
    # The first dispatch or take of each request of the range: one index lookup per
    # request, not a grouping of every event ever written.
    first = (
        select(func.min(RequestEvent.created_at))
        .where(
            RequestEvent.request_id == ServiceRequest.id,
            RequestEvent.kind.in_(("dispatched", "taken")),
        )
        .correlate(ServiceRequest)
        .scalar_subquery()
    )
    rows = [
        (created, at)
        for created, at in db.session.execute(
            select(ServiceRequest.created_at, first).where(*_requests(scope))
        )
        if at is not None
    ]
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
    where = [HourLog.community_id.in_(scope.community_ids), HourLog.status == "pending"]
    if scope.team_ids is not None:
        where.append(HourLog.team_id.in_(scope.team_ids))
    if scope.grid_ids is not None:
        where.append(HourLog.member_id.in_(_grid_members(scope.grid_ids)))
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


TABLES = ("team_months", "party", "categories", "people", "requests", "service")


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
    if name == "party":
        tm = report.team_months
        rows = [[m, tm.party[m], tm.totals[m]] for m in tm.months]
        rows.append(["total", sum(tm.party.values()), report.minutes])
        return ["month", "party_member_minutes", "all_minutes"], rows
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
