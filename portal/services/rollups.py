"""The monthly rollup of approved service (`monthly_hours`), kept exact in the same
transaction as the change that moves it.

What it sums: every hour log with status "approved", by community, month of the service
date, team, service, the volunteer's party mark and grid — with the member's *current* mark
and grid, so the figures equal what a query over the raw rows says today.

How it stays exact: hour logs become approved (hours.credit, requests confirmed, kiosk,
activities, call-ups, corrections' replacements) and stop being approved (corrections) in
several services, and a member's party mark and grid change in grids.py. Rather than trust
every one of them (and every future one) to call in, the session's flush does: before each
flush the changed hour logs and members are read from the unit of work (old values from the
attribute history, new ones from the objects), and after the flush — still inside the
transaction, on the same connection — the differences are added to the rollup rows with
an atomic upsert (`minutes = minutes + delta`), in key order so concurrent writers lock rows
in the same order. A rollback undoes the rollup with the change. Bulk `UPDATE hour_logs`
statements would bypass it: there are none, and `flask reports check-rollups` would see one.

The same hook keeps `member_last_served` (each volunteer's latest day of approved service
per team): a log becoming approved moves the day on (`max`), a log that stops being
approved (reversed, moved or deleted) recomputes its member's days from their logs.

`rebuild()` recomputes the tables from the raw rows; `check()` compares the two.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, cast, delete, event, func, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, attributes

from portal.extensions import db
from portal.models import (
    Account,
    HourLog,
    JournalEntry,
    Member,
    MonthlyBalance,
    MonthlyHours,
    Posting,
)
from portal.models.rollups import NO_GRID, MemberLastServed

# (community_id, month, team_id, service_id, party, grid_id)
Key = tuple[int, date, int, int, bool, int]
LOG_COLUMNS = ("community_id", "team_id", "service_id", "service_date", "member_id", "minutes")
LOG_FIELDS = ("status", *LOG_COLUMNS)
MEMBER_FIELDS = ("party_member", "grid_id", "birth_year")
_PENDING = "rollups.pending"


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def month_start(column: Any) -> ColumnElement[date]:
    """The first day of the month of a date column, in the database's own dialect."""
    if db.engine.dialect.name == "postgresql":
        return cast(func.date_trunc("month", column), db.Date)
    return func.date(column, "start of month")


# --- keeping it exact -------------------------------------------------------------------


@dataclass
class _Pending:
    # (account id, amount, entry id) of each new posting
    postings: list[tuple[int, int, int]] = field(default_factory=list)
    # account id → (community, birth year) before this flush, for accounts that moved
    accounts_before: dict[int, tuple[int, int]] = field(default_factory=dict)
    # (sign, community, team, service, service_date, member, minutes) per changed log
    logs: list[tuple[int, int, int, int, date, int, int]] = field(default_factory=list)
    # member id → (party, grid_id) before this flush, for members whose mark or grid moved
    members_before: dict[int, tuple[bool, int]] = field(default_factory=dict)


def _changed(obj: Any, names: tuple[str, ...]) -> bool:
    return any(attributes.get_history(obj, n).has_changes() for n in names)


_UNKNOWN: Any = object()


def _flushed_state(obj: HourLog) -> Any:
    """The log as the database has it (what the rollup counts), from the attribute history:
    None when it was not approved, _UNKNOWN when an attribute was set without being loaded."""
    old = {}
    for name in LOG_FIELDS:
        history = attributes.get_history(obj, name, passive=attributes.PASSIVE_NO_INITIALIZE)
        if history.deleted:
            old[name] = history.deleted[0]
        elif history.unchanged:
            old[name] = history.unchanged[0]
        elif history.added:
            return _UNKNOWN
        else:
            old[name] = getattr(obj, name)  # unloaded and unchanged: load it
    if old["status"] != "approved":
        return None
    return tuple(old[name] for name in LOG_COLUMNS)


def _loaded(session: Session, model: Any, ident: int, names: tuple[str, ...]) -> Any:
    """The attributes of an object already in the session, without SQL; None if absent
    or any of them is not loaded."""
    obj = session.identity_map.get(session.identity_key(model, ident))  # type: ignore[arg-type]
    if obj is None or any(name not in obj.__dict__ for name in names):
        return None
    return tuple(getattr(obj, name) for name in names)


def _new_state(obj: HourLog) -> tuple[int, int, int, date, int, int] | None:
    if obj.status != "approved":
        return None
    return (
        obj.community_id,
        obj.team_id,
        obj.service_id,
        obj.service_date,
        obj.member_id,
        obj.minutes,
    )


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    """Note what this flush changes. Old values come from the database (what the rollup
    already counts), not the attribute history, which lacks them for attributes set
    without being loaded."""
    pending: _Pending | None = session.info.get(_PENDING)
    changed_logs: list[HourLog] = []
    changed_members: list[Member] = []
    new_postings: list[Posting] = []
    moved_accounts: list[int] = []
    for obj in session.new:
        if isinstance(obj, HourLog) and obj.status == "approved":
            changed_logs.append(obj)
        elif isinstance(obj, Posting):
            new_postings.append(obj)
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, HourLog) and (obj in session.deleted or _changed(obj, LOG_FIELDS)):
            changed_logs.append(obj)
        elif isinstance(obj, Member) and (obj in session.deleted or _changed(obj, MEMBER_FIELDS)):
            changed_members.append(obj)
        elif isinstance(obj, Account) and _changed(obj, ("community_id", "member_id")):
            moved_accounts.append(obj.id)
    if not (changed_logs or changed_members or new_postings or moved_accounts):
        return
    pending = pending or session.info.setdefault(_PENDING, _Pending())
    pending.postings.extend((p.account_id, p.amount, p.entry_id) for p in new_postings)
    member_ids = [m.id for m in changed_members]
    owners = select(Account.id, Account.community_id, Member.birth_year).join(
        Member, Member.id == Account.member_id
    )
    if moved_accounts or member_ids:
        for aid, community, born in session.execute(
            owners.where(or_(Account.id.in_(moved_accounts), Member.id.in_(member_ids)))
        ):
            pending.accounts_before.setdefault(aid, (community, born))
    was: dict[int, tuple[int, int, int, date, int, int]] = {}
    old_ids = []
    for obj in changed_logs:
        if obj.id is None or obj in session.new:
            continue
        known = _flushed_state(obj)
        if known is _UNKNOWN:
            old_ids.append(obj.id)  # set without being loaded: ask the database
        elif known is not None:
            was[obj.id] = known
    if old_ids:
        for row in session.execute(
            select(HourLog.id, *(getattr(HourLog, n) for n in LOG_COLUMNS)).where(
                HourLog.id.in_(old_ids), HourLog.status == "approved"
            )
        ):
            service_date = row[4] if isinstance(row[4], date) else date.fromisoformat(row[4])
            was[row[0]] = (row[1], row[2], row[3], service_date, row[5], row[6])
    for obj in changed_logs:
        before = was.get(obj.id) if obj.id is not None else None
        after = None if obj in session.deleted else _new_state(obj)
        if before == after:
            continue
        if before is not None:
            pending.logs.append((-1, *before))
        if after is not None:
            pending.logs.append((1, *after))
    ids = [m.id for m in changed_members if m.id not in pending.members_before]
    if ids:
        for mid, party, grid in session.execute(
            select(Member.id, Member.party_member, Member.grid_id).where(Member.id.in_(ids))
        ):
            pending.members_before[mid] = (bool(party), grid or NO_GRID)


def _after_flush(session: Session, _context: Any) -> None:
    pending: _Pending | None = session.info.pop(_PENDING, None)
    if pending is None:
        return
    conn = session.connection()
    deltas: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    # 1. The logs that changed, with their volunteers' mark and grid as they were before
    #    this flush (step 2 moves the member's logs on if those changed too).
    member_ids = set()
    attrs: dict[int, tuple[bool, int]] = {}
    for row in pending.logs:
        loaded = _loaded(session, Member, row[5], ("party_member", "grid_id"))
        if loaded is None:
            member_ids.add(row[5])
        else:
            attrs[row[5]] = (bool(loaded[0]), loaded[1] or NO_GRID)
    if member_ids:
        for mid, party, grid in conn.execute(
            select(Member.id, Member.party_member, Member.grid_id).where(Member.id.in_(member_ids))
        ):
            attrs[mid] = (bool(party), grid or NO_GRID)
    attrs.update(pending.members_before)
    for sign, community, team, service, day, member, minutes in pending.logs:
        party, grid = attrs[member]
        d = deltas[(community, first_of_month(day), team, service, party, grid)]
        d[0] += sign * minutes
        d[1] += sign
    # 2. Members whose party mark or grid changed: their approved logs (as now flushed)
    #    move from the old key to the new.
    if pending.members_before:
        now_attrs = {
            mid: (bool(party), grid or NO_GRID)
            for mid, party, grid in conn.execute(
                select(Member.id, Member.party_member, Member.grid_id).where(
                    Member.id.in_(pending.members_before)
                )
            )
        }
        moving = {m: a for m, a in pending.members_before.items() if now_attrs.get(m) != a}
        if moving:
            rows = conn.execute(
                select(
                    HourLog.member_id,
                    HourLog.community_id,
                    HourLog.team_id,
                    HourLog.service_id,
                    HourLog.service_date,
                    HourLog.minutes,
                ).where(HourLog.member_id.in_(moving), HourLog.status == "approved")
            )
            for member, community, team, service, day, minutes in rows:
                for sign, (party, grid) in ((-1, moving[member]), (1, now_attrs[member])):
                    d = deltas[(community, first_of_month(day), team, service, party, grid)]
                    d[0] += sign * minutes
                    d[1] += sign
    _apply(conn, deltas)
    _apply_last_served(conn, pending)
    _apply_balances(session, conn, pending)


def _apply_last_served(conn: Any, pending: _Pending) -> None:
    """`member_last_served` after this flush's logs: an approval can only move a member's
    latest day on (one upsert keeping the later day); a log that stopped being approved may
    have been the latest, so those members' rows are recomputed from their logs (as now
    flushed: they are few, and read by the member's index)."""
    recompute = {row[5] for row in pending.logs if row[0] < 0}
    later: dict[tuple[int, int, int], date] = {}
    for sign, community, team, _service, day, member, _minutes in pending.logs:
        if sign > 0 and member not in recompute:
            key = (member, team, community)
            later[key] = max(day, later.get(key, day))
    table = MemberLastServed.__table__
    if recompute:
        conn.execute(delete(table).where(table.c.member_id.in_(sorted(recompute))))
        conn.execute(
            table.insert().from_select(
                ["member_id", "team_id", "community_id", "service_date"],
                _last_served_from_raw().where(HourLog.member_id.in_(sorted(recompute))),
            )
        )
    if later:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(table).values(
            [
                {"member_id": m, "team_id": t, "community_id": c, "service_date": d}
                for (m, t, c), d in sorted(later.items())
            ]
        )
        later_day = func.greatest if conn.dialect.name == "postgresql" else func.max
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["member_id", "team_id"],
                set_={"service_date": later_day(table.c.service_date, stmt.excluded.service_date)},
            )
        )


def _delta_rows(
    deltas: Mapping[tuple[Any, ...], list[int]], keys: tuple[str, ...], values: tuple[str, ...]
) -> list[dict[str, Any]]:
    """A rollup's changes as rows to upsert, in key order (the lock order), without the
    keys whose changes cancelled out."""
    return [
        dict(zip(keys + values, (*key, *delta), strict=True))
        for key, delta in sorted(deltas.items())
        if any(delta)
    ]


def _apply(conn: Any, deltas: dict[Key, list[int]]) -> None:
    rows = _delta_rows(
        deltas,
        ("community_id", "month", "team_id", "service_id", "party", "grid_id"),
        ("minutes", "logs"),
    )
    if not rows:
        return
    table = MonthlyHours.__table__
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    key = [c.name for c in table.primary_key.columns]
    for row in rows:  # one statement each, in key order (lock order)
        if row["minutes"] < 0 or row["logs"] < 0:
            # Taking away what a row already counts: the row exists (an INSERT … ON
            # CONFLICT would first test the negative candidate row against the CHECK).
            where = [table.c[name] == row[name] for name in key]
            conn.execute(
                table.update()
                .where(*where)
                .values(minutes=table.c.minutes + row["minutes"], logs=table.c.logs + row["logs"])
            )
            continue
        stmt = dialect.insert(table).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=key,
            set_={
                "minutes": table.c.minutes + stmt.excluded.minutes,
                "logs": table.c.logs + stmt.excluded.logs,
            },
        )
        conn.execute(stmt)


def _apply_balances(session: Session, conn: Any, pending: _Pending) -> None:
    """New postings to member accounts, and accounts whose owner's birth year or whose
    community changed, into `monthly_balances` (net minutes may go below zero)."""
    deltas: dict[tuple[int, int, date], list[int]] = defaultdict(lambda: [0, 0])
    owners = select(Account.id, Account.community_id, Member.birth_year).join(
        Member, Member.id == Account.member_id
    )
    if pending.postings:
        # The accounts, owners and entries are nearly always in the session already.
        owner: dict[int, tuple[int, int]] = {}
        unknown: set[int] = set()
        for aid in {p[0] for p in pending.postings}:
            account = _loaded(session, Account, aid, ("kind", "community_id", "member_id"))
            if account is None:
                unknown.add(aid)
            elif account[0] == "member":
                born = _loaded(session, Member, account[2], ("birth_year",))
                if born is None:
                    unknown.add(aid)
                else:
                    owner[aid] = (account[1], born[0])
        if unknown:
            owner.update(
                (aid, (community, born))
                for aid, community, born in conn.execute(owners.where(Account.id.in_(unknown)))
            )
        owner.update({a: o for a, o in pending.accounts_before.items() if a in owner})
        months: dict[int, date] = {}
        for eid in {p[2] for p in pending.postings}:
            at = _loaded(session, JournalEntry, eid, ("created_at",))
            if at is not None:
                months[eid] = first_of_month(at[0].date())
        missing = {p[2] for p in pending.postings} - months.keys()
        if missing:
            for eid, at in conn.execute(
                select(JournalEntry.id, JournalEntry.created_at).where(JournalEntry.id.in_(missing))
            ):
                day = at.date() if isinstance(at, datetime) else _dt(at).date()
                months[eid] = first_of_month(day)
        for account, amount, entry in pending.postings:
            if account in owner:  # a member's account
                community, born = owner[account]
                d = deltas[(community, born, months[entry])]
                d[0] += amount
                d[1] += 1
    if pending.accounts_before:
        now = {
            aid: (community, born)
            for aid, community, born in conn.execute(
                owners.where(Account.id.in_(pending.accounts_before))
            )
        }
        moving = {a: o for a, o in pending.accounts_before.items() if now.get(a, o) != o}
        if moving:
            month = month_start(JournalEntry.created_at)
            for account, m, minutes, count in conn.execute(
                select(Posting.account_id, month, func.sum(Posting.amount), func.count())
                .join(JournalEntry, JournalEntry.id == Posting.entry_id)
                .where(Posting.account_id.in_(moving))
                .group_by(Posting.account_id, month)
            ):
                first = m if isinstance(m, date) else date.fromisoformat(m)
                for sign, (community, born) in ((-1, moving[account]), (1, now[account])):
                    d = deltas[(community, born, first)]
                    d[0] += sign * int(minutes)
                    d[1] += sign * int(count)
    rows = _delta_rows(deltas, ("community_id", "birth_year", "month"), ("minutes", "postings"))
    table = MonthlyBalance.__table__
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    for row in rows:
        stmt = dialect.insert(table).values(**row)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[c.name for c in table.primary_key.columns],
                set_={
                    "minutes": table.c.minutes + stmt.excluded.minutes,
                    "postings": table.c.postings + stmt.excluded.postings,
                },
            )
        )


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def init_app(_app: object) -> None:
    """Listen on every ORM session (once per process)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "after_soft_rollback", lambda s, _t: _after_rollback(s))


# --- rebuilding and checking ------------------------------------------------------------


def _from_raw() -> Any:
    month = month_start(HourLog.service_date)
    grid = func.coalesce(Member.grid_id, NO_GRID)
    return (
        select(
            HourLog.community_id,
            month.label("month"),
            HourLog.team_id,
            HourLog.service_id,
            Member.party_member,
            grid.label("grid_id"),
            func.sum(HourLog.minutes),
            func.count(HourLog.id),
        )
        .join(Member, Member.id == HourLog.member_id)
        .where(HourLog.status == "approved")
        .group_by(
            HourLog.community_id,
            month,
            HourLog.team_id,
            HourLog.service_id,
            Member.party_member,
            grid,
        )
    )


def _last_served_from_raw() -> Any:
    return (
        select(
            HourLog.member_id,
            HourLog.team_id,
            HourLog.community_id,
            func.max(HourLog.service_date),
        )
        .where(HourLog.status == "approved")
        .group_by(HourLog.member_id, HourLog.team_id, HourLog.community_id)
    )


def _lock() -> None:
    """Hold off writers while the table is rebuilt (SQLite's write lock already does)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("LOCK TABLE monthly_hours IN EXCLUSIVE MODE"))
        db.session.execute(text("LOCK TABLE monthly_balances IN EXCLUSIVE MODE"))
        db.session.execute(text("LOCK TABLE member_last_served IN EXCLUSIVE MODE"))


def rebuild() -> int:
    """Recompute the rollup from the raw rows in this transaction; returns its row count."""
    _lock()
    db.session.execute(delete(MonthlyHours))
    source = _from_raw()
    db.session.execute(
        MonthlyHours.__table__.insert().from_select(
            [
                "community_id",
                "month",
                "team_id",
                "service_id",
                "party",
                "grid_id",
                "minutes",
                "logs",
            ],
            source,
        )
    )
    db.session.execute(delete(MonthlyBalance))
    db.session.execute(
        MonthlyBalance.__table__.insert().from_select(
            ["community_id", "birth_year", "month", "minutes", "postings"], _balances_from_raw()
        )
    )
    db.session.execute(delete(MemberLastServed))
    db.session.execute(
        MemberLastServed.__table__.insert().from_select(
            ["member_id", "team_id", "community_id", "service_date"], _last_served_from_raw()
        )
    )
    return sum(
        int(db.session.scalar(select(func.count()).select_from(model)) or 0)
        for model in (MonthlyHours, MonthlyBalance, MemberLastServed)
    )


def _balances_from_raw() -> Any:
    month = month_start(JournalEntry.created_at)
    return (
        select(
            Account.community_id,
            Member.birth_year,
            month.label("month"),
            func.sum(Posting.amount),
            func.count(Posting.id),
        )
        .join(Account, Account.id == Posting.account_id)
        .join(Member, Member.id == Account.member_id)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .group_by(Account.community_id, Member.birth_year, month)
    )


def _as_key(row: Any) -> Key:
    month = row[1] if isinstance(row[1], date) else date.fromisoformat(row[1])
    return (int(row[0]), month, int(row[2]), int(row[3]), bool(row[4]), int(row[5]))


def check() -> list[str]:
    """The differences between the rollup and the raw rows (empty when they agree)."""
    raw = {_as_key(r): (int(r[6]), int(r[7])) for r in db.session.execute(_from_raw())}
    rolled = {
        _as_key(r): (int(r[6]), int(r[7]))
        for r in db.session.execute(
            select(
                MonthlyHours.community_id,
                MonthlyHours.month,
                MonthlyHours.team_id,
                MonthlyHours.service_id,
                MonthlyHours.party,
                MonthlyHours.grid_id,
                MonthlyHours.minutes,
                MonthlyHours.logs,
            ).where((MonthlyHours.minutes != 0) | (MonthlyHours.logs != 0))
        )
    }
    problems = []
    for key in sorted(raw.keys() | rolled.keys()):
        if raw.get(key, (0, 0)) != rolled.get(key, (0, 0)):
            community, month, team, service, party, grid = key
            problems.append(
                f"community {community} {month:%Y-%m} team {team} service {service} "
                f"party {party} grid {grid}: rollup {rolled.get(key, (0, 0))} "
                f"(minutes, logs), raw rows {raw.get(key, (0, 0))}"
            )
    raw_b = {
        (int(r[0]), int(r[1]), _as_date(r[2])): (int(r[3]), int(r[4]))
        for r in db.session.execute(_balances_from_raw())
    }
    rolled_b = {
        (r.community_id, r.birth_year, _as_date(r.month)): (r.minutes, r.postings)
        for r in db.session.execute(
            select(
                MonthlyBalance.community_id,
                MonthlyBalance.birth_year,
                MonthlyBalance.month,
                MonthlyBalance.minutes,
                MonthlyBalance.postings,
            ).where((MonthlyBalance.minutes != 0) | (MonthlyBalance.postings != 0))
        )
    }
    for key in sorted(raw_b.keys() | rolled_b.keys()):
        if raw_b.get(key, (0, 0)) != rolled_b.get(key, (0, 0)):
            community, born, month = key
            problems.append(
                f"balances: community {community} born {born} {month:%Y-%m}: rollup "
                f"{rolled_b.get(key, (0, 0))} (minutes, postings), raw rows "
                f"{raw_b.get(key, (0, 0))}"
            )
    raw_l = {
        (int(m), int(t), int(c)): _as_date(d)
        for m, t, c, d in db.session.execute(_last_served_from_raw())
    }
    rolled_l = {
        (int(m), int(t), int(c)): _as_date(d)
        for m, t, c, d in db.session.execute(
            select(
                MemberLastServed.member_id,
                MemberLastServed.team_id,
                MemberLastServed.community_id,
                MemberLastServed.service_date,
            )
        )
    }
    for key in sorted(raw_l.keys() | rolled_l.keys()):
        if raw_l.get(key) != rolled_l.get(key):
            member, team, community = key
            problems.append(
                f"last served: member {member} team {team} community {community}: rollup "
                f"{rolled_l.get(key)}, raw rows {raw_l.get(key)}"
            )
    return problems


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(value)
