"""The public page's figures: each community's totals this year, no personal data.

Four grouped queries over the year's rows, whatever the number of communities shown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select, union

from portal.extensions import db
from portal.models import HourLog, ServiceRequest


@dataclass(frozen=True)
class YearTotals:
    volunteers: int = 0  # members with approved service this year
    minutes: int = 0  # approved service this year
    fulfilled: int = 0  # requests confirmed, done this year
    served: int = 0  # distinct people who received service or a fulfilled request


def year_totals(year: int) -> dict[int, YearTotals]:
    start, end = date(year, 1, 1), date(year, 12, 31)
    service = (
        HourLog.status == "approved",
        HourLog.service_date >= start,
        HourLog.service_date <= end,
    )
    done = (
        ServiceRequest.status == "confirmed",
        ServiceRequest.service_date >= start,
        ServiceRequest.service_date <= end,
    )
    given = {
        cid: (int(volunteers), int(minutes or 0))
        for cid, volunteers, minutes in db.session.execute(
            select(
                HourLog.community_id,
                func.count(func.distinct(HourLog.member_id)),
                func.sum(HourLog.minutes),
            )
            .where(*service)
            .group_by(HourLog.community_id)
        )
    }
    fulfilled = dict(
        db.session.execute(
            select(ServiceRequest.community_id, func.count(ServiceRequest.id))
            .where(*done)
            .group_by(ServiceRequest.community_id)
        ).all()
    )
    people = union(
        select(HourLog.community_id.label("cid"), HourLog.beneficiary_id.label("who")).where(
            *service, HourLog.beneficiary_id.is_not(None)
        ),
        select(ServiceRequest.community_id, ServiceRequest.requester_id).where(*done),
    ).subquery()
    served = dict(
        db.session.execute(
            select(people.c.cid, func.count(func.distinct(people.c.who))).group_by(people.c.cid)
        ).all()
    )
    result = {}
    for cid in set(given) | set(fulfilled) | set(served):
        volunteers, minutes = given.get(cid, (0, 0))
        result[cid] = YearTotals(
            volunteers, minutes, int(fulfilled.get(cid, 0)), int(served.get(cid, 0))
        )
    return result
