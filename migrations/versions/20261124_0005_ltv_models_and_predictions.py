"""ltv models and predictions

Revision ID: 0005_ltv
Revises: 0002_stage_status
Create Date: 2026-11-24 20:42:20.015295
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db
from sqlalchemy.dialects import postgresql

revision: str = '0005_ltv'
down_revision: str | Sequence[str] | None = '0002_stage_status'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('model_fits',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('as_of', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('fitted_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('time_unit', sa.String(length=8), nullable=False),
    sa.Column('bgnbd_log_likelihood', sa.Float(), nullable=True),
    sa.Column('gg_log_likelihood', sa.Float(), nullable=True),
    sa.Column('n_customers', sa.Integer(), nullable=False),
    sa.Column('n_repeat_customers', sa.Integer(), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_fits'))
    )
    with op.batch_alter_table('model_fits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_fits_as_of'), ['as_of'], unique=False)
        batch_op.create_index(batch_op.f('ix_model_fits_fitted_at'), ['fitted_at'], unique=False)

    op.create_table('customer_predictions',
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('model_fit_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('model', sa.String(length=20), nullable=False),
    sa.Column('x', sa.Integer(), nullable=False),
    sa.Column('t_x', sa.Float(), nullable=False),
    sa.Column('T', sa.Float(), nullable=False),
    sa.Column('repeat_spend_minor', sa.BigInteger(), nullable=False),
    sa.Column('p_alive', sa.Float(), nullable=False),
    sa.Column('horizon_days', sa.Integer(), nullable=False),
    sa.Column('expected_purchases', sa.Float(), nullable=False),
    sa.Column('expected_spend_minor', sa.BigInteger(), nullable=False),
    sa.Column('predicted_ltv_minor', sa.BigInteger(), nullable=False),
    sa.Column('expected_next_purchase_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('computed_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_predictions_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_fit_id'], ['model_fits.id'], name=op.f('fk_customer_predictions_model_fit_id_model_fits'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customer_predictions'))
    )
    with op.batch_alter_table('customer_predictions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_predictions_p_alive'), ['p_alive'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_predictions_predicted_ltv_minor'), ['predicted_ltv_minor'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('customer_predictions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_predictions_predicted_ltv_minor'))
        batch_op.drop_index(batch_op.f('ix_customer_predictions_p_alive'))

    op.drop_table('customer_predictions')
    with op.batch_alter_table('model_fits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_fits_fitted_at'))
        batch_op.drop_index(batch_op.f('ix_model_fits_as_of'))

    op.drop_table('model_fits')
