"""`flask db upgrade` from empty gives exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from portal.extensions import db

# The revision before 0ea991255368, which rebuilds `accounts` and `service_requests`.
EARLIER_THAN_THE_REBUILDS = "9d3f6b2a7c10"


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


def test_upgrading_a_database_that_holds_data(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Members, accounts, entries and requests already recorded: the migrations that rebuild
    the tables they point at (SQLite batch mode) still run, both ways, and keep every row."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import func, select

    from portal import create_app
    from portal.demo import load_demo
    from portal.models import Account, JournalEntry, Posting, ServiceRequest
    from portal.services import ledger

    # Its own SQLite file in every run: the table rebuilds of batch mode are SQLite's.
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'kept.sqlite3'}",
            "SECRET_KEY": "test-only-secret",
            "PASSWORD_HASH": {"time_cost": 1, "memory_cost": 1024, "parallelism": 1},
        }
    )
    with app.app_context():
        upgrade()
        load_demo()
        db.session.commit()

        def counts() -> tuple[int, ...]:
            return tuple(
                db.session.scalar(select(func.count()).select_from(model))
                for model in (Account, JournalEntry, Posting, ServiceRequest)
            )

        before = counts()
        assert before[1] > 0
        db.session.remove()
        # Back past the rebuilds of `accounts` and `service_requests`, and up again.
        downgrade(revision=EARLIER_THAN_THE_REBUILDS)
        upgrade()
        assert counts() == before
        assert ledger.verify().ok
        db.session.remove()
        db.engine.dispose()
