"""cashback ledger and redemptions

Revision ID: 0008_cashback
Revises: 0007_lapse
Create Date: 2026-11-24 21:02:21.897616
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db
from sqlalchemy.dialects import postgresql

revision: str = '0008_cashback'
down_revision: str | Sequence[str] | None = '0007_lapse'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('cashback_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('remaining_minor', sa.BigInteger(), nullable=True),
    sa.Column('expires_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expiring_notified', sa.Boolean(), nullable=False),
    sa.Column('order_id', sa.String(length=200), nullable=True),
    sa.Column('source', sa.String(length=260), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('occurred_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_cashback_entries_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cashback_entries')),
    sa.UniqueConstraint('source', name=op.f('uq_cashback_entries_source'))
    )
    with op.batch_alter_table('cashback_entries', schema=None) as batch_op:
        batch_op.create_index('ix_cashback_entries_customer', ['customer_id', 'id'], unique=False)
        batch_op.create_index('ix_cashback_entries_open_lots', ['expires_at', 'remaining_minor'], unique=False)

    op.create_table('cashback_redemptions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_cashback_redemptions_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cashback_redemptions')),
    sa.UniqueConstraint('customer_id', 'idempotency_key', name=op.f('uq_cashback_redemptions_customer_id'))
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cashback_balance_minor', sa.BigInteger(), nullable=False, server_default='0'))



def downgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('cashback_balance_minor')

    op.drop_table('cashback_redemptions')
    with op.batch_alter_table('cashback_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_cashback_entries_open_lots')
        batch_op.drop_index('ix_cashback_entries_customer')

    op.drop_table('cashback_entries')
