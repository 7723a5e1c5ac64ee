"""caps, stars and the donation pool: per-community storage cap and star levels, a member's
choice to donate the excess, and the public-welfare pool account kind; an index for reports

Revision ID: c4a7e2b91d05
Revises: 5e0c8a1f2b7d
Create Date: 2026-11-29 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4a7e2b91d05'
down_revision = '5e0c8a1f2b7d'
branch_labels = None
depends_on = None


def upgrade():
    # Reports (same issue): a community's approved service in a date range.
    with op.batch_alter_table('hour_logs', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_hour_logs_community_id_hour_logs_status_hour_logs_service_date'),
            ['community_id', 'status', 'service_date'],
            unique=False,
        )

    with op.batch_alter_table('communities', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('storage_cap_minutes', sa.Integer(), server_default='90000', nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                'star_minutes',
                sa.String(length=80),
                server_default='6000,18000,36000,60000,90000',
                nullable=False,
            )
        )
        batch_op.create_check_constraint(
            op.f('ck_communities_storage_cap'),
            'storage_cap_minutes IS NULL OR storage_cap_minutes > 0',
        )

    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('donate_excess', sa.Boolean(), server_default=sa.false(), nullable=False)
        )

    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_accounts_kind'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_accounts_kind'), "kind IN ('member', 'issuance', 'escrow', 'pool')"
        )
        batch_op.create_check_constraint(
            op.f('ck_accounts_pool_not_negative'), "kind <> 'pool' OR balance >= 0"
        )


def downgrade():
    with op.batch_alter_table('hour_logs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hour_logs_community_id_hour_logs_status_hour_logs_service_date'))

    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_accounts_pool_not_negative'), type_='check')
        batch_op.drop_constraint(op.f('ck_accounts_kind'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_accounts_kind'), "kind IN ('member', 'issuance', 'escrow')"
        )

    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('donate_excess')

    with op.batch_alter_table('communities', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_communities_storage_cap'), type_='check')
        batch_op.drop_column('star_minutes')
        batch_op.drop_column('storage_cap_minutes')
