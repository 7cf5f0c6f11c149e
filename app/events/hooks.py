"""What other domains do with freshly ingested events, inside the same transaction.

Each domain registers one hook (see `app/wiring.py`); hooks run in registration order
after the customer aggregates are current, so a stage hook sees the new purchase count.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.customers.aggregates import OrderFacts
from app.customers.models import Customer
from app.events.schemas import EventIn


@dataclass
class IngestContext:
    session: AsyncSession
    settings: Settings
    now: datetime
    # Every customer touched by this transaction, locked, keyed by the sender's id.
    customers: dict[str, Customer]
    # The events applied in this transaction, in (occurred_at, event_id) order.
    accepted: list[EventIn] = field(default_factory=list)
    # Senders' ids of customers whose purchases or refunds changed.
    purchases_changed: set[str] = field(default_factory=set)
    # Every order of those customers (all time), as the aggregates were computed from them.
    orders: dict[str, list[OrderFacts]] = field(default_factory=dict)


IngestHook = Callable[[IngestContext], Awaitable[None]]
_hooks: list[tuple[str, IngestHook]] = []


def register(name: str, hook: IngestHook) -> None:
    if any(n == name for n, _ in _hooks):
        return
    _hooks.append((name, hook))


def registered() -> list[tuple[str, IngestHook]]:
    return list(_hooks)
