"""`flask db upgrade` from empty gives exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from portal.extensions import db


def test_models_and_migrations_agree(app_ctx: Flask) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_flask_db_check_command(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output
