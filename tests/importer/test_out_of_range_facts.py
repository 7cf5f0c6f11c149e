"""Facts an older import stored outside the accepted range of times (issue 19 #4).

Such a row (31.12.9999) made the derived state overflow: the customer stayed a prospect with
the order stored, and every later read or purchase of that customer failed. The importer now
refuses it (tests/importer/test_import_input_rules.py); the migration 20261202_19a removes what
older imports stored and derives those customers again.
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import func, select

from app.customers.models import Order
from app.events.models import Event
from app.importer.parse import Batch, Row
from app.importer.service import import_batches
from app.projection.models import PendingMark
from tests import factories as f

MIGRATION = (
    Path(__file__).resolve().parents[2]
    / "migrations/versions/20261202_19a_facts_out_of_time_range.py"
)


def _migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("facts_out_of_time_range", MIGRATION)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(line: int, customer: str, order: str, at: datetime) -> Row:
    return Row(line, customer, order, at, Decimal("100.00"), "purchase", None, None, None,
               f"import:{order}", (line,))  # fmt: skip


async def test_the_migration_removes_facts_no_derivation_can_use(
    client: httpx.AsyncClient, admin: dict[str, str], app: Any, settings: Any
) -> None:
    # As an import before the time rules wrote them; not derived yet (it would overflow).
    rows = [
        _row(2, "abs", "abs-1", datetime(2025, 3, 1, tzinfo=UTC)),
        _row(3, "abs", "abs-9999", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
        _row(4, "abs", "abs-0001", datetime(1, 1, 1, tzinfo=UTC)),
        _row(5, "fine", "fine-1", datetime(2025, 3, 1, tzinfo=UTC)),
    ]
    report = await import_batches(app.state.db, settings, [Batch(rows, [], 4, 0)], wait=False)
    assert report.imported == 4

    def upgrade(connection: Any) -> None:
        with Operations.context(MigrationContext.configure(connection)):
            _migration().upgrade()

    async with app.state.db.engine.begin() as conn:
        await conn.run_sync(upgrade)

    async with app.state.db.sessionmaker() as s:
        orders = set(await s.scalars(select(Order.order_id)))
        assert orders == {"abs-1", "fine-1"}
        assert await s.scalar(select(func.count()).select_from(Event)) == 2
        assert await s.scalar(select(func.count()).where(PendingMark.event_id.is_(None))) == 1
    abs_ = await client.get("/v1/customers/abs", headers=admin)
    assert abs_.status_code == 200, abs_.text
    assert abs_.json()["purchases"]["purchase_count"] == 1
    assert (await client.get("/v1/customers/abs/stage", headers=admin)).json()["stage"] == "buyer"
    later = await client.post("/v1/events", json=f.purchase("abs"), headers=admin)
    assert later.status_code == 201, later.text
    # Nothing to remove: the migration changes nothing.
    async with app.state.db.engine.begin() as conn:
        await conn.run_sync(upgrade)
    async with app.state.db.sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(Order)) == 3
