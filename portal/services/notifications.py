"""Messages inside the portal: a count in the top bar and a list."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, update

from portal.extensions import db
from portal.models import Member, Notification
from portal.models._time import utcnow

KINDS = (
    "join_accepted",
    "join_requested",
    "join_declined",
    "log_approved",
    "log_rejected",
    "activity_changed",
    "activity_cancelled",
    "coordinator_appointed",
    "request_dispatched",
    "request_for_grid",
    "request_routed",
    "request_escalated",
    "request_followup",
    "request_accepted",
    "request_done",
    "request_confirmed",
    "request_confirmed_review",
    "request_consent",
    "request_pool_asked",
    "request_cancelled",
    "family_proposed",
    "gift_received",
    "service_to_confirm",
    "log_reversed",
    "log_corrected",
    "callup_called",
    "callup_stood_down",
)
# The key under which a message's link arguments are kept with its parameters.
LINK_ARGS = "_link_args"


def notify(
    member_id: int,
    kind: str,
    link: str = "",
    *,
    link_args: dict[str, Any] | None = None,
    **params: Any,
) -> Notification:
    """`link` is an endpoint, built with `url_for(link, **link_args)` when the message is
    shown (older messages store a path, starting with "/")."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    if link_args:
        params = {**params, LINK_ARGS: link_args}
    note = Notification(
        member_id=member_id,
        kind=kind,
        link=link,
        params=json.dumps(params, ensure_ascii=False, default=str),
    )
    db.session.add(note)
    return note


def notify_each(
    member_ids: Iterable[int],
    kind: str,
    link: str = "",
    *,
    link_args: dict[str, Any] | None = None,
    **params: Any,
) -> None:
    """The same message to each of these members (coordinators, grid workers, …)."""
    for member_id in member_ids:
        notify(member_id, kind, link, link_args=link_args, **params)


def unread_count(member: Member) -> int:
    return db.session.scalar(
        select(func.count(Notification.id)).where(
            Notification.member_id == member.id, Notification.read_at.is_(None)
        )
    )


def latest(
    member: Member, *, before: int | None, size: int
) -> tuple[list[Notification], int | None]:
    stmt = select(Notification).where(Notification.member_id == member.id)
    if before is not None:
        stmt = stmt.where(Notification.id < before)
    rows = list(db.session.scalars(stmt.order_by(Notification.id.desc()).limit(size + 1)))
    return rows[:size], (rows[size - 1].id if len(rows) > size else None)


def mark_all_read(member: Member) -> None:
    db.session.execute(
        update(Notification)
        .where(Notification.member_id == member.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
