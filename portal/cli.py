"""`flask` commands: make-admin, demo load, ledger verify, kiosk close-open, callups tick."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from portal.extensions import db
from portal.models import Member
from portal.services import ledger, members

demo_cli = AppGroup("demo", help="Demonstration data.")
ledger_cli = AppGroup("ledger", help="The books.")
kiosk_cli = AppGroup("kiosk", help="Community-centre kiosks.")
callups_cli = AppGroup("callups", help="Emergency call-ups.")


@click.command("make-admin")
@click.argument("phone")
def make_admin(phone: str) -> None:
    """Make the member with mobile number PHONE an admin of their community."""
    member = db.session.scalar(select(Member).where(Member.phone == members.normalise_phone(phone)))
    if member is None:
        click.echo(f"No member with mobile number {phone}.", err=True)
        sys.exit(1)
    members.make_admin(member)
    db.session.commit()
    click.echo(
        f"{member.name} ({member.phone}) is now an admin of community {member.community_id}."
    )


@demo_cli.command("load")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database has members.")
def demo_load(if_empty: bool) -> None:
    """Load two communities, their teams and the demo accounts."""
    from portal.demo import load_demo

    if if_empty and db.session.scalar(select(Member.id).limit(1)) is not None:
        click.echo("The database already has members; demo data not loaded.")
        return
    summary = load_demo()
    db.session.commit()
    click.echo(summary)


@ledger_cli.command("verify")
def ledger_verify() -> None:
    """Recompute every balance from postings and check every entry and the hash chain."""
    report = ledger.verify()
    click.echo(
        f"entries: {report.entries}  postings: {report.postings}  accounts: {report.accounts}  "
        f"sum over all accounts: {report.total_minutes}"
    )
    if report.ok:
        click.echo("ledger OK")
        return
    click.echo(f"ledger BROKEN: {len(report.problems)} problem(s); first: {report.problems[0]}")
    for problem in report.problems[1:20]:
        click.echo(f"  {problem}")
    sys.exit(1)


@kiosk_cli.command("close-open")
def kiosk_close_open() -> None:
    """Close check-ins still open past their activity's end (walk-ins after 4 hours): the
    scheduled time is logged as pending and flagged. Run it every 15 minutes (README)."""
    from portal.clock import now_local
    from portal.services import presence

    closed = presence.close_open(now_local())
    db.session.commit()
    click.echo(f"closed {len(closed)} forgotten check-out(s)")


@callups_cli.command("tick")
def callups_tick() -> None:
    """Call the next group of every open call-up whose escalation rule has fired. Safe to
    run from cron on several machines at once: each escalation fires once (README)."""
    from portal.actions import run_apart
    from portal.services import callups

    fired = 0
    for item in callups.due(callups.open_callup_ids()):
        outcome = run_apart(lambda item=item: callups.escalate(item))
        fired += bool(outcome.result)
    click.echo(f"escalated {fired} call-up(s)")


grids_cli = AppGroup("grids", help="Grids: escalation of requests nobody has taken.")


@grids_cli.command("escalate")
def grids_escalate() -> None:
    """Escalate requests still waiting: to the community's coordinators after
    GRID_ESCALATE_COORDINATOR_HOURS (24), to the street office after
    GRID_ESCALATE_STREET_HOURS (72). Run it every 15 minutes by cron; safe to run twice at
    once: each step fires once (a conditional UPDATE), each request in its own transaction."""
    from datetime import timedelta

    from flask import current_app

    from portal.services import grid_requests

    config = current_app.config
    steps = (
        (1, timedelta(hours=int(config["GRID_ESCALATE_COORDINATOR_HOURS"]))),
        (2, timedelta(hours=int(config["GRID_ESCALATE_STREET_HOURS"]))),
    )
    fired = {1: 0, 2: 0}
    for level, after in steps:
        for request_id in grid_requests.due_for(level, after):
            if grid_requests.escalate(request_id, level):
                fired[level] += 1
            db.session.commit()
    click.echo(f"escalated {fired[1]} to coordinators, {fired[2]} to the street office")


def init_app(app: Flask) -> None:
    app.cli.add_command(grids_cli)
    app.cli.add_command(make_admin)
    app.cli.add_command(demo_cli)
    app.cli.add_command(ledger_cli)
    app.cli.add_command(kiosk_cli)
    app.cli.add_command(callups_cli)
