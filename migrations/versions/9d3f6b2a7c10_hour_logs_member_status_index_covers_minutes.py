"""hour logs: the (member, status) index also holds minutes, so the stars' sum reads the index alone

Revision ID: 9d3f6b2a7c10
Revises: b4c1d2e3f405
Create Date: 2026-11-29 12:20:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '9d3f6b2a7c10'
down_revision = 'b4c1d2e3f405'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('hour_logs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hour_logs_member_id_hour_logs_status'))
        batch_op.create_index(
            batch_op.f('ix_hour_logs_member_id_hour_logs_status_hour_logs_minutes'),
            ['member_id', 'status', 'minutes'],
            unique=False,
        )


def downgrade():
    with op.batch_alter_table('hour_logs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hour_logs_member_id_hour_logs_status_hour_logs_minutes'))
        batch_op.create_index(
            batch_op.f('ix_hour_logs_member_id_hour_logs_status'), ['member_id', 'status'], unique=False
        )
