"""index hour logs by team, status and service date: a team's minutes this month

Revision ID: 5e0c8a1f2b7d
Revises: e72e1e8c9ca5
Create Date: 2026-11-29 09:20:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '5e0c8a1f2b7d'
down_revision = 'e72e1e8c9ca5'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('hour_logs', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_hour_logs_team_id_hour_logs_status_hour_logs_service_date'),
            ['team_id', 'status', 'service_date'],
            unique=False,
        )


def downgrade():
    with op.batch_alter_table('hour_logs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hour_logs_team_id_hour_logs_status_hour_logs_service_date'))
