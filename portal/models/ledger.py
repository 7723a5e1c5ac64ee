"""Double-entry books in integer minutes. Written only by portal.services.ledger."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models._time import utcnow

# "pool": a community's public-welfare pool (公益池), fed by members' donated excess.
# "clearing": a community's position against the others (通存通兑). An entry that moves
# hours between communities posts to each one's clearing account so that every community's
# own postings still sum to zero; positive means the community owes the others, negative
# that it is owed. All clearing accounts together sum to zero.
ACCOUNT_KINDS = ("member", "issuance", "escrow", "pool", "clearing")
ENTRY_KINDS = (
    "hours",  # approved service: issuance → volunteer
    "redeem_hold",  # member → escrow when a paid request is posted
    "redeem_settle",  # escrow → provider (and remainder back) when confirmed
    "redeem_release",  # escrow → member when a paid request is cancelled
    "gift",  # member → linked family member
    "reversal",  # undoes an earlier entry, with a reason
)
GENESIS_HASH = "0" * 64


class Account(db.Model):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    # "member:<id>", "issuance:<community id>", "escrow:<community id>", "pool:<community id>",
    # "clearing:<community id>"
    code: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), unique=True)
    # Cached sum of this account's postings, kept in the posting's transaction.
    balance: Mapped[int] = mapped_column(default=0)

    __table_args__ = (
        CheckConstraint(
            "kind IN ('member', 'issuance', 'escrow', 'pool', 'clearing')", name="kind"
        ),
        # The backstop: whatever the code does, a member never owes time.
        CheckConstraint("kind <> 'member' OR balance >= 0", name="member_not_negative"),
        CheckConstraint("kind <> 'escrow' OR balance >= 0", name="escrow_not_negative"),
        CheckConstraint("kind <> 'pool' OR balance >= 0", name="pool_not_negative"),
        CheckConstraint("(kind = 'member') = (member_id IS NOT NULL)", name="member_link"),
    )


class JournalEntry(db.Model):
    __tablename__ = "journal_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(20))
    memo: Mapped[str] = mapped_column(Text, default="")
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    # A reversal names the entry it undoes; an entry is reversed at most once.
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    # What caused the entry ("hour_log:17", a form key…): the same cause never posts twice.
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    postings: Mapped[list[Posting]] = relationship(
        back_populates="entry", order_by="Posting.id", lazy="selectin"
    )

    __table_args__ = (
        CheckConstraint(
            "kind IN ('hours', 'redeem_hold', 'redeem_settle', 'redeem_release', 'gift', "
            "'reversal')",
            name="kind",
        ),
    )


class Posting(db.Model):
    __tablename__ = "postings"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    amount: Mapped[int]
    # The account's balance right after this posting: the statement's running balance.
    balance_after: Mapped[int]

    entry: Mapped[JournalEntry] = relationship(back_populates="postings")
    account: Mapped[Account] = relationship()

    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        # Statement pages walk an account's postings newest first, by keyset.
        Index(None, "account_id", "id"),
    )


class LedgerHead(db.Model):
    """The end of the hash chain. Locking this row serialises ledger writes."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_entry_id: Mapped[int | None]
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)
    entry_count: Mapped[int] = mapped_column(default=0)
