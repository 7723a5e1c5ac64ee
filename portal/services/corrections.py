"""Corrections: an approved hour log is reversed, visibly, and may be replaced in one step.

The ledger stays append-only: the original credit stays on the books and a reversing entry
names it, the reason (its memo) and the corrector (its actor). The log is marked `reversed`
and names that entry; a replacement log names the log it corrects. Who may correct: an admin
of the log's community, or a coordinator of the log's team — never the person credited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, HourLog, JournalEntry, Member
from portal.services import audit, hours, ledger, notifications, teams
from portal.services.errors import AlreadyDecided, DomainError, Forbidden
from portal.services.locking import lock_row

MAX_REASON = 300


@dataclass(frozen=True)
class Replacement:
    """What the corrected record should say; None keeps the original's value."""

    member_no: str | None = None
    minutes: int | None = None
    service_date: date | None = None

    @property
    def wanted(self) -> bool:
        return bool(self.member_no) or self.minutes is not None or self.service_date is not None


def may_view(actor: Member, log: HourLog) -> bool:
    """The volunteer, the team's coordinators and the community's admins."""
    return (
        actor.id == log.member_id
        or teams.is_coordinator(actor, log.team_id)
        or teams.is_admin_of(actor, log.community_id)
    )


def may_correct(actor: Member, log: HourLog) -> bool:
    return actor.id != log.member_id and (
        teams.is_coordinator(actor, log.team_id) or teams.is_admin_of(actor, log.community_id)
    )


def credited_by_community(log: HourLog) -> bool:
    """Only a plain credit (issuance → volunteer) is undone by a correction. A service the
    resident paid with banked hours was settled out of their hold: reversing that entry
    would put minutes back into escrow with no hold to answer for them."""
    kind = db.session.scalar(select(JournalEntry.kind).where(JournalEntry.id == log.entry_id))
    return kind == "hours"


def correct_log(
    actor: Member,
    log_id: int,
    reason: str,
    replacement: Replacement | None = None,
    *,
    today: date,
) -> tuple[HourLog, HourLog | None]:
    """Reverse an approved log with a reason and, if asked, enter the corrected record.

    The replacement is credited before the original is reversed, so a member who has spent
    part of the hours can still be corrected when the difference is covered; when it is not,
    the ledger refuses and nothing of the step is kept (the caller rolls back)."""
    log = lock_row(HourLog, log_id)
    if log is None:
        raise DomainError(_l("That record does not exist."))
    if actor.id == log.member_id:
        raise Forbidden(_l("Nobody corrects a record of their own hours."))
    if not may_correct(actor, log):
        raise Forbidden(_l("Only an admin or a coordinator of this team can correct it."))
    if log.status == "reversed":
        raise AlreadyDecided(_l("This record has already been corrected."))
    if log.status != "approved" or log.entry_id is None:
        raise DomainError(_l("Only an approved record can be corrected."))
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_l("Give a reason for the correction."), field="reason")
    if len(reason) > MAX_REASON:
        raise DomainError(_l("Keep the reason under 300 characters."), field="reason")

    if not credited_by_community(log):
        raise DomainError(
            _l(
                "This service was paid with the resident's own banked hours; it cannot be "
                "corrected here."
            )
        )

    new_log = None
    if replacement is not None and replacement.wanted:
        volunteer = log.member
        if replacement.member_no:
            found = db.session.scalar(
                select(Member).where(Member.member_no == replacement.member_no.strip())
            )
            if found is None or found.community_id != log.community_id:
                raise DomainError(_l("No member has that member number."), field="member_no")
            volunteer = found
        new_log = hours.log_replacement(
            actor,
            log,
            volunteer,
            minutes=replacement.minutes if replacement.minutes is not None else log.minutes,
            service_date=replacement.service_date or log.service_date,
            today=today,
        )

    original = db.session.get(JournalEntry, log.entry_id)
    assert original is not None
    reversal = ledger.reverse(original, reason=reason, actor=actor)
    log.status = "reversed"
    log.reversal_entry_id = reversal.id
    audit.record(
        actor,
        "hour_log.reverse",
        log,
        reason=reason,
        community_id=log.community_id,
        minutes=log.minutes,
        entry=original.id,
        reversal_entry=reversal.id,
        replacement=new_log.id if new_log else None,
    )
    if new_log is not None and new_log.member_id == log.member_id:
        notifications.notify(
            log.member_id,
            "log_corrected",
            "hours.show",
            link_args={"log_id": new_log.id},
            minutes=log.minutes,
            new_minutes=new_log.minutes,
            date=log.service_date,
            name=actor.name,
            reason=reason,
        )
    else:
        hours.notify_about_log(log, "log_reversed", name=actor.name, reason=reason)
        if new_log is not None:
            hours.notify_about_log(new_log, "log_approved")
    db.session.flush()
    return log, new_log


# --- what the log's page shows -----------------------------------------------------------


@dataclass(frozen=True)
class Reversal:
    at: datetime
    by: str
    reason: str


@dataclass(frozen=True)
class HistoryLine:
    at: datetime
    action: str
    by: str
    reason: str


@dataclass(frozen=True)
class LogDetails:
    approved_by: str | None
    reversal: Reversal | None
    replaced_by: HourLog | None
    corrects: HourLog | None
    history: list[HistoryLine]


def details(log: HourLog) -> LogDetails:
    """Who approved the log and when, its correction, and its audit trail (a few rows)."""
    reversal = None
    if log.reversal_entry_id is not None:
        row = db.session.execute(
            select(JournalEntry.created_at, JournalEntry.memo, Member.name)
            .outerjoin(Member, Member.id == JournalEntry.actor_id)
            .where(JournalEntry.id == log.reversal_entry_id)
        ).one()
        reversal = Reversal(at=row.created_at, by=row.name or "", reason=row.memo)
    replaced_by = db.session.scalar(select(HourLog).where(HourLog.corrects_id == log.id))
    corrects = db.session.get(HourLog, log.corrects_id) if log.corrects_id else None
    history = [
        HistoryLine(at=event.created_at, action=event.action, by=name or "", reason=event.reason)
        for event, name in db.session.execute(
            select(AuditEvent, Member.name)
            .outerjoin(Member, Member.id == AuditEvent.actor_id)
            .where(
                AuditEvent.subject_type == HourLog.__tablename__,
                AuditEvent.subject_id == log.id,
            )
            .order_by(AuditEvent.id)
            .limit(50)
        )
    ]
    return LogDetails(
        approved_by=log.decided_by.name if log.decided_by and log.entry_id else None,
        reversal=reversal,
        replaced_by=replaced_by,
        corrects=corrects,
        history=history,
    )
