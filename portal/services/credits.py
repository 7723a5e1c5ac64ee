"""The rules every credit of hours obeys, whatever creates it (DESIGN.md, "Witness").

- A witness: somebody other than the person credited and not their linked relative —
  a coordinator approving, a verified resident confirming a request, a kiosk device.
- A day limit: at most 24 hours of service per member per day, counting pending and
  approved logs and requests marked done but not yet confirmed, whatever their source.
- A tolerance: a resident's confirmation credits community-funded minutes only up to the
  estimate plus a margin; beyond it a coordinator decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import HourLog, Member, ServiceRequest
from portal.models._time import utcnow
from portal.models.hours import MAX_DAY_MINUTES
from portal.services import audit, family, grids, teams
from portal.services.errors import DomainError, Forbidden
from portal.services.locking import lock_row

# --- the witness ----------------------------------------------------------------------


def may_witness(witness: Member, credited_id: int) -> bool:
    """Whether `witness` may vouch for a credit to member `credited_id`."""
    return witness.id != credited_id and not family.linked(witness, credited_id)


def related(a: Member, b_id: int | None) -> bool:
    """The same person or linked family: neither may serve the other's request."""
    return b_id is not None and (a.id == b_id or family.linked(a, b_id))


# --- the day limit ----------------------------------------------------------------------


def day_total(
    member_id: int,
    service_date: date,
    *,
    excluding_request: int | None = None,
    excluding_log: int | None = None,
) -> int:
    """Minutes of service already counted for a member on a day (leaving out the request
    being marked done, or the log a correction is about to reverse)."""
    logs = select(func.coalesce(func.sum(HourLog.minutes), 0)).where(
        HourLog.member_id == member_id,
        HourLog.service_date == service_date,
        HourLog.status.in_(("pending", "approved")),
    )
    if excluding_log is not None:
        logs = logs.where(HourLog.id != excluding_log)
    logged = db.session.scalar(logs)
    done = select(func.coalesce(func.sum(ServiceRequest.minutes_spent), 0)).where(
        ServiceRequest.assignee_id == member_id,
        ServiceRequest.service_date == service_date,
        ServiceRequest.status == "done",
    )
    if excluding_request is not None:
        done = done.where(ServiceRequest.id != excluding_request)
    return int(logged) + int(db.session.scalar(done))


def check_day_limit(
    member_id: int,
    service_date: date,
    minutes: int,
    *,
    field: str = "minutes",
    excluding_request: int | None = None,
    excluding_log: int | None = None,
) -> None:
    """Refuse `minutes` more on `service_date` when they would pass 24 hours. Locks the
    member's row first, so two credits racing for the same day are counted one after the
    other (SQLite's BEGIN IMMEDIATE already serialises writers)."""
    lock_row(Member, member_id)
    total = day_total(
        member_id,
        service_date,
        excluding_request=excluding_request,
        excluding_log=excluding_log,
    )
    if total + minutes > MAX_DAY_MINUTES:
        raise DomainError(
            _l(
                "That day already has %(logged)s minutes logged; at most %(left)s more fit "
                "in 24 hours.",
                logged=total,
                left=max(MAX_DAY_MINUTES - total, 0),
            ),
            field=field,
        )


# --- the tolerance ----------------------------------------------------------------------


@dataclass(frozen=True)
class Tolerance:
    """How far past the estimate a resident's confirmation may credit on its own."""

    percent: int = 50
    at_least: int = 30

    def allowed(self, estimate: int) -> int:
        return estimate + max(estimate * self.percent // 100, self.at_least)

    @classmethod
    def configured(cls) -> Tolerance:
        if not has_app_context():
            return cls()
        config = current_app.config
        return cls(
            percent=int(config.get("REQUEST_TOLERANCE_PERCENT", cls.percent)),
            at_least=int(config.get("REQUEST_TOLERANCE_MINUTES", cls.at_least)),
        )


def review_reason(resident: Member, estimate: int, minutes: int) -> str | None:
    """Why a resident's confirmation cannot credit community-funded minutes by itself,
    or None when it can."""
    if not resident.is_verified:
        return "unverified_resident"
    if minutes > Tolerance.configured().allowed(estimate):
        return "over_estimate"
    return None


# --- verification in person -------------------------------------------------------------


def may_verify(actor: Member, member: Member) -> bool:
    """Coordinators and admins of the member's community, and the grid worker of the
    member's grid; never for themselves or family."""
    if actor.community_id != member.community_id or not may_witness(actor, member.id):
        return False
    return (
        actor.is_admin
        or bool(teams.coordinated_team_ids(actor))
        or grids.is_grid_worker_of(actor, member.grid_id)
    )


def verify_member(actor: Member, member_id: int) -> Member:
    """Record that `actor` has seen this member in person. Idempotent: verifying again
    keeps the first verifier and time."""
    member = lock_row(Member, member_id)
    if member is None:
        raise DomainError(_l("No member has that member number."))
    if not may_verify(actor, member):
        raise Forbidden(
            _l("Only a coordinator or admin of the community, not family, can verify a member.")
        )
    # A resident who posted from a poster is pending until now.
    member.pending_resident = False
    if member.verified_at is None:
        member.verified_at = utcnow()
        member.verified_by_id = actor.id
        audit.record(actor, "member.verify", member, community_id=member.community_id)
    return member
