"""stage history and referral credits

Revision ID: 0006_stages
Revises: 0005_ltv
Create Date: 2026-11-24 20:54:36.026482
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db
from sqlalchemy.dialects import postgresql

revision: str = '0006_stages'
down_revision: str | Sequence[str] | None = '0005_ltv'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('stage_history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('from_stage', sa.String(length=16), nullable=True),
    sa.Column('to_stage', sa.String(length=16), nullable=False),
    sa.Column('changed_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reasons', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_stage_history_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stage_history'))
    )
    with op.batch_alter_table('stage_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stage_history_changed_at'), ['changed_at'], unique=False)
        batch_op.create_index('ix_stage_history_customer_at', ['customer_id', 'changed_at'], unique=False)

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stage_review_at', app.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('referrals_converted', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('referral_credited_to', sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_customers_stage_review_at'), ['stage_review_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_stage_review_at'))
        batch_op.drop_column('referral_credited_to')
        batch_op.drop_column('referrals_converted')
        batch_op.drop_column('stage_review_at')

    with op.batch_alter_table('stage_history', schema=None) as batch_op:
        batch_op.drop_index('ix_stage_history_customer_at')
        batch_op.drop_index(batch_op.f('ix_stage_history_changed_at'))

    op.drop_table('stage_history')
