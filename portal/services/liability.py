"""The liability view: banked hours are a promise of future care. How much is promised, to
whom (by the owners' age), and how long the community's present rate of service would take
to honour it — "易存难兑" made visible before it happens.

- Outstanding: the balances of the community's member accounts, by owner's age band (age =
  this year − birth year).
- Delivery: approved service per month (by service date) over the last 12 months,
  the current month included.
- Months of delivery: outstanding ÷ the average month's delivery.
- The 60+ band's claims: their balances grow by the net of what was posted to their
  accounts over the same 12 months as the delivery (entries by their UTC month; ÷ 12 a
  month).
- Balances and growth come from `monthly_balances`, delivery from `monthly_hours`: rollups
  kept exact by portal/services/rollups.py, checked by `flask reports check-rollups`.
- The 60+ claims "exceed delivery" when they pass a full year of delivery at the present
  rate; the view says in how many months (now, or never at this rate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, func, select

from portal.extensions import db
from portal.models import MonthlyBalance
from portal.services.report_scope import Scope
from portal.services.reports import months_between, sums_by

BANDS = ("under_60", "60_69", "70_79", "80_plus")


def band_of(age: int) -> str:
    if age < 60:
        return "under_60"
    if age < 70:
        return "60_69"
    if age < 80:
        return "70_79"
    return "80_plus"


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


def first_month(today: date) -> date:
    """The first day of the delivery's 12 months (the current month the 12th)."""
    return _add_months(today.replace(day=1), -11)


def delivery_known(scope: Scope, today: date) -> bool:
    """Whether a report of `scope` has the delivery's months already: the same communities
    unfiltered, from on or before the first month to today (its month totals are then the
    approved minutes of each of those months, to date)."""
    return (
        scope.team_ids is None
        and scope.grid_ids is None
        and scope.start <= first_month(today)
        and scope.end == today
    )


def liability(
    community_ids: int | Sequence[int],
    today: date,
    month_totals: Mapping[str, int] | None = None,
) -> Liability:
    """The view for one community, or the sum over several (a street office, the city).
    `month_totals`: approved minutes by 'YYYY-MM' of the same communities already summed
    (a report whose scope passes `delivery_known`), so they are not summed twice."""
    ids = (community_ids,) if isinstance(community_ids, int) else tuple(community_ids)
    first = first_month(today)
    # From the monthly balance rollup: the sum over every month is each owner's balance;
    # the sum from `first` on is the net growth of the 12 months (one read for both).
    outstanding = dict.fromkeys(BANDS, 0)
    growth_12 = 0
    for born, minutes, recent in db.session.execute(
        select(
            MonthlyBalance.birth_year,
            func.sum(MonthlyBalance.minutes),
            func.sum(case((MonthlyBalance.month >= first, MonthlyBalance.minutes), else_=0)),
        )
        .where(MonthlyBalance.community_id.in_(ids))
        .group_by(MonthlyBalance.birth_year)
    ):
        outstanding[band_of(today.year - born)] += int(minutes or 0)
        if born <= today.year - 60:
            growth_12 += int(recent or 0)

    # From the monthly rollup (the current month's days from the hour logs).
    delivered: dict[str, int] = {}
    if month_totals is not None:
        delivered = dict(month_totals)
    else:
        for m, minutes in sums_by(Scope(ids, None, first, today, True), ("month",)):
            delivered[m] = delivered.get(m, 0) + minutes
    delivery = {m: int(delivered.get(m) or 0) for m in months_between(first, today)}
    average = sum(delivery.values()) // 12
    total = sum(outstanding.values())
    older = total - outstanding["under_60"]

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
