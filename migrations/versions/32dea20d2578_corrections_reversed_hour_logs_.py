"""corrections: reversed hour logs, replacements, append-only ledger triggers

An approved hour log can be reversed (status 'reversed', naming the reversing journal entry)
and replaced by a log of source 'correction' that names the log it corrects. Journal entries
and postings become append-only in the database too: triggers refuse UPDATE and DELETE.

TRUNCATE is not refused (the test suite empties tables with it on PostgreSQL); it needs the
TRUNCATE privilege, which a production role for the app can be refused. The table owner can
still drop or disable the triggers: they guard against mistakes and bugs, not the owner.

SQLite: a later migration that rebuilds `journal_entries` or `postings` in batch mode (copy
and move) drops their triggers; such a migration must create them again (see TRIGGERS).

Revision ID: 32dea20d2578
Revises: f459b103e7f8
Create Date: 2026-11-29 03:01:48.298598

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '32dea20d2578'
down_revision = 'f459b103e7f8'
branch_labels = None
depends_on = None

GUARDED = ("journal_entries", "postings")

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
    "BEGIN SELECT RAISE(ABORT, 'append-only: " + table + " rows are never changed or "
    "removed; post a reversing entry'); END"
    for table in GUARDED
    for verb in ("UPDATE", "DELETE")
]

POSTGRES_FUNCTION = """
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'append-only: % rows are never changed or removed; post a reversing entry',
        TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END
$$
"""

POSTGRES_TRIGGERS = [
    f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
    "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
    for table in GUARDED
]


def _create_triggers():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        for statement in POSTGRES_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def _drop_triggers():
    if op.get_bind().dialect.name == "postgresql":
        for table in GUARDED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS ledger_append_only()")
    else:
        for table in GUARDED:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")


def upgrade():
    with op.batch_alter_table('hour_logs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reversal_entry_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('corrects_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_hour_logs_corrects_id'), ['corrects_id'])
        batch_op.create_unique_constraint(batch_op.f('uq_hour_logs_reversal_entry_id'), ['reversal_entry_id'])
        batch_op.create_foreign_key(batch_op.f('fk_hour_logs_reversal_entry_id_journal_entries'), 'journal_entries', ['reversal_entry_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_hour_logs_corrects_id_hour_logs'), 'hour_logs', ['corrects_id'], ['id'])
        batch_op.drop_constraint(batch_op.f('ck_hour_logs_status'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_hour_logs_source'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_hour_logs_approved_posted'), type_='check')
        batch_op.create_check_constraint(
            batch_op.f('ck_hour_logs_status'),
            "status IN ('pending', 'approved', 'rejected', 'cancelled', 'reversed')",
        )
        batch_op.create_check_constraint(
            batch_op.f('ck_hour_logs_source'),
            "source IN ('self', 'kiosk', 'request', 'activity', 'correction')",
        )
        batch_op.create_check_constraint(
            batch_op.f('ck_hour_logs_approved_posted'),
            "status NOT IN ('approved', 'reversed') OR entry_id IS NOT NULL",
        )
        batch_op.create_check_constraint(
            batch_op.f('ck_hour_logs_reversed_posted'),
            "(status = 'reversed') = (reversal_entry_id IS NOT NULL)",
        )
        batch_op.create_check_constraint(
            batch_op.f('ck_hour_logs_correction'),
            "(source = 'correction') = (corrects_id IS NOT NULL)",
        )
    _create_triggers()


def downgrade():
    _drop_triggers()
    with op.batch_alter_table('hour_logs', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_hour_logs_correction'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_hour_logs_reversed_posted'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_hour_logs_approved_posted'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_hour_logs_source'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_hour_logs_status'), type_='check')
        batch_op.create_check_constraint(
            batch_op.f('ck_hour_logs_status'),
            "status IN ('pending', 'approved', 'rejected', 'cancelled')",
        )
        batch_op.create_check_constraint(
            batch_op.f('ck_hour_logs_source'), "source IN ('self', 'kiosk', 'request', 'activity')"
        )
        batch_op.create_check_constraint(
            batch_op.f('ck_hour_logs_approved_posted'), "status <> 'approved' OR entry_id IS NOT NULL"
        )
        batch_op.drop_constraint(batch_op.f('fk_hour_logs_corrects_id_hour_logs'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_hour_logs_reversal_entry_id_journal_entries'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_hour_logs_reversal_entry_id'), type_='unique')
        batch_op.drop_constraint(batch_op.f('uq_hour_logs_corrects_id'), type_='unique')
        batch_op.drop_column('corrects_id')
        batch_op.drop_column('reversal_entry_id')
