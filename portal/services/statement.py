"""A member's statement: their account's postings, newest first, a page at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Integer, bindparam, case, select
from sqlalchemy.orm import aliased

from portal.extensions import db
from portal.i18n import gettext as _
from portal.models import Account, HourLog, JournalEntry, Member, Posting, Service, ServiceRequest


@dataclass(frozen=True, slots=True)
class StatementLine:
    posting_id: int
    created_at: datetime
    kind: str
    memo: str
    minutes: int
    balance_after: int
    service_name: str | None = None
    service_name_en: str | None = None
    service_date: date | None = None
    # Who posted the entry: the approver of service, the corrector of a reversal.
    actor_name: str | None = None
    # The hour log an "hours" line credits, or a "reversal" line corrects.
    log_id: int | None = None
    log_status: str | None = None
    # The person served (service lines), or the other side of a gift.
    other_name: str | None = None
    # On a request's settlement: this member asked for the service (their unused time
    # comes back) rather than gave it.
    requester_side: bool = False

    def _service(self, locale: str) -> str:
        if locale == "en" and self.service_name_en:
            return self.service_name_en
        return self.service_name or ""

    def description(self, kind_label: str, locale: str) -> str:
        """What happened, in plain words: "为李奶奶陪伴聊天 · 服务日期 2026-11-28"."""
        service = self._service(locale)
        if self.kind == "reversal":
            return f"{kind_label}: " + _(
                "corrected by %(name)s, reason: %(reason)s",
                name=self.actor_name or "",
                reason=self.memo,
            )
        if self.kind == "gift" and self.other_name:
            if self.minutes < 0:
                return _("Gift to %(name)s", name=self.other_name)
            return _("Gift from %(name)s", name=self.other_name)
        if self.kind == "redeem_hold":
            return _("Reserved for your request: %(service)s", service=service or kind_label)
        if self.kind == "redeem_release":
            return _("Request cancelled: reserved time returned")
        if self.kind == "redeem_settle" and self.requester_side:
            return _("Unused reserved time returned")
        if self.kind in ("hours", "redeem_settle") and service:
            text = (
                _("%(service)s for %(name)s", service=service, name=self.other_name)
                if self.other_name
                else service
            )
            if self.service_date:
                text += " · " + _("served on %(date)s", date=self.service_date.isoformat())
            if self.actor_name:
                text += " · " + _("approved by %(name)s", name=self.actor_name)
            if self.log_status == "reversed":
                text += " · " + _("corrected later")
            return text
        return kind_label


# One alias each for the whole process: `aliased(Member)` made per call cost ~4 ms a page
# (SQLAlchemy builds proxies for all of Member's columns the first time an alias's column is
# used).
_BENEFICIARY = aliased(Member, name="beneficiary")
_CREDITED = aliased(HourLog, name="credited_log")
_REVERSED = aliased(HourLog, name="reversed_log")


def _request_id(memo: str) -> int | None:
    prefix, _sep, number = memo.partition(":")
    return int(number) if prefix == "request" and number.isdigit() else None


def _lines(rows, member_id: int | None = None) -> list[StatementLine]:  # type: ignore[no-untyped-def]
    """Statement lines for `_LINES` rows (which carry the hour log each credits or corrects),
    with what each was for: one batched lookup a page at most (the requests), only when the
    page has such lines, never one per line."""
    rows = list(rows)
    request_ids = {_request_id(row.memo) for row in rows if row.kind.startswith("redeem_")} - {None}
    requests: dict[int, tuple] = {}
    if request_ids:
        for request_id, requester_id, name, name_en in db.session.execute(
            select(ServiceRequest.id, ServiceRequest.requester_id, Service.name, Service.name_en)
            .join(Service, Service.id == ServiceRequest.service_id)
            .where(ServiceRequest.id.in_(request_ids))
        ):
            requests[request_id] = (requester_id, name, name_en)

    lines = []
    for row in rows:
        # A service line names its log, service, date and the person served; a reversal
        # line only the log it corrects.
        if row.kind in ("hours", "redeem_settle") and row.log_id is not None:
            log_id, status, name, name_en = row.log_id, row.log_status, row.name, row.name_en
            service_date, served = row.service_date, row.served
        elif row.kind == "reversal" and row.reversed_log_id is not None:
            log_id, status = row.reversed_log_id, row.reversed_log_status
            name = name_en = service_date = served = None
        else:
            log_id = status = name = name_en = service_date = served = None
        requester_id, request_name, request_name_en = requests.get(
            _request_id(row.memo) or 0, (None, None, None)
        )
        lines.append(
            StatementLine(
                posting_id=row.id,
                created_at=row.created_at,
                kind=row.kind,
                memo=row.memo,
                minutes=row.amount,
                balance_after=row.balance_after,
                service_name=name or request_name,
                service_name_en=name_en or request_name_en,
                service_date=service_date,
                actor_name=row.actor_name,
                log_id=log_id,
                log_status=status,
                other_name=served or row.gift_other,
                requester_side=requester_id is not None and requester_id == member_id,
            )
        )
    return lines


# A member's lines, newest first: built once per process, with the member as a bound
# parameter and their account found by subquery (no account: no lines). Each line comes with
# the hour log its entry credits and the one it reverses (both unique keys of hour_logs, so
# outer joins add no rows), with that log's service and the person served: the lookup of a
# page's logs was a second statement.
_MEMBER_ID = bindparam("statement_member_id", type_=Integer)
_ACCOUNT_OF = select(Account.id).where(Account.member_id == _MEMBER_ID).scalar_subquery()
# A gift's other side: the member of the entry's other posting (a gift is a transfer, two
# postings), looked up only on gift lines (it was a third statement on a page with gifts).
_OTHER_POSTING = aliased(Posting, name="other_posting")
_OTHER_ACCOUNT = aliased(Account, name="other_account")
_OTHER_MEMBER = aliased(Member, name="other_member")
_GIFT_OTHER = case(
    (
        JournalEntry.kind == "gift",
        select(_OTHER_MEMBER.name)
        .select_from(_OTHER_POSTING)
        .join(_OTHER_ACCOUNT, _OTHER_ACCOUNT.id == _OTHER_POSTING.account_id)
        .join(_OTHER_MEMBER, _OTHER_MEMBER.id == _OTHER_ACCOUNT.member_id)
        .where(_OTHER_POSTING.entry_id == Posting.entry_id, _OTHER_ACCOUNT.member_id != _MEMBER_ID)
        .limit(1)
        .correlate(Posting)
        .scalar_subquery(),
    ),
    else_=None,
)
_LINES = (
    select(
        Posting.id,
        Posting.entry_id,
        Posting.amount,
        Posting.balance_after,
        JournalEntry.created_at,
        JournalEntry.kind,
        JournalEntry.memo,
        Member.name.label("actor_name"),
        _CREDITED.id.label("log_id"),
        _CREDITED.status.label("log_status"),
        Service.name,
        Service.name_en,
        _CREDITED.service_date,
        _BENEFICIARY.name.label("served"),
        _REVERSED.id.label("reversed_log_id"),
        _REVERSED.status.label("reversed_log_status"),
        _GIFT_OTHER.label("gift_other"),
    )
    .join(JournalEntry, JournalEntry.id == Posting.entry_id)
    .outerjoin(Member, Member.id == JournalEntry.actor_id)
    .outerjoin(_CREDITED, _CREDITED.entry_id == Posting.entry_id)
    .outerjoin(Service, Service.id == _CREDITED.service_id)
    .outerjoin(_BENEFICIARY, _BENEFICIARY.id == _CREDITED.beneficiary_id)
    .outerjoin(_REVERSED, _REVERSED.reversal_entry_id == Posting.entry_id)
    .where(Posting.account_id == _ACCOUNT_OF)
    .order_by(Posting.id.desc())
)
_LINES_BEFORE = _LINES.where(Posting.id < bindparam("statement_before", type_=Integer))
# The page size bound too: `.limit(n)` per call made a new statement whose cache key SQLAlchemy
# computed again each time (~0.15 ms for this one, more than running it on a short account).
_SIZE = bindparam("statement_size", type_=Integer)
_PAGE = _LINES.limit(_SIZE)
_PAGE_BEFORE = _LINES_BEFORE.limit(_SIZE)


def page(
    member: Member, *, before: int | None, size: int
) -> tuple[list[StatementLine], int | None]:
    """One page of lines older than posting `before`, and the cursor of the next page."""
    rows = db.session.execute(
        _PAGE if before is None else _PAGE_BEFORE,
        {"statement_member_id": member.id, "statement_before": before, "statement_size": size + 1},
    ).all()
    lines = _lines(rows[:size], member.id)
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
