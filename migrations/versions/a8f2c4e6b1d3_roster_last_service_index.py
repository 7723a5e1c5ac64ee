"""hour logs by member and day with the team and status: a roster row's last service in the
team from the index alone (replaces the one on member_id, service_date)

Revision ID: a8f2c4e6b1d3
Revises: 5c7e1a9b2d40
Create Date: 2026-11-29 16:55:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a8f2c4e6b1d3'
down_revision = '5c7e1a9b2d40'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('hour_logs', schema=None) as batch_op:
        batch_op.create_index(
            'ix_hour_logs_member_day',
            ['member_id', 'service_date', 'team_id', 'status'],
            unique=False,
        )
        batch_op.drop_index(batch_op.f('ix_hour_logs_member_id_hour_logs_service_date'))


def downgrade():
    with op.batch_alter_table('hour_logs', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_hour_logs_member_id_hour_logs_service_date'),
            ['member_id', 'service_date'],
            unique=False,
        )
        batch_op.drop_index('ix_hour_logs_member_day')
