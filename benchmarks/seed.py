"""Load a city-scale data set on top of the demo data, for the page benchmarks.

    DATABASE_URL=sqlite:////tmp/bench.sqlite3 .venv/bin/python benchmarks/seed.py \
        --members 50000 --entries 1000000

Adds N members spread over the demo communities and some new ones, their teams and
memberships, and M ledger entries ('hours' entries, each with the approved HourLog that
caused it, plus a share of family gifts), written the way `ledger.post_entry` would write
them: the hash chain continues from `ledger_head`, every posting carries the account's
running balance, the cached account balances and `ledger_head` are updated, so
`flask ledger verify` passes afterwards.

The demo volunteer 13800000002 gets `--volunteer-entries` (10,000) of the entries, and the
demo coordinator 13800000001 gets `--queue` (2,000) pending logs in the two teams he
coordinates, whatever N and M are, so the per-member pages see the same member at every
size and only the rest of the city grows.

Everything is written in one transaction (a crash leaves nothing half-loaded), by
SQLAlchemy Core executemany on SQLite and by COPY (psycopg 3) on PostgreSQL, in batches.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, inspect, select, text  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import (  # noqa: E402
    Account,
    Community,
    HourLog,
    JournalEntry,
    LedgerHead,
    Member,
    Posting,
    Service,
    Team,
    TeamMembership,
)
from portal.models._time import utcnow  # noqa: E402
from portal.services import rollups  # noqa: E402
from portal.services.ledger import HEAD_ID, entry_hash  # noqa: E402

DEMO_COORDINATOR = "13800000001"
DEMO_VOLUNTEER = "13800000002"

COMMUNITY_PREFIXES = (  # noqa: SIM905
    "阳光 花园 和谐 春晖 锦绣 翠竹 长青 东湖 西城 南苑 北岸 新华 复兴 朝阳 光明 团结 友谊 "
    "安康 康乐 丰收 金桥 银杏 枫林 梧桐 荷塘 湖滨 江畔 山水 龙泉 桃源 青松 紫荆 玉兰 海棠"
).split()
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
)
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红梅建国志文德福寿康宁安兴荣"
MINUTES = (30, 45, 60, 60, 90, 120, 180)
VOLUNTEER_MINUTES = (30, 45, 60, 60, 90)  # ≤ 10 logs a day stay well under 24 h
NOTES = ("", "", "", "陪老人聊天", "送餐到家", "陪同去医院复查", "帮忙打扫", "社区巡逻")
REJECT_REASONS = ("时长与签到记录不符", "重复提交", "信息不完整")

QUEUE = "pending in the coordinator's queue"
# Newer schemas let the person served confirm a log (hour_logs.beneficiary_confirmed_at).
HAS_CONFIRMATION = "beneficiary_confirmed_at" in HourLog.__table__.c
SPAN = timedelta(days=3 * 365)  # the seeded history covers the last three years


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--members", type=int, required=True, help="members to add (N)")
    p.add_argument("--entries", type=int, required=True, help="ledger entries to add (M)")
    p.add_argument("--communities", type=int, default=20, help="new communities (default 20)")
    p.add_argument(
        "--volunteer-entries",
        type=int,
        default=10_000,
        help="of the M entries, how many are the demo volunteer's (default 10000)",
    )
    p.add_argument(
        "--queue",
        type=int,
        default=2_000,
        help="pending logs in the demo coordinator's teams (default 2000; each pages.py "
        "run approves 210 of them)",
    )
    p.add_argument(
        "--beneficiary-share",
        type=float,
        default=0.3,
        help="share of logs naming the person served, a member (0.3); most self-reported "
        "ones approved are confirmed by them",
    )
    p.add_argument("--gift-share", type=float, default=0.05, help="share of gifts (0.05)")
    p.add_argument(
        "--pending-share",
        type=float,
        default=0.01,
        help="pending logs elsewhere in the city, as a share of M (0.01)",
    )
    p.add_argument(
        "--rejected-share", type=float, default=0.01, help="rejected logs, share of M (0.01)"
    )
    p.add_argument(
        "--pg-fk-checks",
        choices=("after", "per-row"),
        default="after",
        help="PostgreSQL: check foreign keys in bulk after the load (default; needs a "
        "superuser, else per-row) or per row by the usual triggers",
    )
    p.add_argument("--batch", type=int, default=10_000, help="entries per insert batch")
    p.add_argument("--seed", type=int, default=20240601, help="random seed")
    return p.parse_args()


# --- writing ---------------------------------------------------------------------------


class Writer:
    """Bulk inserts on one connection, inside one transaction.

    SQLite: SQLAlchemy Core `insert()` with a list of parameter sets (executemany).
    PostgreSQL: COPY … FROM STDIN through psycopg 3's `cursor.copy`.
    """

    def __init__(self, conn) -> None:  # type: ignore[no-untyped-def]
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"
        self.rows: dict[str, int] = defaultdict(int)

    def insert(self, table, rows: list[dict]) -> None:  # type: ignore[no-untyped-def]
        if not rows:
            return
        self.rows[table.name] += len(rows)
        if not self.pg:
            self.conn.execute(table.insert(), rows)
            return
        columns = list(rows[0])
        raw = self.conn.connection.driver_connection
        sql = f'COPY "{table.name}" ({", ".join(columns)}) FROM STDIN'
        with raw.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(tuple(row[c] for c in columns))


# --- the load --------------------------------------------------------------------------


def ensure_schema_and_demo(app) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        if "journal_entries" not in inspect(db.engine).get_table_names():
            from flask_migrate import upgrade

            print("no schema: running the migrations (flask db upgrade)")
            upgrade()
        if db.session.scalar(select(Member.id).limit(1)) is None:
            from portal.demo import load_demo

            print("empty database: loading the demo data (flask demo load)")
            print("  " + load_demo())
            db.session.commit()
        db.session.commit()  # end the read (a BEGIN IMMEDIATE on SQLite) before DDL
        ensure_model_indexes()
        for phone in (DEMO_COORDINATOR, DEMO_VOLUNTEER):
            if db.session.scalar(select(Member.id).where(Member.phone == phone)) is None:
                sys.exit(f"the demo member {phone} is missing: this is not a demo database")
        db.session.remove()


def ensure_model_indexes() -> None:
    """Create any index the models declare that the migrations have not made yet (an index
    proposed for a slow page, before its migration is written). Prints what it creates."""
    inspector = inspect(db.engine)
    for table in db.metadata.sorted_tables:
        if table.name not in inspector.get_table_names():
            continue
        # By columns, not by name: PostgreSQL shortens names over 63 characters.
        present = {tuple(ix["column_names"]) for ix in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if tuple(c.name for c in index.columns) not in present:
                print(f"creating index {index.name} (in the models, not yet in a migration)")
                index.create(db.engine)


def next_id(conn, model) -> int:  # type: ignore[no-untyped-def]
    return (conn.execute(select(func.max(model.id))).scalar() or 0) + 1


def seed(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    app = create_app()
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    print(f"database: {url}")
    ensure_schema_and_demo(app)
    t0 = time.perf_counter()

    with app.app_context():
        engine = db.engine
        with engine.connect() as conn, conn.begin():
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MiB for the load
            deferred_fks = engine.dialect.name == "postgresql" and args.pg_fk_checks == "after"
            if deferred_fks:
                if conn.execute(text("SELECT current_setting('is_superuser')")).scalar() == "on":
                    # No per-row foreign-key triggers during COPY: they are most of the time
                    # PostgreSQL spends. Every foreign key is checked in bulk before commit.
                    conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
                else:
                    deferred_fks = False
            w = Writer(conn)
            summary = load(conn, w, rng, args)
            finish(conn, w)
            if deferred_fks:
                conn.exec_driver_sql("SET LOCAL session_replication_role = DEFAULT")
                check_foreign_keys(conn, w)
        load_time = time.perf_counter() - t0
        # The bulk load wrote rows past the ORM, so the report rollups (monthly_hours,
        # monthly_balances) did not follow: recompute them from the raw rows.
        t_rollups = time.perf_counter()
        rollup_rows = rollups.rebuild()
        db.session.commit()
        print(
            f"report rollups rebuilt: {rollup_rows:,} rows in "
            f"{time.perf_counter() - t_rollups:.1f} s"
        )
        if engine.dialect.name == "sqlite":
            raw = engine.raw_connection()  # outside any transaction (no BEGIN IMMEDIATE)
            try:
                raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                raw.close()
            path = Path(engine.url.database or "")
            size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        else:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
                size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
    total = time.perf_counter() - t0

    print(summary)
    print("rows inserted: " + ", ".join(f"{k} {v:,}" for k, v in w.rows.items()))
    print(
        f"load (one transaction): {load_time:.1f} s; with checkpoint/VACUUM ANALYZE: {total:.1f} s"
    )
    print(f"database size: {size / 2**20:,.0f} MiB")


def load(conn, w: Writer, rng: random.Random, args: argparse.Namespace) -> str:  # type: ignore[no-untyped-def]
    now = utcnow()
    pw_hash = conn.execute(
        select(Member.password_hash).where(Member.phone == DEMO_VOLUNTEER)
    ).scalar_one()
    coordinator_id = conn.execute(
        select(Member.id).where(Member.phone == DEMO_COORDINATOR)
    ).scalar_one()
    volunteer_id = conn.execute(
        select(Member.id).where(Member.phone == DEMO_VOLUNTEER)
    ).scalar_one()
    queue_team_ids = sorted(
        conn.execute(
            select(TeamMembership.team_id).where(
                TeamMembership.member_id == coordinator_id,
                TeamMembership.role == "coordinator",
                TeamMembership.status == "active",
            )
        ).scalars()
    )
    if not queue_team_ids:
        sys.exit("the demo coordinator coordinates no team")
    home_id = conn.execute(select(Team.community_id).where(Team.id == queue_team_ids[0])).scalar()

    # --- communities, their catalogue, teams, issuance and escrow accounts -------------
    from portal.demo import SERVICES, TEAMS

    existing_names = set(conn.execute(select(Community.name)).scalars())
    community_id = next_id(conn, Community)
    new_communities = []
    for n in range(args.communities):
        prefix = COMMUNITY_PREFIXES[n % len(COMMUNITY_PREFIXES)]
        name, k = f"{prefix}社区", 2
        while name in existing_names:
            name, k = f"{prefix}{k}社区", k + 1
        existing_names.add(name)
        new_communities.append(
            {
                "id": community_id,
                "name": name,
                "name_en": f"Community {community_id}",
                "log_window_days": 30,
                "redemption_min_age": 60,
                "gift_yearly_cap_minutes": None,
                "created_at": now - SPAN - timedelta(days=30),
            }
        )
        community_id += 1
    w.insert(Community.__table__, new_communities)

    service_id, team_id = next_id(conn, Service), next_id(conn, Team)
    services, teams = [], []
    for c in new_communities:
        for s_name, s_en, category, minutes in SERVICES:
            services.append(
                {
                    "id": service_id,
                    "community_id": c["id"],
                    "name": s_name,
                    "name_en": s_en,
                    "category": category,
                    "description": "",
                    "typical_minutes": minutes,
                    "redeemable": True,
                    "active": True,
                }
            )
            service_id += 1
        for t_name, category in TEAMS:
            teams.append(
                {
                    "id": team_id,
                    "community_id": c["id"],
                    "name": t_name,
                    "category": category,
                    "description": "",
                    "kiosk_auto_approve": False,
                    "archived": False,
                    "created_at": c["created_at"],
                }
            )
            team_id += 1
    w.insert(Service.__table__, services)
    w.insert(Team.__table__, teams)

    # (The rows just inserted are read back with the demo's, in the same transaction.)
    community_ids = sorted(conn.execute(select(Community.id)).scalars())
    services_of: dict[int, list[int]] = defaultdict(list)
    for sid, cid in conn.execute(select(Service.id, Service.community_id).order_by(Service.id)):
        services_of[cid].append(sid)
    teams_of: dict[int, list[int]] = defaultdict(list)
    team_community: dict[int, int] = {}
    for tid, cid in conn.execute(select(Team.id, Team.community_id).order_by(Team.id)):
        teams_of[cid].append(tid)
        team_community[tid] = cid

    # Accounts: the books continue from the cached balances (verify proves them right).
    balance: dict[int, int] = {}
    account_of_member: dict[int, int] = {}
    issuance_of: dict[int, int] = {}
    has_escrow: set[int] = set()
    for aid, kind, cid, mid, bal in conn.execute(
        select(Account.id, Account.kind, Account.community_id, Account.member_id, Account.balance)
    ):
        balance[aid] = bal
        if kind == "member":
            account_of_member[mid] = aid
        elif kind == "issuance":
            issuance_of[cid] = aid
        else:
            has_escrow.add(cid)
    account_id = next_id(conn, Account)
    accounts = []
    for cid in community_ids:
        if cid not in issuance_of:
            accounts.append(_account(account_id, f"issuance:{cid}", "issuance", cid, None))
            issuance_of[cid] = account_id
            balance[account_id] = 0
            account_id += 1
        if cid not in has_escrow:
            accounts.append(_account(account_id, f"escrow:{cid}", "escrow", cid, None))
            balance[account_id] = 0
            account_id += 1

    # --- members -------------------------------------------------------------------
    member_id = next_id(conn, Member)
    taken_nos = set(conn.execute(select(Member.member_no)).scalars())
    members, member_community = [], {}
    members_of: dict[int, list[int]] = defaultdict(list)
    # The home community (the demo coordinator's) gets a double share, so his teams are big.
    weights = [2 if cid == home_id else 1 for cid in community_ids]
    homes = rng.choices(community_ids, weights=weights, k=args.members)
    for i in range(args.members):
        mid = member_id + i
        cid = homes[i]
        # Eight digits, not sequential: a multiplicative permutation of the id.
        no = (mid * 7_919_773) % 90_000_000 + 10_000_000
        while str(no) in taken_nos:
            no = (no + 1) % 90_000_000 + 10_000_000
        taken_nos.add(str(no))
        birth_year = rng.randint(1938, 1998)
        members.append(
            {
                "id": mid,
                "name": rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2))),
                "phone": f"15{mid:09d}",
                "password_hash": pw_hash,
                "member_no": str(no),
                "pin_hash": None,
                "birth_year": birth_year,
                "community_id": cid,
                "locale": "en" if rng.random() < 0.03 else "zh_CN",
                "elder_mode": birth_year < 1950,
                "party_member": rng.random() < 0.1,
                "role": "member",
                "active": True,
                "session_version": 1,
                "created_at": now - SPAN - timedelta(days=rng.randint(1, 365)),
            }
        )
        member_community[mid] = cid
        members_of[cid].append(mid)
        accounts.append(_account(account_id, f"member:{mid}", "member", cid, mid))
        account_of_member[mid] = account_id
        balance[account_id] = 0
        account_id += 1
    for batch in _chunks(members, args.batch):
        w.insert(Member.__table__, batch)
    for batch in _chunks(accounts, args.batch):
        w.insert(Account.__table__, batch)

    # --- memberships: one or two teams in the home community; two coordinators a team ---
    existing_pairs = set(
        tuple(row) for row in conn.execute(select(TeamMembership.team_id, TeamMembership.member_id))
    )
    coordinators: dict[int, list[int]] = defaultdict(list)
    for tid, mid in conn.execute(
        select(TeamMembership.team_id, TeamMembership.member_id).where(
            TeamMembership.role == "coordinator", TeamMembership.status == "active"
        )
    ):
        coordinators[tid].append(mid)
    membership_id = next_id(conn, TeamMembership)
    memberships = []
    options_of: dict[int, list[tuple[int, int]]] = {}  # member → [(team, approver)]
    team_members: dict[int, list[int]] = defaultdict(list)
    for m in members:
        mid, cid = m["id"], m["community_id"]
        chosen = rng.sample(teams_of[cid], k=min(len(teams_of[cid]), rng.choice((1, 1, 2))))
        for tid in chosen:
            role = "member"
            if len(coordinators[tid]) < 2 and tid not in queue_team_ids:
                role = "coordinator"
                coordinators[tid].append(mid)
            memberships.append(
                {
                    "id": membership_id,
                    "team_id": tid,
                    "member_id": mid,
                    "role": role,
                    "status": "active",
                    "created_at": m["created_at"],
                }
            )
            existing_pairs.add((tid, mid))
            team_members[tid].append(mid)
            membership_id += 1
    for batch in _chunks(memberships, args.batch):
        w.insert(TeamMembership.__table__, batch)
    for m in members:
        mid = m["id"]
        opts = []
        for tid in teams_of[m["community_id"]]:
            if (tid, mid) not in existing_pairs:
                continue
            approver = next((c for c in coordinators[tid] if c != mid), None)
            if approver is not None:
                opts.append((tid, approver))
        if opts:
            options_of[mid] = opts
    workers = sorted(options_of)
    rng.shuffle(workers)
    workers = workers[: max(1, len(workers) // 2)]  # half the members do the volunteering
    if not workers:
        sys.exit("no member can log hours: add more members")

    # --- entries: hours (with their approved logs) and gifts, in chain order ----------
    head = conn.execute(select(LedgerHead).where(LedgerHead.id == HEAD_ID)).one()
    prev_hash, entry_count = head.last_hash, head.entry_count
    entry_id, posting_id, log_id = (
        next_id(conn, JournalEntry),
        next_id(conn, Posting),
        next_id(conn, HourLog),
    )
    first_entry_id = entry_id
    home_services = services_of[home_id]
    v_total = min(args.volunteer_entries, args.entries // 2)
    v_step = args.entries / v_total if v_total else 0
    next_v = 0.0
    v_done = 0
    start = now - SPAN
    step = (SPAN - timedelta(hours=1)) / max(args.entries, 1)
    counts = defaultdict(int)

    def pick_beneficiary(cid: int, member: int) -> int | None:
        """A share of the service is to a registered neighbour of the same community."""
        if rng.random() >= args.beneficiary_share or len(members_of[cid]) < 2:
            return None
        beneficiary = rng.choice(members_of[cid])
        return beneficiary if beneficiary != member else None

    e_rows: list[dict] = []
    p_rows: list[dict] = []
    l_rows: list[dict] = []

    def flush() -> None:
        w.insert(JournalEntry.__table__, e_rows)
        w.insert(Posting.__table__, p_rows)
        w.insert(HourLog.__table__, l_rows)
        e_rows.clear()
        p_rows.clear()
        l_rows.clear()

    for i in range(args.entries):
        created = start + step * i
        kind = "hours"
        if v_done < v_total and i >= next_v:  # the demo volunteer's share, evenly spread
            next_v += v_step
            v_done += 1
            member, team, approver = volunteer_id, rng.choice(queue_team_ids), coordinator_id
            service = rng.choice(home_services)
            minutes = rng.choice(VOLUNTEER_MINUTES)
        else:
            if rng.random() < args.gift_share:
                for _try in range(8):
                    giver = rng.choice(workers)
                    if balance[account_of_member[giver]] >= 30:
                        kind = "gift"
                        break
            if kind == "hours":
                member = rng.choice(workers)
                team, approver = rng.choice(options_of[member])
                service = rng.choice(services_of[team_community[team]])
                minutes = rng.choice(MINUTES)
        if kind == "hours":
            cid = team_community[team]
            source, target = issuance_of[cid], account_of_member[member]
            if rng.random() < args.rejected_share:  # a rejected claim now and then
                l_rows.append(
                    _log(
                        log_id,
                        member,
                        team,
                        service,
                        cid,
                        created,
                        minutes,
                        rng,
                        "rejected",
                        approver,
                        None,
                        beneficiary=pick_beneficiary(cid, member),
                    )
                )
                log_id += 1
                counts["rejected logs"] += 1
            l_rows.append(
                _log(
                    log_id,
                    member,
                    team,
                    service,
                    cid,
                    created,
                    minutes,
                    rng,
                    "approved",
                    approver,
                    entry_id,
                    beneficiary=pick_beneficiary(cid, member),
                )
            )
            # What approve_log passes to ledger.transfer.
            key = memo = f"hour_log:{log_id}"
            actor, community = approver, cid
            log_id += 1
        else:
            cid = member_community[giver]
            recipient = rng.choice(members_of[cid])
            while recipient == giver:
                recipient = rng.choice(members_of[cid])
            source, target = account_of_member[giver], account_of_member[recipient]
            minutes = min(balance[source], rng.choice((30, 60, 60, 120)))
            key, memo, actor, community = f"gift:seed-{entry_id}", "家人赠送", giver, cid
        counts[kind] += 1

        planned = []
        for aid, amount in sorted(((source, -minutes), (target, minutes))):
            balance[aid] += amount
            planned.append((aid, amount, balance[aid]))
        entry = SimpleNamespace(
            created_at=created,
            kind=kind,
            memo=memo,
            community_id=community,
            actor_id=actor,
            reverses_id=None,
            idempotency_key=key,
            prev_hash=prev_hash,
        )
        digest = entry_hash(entry, planned)  # the ledger's own function: same bytes
        e_rows.append(
            {
                "id": entry_id,
                "created_at": created,
                "kind": kind,
                "memo": memo,
                "community_id": community,
                "actor_id": actor,
                "reverses_id": None,
                "idempotency_key": key,
                "prev_hash": prev_hash,
                "hash": digest,
            }
        )
        for aid, amount, after in planned:
            p_rows.append(
                {
                    "id": posting_id,
                    "entry_id": entry_id,
                    "account_id": aid,
                    "amount": amount,
                    "balance_after": after,
                }
            )
            posting_id += 1
        prev_hash = digest
        entry_id += 1
        entry_count += 1
        if len(e_rows) >= args.batch:
            flush()
    flush()
    last_entry_id = entry_id - 1 if entry_id > first_entry_id else head.last_entry_id

    # --- pending logs: the coordinator's queue, and a little everywhere else -----------
    queue_members = sorted(
        {m for t in queue_team_ids for m in team_members[t]} - {coordinator_id}
    ) or [volunteer_id]
    pending = []
    n_city = int(args.entries * args.pending_share)
    city_workers = [m for m in workers if any(t not in queue_team_ids for t, _ in options_of[m])]
    total_pending = args.queue + n_city
    for k in range(total_pending):
        # Oldest first, the last ~20 days, in id order.
        created = now - timedelta(days=20) + (timedelta(days=20) * k) / max(total_pending, 1)
        in_queue = (k * args.queue) // total_pending != ((k + 1) * args.queue) // total_pending
        if in_queue:
            member = volunteer_id if k % 100 == 0 else rng.choice(queue_members)
            team = rng.choice(queue_team_ids)
            service = rng.choice(home_services)
        elif city_workers:
            member = rng.choice(city_workers)
            team = rng.choice([t for t, _ in options_of[member] if t not in queue_team_ids])
            service = rng.choice(services_of[team_community[team]])
        else:
            continue
        pending.append(
            _log(
                log_id,
                member,
                team,
                service,
                team_community[team],
                created,
                rng.choice(VOLUNTEER_MINUTES),
                rng,
                "pending",
                None,
                None,
                beneficiary=pick_beneficiary(team_community[team], member),
            )
        )
        counts[QUEUE if in_queue else "pending elsewhere"] += 1
        log_id += 1
    for batch in _chunks(pending, args.batch):
        w.insert(HourLog.__table__, batch)

    # --- cached balances and the chain head, as post_entry leaves them -----------------
    touched = [{"aid": aid, "bal": bal} for aid, bal in balance.items()]
    for batch in _chunks(touched, args.batch):
        conn.execute(
            Account.__table__.update()
            .where(Account.__table__.c.id == _bind("aid"))
            .values(balance=_bind("bal")),
            batch,
        )
    conn.execute(
        LedgerHead.__table__.update()
        .where(LedgerHead.__table__.c.id == HEAD_ID)
        .values(last_hash=prev_hash, entry_count=entry_count, last_entry_id=last_entry_id)
    )
    return (
        f"added {len(new_communities)} communities, {len(teams)} teams, {args.members:,} members "
        f"({len(memberships):,} memberships), {args.entries:,} entries "
        f"({counts['hours']:,} hours, {counts['gift']:,} gifts; {v_done:,} of them the demo "
        f"volunteer's), {counts['rejected logs']:,} rejected logs, "
        f"{counts[QUEUE]:,} pending logs in the demo coordinator's queue and "
        f"{counts['pending elsewhere']:,} elsewhere; "
        f"ledger head now {entry_count:,} entries"
    )


def check_foreign_keys(conn, w: Writer) -> None:  # type: ignore[no-untyped-def]
    """Every foreign key of every table loaded, checked by one anti-join each; any dangling
    reference aborts the load (the transaction rolls back)."""
    t0 = time.perf_counter()
    checked = 0
    for table in db.metadata.sorted_tables:
        if table.name not in w.rows:
            continue
        for fk in table.foreign_keys:
            child, parent = fk.parent, fk.column
            orphans = conn.execute(
                text(
                    f'SELECT count(*) FROM "{table.name}" c WHERE c."{child.name}" IS NOT NULL '
                    f'AND NOT EXISTS (SELECT 1 FROM "{parent.table.name}" p '
                    f'WHERE p."{parent.name}" = c."{child.name}")'
                )
            ).scalar()
            checked += 1
            if orphans:
                raise RuntimeError(f"{orphans} rows of {table.name}.{child.name} point nowhere")
    print(f"foreign keys checked in bulk: {checked}, all hold ({time.perf_counter() - t0:.1f} s)")


def finish(conn, w: Writer) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL: the ids were given explicitly, so move the sequences past them."""
    if not w.pg:
        return
    for table in (
        "communities",
        "services",
        "teams",
        "members",
        "accounts",
        "team_memberships",
        "journal_entries",
        "postings",
        "hour_logs",
    ):
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
        )


def _bind(name: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import bindparam

    return bindparam(name)


def _account(aid: int, code: str, kind: str, cid: int, mid: int | None) -> dict:
    return {
        "id": aid,
        "code": code,
        "kind": kind,
        "community_id": cid,
        "member_id": mid,
        "balance": 0,  # set to the final balance once every posting is written
    }


def _log(  # type: ignore[no-untyped-def]
    lid,
    member,
    team,
    service,
    cid,
    created,
    minutes,
    rng,
    status,
    approver,
    entry_id,
    beneficiary=None,
):
    logged = created - timedelta(hours=rng.randint(1, 48), minutes=rng.randint(0, 59))
    source = "kiosk" if rng.random() < 0.3 else "self"
    row = {
        "id": lid,
        "member_id": member,
        "team_id": team,
        "service_id": service,
        "community_id": cid,
        "service_date": (logged - timedelta(days=rng.randint(0, 3))).date(),
        "minutes": minutes,
        "note": rng.choice(NOTES),
        "beneficiary_id": beneficiary,
        "source": source,
        "status": status,
        "reject_reason": rng.choice(REJECT_REASONS) if status == "rejected" else "",
        "created_at": logged,
        "decided_at": created if status != "pending" else None,
        "decided_by_id": approver,
        "entry_id": entry_id,
    }
    if HAS_CONFIRMATION:
        # Most self-reported service to a registered person gets confirmed by them.
        confirmed = (
            beneficiary is not None
            and source == "self"
            and status == "approved"
            and rng.random() < 0.9
        )
        row["beneficiary_confirmed_at"] = logged + timedelta(minutes=30) if confirmed else None
        row["beneficiary_confirmed_by_id"] = beneficiary if confirmed else None
    return row


def _chunks(rows: list, size: int):  # type: ignore[no-untyped-def]
    for k in range(0, len(rows), size):
        yield rows[k : k + size]


if __name__ == "__main__":
    seed(parse_args())
