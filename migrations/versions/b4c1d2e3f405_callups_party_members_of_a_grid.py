"""callups: a group kind "party" (confirmed party members of the community, or of one grid
with its micro-grids) and the grid it calls

Revision ID: b4c1d2e3f405
Revises: 707dce5f1123
Create Date: 2026-11-29 10:15:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b4c1d2e3f405'
down_revision = '707dce5f1123'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('callup_groups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('grid_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_callup_groups_grid_id_grids'), 'grids', ['grid_id'], ['id'])
        batch_op.drop_constraint(op.f('ck_callup_groups_kind'), type_='check')
        batch_op.create_check_constraint('kind', "kind IN ('team', 'community', 'party')")
        batch_op.create_check_constraint('grid', "grid_id IS NULL OR kind = 'party'")


def downgrade():
    # Refused by the kind check while party groups exist: their timeline is not thrown away.
    with op.batch_alter_table('callup_groups', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_callup_groups_grid'), type_='check')
        batch_op.drop_constraint(op.f('ck_callup_groups_kind'), type_='check')
        batch_op.create_check_constraint('kind', "kind IN ('team', 'community')")
        batch_op.drop_constraint(op.f('fk_callup_groups_grid_id_grids'), type_='foreignkey')
        batch_op.drop_column('grid_id')
