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
    """Recompute the monthly rollup of approved service from the hour logs (after a bulk
    load, or to repair what check-rollups found)."""
    rows = rollups.rebuild()
    db.session.commit()
    click.echo(f"monthly_hours rebuilt: {rows} rows")


@reports_cli.command("check-rollups")
def check_rollups() -> None:
    """Compare the monthly rollup with the raw hour logs; exit 1 on any difference."""
    problems = rollups.check()
    db.session.rollback()
    for problem in problems[:50]:
        click.echo(problem)
    if problems:
        click.echo(f"{len(problems)} rollup rows differ from the hour logs", err=True)
        sys.exit(1)
    click.echo("monthly rollup OK: equal to the hour logs")


def init_app(app: Flask) -> None:
    app.cli.add_command(reports_cli)
