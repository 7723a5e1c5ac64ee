"""The only code that writes journal entries and postings.

Rules (DESIGN.md, "The ledger"): integer minutes; every entry has two or more postings that
sum to zero; entries and postings are never updated or deleted (a mistake is undone by a
reversing entry); member balances never go below zero; each entry carries a hash over the
previous entry's hash and its own content.

Concurrency: every entry first locks the single `ledger_head` row (FOR UPDATE on PostgreSQL;
BEGIN IMMEDIATE already serialises SQLite), so entries are chained in id order. Balances move
by a conditional UPDATE that refuses to take a member below zero, and a CHECK constraint backs
that up.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from portal.extensions import db
from portal.models import Account, JournalEntry, LedgerHead, Member, Posting
from portal.models._time import utcnow
from portal.models.ledger import ENTRY_KINDS, GENESIS_HASH
from portal.services.errors import DomainError, InsufficientBalance, StorageCapReached

HEAD_ID = 1


# --- accounts -------------------------------------------------------------------------


def _get_or_create_account(code: str, kind: str, community_id: int, member_id: int | None):
    account = db.session.scalars(select(Account).where(Account.code == code)).first()
    if account is not None:
        return account
    try:
        with db.session.begin_nested():
            account = Account(
                code=code, kind=kind, community_id=community_id, member_id=member_id, balance=0
            )
            db.session.add(account)
    except IntegrityError:
        account = db.session.scalars(select(Account).where(Account.code == code)).one()
    return account


def member_account(member: Member) -> Account:
    return _get_or_create_account(f"member:{member.id}", "member", member.community_id, member.id)


def issuance_account(community_id: int) -> Account:
    return _get_or_create_account(f"issuance:{community_id}", "issuance", community_id, None)


def escrow_account(community_id: int) -> Account:
    return _get_or_create_account(f"escrow:{community_id}", "escrow", community_id, None)


def pool_account(community_id: int) -> Account:
    """The community's public-welfare pool (公益池): members' donated excess."""
    return _get_or_create_account(f"pool:{community_id}", "pool", community_id, None)


def clearing_account(community_id: int) -> Account:
    """The community's position against the others (通存通兑): positive, it owes them."""
    return _get_or_create_account(f"clearing:{community_id}", "clearing", community_id, None)


def _cleared(lines: Sequence[tuple[Account, int]]) -> list[tuple[Account, int]]:
    """`lines` plus, when they move hours between communities, one clearing posting per
    community that balances that community's own postings: every community's books sum
    to zero on every entry, and the clearing accounts carry the net between them (they sum
    to zero because the entry does). A clearing line already in `lines` (a reversal) is
    counted like any other, so an entry that is already balanced per community gains
    nothing."""
    per_community: dict[int, int] = {}
    for account, amount in lines:
        per_community[account.community_id] = per_community.get(account.community_id, 0) + amount
    if not any(per_community.values()):
        return list(lines)
    merged: dict[int, tuple[Account, int]] = {}
    for account, amount in lines:
        held = merged.get(account.id)
        merged[account.id] = (account, amount + (held[1] if held else 0))
    for community_id, net in sorted(per_community.items()):
        if net:
            account = clearing_account(community_id)
            held = merged.get(account.id)
            merged[account.id] = (account, -net + (held[1] if held else 0))
    return [(account, amount) for account, amount in merged.values() if amount]


@dataclass(frozen=True)
class Cap:
    """The storage cap on one member account an entry credits: at most `limit` minutes;
    beyond it the excess goes to `pool` (the member chose to donate) or the entry is
    refused. Decided under the ledger head lock, so racing credits see each other."""

    account: Account
    limit: int
    pool: Account | None


def storage_cap(member: Member) -> Cap | None:
    """The cap on crediting `member`, from their community's setting and their choice."""
    limit = member.community.storage_cap_minutes
    if limit is None:
        return None
    pool = pool_account(member.community_id) if member.donate_excess else None
    return Cap(member_account(member), limit, pool)


def _capped(lines: Sequence[tuple[Account, int]], cap: Cap) -> list[tuple[Account, int]]:
    """`lines` with the capped account's credit cut to what fits and the excess sent to
    the pool; raises StorageCapReached when the member did not choose to donate."""
    credit = sum(amount for account, amount in lines if account.id == cap.account.id)
    if credit <= 0:
        return list(lines)
    balance = db.session.scalar(
        select(Account.balance)
        .where(Account.id == cap.account.id)
        .execution_options(populate_existing=True)
    )
    room = max(cap.limit - (balance or 0), 0)
    if credit <= room:
        return list(lines)
    if cap.pool is None:
        raise StorageCapReached(
            _l(
                "This would take the account past the community's storage cap of %(cap)s "
                "hours: only %(room)s more minutes fit. The member can choose to donate "
                "the excess to the public-welfare pool.",
                cap=cap.limit // 60,
                room=room,
            )
        )
    kept = [(account, amount) for account, amount in lines if account.id != cap.account.id]
    if room:
        kept.append((cap.account, room))
    pool_line = [amount for account, amount in kept if account.id == cap.pool.id]
    kept = [(account, amount) for account, amount in kept if account.id != cap.pool.id]
    kept.append((cap.pool, credit - room + sum(pool_line)))
    return kept


def balance_of(member: Member) -> int:
    """Cached balance in minutes (0 when the member has no account yet)."""
    balance = db.session.scalar(select(Account.balance).where(Account.member_id == member.id))
    return balance or 0


# --- hashing --------------------------------------------------------------------------


def entry_hash(entry: JournalEntry | Any, lines: Sequence[tuple[int, int, int]]) -> str:
    """sha256(previous hash + canonical content). `lines` are (account_id, amount,
    balance_after) for each posting."""
    content = json.dumps(
        {
            "created_at": entry.created_at.isoformat(timespec="microseconds"),
            "kind": entry.kind,
            "memo": entry.memo,
            "community_id": entry.community_id,
            "actor_id": entry.actor_id,
            "reverses_id": entry.reverses_id,
            "idempotency_key": entry.idempotency_key,
            "postings": sorted(lines),
        },
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256((entry.prev_hash + content).encode()).hexdigest()


def _lock_head() -> LedgerHead:
    stmt = (
        select(LedgerHead)
        .where(LedgerHead.id == HEAD_ID)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    head = db.session.scalars(stmt).first()
    if head is None:
        try:
            with db.session.begin_nested():
                db.session.add(LedgerHead(id=HEAD_ID, last_hash=GENESIS_HASH, entry_count=0))
        except IntegrityError:
            pass
        head = db.session.scalars(stmt).one()
    return head


# --- posting --------------------------------------------------------------------------


def post_entry(
    kind: str,
    lines: Sequence[tuple[Account, int]],
    *,
    idempotency_key: str,
    memo: str = "",
    community_id: int | None = None,
    actor: Member | None = None,
    reverses: JournalEntry | None = None,
    cap: Cap | None = None,
) -> JournalEntry:
    """Write one balanced entry. Returns the existing entry when `idempotency_key` was
    already posted, so a retried cause never posts twice. With `cap`, the credit to that
    member account stops at the storage cap (the excess to the pool, or refused)."""
    if kind not in ENTRY_KINDS:
        raise ValueError(f"unknown entry kind {kind!r}")
    if len(lines) < 2:
        raise ValueError("an entry needs at least two postings")
    if any(not isinstance(amount, int) or isinstance(amount, bool) for _, amount in lines):
        raise ValueError("amounts are integer minutes")
    if any(amount == 0 for _, amount in lines):
        raise ValueError("a posting moves a non-zero amount")
    if sum(amount for _, amount in lines) != 0:
        raise ValueError("postings must sum to zero")

    head = _lock_head()
    existing = db.session.scalars(
        select(JournalEntry).where(JournalEntry.idempotency_key == idempotency_key)
    ).first()
    if existing is not None:
        return existing
    if cap is not None:
        lines = _capped(lines, cap)
    lines = _cleared(lines)

    # Move balances in account-id order; a member may never go below zero.
    planned: list[tuple[int, int, int]] = []
    for account, amount in sorted(lines, key=lambda line: line[0].id):
        stmt = (
            update(Account)
            .where(Account.id == account.id)
            .values(balance=Account.balance + amount)
            .returning(Account.balance)
        )
        if account.kind not in ("issuance", "clearing"):
            stmt = stmt.where(Account.balance + amount >= 0)
        if cap is not None and account.id == cap.account.id and amount > 0:
            # The backstop of the check above: never past the cap, whatever raced.
            stmt = stmt.where(Account.balance + amount <= cap.limit)
        new_balance = db.session.execute(stmt).scalar()
        if new_balance is None:
            if cap is not None and account.id == cap.account.id and amount > 0:
                raise StorageCapReached(_l("The account is at the storage cap."))
            raise InsufficientBalance(_l("Not enough banked hours for this."))
        set_committed_value(account, "balance", new_balance)
        planned.append((account.id, amount, new_balance))

    entry = JournalEntry(
        created_at=utcnow(),
        kind=kind,
        memo=memo,
        community_id=community_id,
        actor_id=actor.id if actor else None,
        reverses_id=reverses.id if reverses else None,
        idempotency_key=idempotency_key,
        prev_hash=head.last_hash,
    )
    entry.hash = entry_hash(entry, planned)
    db.session.add(entry)
    db.session.flush()
    db.session.add_all(
        Posting(entry_id=entry.id, account_id=account_id, amount=amount, balance_after=after)
        for account_id, amount, after in planned
    )
    head.last_entry_id = entry.id
    head.last_hash = entry.hash
    head.entry_count = head.entry_count + 1
    db.session.flush()
    return entry


def transfer(
    kind: str,
    source: Account,
    target: Account,
    minutes: int,
    *,
    idempotency_key: str,
    memo: str = "",
    community_id: int | None = None,
    actor: Member | None = None,
    cap: Cap | None = None,
) -> JournalEntry:
    if minutes <= 0:
        raise DomainError(_l("Minutes must be a positive whole number."))
    return post_entry(
        kind,
        [(source, -minutes), (target, minutes)],
        idempotency_key=idempotency_key,
        memo=memo,
        community_id=community_id,
        actor=actor,
        cap=cap,
    )


def reverse(entry: JournalEntry, *, reason: str, actor: Member | None) -> JournalEntry:
    """Undo `entry` with a new entry of opposite postings that names it and the reason."""
    reason = reason.strip()
    if not reason:
        raise DomainError(_l("Give a reason for the correction."), field="reason")
    if entry.kind == "reversal":
        raise DomainError(_l("A correction cannot itself be reversed; post a new entry."))
    already = db.session.scalars(
        select(JournalEntry).where(JournalEntry.reverses_id == entry.id)
    ).first()
    if already is not None:
        raise DomainError(_l("This entry has already been reversed."))
    accounts = {
        a.id: a
        for a in db.session.scalars(
            select(Account).where(Account.id.in_([p.account_id for p in entry.postings]))
        )
    }
    lines = [(accounts[p.account_id], -p.amount) for p in entry.postings]
    try:
        return post_entry(
            "reversal",
            lines,
            idempotency_key=f"reversal:{entry.id}",
            memo=reason,
            community_id=entry.community_id,
            actor=actor,
            reverses=entry,
        )
    except InsufficientBalance as exc:
        raise InsufficientBalance(
            _l("The member has already spent these hours; the entry cannot be reversed.")
        ) from exc


# --- verification ---------------------------------------------------------------------


@dataclass
class VerifyReport:
    entries: int = 0
    postings: int = 0
    accounts: int = 0
    total_minutes: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(batch: int = 5000) -> VerifyReport:
    """Recompute everything from postings: entry sums, hash chain, running and cached
    balances. Reads plain rows in id order, a batch at a time, so memory stays bounded
    (one integer per account) and the caller's session is left untouched."""
    report = VerifyReport()
    sums: dict[int, int] = {}
    expected_prev = GENESIS_HASH
    last_id = 0
    entry_columns = (
        JournalEntry.id,
        JournalEntry.created_at,
        JournalEntry.kind,
        JournalEntry.memo,
        JournalEntry.community_id,
        JournalEntry.actor_id,
        JournalEntry.reverses_id,
        JournalEntry.idempotency_key,
        JournalEntry.prev_hash,
        JournalEntry.hash,
    )
    while True:
        entries = db.session.execute(
            select(*entry_columns)
            .where(JournalEntry.id > last_id)
            .order_by(JournalEntry.id)
            .limit(batch)
        ).all()
        if not entries:
            break
        by_entry: dict[int, list] = {}
        for p in db.session.execute(
            select(
                Posting.id,
                Posting.entry_id,
                Posting.account_id,
                Posting.amount,
                Posting.balance_after,
            )
            .where(Posting.entry_id > last_id, Posting.entry_id <= entries[-1].id)
            .order_by(Posting.id)
        ):
            by_entry.setdefault(p.entry_id, []).append(p)
        for entry in entries:
            report.entries += 1
            postings = by_entry.get(entry.id, [])
            report.postings += len(postings)
            lines = []
            for p in postings:
                running = sums.get(p.account_id, 0) + p.amount
                sums[p.account_id] = running
                if running != p.balance_after:
                    report.problems.append(
                        f"entry {entry.id}: posting {p.id} (account {p.account_id}) says "
                        f"balance {p.balance_after} but postings sum to {running}"
                    )
                lines.append((p.account_id, p.amount, p.balance_after))
            if len(postings) < 2:
                report.problems.append(f"entry {entry.id}: fewer than two postings")
            total = sum(p.amount for p in postings)
            if total != 0:
                report.problems.append(f"entry {entry.id}: postings sum to {total}, not 0")
            if entry.prev_hash != expected_prev:
                report.problems.append(
                    f"entry {entry.id}: hash chain broken (previous hash does not match)"
                )
            if entry_hash(entry, lines) != entry.hash:  # type: ignore[arg-type]
                report.problems.append(
                    f"entry {entry.id}: content does not match its hash (edited?)"
                )
            expected_prev = entry.hash
        last_id = entries[-1].id

    head = db.session.execute(
        select(LedgerHead.last_hash, LedgerHead.entry_count).where(LedgerHead.id == HEAD_ID)
    ).first()
    if head is not None and (head.last_hash != expected_prev or head.entry_count != report.entries):
        report.problems.append(
            f"ledger head: expects {head.entry_count} entries ending in {head.last_hash[:12]}…, "
            f"found {report.entries} ending in {expected_prev[:12]}… (entries removed?)"
        )
    clearing_total = 0
    for account in db.session.execute(
        select(Account.id, Account.code, Account.kind, Account.balance).order_by(Account.id)
    ):
        report.accounts += 1
        if account.kind == "clearing":
            clearing_total += sums.get(account.id, 0)
        from_postings = sums.get(account.id, 0)
        if account.balance != from_postings:
            report.problems.append(
                f"account {account.id} ({account.code}): cached balance {account.balance}, "
                f"postings sum to {from_postings}"
            )
        if account.kind == "member" and from_postings < 0:
            report.problems.append(f"account {account.id} ({account.code}): negative balance")
    if clearing_total != 0:
        # What one community owes the others is what the others are owed (通存通兑).
        report.problems.append(f"clearing accounts sum to {clearing_total}, not 0")
    report.total_minutes = sum(sums.values())
    if report.total_minutes != 0:
        report.problems.append(f"all accounts sum to {report.total_minutes}, not 0")
    return report
