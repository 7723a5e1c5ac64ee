"""通存通兑 and the pool paying requests: a clearing account kind per community, the
community whose escrow funds a request, the pool's approval on a request, and the list of
residents a community's pool may serve

Revision ID: 0ea991255368
Revises: 9d3f6b2a7c10
Create Date: 2026-11-29 12:00:21.960584

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0ea991255368'
down_revision = '9d3f6b2a7c10'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('pool_beneficiaries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=True),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('named_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('(category IS NULL) <> (member_id IS NULL)', name=op.f('ck_pool_beneficiaries_one_kind')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_pool_beneficiaries_community_id_communities')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_pool_beneficiaries_member_id_members')),
    sa.ForeignKeyConstraint(['named_by_id'], ['members.id'], name=op.f('fk_pool_beneficiaries_named_by_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pool_beneficiaries')),
    sa.UniqueConstraint('community_id', 'category', name=op.f('uq_pool_beneficiaries_community_id_category')),
    sa.UniqueConstraint('community_id', 'member_id', name=op.f('uq_pool_beneficiaries_community_id_member_id'))
    )
    with op.batch_alter_table('pool_beneficiaries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pool_beneficiaries_community_id'), ['community_id'], unique=False)

    with op.batch_alter_table('service_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('funding_community_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('pool_status', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('pool_approved_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_service_requests_funding_community_id_communities'), 'communities', ['funding_community_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_service_requests_pool_approved_by_id_members'), 'members', ['pool_approved_by_id'], ['id'])
        # A pool-paid request holds minutes too (pool → escrow), never alongside the
        # requester's own hours.
        batch_op.drop_constraint(op.f('ck_service_requests_held_only_when_paid'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_service_requests_held_only_when_paid'),
            "pay_with_hours OR pool_status = 'approved' OR held_minutes = 0",
        )
        batch_op.create_check_constraint(
            op.f('ck_service_requests_pool_status'),
            "pool_status IS NULL OR (pool_status IN ('asked', 'approved') AND NOT pay_with_hours)",
        )

    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_accounts_kind'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_accounts_kind'), "kind IN ('member', 'issuance', 'escrow', 'pool', 'clearing')"
        )


def downgrade():
    # Refused by the kind check while clearing accounts exist: postings are never thrown away.
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_accounts_kind'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_accounts_kind'), "kind IN ('member', 'issuance', 'escrow', 'pool')"
        )

    with op.batch_alter_table('service_requests', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_service_requests_pool_status'), type_='check')
        batch_op.drop_constraint(op.f('ck_service_requests_held_only_when_paid'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_service_requests_held_only_when_paid'), 'pay_with_hours OR held_minutes = 0'
        )
        batch_op.drop_constraint(batch_op.f('fk_service_requests_pool_approved_by_id_members'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_service_requests_funding_community_id_communities'), type_='foreignkey')
        batch_op.drop_column('pool_approved_by_id')
        batch_op.drop_column('pool_status')
        batch_op.drop_column('funding_community_id')

    with op.batch_alter_table('pool_beneficiaries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pool_beneficiaries_community_id'))

    op.drop_table('pool_beneficiaries')
