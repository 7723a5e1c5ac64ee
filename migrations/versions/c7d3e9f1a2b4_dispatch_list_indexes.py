"""dispatch list indexes: team memberships by member, status and team (is a candidate an
active volunteer of the community, from the index alone; replaces the one on member_id),
and members by grid with what the dispatch list shows of them (replaces the one on grid_id)

Revision ID: c7d3e9f1a2b4
Revises: 322abba6a8db
Create Date: 2026-11-29 12:20:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c7d3e9f1a2b4'
down_revision = '322abba6a8db'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('team_memberships', schema=None) as batch_op:
        batch_op.create_index(
            'ix_team_memberships_member', ['member_id', 'status', 'team_id'], unique=False
        )
        batch_op.drop_index(batch_op.f('ix_team_memberships_member_id'))
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.create_index(
            'ix_members_grid',
            ['grid_id', 'party_member', 'name', 'id', 'shows_party_badge', 'active'],
            unique=False,
        )
        batch_op.drop_index(batch_op.f('ix_members_grid_id'))


def downgrade():
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_members_grid_id'), ['grid_id'], unique=False)
        batch_op.drop_index('ix_members_grid')
    with op.batch_alter_table('team_memberships', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_team_memberships_member_id'), ['member_id'], unique=False
        )
        batch_op.drop_index('ix_team_memberships_member')
