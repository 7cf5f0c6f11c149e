"""rhythm and activity status

Revision ID: 0007_lapse
Revises: 0006_stages
Create Date: 2026-11-24 20:58:30.052498
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db


revision: str = '0007_lapse'
down_revision: str | Sequence[str] | None = '0006_stages'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('usual_interval_days', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('at_risk_at', app.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('lapse_at', app.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('lost_at', app.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('next_status_at', app.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('episode_peak', sa.String(length=16), nullable=False, server_default='active'))
        batch_op.add_column(sa.Column('value_at_risk_minor', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('risk_value_minor', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('risk_since', app.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_customers_next_status_at'), ['next_status_at'], unique=False)
        batch_op.create_index('ix_customers_risk_since', ['risk_since', 'id'], unique=False)
        batch_op.create_index('ix_customers_risk_value', ['risk_value_minor', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index('ix_customers_risk_value')
        batch_op.drop_index('ix_customers_risk_since')
        batch_op.drop_index(batch_op.f('ix_customers_next_status_at'))
        batch_op.drop_column('risk_since')
        batch_op.drop_column('risk_value_minor')
        batch_op.drop_column('value_at_risk_minor')
        batch_op.drop_column('episode_peak')
        batch_op.drop_column('next_status_at')
        batch_op.drop_column('lost_at')
        batch_op.drop_column('lapse_at')
        batch_op.drop_column('at_risk_at')
        batch_op.drop_column('usual_interval_days')

