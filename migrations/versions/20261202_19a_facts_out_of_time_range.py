"""facts dated outside the accepted range of times: removed, their customers derived again

Imports before the importer applied the API's time rules stored rows dated `31.12.9999` or
`01.01.0001`, which the API never accepted; the date arithmetic of the derived state overflows
on them, so such a customer could not be derived or read again. The orders and events outside
[1900-01-01, 2200-01-01) UTC (the range every time input now has) are deleted; each of their
customers gets a pending mark without an event (derive again from its remaining facts), and
its marks set aside after a failure are retried.

Revision ID: 20261202_19a
Revises: 20261202_16
Create Date: 2026-12-02 05:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "20261202_19a"
down_revision: str | Sequence[str] | None = "20261202_16"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
TIME = app.core.db.UTCDateTime(timezone=True)


def _facts(name: str) -> sa.TableClause:
    return sa.table(name, sa.column("customer_id", sa.BigInteger), sa.column("occurred_at", TIME))


def _outside(table: sa.TableClause) -> sa.ColumnElement[bool]:
    at = table.c.occurred_at
    return sa.or_(at < sa.literal(EARLIEST, TIME), at >= sa.literal(LATEST, TIME))


def upgrade() -> None:
    bind = op.get_bind()
    tables = (_facts("orders"), _facts("events"))
    customers: set[int] = set()
    for table in tables:
        query = sa.select(table.c.customer_id).where(_outside(table)).distinct()
        customers |= {pk for (pk,) in bind.execute(query)}
    if not customers:
        return
    for table in tables:
        bind.execute(sa.delete(table).where(_outside(table)))
    marks = sa.table(
        "pending_marks",
        sa.column("customer_id", sa.BigInteger),
        sa.column("event_id", sa.String),
        sa.column("marked_at", TIME),
        sa.column("failed_at", TIME),
    )
    pks = sorted(customers)
    for start in range(0, len(pks), 1000):
        part = pks[start : start + 1000]
        bind.execute(sa.update(marks).where(marks.c.customer_id.in_(part)).values(failed_at=None))
    now = datetime.now(UTC)
    bind.execute(
        sa.insert(marks), [{"customer_id": pk, "event_id": None, "marked_at": now} for pk in pks]
    )


def downgrade() -> None:
    # The removed facts were never valid input; nothing to restore.
    pass
