"""index team memberships by member, status and team: the dispatch list asks of each
candidate whether they are an active volunteer of the community, from the index alone
(replaces the index on member_id, its prefix)

Revision ID: c7d3e9f1a2b4
Revises: b4c1d2e3f405
Create Date: 2026-11-29 12:20:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c7d3e9f1a2b4'
down_revision = 'b4c1d2e3f405'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('team_memberships', schema=None) as batch_op:
        batch_op.create_index(
            'ix_team_memberships_member', ['member_id', 'status', 'team_id'], unique=False
        )
        batch_op.drop_index(batch_op.f('ix_team_memberships_member_id'))


def downgrade():
    with op.batch_alter_table('team_memberships', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_team_memberships_member_id'), ['member_id'], unique=False
        )
        batch_op.drop_index('ix_team_memberships_member')
