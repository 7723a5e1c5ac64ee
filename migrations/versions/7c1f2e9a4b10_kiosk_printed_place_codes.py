"""kiosk: printed place codes for fixed posts without a screen, flagged for review

Revision ID: 7c1f2e9a4b10
Revises: 30d39324e833
Create Date: 2026-11-29 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7c1f2e9a4b10'
down_revision = '30d39324e833'
branch_labels = None
depends_on = None

OLD_REASONS = "('unverified_resident', 'over_estimate', 'forgotten_checkout', 'late_sync')"
NEW_REASONS = (
    "('unverified_resident', 'over_estimate', 'forgotten_checkout', 'late_sync', "
    "'printed_code')"
)


def _check_ins(sources: str, flags: str) -> None:
    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_check_ins_source'), type_='check')
        batch_op.create_check_constraint(op.f('ck_check_ins_source'), f"source IN {sources}")
        batch_op.drop_constraint(op.f('ck_check_ins_flag'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_check_ins_flag'), f"flag IS NULL OR flag IN {flags}"
        )


def _review_reasons(reasons: str) -> None:
    with op.batch_alter_table('hour_logs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_hour_logs_review_reason'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_hour_logs_review_reason'),
            f"review_reason IS NULL OR review_reason IN {reasons}",
        )


def upgrade():
    op.create_table('printed_place_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('reissued_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('version >= 1', name=op.f('ck_printed_place_codes_version_positive')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_printed_place_codes_community_id_communities')),
    sa.ForeignKeyConstraint(['created_by_id'], ['members.id'], name=op.f('fk_printed_place_codes_created_by_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_printed_place_codes')),
    sa.UniqueConstraint('community_id', 'place', name=op.f('uq_printed_place_codes_community_id_place'))
    )
    # A check-in by printed code has no device witness: its own source, and a flag (and
    # review reason) that sends its hour log to the coordinator.
    _check_ins(
        "('kiosk', 'place_code', 'printed_code')",
        "('forgotten_checkout', 'late_sync', 'printed_code')",
    )
    _review_reasons(NEW_REASONS)


def downgrade():
    _review_reasons(OLD_REASONS)
    _check_ins("('kiosk', 'place_code')", "('forgotten_checkout', 'late_sync')")
    op.drop_table('printed_place_codes')
