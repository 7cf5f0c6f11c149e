"""events: a partial index of refunds replaces the (type, occurred_at) index

Revision ID: 0011_refund_index
Revises: 0010_touches
Create Date: 2026-11-26 11:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_refund_index"
down_revision: str | Sequence[str] | None = "0010_touches"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUNDS = "type = 'refund'"


def upgrade() -> None:
    op.drop_index("ix_events_type_occurred", table_name="events")
    op.create_index(
        "ix_events_refunds_occurred",
        "events",
        ["occurred_at"],
        sqlite_where=sa.text(REFUNDS),
        postgresql_where=sa.text(REFUNDS),
    )


def downgrade() -> None:
    op.drop_index("ix_events_refunds_occurred", table_name="events")
    op.create_index("ix_events_type_occurred", "events", ["type", "occurred_at"])
