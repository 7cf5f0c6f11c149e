"""What every projection step receives: one batch of locked customers and their new facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.customers.aggregates import OrderFacts
from app.customers.models import Customer
from app.events.schemas import EventIn


@dataclass
class Batch:
    session: AsyncSession
    settings: Settings
    now: datetime
    # Every customer of the batch, locked for this transaction, keyed by the sender's id.
    customers: dict[str, Customer]
    # The events being folded, in (occurred_at, event_id) order.
    accepted: list[EventIn] = field(default_factory=list)
    # Senders' ids of customers whose purchases or refunds changed (or who are derived again
    # from all their facts).
    purchases_changed: set[str] = field(default_factory=set)
    # Every order of those customers (all time), as the aggregates were computed from them.
    orders: dict[str, list[OrderFacts]] = field(default_factory=dict)
    # Customers outside the batch whose derived state depends on this one (a referrer whose
    # credit moved): marked pending, so their own fold picks the change up.
    also_pending: set[str] = field(default_factory=set)
