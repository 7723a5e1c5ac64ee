"""kiosk devices, check-ins, member cards and PIN lockout

Revision ID: 30d39324e833
Revises: b96fe4b86083
Create Date: 2026-11-29 03:29:03.992162

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '30d39324e833'
down_revision = 'b96fe4b86083'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('kiosk_devices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('enrol_token_hash', sa.String(length=64), nullable=True),
    sa.Column('enrol_expires_at', sa.DateTime(), nullable=True),
    sa.Column('enrolled_at', sa.DateTime(), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_kiosk_devices_community_id_communities')),
    sa.ForeignKeyConstraint(['created_by_id'], ['members.id'], name=op.f('fk_kiosk_devices_created_by_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kiosk_devices')),
    sa.UniqueConstraint('enrol_token_hash', name=op.f('uq_kiosk_devices_enrol_token_hash')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_kiosk_devices_token_hash'))
    )
    with op.batch_alter_table('kiosk_devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kiosk_devices_community_id'), ['community_id'], unique=False)

    op.create_table('check_ins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('checked_in_at', sa.DateTime(), nullable=False),
    sa.Column('checked_out_at', sa.DateTime(), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(), nullable=True),
    sa.Column('hour_log_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('client_key', sa.String(length=64), nullable=False),
    sa.Column('checkout_key', sa.String(length=64), nullable=True),
    sa.Column('flag', sa.String(length=32), nullable=True),
    sa.Column('corrected_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("flag IS NULL OR flag IN ('forgotten_checkout', 'late_sync')", name=op.f('ck_check_ins_flag')),
    sa.CheckConstraint("source IN ('kiosk', 'place_code')", name=op.f('ck_check_ins_source')),
    sa.CheckConstraint('checked_out_at IS NULL OR checked_out_at >= checked_in_at', name=op.f('ck_check_ins_out_after_in')),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_check_ins_activity_id_activities')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_check_ins_community_id_communities')),
    sa.ForeignKeyConstraint(['device_id'], ['kiosk_devices.id'], name=op.f('fk_check_ins_device_id_kiosk_devices')),
    sa.ForeignKeyConstraint(['hour_log_id'], ['hour_logs.id'], name=op.f('fk_check_ins_hour_log_id_hour_logs')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_check_ins_member_id_members')),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_check_ins_service_id_services')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_check_ins_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_check_ins')),
    sa.UniqueConstraint('checkout_key', name=op.f('uq_check_ins_checkout_key')),
    sa.UniqueConstraint('client_key', name=op.f('uq_check_ins_client_key')),
    sa.UniqueConstraint('hour_log_id', name=op.f('uq_check_ins_hour_log_id'))
    )
    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.create_index('ix_check_ins_here', ['community_id', 'place', 'checked_out_at'], unique=False)
        batch_op.create_index('ix_check_ins_member_open', ['member_id', 'checked_out_at'], unique=False)

    # Kiosk logs a coordinator should check say why in the approval queue.
    with op.batch_alter_table('hour_logs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_hour_logs_review_reason'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_hour_logs_review_reason'),
            "review_reason IS NULL OR review_reason IN "
            "('unverified_resident', 'over_estimate', 'forgotten_checkout', 'late_sync')",
        )

    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('card_version', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('pin_failures', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('pin_locked_until', sa.DateTime(), nullable=True))



def downgrade():
    with op.batch_alter_table('hour_logs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_hour_logs_review_reason'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_hour_logs_review_reason'),
            "review_reason IS NULL OR review_reason IN ('unverified_resident', 'over_estimate')",
        )

    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('pin_locked_until')
        batch_op.drop_column('pin_failures')
        batch_op.drop_column('card_version')

    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.drop_index('ix_check_ins_member_open')
        batch_op.drop_index('ix_check_ins_here')

    op.drop_table('check_ins')
    with op.batch_alter_table('kiosk_devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kiosk_devices_community_id'))

    op.drop_table('kiosk_devices')
