"""ltv: back-tests, the model choice, and per-customer 90 % intervals

Revision ID: 20261202_21
Revises: 20261202_22
Create Date: 2026-12-02 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.core.db

revision: str = "20261202_21"
down_revision: str | Sequence[str] | None = "20261202_22"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "model_backtests",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("calibration_end", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("holdout_end", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("chosen_model", sa.String(length=20), nullable=True),
        sa.Column("n_customers", sa.Integer(), nullable=False),
        sa.Column("n_repeat_customers", sa.Integer(), nullable=False),
        sa.Column("report", JSON, nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_backtests")),
    )
    with op.batch_alter_table("model_fits") as batch_op:
        batch_op.add_column(sa.Column("selection", JSON, nullable=True))
        batch_op.add_column(sa.Column("uncertainty", JSON, nullable=True))
    with op.batch_alter_table("customer_predictions") as batch_op:
        batch_op.add_column(sa.Column("expected_purchases_low", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("expected_purchases_high", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("predicted_ltv_low_minor", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("predicted_ltv_high_minor", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customer_predictions") as batch_op:
        batch_op.drop_column("predicted_ltv_high_minor")
        batch_op.drop_column("predicted_ltv_low_minor")
        batch_op.drop_column("expected_purchases_high")
        batch_op.drop_column("expected_purchases_low")
    with op.batch_alter_table("model_fits") as batch_op:
        batch_op.drop_column("uncertainty")
        batch_op.drop_column("selection")
    op.drop_table("model_backtests")
