"""The liability view: banked hours are a promise of future care. How much is promised, to
whom (by the owners' age), and how long the community's present rate of service would take
to honour it — "易存难兑" made visible before it happens.

- Outstanding: the balances of the community's member accounts, by owner's age band (age =
  this year − birth year).
- Delivery: approved service per month (by service date) over the last 12 months,
  the current month included.
- Months of delivery: outstanding ÷ the average month's delivery.
- The 60+ band's claims: their balances grow by the net of what was posted to their
  accounts over the last 12 months (÷ 12 a month). They "exceed delivery" when they pass a
  full year of delivery at the present rate; the view says in how many months (now, or
  never at this rate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import case, func, select

from portal.extensions import db
from portal.models import Account, JournalEntry, Member, Posting
from portal.services.report_scope import Scope
from portal.services.reports import hour_sums, months_between

BANDS = ("under_60", "60_69", "70_79", "80_plus")


def band_of(age: int) -> str:
    if age < 60:
        return "under_60"
    if age < 70:
        return "60_69"
    if age < 80:
        return "70_79"
    return "80_plus"


def _band_column(today: date):  # type: ignore[no-untyped-def]
    age = today.year - Member.birth_year
    return case(
        (age < 60, "under_60"),
        (age < 70, "60_69"),
        (age < 80, "70_79"),
        else_="80_plus",
    )


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Liability:
    outstanding: dict[str, int]  # minutes by band
    total: int
    delivery: dict[str, int]  # minutes by month, oldest first
    average_delivery: int  # minutes a month
    months_of_delivery: float | None  # None: nothing delivered to compare with
    older: int  # the 60+ bands' outstanding minutes
    older_growth: int  # minutes a month, net, over the last 12 months
    # Months until the 60+ claims pass a year of delivery: 0 already; None not at this rate.
    older_exceed_in: int | None
    older_exceed_month: str | None


def liability(community_ids: int | Sequence[int], today: date) -> Liability:
    """The view for one community, or the sum over several (a street office, the city)."""
    ids = (community_ids,) if isinstance(community_ids, int) else tuple(community_ids)
    band = _band_column(today)
    outstanding = dict.fromkeys(BANDS, 0)
    for name, minutes in db.session.execute(
        select(band, func.sum(Account.balance))
        .join(Member, Member.id == Account.member_id)
        .where(Account.kind == "member", Account.community_id.in_(ids))
        .group_by(band)
    ):
        outstanding[name] = int(minutes or 0)

    first = _add_months(today.replace(day=1), -11)
    # From the monthly rollup (the current month's days from the hour logs).
    delivered: dict[str, int] = {}
    scope = Scope(ids, None, first, today, True)
    for _team, _service, m, _party, minutes in hour_sums(scope):
        delivered[m] = delivered.get(m, 0) + minutes
    delivery = {m: int(delivered.get(m) or 0) for m in months_between(first, today)}
    average = sum(delivery.values()) // 12
    total = sum(outstanding.values())
    older = total - outstanding["under_60"]

    since = datetime.combine(today - timedelta(days=365), time.min)
    growth_12 = _older_growth(ids, today, _first_posting_since(since))
    growth = growth_12 // 12
    year_of_delivery = sum(delivery.values())
    exceed_in: int | None
    if older > year_of_delivery:
        exceed_in = 0
    elif growth > 0:
        exceed_in = -(-(year_of_delivery - older + 1) // growth)  # ceiling
    else:
        exceed_in = None
    return Liability(
        outstanding=outstanding,
        total=total,
        delivery=delivery,
        average_delivery=average,
        months_of_delivery=round(total / average, 1) if average else None,
        older=older,
        older_growth=growth,
        older_exceed_in=exceed_in,
        older_exceed_month=(
            _add_months(today.replace(day=1), exceed_in).strftime("%Y-%m")
            if exceed_in is not None
            else None
        ),
    )


def _first_posting_since(since: datetime) -> int | None:
    """The first posting of the first entry made at or after `since`. Entries are written
    in id order under the ledger head lock, so their times rise with their ids: a binary
    search over primary keys (about 20 lookups) instead of scanning a million rows."""
    low = db.session.scalar(select(func.min(JournalEntry.id)))
    high = db.session.scalar(select(func.max(JournalEntry.id)))
    if low is None or high is None:
        return None
    last_at = db.session.scalar(select(JournalEntry.created_at).where(JournalEntry.id == high))
    if last_at is None or last_at < since:
        return None
    while low < high:
        middle = (low + high) // 2
        at = db.session.scalar(
            select(JournalEntry.created_at)
            .where(JournalEntry.id >= middle)
            .order_by(JournalEntry.id)
            .limit(1)
        )
        if at is not None and at >= since:
            high = middle
        else:
            low = middle + 1
    # Every entry has postings: the first of entry `low` (by the entry_id index).
    return db.session.scalar(select(func.min(Posting.id)).where(Posting.entry_id == low))


def _older_growth(ids: tuple[int, ...], today: date, first_posting: int | None) -> int:
    """What the 60+ members' balances grew by since `first_posting`: their balances now
    minus each one's balance just before it (the last earlier posting's running balance,
    one index lookup per account)."""
    if first_posting is None:
        return 0
    older = (Account.kind == "member", Account.community_id.in_(ids))
    age = today.year - Member.birth_year
    now = db.session.scalar(
        select(func.sum(Account.balance))
        .join(Member, Member.id == Account.member_id)
        .where(*older, age >= 60)
    )
    earlier = (
        select(Posting.balance_after)
        .where(Posting.account_id == Account.id, Posting.id < first_posting)
        .order_by(Posting.id.desc())
        .limit(1)
        .correlate(Account)
        .scalar_subquery()
    )
    then = db.session.scalar(
        select(func.sum(func.coalesce(earlier, 0)))
        .select_from(Account)
        .join(Member, Member.id == Account.member_id)
        .where(*older, age >= 60)
    )
    return int(now or 0) - int(then or 0)
