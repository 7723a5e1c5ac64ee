"""Family links (proposed by one, accepted by the other) and gifts of hours between them."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, bindparam, func, or_, select

from portal.clock import today_local
from portal.extensions import db
from portal.models import Account, Community, FamilyLink, JournalEntry, Member, Posting
from portal.models._time import utcnow
from portal.services import audit, ledger, notifications
from portal.services.errors import DomainError, Forbidden
from portal.services.locking import lock_row
from portal.services.members import normalise_phone


def _between(a_id: int, b_id: int):  # type: ignore[no-untyped-def]
    return or_(
        and_(FamilyLink.proposer_id == a_id, FamilyLink.relative_id == b_id),
        and_(FamilyLink.proposer_id == b_id, FamilyLink.relative_id == a_id),
    )


def linked(a: Member, b_id: int) -> bool:
    return (
        db.session.scalar(
            select(FamilyLink.id).where(_between(a.id, b_id), FamilyLink.status == "accepted")
        )
        is not None
    )


def relatives(member: Member) -> list[Member]:
    """Members with an accepted link to `member`."""
    links = db.session.scalars(
        select(FamilyLink).where(
            or_(FamilyLink.proposer_id == member.id, FamilyLink.relative_id == member.id),
            FamilyLink.status == "accepted",
        )
    )
    return [link.relative if link.proposer_id == member.id else link.proposer for link in links]


# Accepted links of some members, built once per process (the ids an expanding bound
# parameter): the dashboard, "my requests", the queue and the dispatch list ask on every view.
_MEMBER_IDS = bindparam("family_member_ids", expanding=True)
_LINKS_OF = select(FamilyLink.proposer_id, FamilyLink.relative_id).where(
    or_(FamilyLink.proposer_id.in_(_MEMBER_IDS), FamilyLink.relative_id.in_(_MEMBER_IDS)),
    FamilyLink.status == "accepted",
)


def relative_ids(member_ids: Collection[int]) -> set[int]:
    """Ids of the members with an accepted link to any of `member_ids`, in one statement
    (`relatives` loads each member: a statement each)."""
    wanted = set(member_ids)
    found: set[int] = set()
    for proposer_id, relative_id in db.session.execute(
        _LINKS_OF, {"family_member_ids": sorted(wanted)}
    ):
        if proposer_id in wanted:
            found.add(relative_id)
        if relative_id in wanted:
            found.add(proposer_id)
    return found


def links_of(member: Member) -> list[FamilyLink]:
    return list(
        db.session.scalars(
            select(FamilyLink)
            .where(or_(FamilyLink.proposer_id == member.id, FamilyLink.relative_id == member.id))
            .order_by(FamilyLink.id)
        )
    )


def propose(member: Member, phone: str) -> FamilyLink:
    relative = db.session.scalar(select(Member).where(Member.phone == normalise_phone(phone)))
    if relative is None:
        raise DomainError(_l("No member has that mobile number."), field="phone")
    if relative.id == member.id:
        raise DomainError(_l("You cannot link to yourself."), field="phone")
    existing = db.session.scalar(select(FamilyLink).where(_between(member.id, relative.id)))
    if existing is not None and existing.status != "declined":
        raise DomainError(_l("You are already linked, or a request is waiting."), field="phone")
    if existing is not None:
        db.session.delete(existing)
        db.session.flush()
    link = FamilyLink(proposer_id=member.id, relative_id=relative.id)
    db.session.add(link)
    db.session.flush()
    audit.record(member, "family.propose", link, relative_id=relative.id)
    notifications.notify(relative.id, "family_proposed", "/gift", name=member.name)
    return link


def decide(member: Member, link_id: int, *, accept: bool) -> FamilyLink:
    link = lock_row(FamilyLink, link_id)
    if link is None:
        raise DomainError(_l("That family link does not exist."))
    if link.relative_id != member.id:
        raise Forbidden(_l("Only the person asked can answer."))
    if link.status != "pending":
        raise DomainError(_l("This request has already been answered."))
    link.status = "accepted" if accept else "declined"
    link.decided_at = utcnow()
    audit.record(member, "family.accept" if accept else "family.decline", link)
    return link


def gifted_this_year(member: Member) -> int:
    """Minutes this member has gifted since 1 January."""
    start = datetime(today_local().year, 1, 1)
    total = db.session.scalar(
        select(func.coalesce(func.sum(-Posting.amount), 0))
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(Account, Account.id == Posting.account_id)
        .where(
            Account.member_id == member.id,
            JournalEntry.kind == "gift",
            Posting.amount < 0,
            JournalEntry.created_at >= start,
        )
    )
    return int(total or 0)


def gift(giver: Member, receiver_id: int | None, minutes: int | None, *, key: str) -> JournalEntry:
    if receiver_id is None:
        raise DomainError(_l("Choose who receives the hours."), field="to")
    if not linked(giver, receiver_id):
        raise DomainError(_l("You can only gift hours to a linked family member."), field="to")
    if minutes is None or minutes <= 0:
        raise DomainError(_l("Enter how many minutes to gift, such as 60."), field="minutes")
    community = db.session.get(Community, giver.community_id)
    assert community is not None
    cap = community.gift_yearly_cap_minutes
    if cap is not None:
        already = gifted_this_year(giver)
        if already + minutes > cap:
            raise DomainError(
                _l(
                    "Your community allows gifts of up to %(cap)s minutes a year; you can still "
                    "gift %(left)s minutes this year.",
                    cap=cap,
                    left=max(cap - already, 0),
                ),
                field="minutes",
            )
    receiver = db.session.get(Member, receiver_id)
    assert receiver is not None
    if ledger.balance_of(giver) < minutes:
        raise DomainError(
            _l("You have %(balance)s minutes to give.", balance=ledger.balance_of(giver)),
            field="minutes",
        )
    entry = ledger.transfer(
        "gift",
        ledger.member_account(giver),
        ledger.member_account(receiver),
        minutes,
        idempotency_key=f"gift:{key}",
        memo=receiver.name,
        community_id=giver.community_id,
        actor=giver,
        # A gift never goes to the pool: past the receiver's storage cap it is refused.
        cap=_gift_cap(receiver),
    )
    audit.record(giver, "family.gift", entry, minutes=minutes, receiver_id=receiver.id)
    notifications.notify(
        receiver.id, "gift_received", "/me/statement", name=giver.name, minutes=minutes
    )
    return entry


def _gift_cap(receiver: Member) -> ledger.Cap | None:
    limit = receiver.community.storage_cap_minutes
    return ledger.Cap(ledger.member_account(receiver), limit, None) if limit is not None else None
