"""customer stage and status

Revision ID: 0002_stage_status
Revises: 0001_initial
Create Date: 2026-11-24 20:14:59.627651
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db


revision: str = '0002_stage_status'
down_revision: str | Sequence[str] | None = '0001_initial'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stage', sa.String(length=16), nullable=False, server_default='prospect'))
        batch_op.add_column(sa.Column('stage_since', app.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('status', sa.String(length=16), nullable=False, server_default='active'))
        batch_op.add_column(sa.Column('status_since', app.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_customers_stage'), ['stage'], unique=False)
        batch_op.create_index(batch_op.f('ix_customers_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_status'))
        batch_op.drop_index(batch_op.f('ix_customers_stage'))
        batch_op.drop_column('status_since')
        batch_op.drop_column('status')
        batch_op.drop_column('stage_since')
        batch_op.drop_column('stage')

