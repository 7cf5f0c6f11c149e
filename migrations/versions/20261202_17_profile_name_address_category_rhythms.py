"""customers: name and postal address; category_rhythms: what the shop's data says per category

Revision ID: 20261202_17
Revises: 0012_pending_marks
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.core.db import UTCDateTime

revision: str = "20261202_17"
down_revision: str | Sequence[str] | None = "0012_pending_marks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("name", sa.String(200), nullable=True))
        batch.add_column(sa.Column("postal_address", JSON, nullable=True))
    op.create_table(
        "category_rhythms",
        sa.Column("category", sa.String(200), nullable=False),
        sa.Column("buyers", sa.Integer(), nullable=False),
        sa.Column("repeat_buyers", sa.Integer(), nullable=False),
        sa.Column("median_interval_days", sa.Float(), nullable=True),
        sa.Column("yearly_buyers", sa.Integer(), nullable=False),
        sa.Column("yearly_spend_minor", sa.BigInteger(), nullable=False),
        sa.Column("learned_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("category", name=op.f("pk_category_rhythms")),
    )


def downgrade() -> None:
    op.drop_table("category_rhythms")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("postal_address")
        batch.drop_column("name")
