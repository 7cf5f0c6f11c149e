"""touches and announcements

Revision ID: 0010_touches
Revises: 0009_webhooks
Create Date: 2026-11-24 21:12:53.136749
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db
from sqlalchemy.dialects import postgresql

revision: str = '0010_touches'
down_revision: str | Sequence[str] | None = '0009_webhooks'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('announcements',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('details', sa.String(length=2000), nullable=True),
    sa.Column('effective_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_announcements'))
    )
    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_announcements_effective_at'), ['effective_at'], unique=False)

    op.create_table('touches',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('playbook', sa.String(length=32), nullable=False),
    sa.Column('reason_key', sa.String(length=80), nullable=True),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('script', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('offer', sa.String(length=300), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('needs_new_reason', sa.Boolean(), nullable=False),
    sa.Column('due_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('claimed_by', sa.String(length=200), nullable=True),
    sa.Column('claim_expires_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('note', sa.String(length=1000), nullable=True),
    sa.Column('completed_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('announced', sa.Boolean(), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_touches_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_touches'))
    )
    with op.batch_alter_table('touches', schema=None) as batch_op:
        batch_op.create_index('ix_touches_customer', ['customer_id', 'status'], unique=False)
        batch_op.create_index('ix_touches_queue', ['status', 'due_at', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('touches', schema=None) as batch_op:
        batch_op.drop_index('ix_touches_queue')
        batch_op.drop_index('ix_touches_customer')

    op.drop_table('touches')
    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_announcements_effective_at'))

    op.drop_table('announcements')
