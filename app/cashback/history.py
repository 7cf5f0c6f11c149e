"""The stage a customer's own history gives at the moment of each purchase.

A purchase earns at the rate of that stage, so what it earns does not depend on when the
projection folds it, nor on which other events share its batch: the customer's stored events
up to the purchase (in (occurred_at, event_id) order) decide, replayed through the same rules as
ingestion and the ladder.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from app.cashback import repository
from app.core.money import to_minor
from app.core.settings import Settings
from app.customers import aggregates
from app.customers.models import Customer
from app.events.hooks import IngestContext
from app.events.schemas import PurchaseEvent, RefundEvent
from app.events.service import event_adapter, fold
from app.stages.rules import evaluate
from app.stages.service import facts_of


def _blank(c: Customer) -> Customer:
    return Customer(
        id=c.id,
        external_id=c.external_id,
        profile_versions={},
        contact_count=0,
        review_count=0,
        referrals_converted=0,
        stage="prospect",
        status="active",
    )


def _stage_at(
    replay: Customer,
    orders: dict[str, tuple[PurchaseEvent, int]],
    at: datetime,
    referred: list[datetime],
    settings: Settings,
) -> str:
    facts = [
        aggregates.OrderFacts(p.order_id, p.occurred_at, to_minor(p.amount), refunded, p.category)
        for p, refunded in orders.values()
    ]
    for name, value in aggregates.compute(facts).as_columns().items():
        setattr(replay, name, value)
    referrals = sum(1 for first in referred if first <= at)
    return evaluate(facts_of(replay, settings, at, referrals), settings.stages).stage


async def stages_at_purchase(ctx: IngestContext, purchases: list[PurchaseEvent]) -> dict[str, str]:
    """Stage at each purchase's time, by order id."""
    if not purchases:
        return {}
    owners = {ctx.customers[p.customer_id] for p in purchases}
    wanted = {p.event_id for p in purchases}
    latest = max(p.occurred_at for p in purchases)
    rows = await repository.events_of_customers(ctx.session, {c.id for c in owners}, latest)
    referred = await repository.referred_buyers(ctx.session, {c.external_id for c in owners})
    by_customer = defaultdict(list)
    for row in rows:
        by_customer[row.customer_id].append(row)
    stages: dict[str, str] = {}
    for c in owners:
        replay = _blank(c)
        orders: dict[str, tuple[PurchaseEvent, int]] = {}
        for row in by_customer[c.id]:
            event = event_adapter.validate_python(
                {
                    **row.payload,
                    "event_id": row.event_id,
                    "type": row.type,
                    "customer_id": c.external_id,
                    "occurred_at": row.occurred_at,
                }
            )
            fold(replay, event)
            if isinstance(event, PurchaseEvent):
                orders[event.order_id] = (event, 0)
                if event.event_id in wanted:
                    stages[event.order_id] = _stage_at(
                        replay, orders, event.occurred_at, referred[c.external_id], ctx.settings
                    )
            elif isinstance(event, RefundEvent) and event.order_id in orders:
                bought, refunded = orders[event.order_id]
                orders[event.order_id] = (bought, refunded + to_minor(event.amount))
    return stages
