"""password reset codes issued in person (a relative, coordinator or admin; no SMS)

Revision ID: ed5337dc530a
Revises: c4a7e2b91d05
Create Date: 2026-11-29 08:41:36.436671

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'ed5337dc530a'
down_revision = 'c4a7e2b91d05'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('password_reset_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('issued_by_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=255), nullable=False),
    sa.Column('issued_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('tries', sa.Integer(), nullable=False),
    sa.Column('spent_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('member_id <> issued_by_id', name=op.f('ck_password_reset_codes_not_for_oneself')),
    sa.CheckConstraint('tries >= 0', name=op.f('ck_password_reset_codes_tries')),
    sa.ForeignKeyConstraint(['issued_by_id'], ['members.id'], name=op.f('fk_password_reset_codes_issued_by_id_members')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_password_reset_codes_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_password_reset_codes'))
    )
    with op.batch_alter_table('password_reset_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_password_reset_codes_member_id'), ['member_id'], unique=False)



def downgrade():
    with op.batch_alter_table('password_reset_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_password_reset_codes_member_id'))

    op.drop_table('password_reset_codes')
