"""Every customer's derived state as plain data, for comparing two ways of deriving it."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from app.cashback.models import CashbackEntry
from app.customers.models import Customer
from app.ltv.models import CustomerPrediction
from app.touches.models import Touch

# Bookkeeping, not derived state: row ids, when rows were written, and the stage history's
# batch-dependent timestamp (one change per derivation pass).
_SKIP = {"id", "customer_id", "created_at", "updated_at", "computed_at", "stage_since"}


def _row(obj: Any) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns if c.key not in _SKIP}


async def derived_state(app: Any, prefix: str) -> dict[str, Any]:
    """Customers whose id starts with `prefix`, with their ledger, stored prediction and
    planned touch; the prefix is replaced by `*` so that two copies of one history compare."""
    state: dict[str, Any] = {}
    async with app.state.db.sessionmaker() as session:
        customers = list(
            await session.scalars(select(Customer).where(Customer.external_id.startswith(prefix)))
        )
        for c in customers:
            entries = await session.scalars(
                select(CashbackEntry).where(CashbackEntry.customer_id == c.id)
            )
            prediction = await session.scalar(
                select(CustomerPrediction).where(CustomerPrediction.customer_id == c.id)
            )
            touches = await session.scalars(
                select(Touch).where(Touch.customer_id == c.id, Touch.status == "planned")
            )
            state[c.external_id] = {
                "customer": _row(c),
                "ledger": sorted(json.dumps(_row(e), default=str, sort_keys=True) for e in entries),
                "prediction": _row(prediction) if prediction else None,
                "touches": sorted(
                    json.dumps(_row(t), default=str, sort_keys=True) for t in touches
                ),
            }
    text = json.dumps(state, default=str, sort_keys=True).replace(prefix, "*")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def differences(left: Any, right: Any, path: str = "") -> list[str]:
    """Paths where two snapshots differ, with both values (readable test failures)."""
    if isinstance(left, dict) and isinstance(right, dict):
        out: list[str] = []
        for key in sorted(set(left) | set(right)):
            out += differences(left.get(key), right.get(key), f"{path}/{key}")
        return out
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [
            d
            for i, (a, b) in enumerate(zip(left, right, strict=False))
            for d in differences(a, b, f"{path}[{i}]")
        ]
    if isinstance(left, list) and isinstance(right, list):
        only_left = [x for x in left if x not in right]
        only_right = [x for x in right if x not in left]
        return [f"{path}: only left {only_left!r}; only right {only_right!r}"]
    return [] if left == right else [f"{path}: {left!r} != {right!r}"]
