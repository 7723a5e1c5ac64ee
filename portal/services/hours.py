"""Hour logs: log, cancel, approve (posts to the ledger), reject."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import BindParameter, Select, func, select

from portal.extensions import db
from portal.models import (
    CallUp,
    Community,
    HourLog,
    KioskDevice,
    Member,
    Service,
    Team,
    TeamMembership,
)
from portal.models._time import utcnow
from portal.models.hours import MAX_LOG_MINUTES
from portal.services import audit, catalogue, credits, ledger, notifications, teams
from portal.services.errors import AlreadyDecided, DomainError, Forbidden
from portal.services.locking import lock_row


@dataclass(frozen=True)
class LogRequest:
    team_id: int | None
    service_id: int | None
    service_date: date | None
    minutes: int | None
    note: str = ""
    beneficiary_id: int | None = None
    activity_id: int | None = None


def log_hours(member: Member, req: LogRequest, *, today: date, source: str = "self") -> HourLog:
    """Record a pending claim of service after checking every limit."""
    if req.minutes is None or not 1 <= req.minutes <= MAX_LOG_MINUTES:
        raise DomainError(
            _l("Enter between 1 and 720 minutes (12 hours) for one log."), field="minutes"
        )
    if req.service_date is None:
        raise DomainError(_l("Enter the date of the service."), field="date")
    if req.service_date > today:
        raise DomainError(_l("The date cannot be in the future."), field="date")
    community = db.session.get(Community, member.community_id)
    assert community is not None
    oldest = today - timedelta(days=community.log_window_days)
    if req.service_date < oldest:
        raise DomainError(
            _l(
                "Service older than %(days)s days can no longer be logged.",
                days=community.log_window_days,
            ),
            field="date",
        )
    team = db.session.get(Team, req.team_id) if req.team_id else None
    if team is None or team.archived or not teams.is_active_member(member, team.id):
        raise DomainError(_l("Choose one of your teams."), field="team")
    service = db.session.get(Service, req.service_id) if req.service_id else None
    if service is None or service.community_id != team.community_id or not service.active:
        raise DomainError(_l("Choose a service from the list."), field="service")
    # What a volunteer picks on the hours form is one of the team's services (the form's
    # list is narrowed to them); a kiosk visit or an activity carries the activity's service.
    if source == "self" and service not in catalogue.services_for_team(team):
        raise DomainError(
            _l("That is not one of this team's services. Choose one from the list."),
            field="service",
        )
    if len(req.note) > 500:
        raise DomainError(_l("Keep the note under 500 characters."), field="note")

    credits.check_day_limit(member.id, req.service_date, req.minutes)

    if req.beneficiary_id is not None:
        beneficiary = db.session.get(Member, req.beneficiary_id)
        if beneficiary is None or beneficiary.id == member.id:
            raise DomainError(_l("No member has that member number."), field="beneficiary")
    log = HourLog(
        member_id=member.id,
        team_id=team.id,
        service_id=service.id,
        community_id=team.community_id,
        service_date=req.service_date,
        minutes=req.minutes,
        note=req.note.strip(),
        beneficiary_id=req.beneficiary_id,
        activity_id=req.activity_id,
        source=source,
        status="pending",
    )
    db.session.add(log)
    db.session.flush()
    if req.beneficiary_id is not None and source == "self":
        notifications.notify(
            req.beneficiary_id,
            "service_to_confirm",
            "me.dashboard",
            name=member.masked_name,
            minutes=log.minutes,
            date=log.service_date,
        )
    return log


def confirm_as_beneficiary(actor: Member, log_id: int) -> HourLog:
    """The person served (or a linked relative) confirms a volunteer's self-reported log."""
    from portal.services import family

    log = _locked_pending(log_id)
    if log.beneficiary_id is None or not (
        actor.id == log.beneficiary_id or family.linked(actor, log.beneficiary_id)
    ):
        raise Forbidden(_l("Only the person served, or their family, can confirm."))
    if log.beneficiary_confirmed_at is not None:
        raise AlreadyDecided(_l("Already confirmed. Thank you."))
    if log.status in ("rejected", "cancelled"):
        raise AlreadyDecided(_l("This record was withdrawn; nothing to confirm."))
    log.beneficiary_confirmed_at = utcnow()
    log.beneficiary_confirmed_by_id = actor.id
    audit.record(actor, "hour_log.beneficiary_confirm", log, community_id=log.community_id)
    return log


def to_confirm(member: Member, relative_ids: set[int]) -> list[HourLog]:
    """Self-reported service to `member` (or their relatives) not yet confirmed."""
    return list(
        db.session.scalars(
            select(HourLog)
            .where(
                HourLog.beneficiary_id.in_([member.id, *relative_ids]),
                HourLog.beneficiary_confirmed_at.is_(None),
                HourLog.status.in_(("pending", "approved")),
                HourLog.source == "self",
            )
            .order_by(HourLog.id.desc())
            .limit(20)
        )
    )


def _locked_pending(log_id: int) -> HourLog:
    log = lock_row(HourLog, log_id)
    if log is None:
        raise DomainError(_l("That record does not exist."))
    return log


def cancel_log(member: Member, log_id: int) -> HourLog:
    log = _locked_pending(log_id)
    if log.member_id != member.id:
        raise Forbidden(_l("You can only cancel your own records."))
    if log.status != "pending":
        raise AlreadyDecided(_l("Only a pending record can be cancelled."))
    log.status = "cancelled"
    log.decided_at = utcnow()
    log.decided_by_id = member.id
    audit.record(member, "hour_log.cancel", log, community_id=log.community_id)
    db.session.flush()
    return log


def check_may_decide(approver: Member, log: HourLog) -> None:
    if log.member_id == approver.id:
        raise Forbidden(_l("Nobody approves their own hours."))
    if not credits.may_witness(approver, log.member_id):
        raise Forbidden(_l("Nobody approves the hours of a linked relative."))
    if not teams.is_coordinator(approver, log.team_id):
        raise Forbidden(_l("Only a coordinator of this team can decide on its hours."))


def approve_log(approver: Member, log_id: int) -> HourLog:
    """pending → approved, crediting issuance → volunteer in the same transaction."""
    log = _locked_pending(log_id)
    check_may_decide(approver, log)
    if log.status != "pending":
        raise AlreadyDecided(_l("This record has already been decided."))
    credit(approver, log)
    notify_about_log(log, "log_approved")
    db.session.flush()
    return log


def notify_about_log(log: HourLog, kind: str, **detail: object) -> None:
    """Tell the log's volunteer what became of it (`kind` is a notification text of
    portal/i18n.py); the notification links to the log's page."""
    notifications.notify(
        log.member_id,
        kind,
        "hours.show",
        link_args={"log_id": log.id},
        minutes=log.minutes,
        date=log.service_date,
        **detail,
    )


def credit(
    approver: Member | None,
    log: HourLog,
    *,
    action: str = "hour_log.approve",
    witness: str = "",
    **audit_detail: object,
) -> None:
    """Mark `log` approved and credit issuance → volunteer in the same transaction. The
    witness is `approver`, or — with no approving member — the one named by `witness` in the
    memo (a kiosk device). The caller has checked that the witness may vouch for it."""
    # Through the log (the same load by id): the log then holds the member, which the session
    # holds only weakly, so the caller's `log.member` does not read it again.
    volunteer = log.member
    entry = ledger.transfer(
        "hours",
        ledger.issuance_account(log.community_id),
        ledger.member_account(volunteer),
        log.minutes,
        idempotency_key=f"hour_log:{log.id}",
        memo=f"hour_log:{log.id} {witness}".strip(),
        community_id=log.community_id,
        actor=approver,
        # The community's storage cap: refused, or the excess donated as the member chose.
        cap=ledger.storage_cap(volunteer),
    )
    log.status = "approved"
    log.entry_id = entry.id
    log.decided_at = utcnow()
    log.decided_by_id = approver.id if approver is not None else None
    audit.record(
        approver, action, log, community_id=log.community_id, minutes=log.minutes, **audit_detail
    )


def log_replacement(
    corrector: Member,
    original: HourLog,
    volunteer: Member,
    *,
    minutes: int,
    service_date: date,
    today: date,
) -> HourLog:
    """The corrected record entered with a correction: approved at once, witnessed by the
    corrector. Same limits as any log (1–720 minutes, not in the future, 24 h a day — the
    record being corrected no longer counts), same team and service as the original."""
    from portal.services import family

    if not 1 <= minutes <= MAX_LOG_MINUTES:
        raise DomainError(
            _l("Enter between 1 and 720 minutes (12 hours) for one log."), field="minutes"
        )
    if service_date > today:
        raise DomainError(_l("The date cannot be in the future."), field="date")
    community = db.session.get(Community, original.community_id)
    assert community is not None
    if service_date != original.service_date and service_date < today - timedelta(
        days=community.log_window_days
    ):
        raise DomainError(
            _l(
                "Service older than %(days)s days can no longer be logged.",
                days=community.log_window_days,
            ),
            field="date",
        )
    if volunteer.id == corrector.id:
        raise DomainError(_l("Nobody approves their own hours."), field="member_no")
    if family.linked(corrector, volunteer.id):
        raise DomainError(
            _l("You cannot witness hours for your own family. Ask another coordinator."),
            field="member_no",
        )
    if not teams.is_active_member(volunteer, original.team_id):
        raise DomainError(
            _l("That member is not in the team %(team)s.", team=original.team.name),
            field="member_no",
        )
    credits.check_day_limit(volunteer.id, service_date, minutes, excluding_log=original.id)
    beneficiary_id = original.beneficiary_id if original.beneficiary_id != volunteer.id else None
    log = HourLog(
        member_id=volunteer.id,
        team_id=original.team_id,
        service_id=original.service_id,
        community_id=original.community_id,
        service_date=service_date,
        minutes=minutes,
        note=original.note,
        beneficiary_id=beneficiary_id,
        source="correction",
        corrects_id=original.id,
        status="pending",
    )
    db.session.add(log)
    db.session.flush()
    credit(corrector, log, corrects=original.id)
    db.session.flush()
    return log


def log_callup(
    witness: Member, member: Member, callup: CallUp, *, minutes: int, service_date: date
) -> HourLog:
    """Hours for coming to a call-up, logged to its team and service when it closes: approved
    with the closing coordinator as witness, or left pending for another coordinator when the
    closer may not vouch for this member (themselves or a linked relative). Same limits as any
    log: 1–720 minutes, 24 hours a day."""
    if not 1 <= minutes <= MAX_LOG_MINUTES:
        raise DomainError(
            _l("Enter between 1 and 720 minutes (12 hours) for one log."), field="minutes"
        )
    credits.check_day_limit(member.id, service_date, minutes)
    log = HourLog(
        member_id=member.id,
        team_id=callup.team_id,
        service_id=callup.service_id,
        community_id=callup.community_id,
        service_date=service_date,
        minutes=minutes,
        note=callup.what,
        source="callup",
        status="pending",
    )
    db.session.add(log)
    db.session.flush()
    if credits.may_witness(witness, member.id):
        credit(witness, log, action="hour_log.approve_callup", callup=callup.id)
        notify_about_log(log, "log_approved")
    db.session.flush()
    return log


def approve_by_device(log_id: int, device: KioskDevice) -> HourLog:
    """A kiosk check-out of a team that auto-approves kiosk hours: the enrolled DEVICE is
    the witness (DESIGN.md, "Witness"), so there is no approving member; the memo and the
    audit line name the device."""
    log = _locked_pending(log_id)
    if log.status != "pending" or log.source != "kiosk":
        raise AlreadyDecided(_l("This record has already been decided."))
    if device.revoked or device.community_id != log.community_id:
        raise Forbidden(_l("This kiosk cannot credit hours here."))
    credit(
        None,
        log,
        action="hour_log.approve_kiosk",
        witness=f"kiosk:{device.id}",
        device_id=device.id,
    )
    db.session.flush()
    return log


def reject_log(approver: Member, log_id: int, reason: str) -> HourLog:
    reason = (reason or "").strip()
    log = _locked_pending(log_id)
    check_may_decide(approver, log)
    if not reason:
        raise DomainError(_l("Give a reason so the volunteer knows why."), field="reason")
    if len(reason) > 300:
        raise DomainError(_l("Keep the reason under 300 characters."), field="reason")
    if log.status != "pending":
        raise AlreadyDecided(_l("This record has already been decided."))
    log.status = "rejected"
    log.reject_reason = reason
    log.decided_at = utcnow()
    log.decided_by_id = approver.id
    audit.record(approver, "hour_log.reject", log, reason=reason, community_id=log.community_id)
    notify_about_log(log, "log_rejected", reason=reason)
    db.session.flush()
    return log


def approve_many(approver: Member, log_ids: Iterable[int]) -> tuple[list[HourLog], int]:
    """Approve a selection. All-or-nothing on permission (one forbidden id refuses the
    batch); logs already decided by someone else are skipped and counted."""
    ids = sorted(set(log_ids))
    if not ids:
        raise DomainError(_l("Select at least one record."), field="logs")
    # Lock every selected log, in id order, before the first entry locks the ledger head.
    # Locking each log only when its turn comes would hold the head while waiting for a
    # log that a single approval has locked while it waits for the head: a deadlock.
    for log_id in ids:
        log = _locked_pending(log_id)
        check_may_decide(approver, log)
    approved: list[HourLog] = []
    skipped = 0
    for log_id in ids:
        try:
            approved.append(approve_log(approver, log_id))
        except AlreadyDecided:
            skipped += 1
    return approved, skipped


def pending_minutes_select(member_id: int | BindParameter[int]) -> Select:
    """Minutes of this member's logs still waiting for approval (a statement to combine)."""
    return select(func.coalesce(func.sum(HourLog.minutes), 0)).where(
        HourLog.member_id == member_id, HourLog.status == "pending"
    )


def pending_minutes(member: Member) -> int:
    return db.session.scalar(pending_minutes_select(member.id))


def queue_count_select(member_id: int | BindParameter[int]) -> Select:
    """`pending_count` of the teams this member coordinates, as a select that can ride in the
    top bar's statement (the dashboard)."""
    coordinated = select(TeamMembership.team_id).where(
        TeamMembership.member_id == member_id,
        TeamMembership.status == "active",
        TeamMembership.role == "coordinator",
    )
    return select(func.count(HourLog.id)).where(
        HourLog.team_id.in_(coordinated), HourLog.status == "pending"
    )


def pending_count(team_ids: list[int]) -> int:
    """Logs waiting in these teams' approval queue."""
    if not team_ids:
        return 0
    return db.session.scalar(
        select(func.count(HourLog.id)).where(
            HourLog.team_id.in_(team_ids), HourLog.status == "pending"
        )
    )
