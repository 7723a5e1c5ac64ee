"""The public page: each community's year in four numbers, and nobody's name."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from portal.clock import today_local
from portal.extensions import db
from portal.models import HourLog, ServiceRequest
from portal.services import hours, public_stats
from tests.support import World, log_hours


def test_this_years_totals_without_personal_data(world: World, app: Flask) -> None:
    world.community.log_window_days = 366
    today = today_local()
    for n, member in enumerate([world.volunteer, world.volunteer2, world.volunteer]):
        log = log_hours(member, world.team, world.service, 60 + n, days_ago=1 + n)
        log.beneficiary_id = world.resident.id if n else None
        hours.approve_log(world.coordinator, log.id)
    last_year = today.replace(month=1, day=1) - timedelta(days=3)
    if (today - last_year).days <= 366:
        old = log_hours(
            world.volunteer2, world.team, world.service, 90, days_ago=(today - last_year).days
        )
        hours.approve_log(world.coordinator, old.id)
    log_hours(world.volunteer2, world.team, world.service, 30)  # pending: not counted
    db.session.add(
        ServiceRequest(
            community_id=world.community.id,
            requester_id=world.admin.id,
            posted_by_id=world.admin.id,
            service_id=world.service.id,
            wanted_at=today,
            place="家里",
            estimate_minutes=60,
            status="confirmed",
            service_date=today,
        )
    )
    db.session.commit()

    logs = [
        log
        for log in db.session.scalars(select(HourLog))
        if log.status == "approved" and log.service_date.year == today.year
    ]
    expected = public_stats.YearTotals(
        volunteers=len({log.member_id for log in logs}),
        minutes=sum(log.minutes for log in logs),
        fulfilled=1,
        served=len({log.beneficiary_id for log in logs if log.beneficiary_id} | {world.admin.id}),
    )
    assert public_stats.year_totals(today.year)[world.community.id] == expected
    # Last year's, read from the rollups: volunteer2's latest day is this year, after it.
    old_logs = [
        log
        for log in db.session.scalars(select(HourLog))
        if log.status == "approved" and log.service_date.year == today.year - 1
    ]
    if old_logs:
        last = public_stats.year_totals(today.year - 1)[world.community.id]
        assert (last.volunteers, last.minutes) == (1, 90)

    page = app.test_client().get("/").get_data(as_text=True)
    assert str(today.year) in page and world.community.name in page
    for member in (world.volunteer, world.volunteer2, world.resident, world.admin):
        assert member.name not in page and member.phone not in page


def test_stale_figures_are_shown_while_a_thread_computes_the_next(
    world: World, app: Flask, app_ctx: Flask, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """No visitor waits for the landing page's figures but a worker's first: after
    `PUBLIC_FIGURES_SECONDS` the old ones are shown once more and the next visit has new."""
    import time

    from flask import current_app

    from portal.services import figures

    current_app.config["PUBLIC_FIGURES_SECONDS"] = 60
    current_app.extensions.pop("portal_public_figures", None)
    clock = [1000.0]
    monkeypatch.setattr(figures.time, "monotonic", lambda: clock[0])
    year = today_local().year

    def minutes() -> int:
        mine = [f for f in figures.public_figures(year) if f.community.id == world.community.id]
        return mine[0].year.minutes

    assert minutes() == 0
    log = log_hours(world.volunteer, world.team, world.service, 45, days_ago=1)
    hours.approve_log(world.coordinator, log.id)
    db.session.commit()
    assert minutes() == 0  # within the minute: kept
    clock[0] += 61
    assert minutes() == 0  # stale, shown while the thread computes
    for _ in range(100):  # the thread lets go of its lock when done
        if figures._refreshing.acquire(blocking=False):
            figures._refreshing.release()
            break
        time.sleep(0.05)
    assert minutes() == 45
