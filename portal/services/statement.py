"""A member's statement: their account's postings, newest first, a page at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import or_, select

from portal.extensions import db
from portal.models import Account, HourLog, JournalEntry, Member, Posting, Service


@dataclass(frozen=True)
class StatementLine:
    posting_id: int
    created_at: datetime
    kind: str
    memo: str
    minutes: int
    balance_after: int
    service_name: str | None = None
    service_name_en: str | None = None
    service_date: object | None = None
    # Who posted the entry: the approver of service, the corrector of a reversal.
    actor_name: str | None = None
    # The hour log an "hours" line credits, or a "reversal" line corrects.
    log_id: int | None = None
    log_status: str | None = None

    def description(self, kind_label: str, locale: str) -> str:
        if self.kind == "hours" and self.service_name:
            name = (
                self.service_name_en
                if locale == "en" and self.service_name_en
                else (self.service_name)
            )
            text = f"{kind_label}: {name} ({self.service_date})"
            if self.actor_name:
                text += " · " + _("approved by %(name)s", name=self.actor_name)
            if self.log_status == "reversed":
                text += " · " + _("corrected later")
            return text
        if self.kind == "reversal":
            return f"{kind_label}: " + _(
                "corrected by %(name)s, reason: %(reason)s",
                name=self.actor_name or "",
                reason=self.memo,
            )
        return kind_label


def _account_id(member: Member) -> int | None:
    return db.session.scalar(select(Account.id).where(Account.member_id == member.id))


def _lines(rows) -> list[StatementLine]:  # type: ignore[no-untyped-def]
    rows = list(rows)
    hours_ids = [row.entry_id for row in rows if row.kind == "hours"]
    reversal_ids = [row.entry_id for row in rows if row.kind == "reversal"]
    logs: dict[int, tuple] = {}
    if hours_ids or reversal_ids:
        for (
            log_id,
            status,
            entry_id,
            reversal_id,
            name,
            name_en,
            service_date,
        ) in db.session.execute(
            select(
                HourLog.id,
                HourLog.status,
                HourLog.entry_id,
                HourLog.reversal_entry_id,
                Service.name,
                Service.name_en,
                HourLog.service_date,
            )
            .join(Service, Service.id == HourLog.service_id)
            .where(
                or_(HourLog.entry_id.in_(hours_ids), HourLog.reversal_entry_id.in_(reversal_ids))
            )
        ):
            # A reversal line names its log; a service line also its service and date.
            if reversal_id in reversal_ids:
                logs[reversal_id] = (log_id, status, None, None, None)
            if entry_id in hours_ids:
                logs[entry_id] = (log_id, status, name, name_en, service_date)
    lines = []
    for row in rows:
        log_id, status, name, name_en, service_date = logs.get(
            row.entry_id, (None, None, None, None, None)
        )
        lines.append(
            StatementLine(
                posting_id=row.id,
                created_at=row.created_at,
                kind=row.kind,
                memo=row.memo,
                minutes=row.amount,
                balance_after=row.balance_after,
                service_name=name,
                service_name_en=name_en,
                service_date=service_date,
                actor_name=row.actor_name,
                log_id=log_id,
                log_status=status,
            )
        )
    return lines


def _query(account_id: int):  # type: ignore[no-untyped-def]
    return (
        select(
            Posting.id,
            Posting.entry_id,
            Posting.amount,
            Posting.balance_after,
            JournalEntry.created_at,
            JournalEntry.kind,
            JournalEntry.memo,
            Member.name.label("actor_name"),
        )
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .outerjoin(Member, Member.id == JournalEntry.actor_id)
        .where(Posting.account_id == account_id)
        .order_by(Posting.id.desc())
    )


def page(
    member: Member, *, before: int | None, size: int
) -> tuple[list[StatementLine], int | None]:
    """One page of lines older than posting `before`, and the cursor of the next page."""
    account_id = _account_id(member)
    if account_id is None:
        return [], None
    stmt = _query(account_id)
    if before is not None:
        stmt = stmt.where(Posting.id < before)
    rows = db.session.execute(stmt.limit(size + 1)).all()
    lines = _lines(rows[:size])
    next_cursor = lines[-1].posting_id if len(rows) > size else None
    return lines, next_cursor


def all_lines(member: Member, batch: int = 1000) -> Iterator[StatementLine]:
    """Every line, newest first, fetched a batch at a time (for the CSV export)."""
    before: int | None = None
    while True:
        lines, before = page(member, before=before, size=batch)
        yield from lines
        if before is None:
            return
