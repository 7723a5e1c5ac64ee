"""`flask reports rebuild-rollups` and `flask reports check-rollups`."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

from portal.extensions import db
from portal.services import rollups

reports_cli = AppGroup("reports", help="Report figures and their monthly rollup.")


@reports_cli.command("rebuild-rollups")
def rebuild_rollups() -> None:
    """Recompute the report rollups (monthly_hours, monthly_balances, member_last_served)
    from the raw rows (after a bulk load, or to repair what check-rollups found)."""
    rows = rollups.rebuild()
    db.session.commit()
    click.echo(f"report rollups rebuilt: {rows} rows")


@reports_cli.command("check-rollups")
def check_rollups() -> None:
    """Compare the report rollups with the raw rows; exit 1 on any difference."""
    problems = rollups.check()
    db.session.rollback()
    for problem in problems[:50]:
        click.echo(problem)
    if problems:
        click.echo(f"{len(problems)} rollup rows differ from the hour logs", err=True)
        sys.exit(1)
    click.echo("report rollups OK: equal to the hour logs and postings")


def init_app(app: Flask) -> None:
    app.cli.add_command(reports_cli)
