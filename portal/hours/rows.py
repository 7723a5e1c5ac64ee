"""A volunteer's list of their own hour logs, read as the plain columns its rows show.

Each row was an HourLog with its Service and Team joined in (three objects hydrated and
tracked by the session, 150 a page): a row is read-only text, so it is read as one, like the
approval queue's (`portal/approvals/queue.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, bindparam, select

from portal.extensions import db
from portal.models import HourLog, Service, Team
from portal.templating import row_url


@dataclass(frozen=True, slots=True)
class LogRow:
    """One hour log as the list shows it."""

    id: int
    service_name: str  # in the reader's locale (`Service.display_name`)
    team_name: str
    service_day: str  # the service date, ISO
    minutes: int
    status: str
    reject_reason: str
    show_url: str
    cancel_url: str


# Built once per process: the member, cursor and size are bound parameters. Outer joins, as
# the joined loads of the ORM statement were.
_LOGS = (
    select(
        HourLog.id,
        Service.name,
        Service.name_en,
        Team.name,
        HourLog.service_date,
        HourLog.minutes,
        HourLog.status,
        HourLog.reject_reason,
    )
    .select_from(HourLog)
    .outerjoin(Service, Service.id == HourLog.service_id)
    .outerjoin(Team, Team.id == HourLog.team_id)
    .where(HourLog.member_id == bindparam("member_id", type_=Integer))
    .order_by(HourLog.id.desc())
    .limit(bindparam("size", type_=Integer))
)
_LOGS_BEFORE = _LOGS.where(HourLog.id < bindparam("before", type_=Integer))


def page(member_id: int, before: int | None, size: int, locale: str) -> list[LogRow]:
    """Up to `size` of the member's logs older than `before`, newest first."""
    english = locale == "en"
    show_url = row_url("hours.show", "log_id")
    cancel_url = row_url("hours.cancel", "log_id")
    params: dict[str, Any] = {"member_id": member_id, "size": size, "before": before}
    return [
        LogRow(
            log_id,
            name_en if english and name_en else name,
            team_name,
            service_date.isoformat(),
            minutes,
            status,
            reject_reason,
            show_url(log_id),
            cancel_url(log_id),
        )
        for (
            log_id,
            name,
            name_en,
            team_name,
            service_date,
            minutes,
            status,
            reject_reason,
        ) in db.session.execute(_LOGS if before is None else _LOGS_BEFORE, params)
    ]
