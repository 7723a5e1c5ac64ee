"""member last served: each volunteer's latest day of approved service per team

"Active members" on /reports counted the distinct volunteers of every approved log of the
range (314k logs, 369 ms for the city's year on PG). With each member's latest day per team, a
range that reaches today counts about one row per member instead (for a community or a
coordinator's teams). Filled here from the existing logs
and kept exact by portal/services/rollups.py.

Revision ID: 5c7e1a9b2d40
Revises: c7d3e9f1a2b4
Create Date: 2026-11-29 13:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5c7e1a9b2d40'
down_revision = 'c7d3e9f1a2b4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('member_last_served',
    sa.Column('member_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('team_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('service_date', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_member_last_served_community_id_communities')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_member_last_served_member_id_members')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_member_last_served_team_id_teams')),
    sa.PrimaryKeyConstraint('member_id', 'team_id', name=op.f('pk_member_last_served'))
    )
    with op.batch_alter_table('member_last_served', schema=None) as batch_op:
        batch_op.create_index('ix_member_last_served_community_date_member', ['community_id', 'service_date', 'member_id'], unique=False)
        batch_op.create_index('ix_member_last_served_team_date_member', ['team_id', 'service_date', 'member_id'], unique=False)
    op.execute(
        "INSERT INTO member_last_served (member_id, team_id, community_id, service_date) "
        "SELECT member_id, team_id, community_id, MAX(service_date) FROM hour_logs "
        "WHERE status = 'approved' GROUP BY member_id, team_id, community_id"
    )
    if op.get_bind().dialect.name == "postgresql":
        # Statistics now, not at autovacuum's leisure: the planner prices the counts by them.
        op.execute("ANALYZE member_last_served")


def downgrade():
    with op.batch_alter_table('member_last_served', schema=None) as batch_op:
        batch_op.drop_index('ix_member_last_served_team_date_member')
        batch_op.drop_index('ix_member_last_served_community_date_member')
    op.drop_table('member_last_served')
