"""The monthly rollup of approved service stays equal to the raw hour logs through approvals,
corrections, reversals and members' party marks and grids moving, and can be rebuilt."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select, update

from portal.clock import today_local
from portal.extensions import db
from portal.models import (
    Grid,
    HourLog,
    Member,
    MemberLastServed,
    MonthlyBalance,
    MonthlyHours,
    TeamMembership,
)
from portal.services import corrections, grids, hours, ledger, report_scope, reports, rollups
from tests.support import World, log_hours
from tests.test_reports import dataset  # noqa: F401 - the shared generated dataset


def _raw() -> dict[tuple, tuple[int, int]]:
    """The rollup computed here, in Python, from every hour log and its member."""
    sums: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    members = {m.id: m for m in db.session.scalars(select(Member))}
    for log in db.session.scalars(select(HourLog)):
        if log.status != "approved":
            continue
        m = members[log.member_id]
        key = (
            log.community_id,
            log.service_date.replace(day=1),
            log.team_id,
            log.service_id,
            bool(m.party_member),
            m.grid_id or 0,
        )
        sums[key][0] += log.minutes
        sums[key][1] += 1
    return {k: (v[0], v[1]) for k, v in sums.items()}


def _rolled() -> dict[tuple, tuple[int, int]]:
    return {
        (r.community_id, r.month, r.team_id, r.service_id, r.party, r.grid_id): (r.minutes, r.logs)
        for r in db.session.scalars(select(MonthlyHours))
        if r.minutes or r.logs
    }


def _raw_last_served() -> dict[tuple[int, int, int], object]:
    """Each (member, team, community)'s latest approved service date, in Python."""
    last: dict[tuple[int, int, int], object] = {}
    for log in db.session.scalars(select(HourLog)):
        if log.status == "approved":
            key = (log.member_id, log.team_id, log.community_id)
            last[key] = max(log.service_date, last.get(key, log.service_date))
    return last


def _rolled_last_served() -> dict[tuple[int, int, int], object]:
    return {
        (r.member_id, r.team_id, r.community_id): r.service_date
        for r in db.session.scalars(select(MemberLastServed))
    }


def _assert_exact() -> None:
    db.session.commit()
    assert _rolled() == _raw()
    assert _rolled_last_served() == _raw_last_served()
    assert rollups.check() == []


def test_approvals_fill_the_rollup(dataset: World) -> None:  # noqa: F811
    raw = _raw()
    assert raw, "the dataset approves service"
    _assert_exact()


def test_a_correction_and_a_reversal_keep_the_rollup_equal_to_the_raw_rows(
    dataset: World,  # noqa: F811
) -> None:
    logs = list(
        db.session.scalars(
            select(HourLog)
            .where(HourLog.status == "approved", HourLog.team_id == dataset.team.id)
            .order_by(HourLog.id)
        )
    )
    today = today_local()
    # Corrected to other minutes on a date in another month, by the coordinator.
    corrections.correct_log(
        dataset.coordinator,
        logs[0].id,
        "分钟数录错了",
        corrections.Replacement(minutes=45, service_date=today - timedelta(days=40)),
        today=today,
    )
    _assert_exact()
    # Corrected to another volunteer of the team.
    corrections.correct_log(
        dataset.admin,
        logs[1].id,
        "记错了人",
        corrections.Replacement(member_no=dataset.volunteer2.member_no),
        today=today,
    )
    _assert_exact()
    # Reversed without a replacement.
    before = sum(m for m, _n in _rolled().values())
    corrections.correct_log(dataset.admin, logs[2].id, "没有这次服务", None, today=today)
    _assert_exact()
    assert sum(m for m, _n in _rolled().values()) == before - logs[2].minutes
    # A change that fails and rolls back leaves the rollup as it was.
    log = log_hours(dataset.volunteer, dataset.team, dataset.service, 30, days_ago=2)
    hours.approve_log(dataset.coordinator, log.id)
    db.session.rollback()
    _assert_exact()


def test_party_marks_and_grids_move_a_members_hours(dataset: World) -> None:  # noqa: F811
    grid = Grid(community_id=dataset.community.id, name="东区网格", buildings="1号楼")
    db.session.add(grid)
    db.session.commit()
    grids.confirm_party(dataset.admin, dataset.volunteer.id, confirmed=True)
    _assert_exact()
    member = db.session.get(Member, dataset.volunteer2.id)
    member.grid_id = grid.id
    # In the same flush as a new approval of the moved member.
    log = log_hours(member, dataset.team, dataset.service, 90, days_ago=3)
    hours.approve_log(dataset.coordinator, log.id)
    _assert_exact()
    party = sum(m for k, (m, _n) in _rolled().items() if k[4])
    assert party == sum(
        x.minutes
        for x in db.session.scalars(select(HourLog))
        if x.member_id == dataset.volunteer.id and x.status == "approved"
    )
    grids.confirm_party(dataset.admin, dataset.volunteer.id, confirmed=False)
    _assert_exact()
    assert not any(k[4] for k in _rolled())
    # A corrected birth year moves the member's balance to their true age band.
    member = db.session.get(Member, dataset.volunteer.id)
    member.birth_year -= 20
    _assert_exact()
    balances = {
        (r.birth_year): r.minutes
        for r in db.session.scalars(select(MonthlyBalance))
        if r.birth_year == member.birth_year
    }
    assert sum(balances.values()) == ledger.balance_of(member)


def test_check_finds_a_drift_and_rebuild_repairs_it(dataset: World, app, runner) -> None:  # noqa: F811
    db.session.execute(update(MonthlyHours).values(minutes=MonthlyHours.minutes + 1))
    db.session.commit()
    assert rollups.check()
    # And a member's latest day moved back, and a row for nobody's service.
    row = db.session.scalars(select(MemberLastServed)).first()
    row.service_date -= timedelta(days=1)
    db.session.add(
        MemberLastServed(
            member_id=dataset.resident.id,
            team_id=row.team_id,
            community_id=row.community_id,
            service_date=today_local(),
        )
    )
    db.session.commit()
    assert sum("last served" in p for p in rollups.check()) == 2
    with app.app_context():
        result = runner.invoke(args=["reports", "check-rollups"])
        assert result.exit_code == 1 and "differ" in result.output
        result = runner.invoke(args=["reports", "rebuild-rollups"])
        assert result.exit_code == 0, result.output
        result = runner.invoke(args=["reports", "check-rollups"])
        assert result.exit_code == 0 and "OK" in result.output
    db.session.commit()
    _assert_exact()


def test_any_date_range_sums_exactly(dataset: World) -> None:  # noqa: F811
    """Whole months from the rollup, part-months from the logs (or the rollup less the days
    outside): every range gives the raw rows' minutes by month."""
    rng = random.Random(3)
    today = today_local()
    logs = [x for x in db.session.scalars(select(HourLog)) if x.status == "approved"]
    for _ in range(60):
        end = today - timedelta(days=rng.choice([0, 0, 1, 3, 17, 30, 31, 45, 90, 200]))
        start = end - timedelta(days=rng.choice([0, 1, 5, 14, 27, 28, 31, 40, 59, 61, 200, 364]))
        scope = report_scope.scope_for(
            dataset.admin, start=start, end=end, team_id=None, today=today
        )
        by_month: dict[str, int] = defaultdict(int)
        for log in logs:
            if scope.start <= log.service_date <= scope.end:
                by_month[log.service_date.strftime("%Y-%m")] += log.minutes
        got: dict[str, int] = defaultdict(int)
        for _team, _service, month, _party, minutes in reports.hour_sums(scope):
            got[month] += minutes
        assert {m: n for m, n in got.items() if n} == dict(by_month), (start, end)


def test_a_members_latest_day_follows_approvals_reversals_and_corrections(
    dataset: World,  # noqa: F811
) -> None:
    today = today_local()
    member = db.session.get(Member, dataset.volunteer2.id)
    key = (member.id, dataset.team.id, dataset.community.id)
    # A newer approval moves the day on; an older one leaves it.
    newest = log_hours(member, dataset.team, dataset.service, 30, days_ago=0)
    hours.approve_log(dataset.coordinator, newest.id)
    _assert_exact()
    assert _rolled_last_served()[key] == today
    older = log_hours(member, dataset.team, dataset.service, 30, days_ago=50)
    hours.approve_log(dataset.coordinator, older.id)
    _assert_exact()
    assert _rolled_last_served()[key] == today
    # Reversing the latest log moves the day back to the one before.
    corrections.correct_log(dataset.admin, newest.id, "没有这次服务", None, today=today)
    _assert_exact()
    assert _rolled_last_served()[key] < today
    # Corrected to another volunteer: the day leaves one member and reaches the other.
    latest = db.session.scalars(
        select(HourLog)
        .where(HourLog.member_id == member.id, HourLog.status == "approved")
        .order_by(HourLog.service_date.desc(), HourLog.id.desc())
    ).first()
    corrections.correct_log(
        dataset.admin,
        latest.id,
        "记错了人",
        corrections.Replacement(member_no=dataset.volunteer.member_no),
        today=today,
    )
    _assert_exact()
    # Every approved log of a member reversed: no row at all.
    for log in list(
        db.session.scalars(
            select(HourLog).where(HourLog.member_id == member.id, HourLog.status == "approved")
        )
    ):
        corrections.correct_log(dataset.admin, log.id, "没有这次服务", None, today=today)
    _assert_exact()
    assert key not in _rolled_last_served()


def test_active_members_are_exact_for_any_range(dataset: World, monkeypatch) -> None:  # noqa: F811
    """From the latest days (a range reaching today; or with members served after its end,
    looked up), or from the range's logs (a range long past): the raw rows' count."""
    rng = random.Random(5)
    today = today_local()
    # Service after most ranges' ends, so the lookups of later-served members are exercised.
    for member in (dataset.volunteer, dataset.volunteer2):
        log = log_hours(member, dataset.team, dataset.service, 15, days_ago=0)
        hours.approve_log(dataset.coordinator, log.id)
    db.session.commit()
    logs = [x for x in db.session.scalars(select(HourLog)) if x.status == "approved"]
    members = {
        m.id
        for m in db.session.scalars(select(Member))
        if m.community_id == dataset.community.id and m.active
    }
    team_members = {
        t.member_id
        for t in db.session.scalars(select(TeamMembership))
        if t.team_id == dataset.team.id and t.status == "active"
    }
    for limit in (0, 1, 500):
        monkeypatch.setattr(reports, "LATE_LIMIT", limit)
        for n in range(30):
            end = today - timedelta(days=rng.choice([0, 0, 1, 3, 30, 90, 200]))
            start = end - timedelta(days=rng.choice([0, 5, 31, 61, 200, 364]))
            # The community as its admin sees it, and one team as its coordinator does.
            actor, team, who = (
                (dataset.admin, None, members)
                if n % 2
                else (dataset.coordinator, dataset.team.id, team_members)
            )
            scope = report_scope.scope_for(actor, start=start, end=end, team_id=team, today=today)
            active = {
                x.member_id
                for x in logs
                if scope.start <= x.service_date <= scope.end
                and x.member_id in who
                and (team is None or x.team_id == team)
            }
            got = reports.people(scope)
            assert (got.members, got.active) == (len(who), len(active)), (limit, start, end, team)
