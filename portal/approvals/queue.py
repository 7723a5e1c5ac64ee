"""The approval queue's rows, read as the plain columns its template shows.

Loading each row as an HourLog with its Member, Team and Service (three more objects, each
hydrated and tracked by the session) was about a third of the page: a row is a read-only
line of text, so it is read as one, and the queue's decisions load the models they change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, Select, Subquery, bindparam, select, union_all

from portal.extensions import db
from portal.models import HourLog, Member, Service, Team
from portal.templating import row_url


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One hour log as the queue shows it."""

    id: int
    status: str
    member_id: int
    member_name: str
    minutes: int
    review_reason: str | None
    beneficiary_id: int | None
    beneficiary_confirmed_at: datetime | None
    team_name: str
    service_name: str  # in the reader's locale (`Service.display_name`)
    service_day: str  # the service date, ISO
    note: str
    created_at: datetime
    # Its forms' and link's URLs (each by `row_url`: no routing-map build per row).
    approve_url: str
    reject_url: str
    show_url: str


def _columns(page: Subquery | None = None) -> Select[Any]:
    """The row's columns; from the page's ids first when given. Member, team and service are
    outer joins after it, as the joined loads of the ORM statement were: the same join order
    for PostgreSQL to plan from (the page's few ids, then a lookup each)."""
    logs = select(
        HourLog.id,
        HourLog.status,
        HourLog.member_id,
        Member.name,
        HourLog.minutes,
        HourLog.review_reason,
        HourLog.beneficiary_id,
        HourLog.beneficiary_confirmed_at,
        Team.name,
        Service.name,
        Service.name_en,
        HourLog.service_date,
        HourLog.note,
        HourLog.created_at,
    ).select_from(HourLog)
    if page is not None:
        logs = logs.join(page, page.c.id == HourLog.id)
    return (
        logs.outerjoin(Member, Member.id == HourLog.member_id)
        .outerjoin(Team, Team.id == HourLog.team_id)
        .outerjoin(Service, Service.id == HourLog.service_id)
    )


@lru_cache(maxsize=64)
def _page_statement(teams: int, after: bool) -> Select[Any]:
    """The page's statement for `teams` teams, built once per shape (building it cost about
    as much as running it): the team ids, cursor and size are bound parameters."""
    # One keyset range per team, merged: each walks the (team_id, status, id) index from the
    # cursor and stops after a page, so the query reads at most teams × page rows however long
    # the history is. (Written as `team_id IN (…) ORDER BY id`, PostgreSQL walks the primary
    # key through every older log of the city instead: 33 ms at 100k logs, growing with them.)
    size = bindparam("size", type_=Integer)
    per_team = []
    for n in range(teams):
        part = select(HourLog.id).where(
            HourLog.team_id == bindparam(f"team_{n}"), HourLog.status == "pending"
        )
        if after:
            part = part.where(HourLog.id > bindparam("after"))
        per_team.append(select(part.order_by(HourLog.id).limit(size).subquery().c.id))
    page = union_all(*per_team).subquery()
    return _columns(page).order_by(page.c.id).limit(size)


def _read(stmt: Select[Any], locale: str, params: dict[str, Any] | None = None) -> list[QueueRow]:
    english = locale == "en"
    approve_url = row_url("approvals.approve", "log_id")
    reject_url = row_url("approvals.reject", "log_id")
    show_url = row_url("hours.show", "log_id")
    day_texts: dict[date, str] = {}
    rows = []
    for (
        log_id,
        status,
        member_id,
        member_name,
        minutes,
        review_reason,
        beneficiary_id,
        confirmed_at,
        team_name,
        service_name,
        service_name_en,
        service_date,
        note,
        created_at,
    ) in db.session.execute(stmt, params):
        day = day_texts.get(service_date)
        if day is None:
            day = day_texts[service_date] = service_date.isoformat()
        rows.append(
            QueueRow(
                log_id,
                status,
                member_id,
                member_name,
                minutes,
                review_reason,
                beneficiary_id,
                confirmed_at,
                team_name,
                service_name_en if english and service_name_en else service_name,
                day,
                note,
                created_at,
                approve_url(log_id),
                reject_url(log_id),
                show_url(log_id),
            )
        )
    return rows


def page(
    team_ids: list[int], after: int | None, size: int, locale: str
) -> tuple[list[QueueRow], int | None]:
    """A page of the pending logs of these teams, oldest first, after the log `after`; and
    the id to continue after, if there is more."""
    if not team_ids:
        return [], None
    params: dict[str, Any] = {f"team_{n}": team_id for n, team_id in enumerate(team_ids)}
    params["size"] = size + 1
    if after is not None:
        params["after"] = after
    rows = _read(_page_statement(len(team_ids), after is not None), locale, params)
    return rows[:size], (rows[size - 1].id if len(rows) > size else None)


def row(log_id: int, locale: str) -> QueueRow | None:
    """One log as the queue shows it (whatever its status: the row after a decision)."""
    rows = _read(_columns().where(HourLog.id == log_id), locale)
    return rows[0] if rows else None
