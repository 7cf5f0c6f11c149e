"""The stage a customer's own history gives at the moment of each purchase.

A purchase earns at the rate of that stage, so what it earns does not depend on when the
projection folds it, nor on which other events share its batch: the customer's stored events
up to the purchase, in (occurred_at, event_id) order, decide through the ladder's own rules.
Only the facts the ladder reads are replayed, straight from the stored payloads (validated when
they were accepted), which keeps this cheap enough to run for every batch.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.cashback import repository
from app.core.money import to_minor
from app.core.settings import Settings
from app.customers import aggregates
from app.events.hooks import IngestContext
from app.events.schemas import PurchaseEvent
from app.stages.rules import Facts, evaluate

LEAD_RANK = {"interest": 1, "desire": 2}
# Event types that move a customer on the ladder (contacts do not).
LADDER_TYPES = ("purchase", "refund", "lead", "review", "profile")


@dataclass
class _Replay:
    orders: dict[str, aggregates.OrderFacts] = field(default_factory=dict)
    lead_level: str | None = None
    exclusive: bool | None = None
    best_public_rating: int | None = None

    def fold(self, kind: str, at: datetime, payload: dict[str, Any]) -> None:
        if kind == "purchase":
            self.orders[payload["order_id"]] = aggregates.OrderFacts(
                payload["order_id"],
                at,
                to_minor(Decimal(str(payload["amount"]))),
                0,
                payload.get("category"),
            )
        elif kind == "refund" and payload["order_id"] in self.orders:
            o = self.orders[payload["order_id"]]
            refunded = o.refunded_minor + to_minor(Decimal(str(payload["amount"])))
            self.orders[o.order_id] = aggregates.OrderFacts(
                o.order_id, o.occurred_at, o.amount_minor, refunded, o.category
            )
        elif kind == "lead":
            level = payload.get("level")
            if level in LEAD_RANK and LEAD_RANK[level] > LEAD_RANK.get(self.lead_level or "", 0):
                self.lead_level = level
        elif kind == "review":
            rating = int(payload.get("rating") or 0)
            if payload.get("public") and rating > (self.best_public_rating or 0):
                self.best_public_rating = rating
        elif kind == "profile" and payload.get("exclusive") is not None:
            self.exclusive = bool(payload["exclusive"])  # events arrive in version order

    def stage(self, at: datetime, referrals: int, settings: Settings) -> str:
        agg = aggregates.compute(self.orders.values())
        category = agg.main_category
        facts = Facts(
            as_of=at,
            purchase_count=agg.purchase_count,
            last_purchase_at=agg.last_purchase_at,
            interval_median_days=agg.interval_median_days,
            interval_mean_days=agg.interval_mean_days,
            interval_stdev_days=agg.interval_stdev_days,
            main_category=category,
            category_rhythm_days=settings.category_rhythm_days.get(category) if category else None,
            lead_level=self.lead_level,
            exclusive=self.exclusive,
            best_public_rating=self.best_public_rating,
            referrals_converted=referrals,
        )
        return evaluate(facts, settings.stages).stage


async def stages_at_purchase(ctx: IngestContext, purchases: list[PurchaseEvent]) -> dict[str, str]:
    """Stage at each purchase's time, by order id."""
    if not purchases:
        return {}
    owners = {ctx.customers[p.customer_id].id: ctx.customers[p.customer_id] for p in purchases}
    wanted = {p.event_id for p in purchases}
    latest = max(p.occurred_at for p in purchases)
    rows = await repository.ladder_events(ctx.session, set(owners), LADDER_TYPES, latest)
    referred = await repository.referred_buyers(
        ctx.session, {c.external_id for c in owners.values()}
    )
    replays: dict[int, _Replay] = defaultdict(_Replay)
    stages: dict[str, str] = {}
    for customer_pk, event_id, kind, at, payload in rows:
        replay = replays[customer_pk]
        replay.fold(kind, at, payload)
        if kind == "purchase" and event_id in wanted:
            firsts = referred[owners[customer_pk].external_id]
            referrals = sum(1 for first in firsts if first <= at)
            stages[payload["order_id"]] = replay.stage(at, referrals, ctx.settings)
    return stages
