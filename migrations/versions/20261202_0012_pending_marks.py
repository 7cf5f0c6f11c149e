"""projection: the append-only queue of customers pending derivation

Revision ID: 0012_pending_marks
Revises: 0011_refund_index
Create Date: 2026-12-02 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "0012_pending_marks"
down_revision: str | Sequence[str] | None = "0011_refund_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_marks",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
            nullable=False,
        ),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=True),
        sa.Column("marked_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("failed_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_pending_marks_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_marks")),
    )
    op.create_index(
        op.f("ix_pending_marks_customer_id"), "pending_marks", ["customer_id"], unique=False
    )
    op.create_index(
        op.f("ix_customers_referral_credited_to"), "customers", ["referral_credited_to"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_customers_referral_credited_to"), table_name="customers")
    op.drop_index(op.f("ix_pending_marks_customer_id"), table_name="pending_marks")
    op.drop_table("pending_marks")
