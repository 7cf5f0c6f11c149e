"""webhooks: Bitrix24 plan, paused methods, per-call progress, per-endpoint claims;
customer tokens by jti; generated instance secrets

Revision ID: 20261202_22
Revises: 20261202_19b
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.core.db

revision: str = "20261202_22"
down_revision: str | Sequence[str] | None = "20261202_19b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.add_column(sa.Column("bitrix_plan", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("paused_methods", JSON_DOC, nullable=True))
        batch.add_column(
            sa.Column("lane_until", app.core.db.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("progress", JSON_DOC, nullable=True))
    op.create_index(
        "ix_webhook_deliveries_endpoint_due",
        "webhook_deliveries",
        ["endpoint_id", "status", "next_attempt_at"],
    )
    op.execute("UPDATE webhook_endpoints SET bitrix_plan = 'standard' WHERE kind = 'bitrix24'")
    op.create_table(
        "customer_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("issued_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_customer_tokens")),
    )
    op.create_index("ix_customer_tokens_customer", "customer_tokens", ["customer_id"])
    op.create_table(
        "instance_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_instance_secrets")),
    )


def downgrade() -> None:
    op.drop_table("instance_secrets")
    op.drop_index("ix_customer_tokens_customer", table_name="customer_tokens")
    op.drop_table("customer_tokens")
    op.drop_index("ix_webhook_deliveries_endpoint_due", table_name="webhook_deliveries")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("progress")
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.drop_column("lane_until")
        batch.drop_column("paused_methods")
        batch.drop_column("bitrix_plan")
