"""Row locks that work the same on PostgreSQL and SQLite.

On PostgreSQL `FOR UPDATE` takes the row lock and re-reads the newest committed version.
SQLite has no row locks: every write transaction there starts with BEGIN IMMEDIATE (see
portal.db_setup), which serialises writers, and `FOR UPDATE` is simply omitted.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select

from portal.extensions import db

T = TypeVar("T")


def lock_row(model: type[T], row_id: int) -> T | None:
    stmt = (
        select(model)
        .where(model.id == row_id)  # type: ignore[attr-defined]
        # OF the model's own table: a joined eager load (Member.community) makes an outer
        # join, and PostgreSQL refuses FOR UPDATE on its nullable side.
        .with_for_update(of=model)
        .execution_options(populate_existing=True)
    )
    return db.session.scalars(stmt).first()
