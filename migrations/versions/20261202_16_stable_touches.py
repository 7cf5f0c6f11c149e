"""touches: stable steps (calendar step, expiry, re-planning time, reporting contact, details);
announcements: targeting and revisions

Revision ID: 20261202_16
Revises: 20261202_18
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.core.db

revision: str = "20261202_16"
down_revision: str | Sequence[str] | None = "20261202_18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TIME = app.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("touches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("step", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("slot_at", TIME, nullable=True))
        batch_op.add_column(sa.Column("details", sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column("expires_at", TIME, nullable=True))
        batch_op.add_column(sa.Column("replan_at", TIME, nullable=True))
        batch_op.add_column(sa.Column("contact_event_id", sa.String(length=200), nullable=True))
        batch_op.create_index("ix_touches_replan", ["status", "replan_at"], unique=False)
    with op.batch_alter_table("touches", schema=None) as batch_op:
        batch_op.alter_column("step", server_default=None)
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("categories", JSON, nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("stages", JSON, nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("updated_at", TIME, nullable=True))
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.alter_column("categories", server_default=None)
        batch_op.alter_column("stages", server_default=None)
        batch_op.alter_column("revision", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("revision")
        batch_op.drop_column("stages")
        batch_op.drop_column("categories")
    with op.batch_alter_table("touches", schema=None) as batch_op:
        batch_op.drop_index("ix_touches_replan")
        batch_op.drop_column("contact_event_id")
        batch_op.drop_column("replan_at")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("details")
        batch_op.drop_column("slot_at")
        batch_op.drop_column("step")
