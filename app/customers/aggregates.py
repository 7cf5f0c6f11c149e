"""Purchase aggregates computed from a customer's orders (pure; no I/O).

Computing them from the whole set of orders, rather than adjusting counters event by event,
is what makes the result independent of the order in which events arrive.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class OrderFacts:
    order_id: str
    occurred_at: datetime
    amount_minor: int
    refunded_minor: int
    category: str | None = None

    @property
    def net_minor(self) -> int:
        return self.amount_minor - self.refunded_minor

    @property
    def counts(self) -> bool:
        """A fully refunded order is undone: it no longer counts as a purchase. A zero-amount
        order (a gift, a full discount) cannot be refunded and always counts."""
        return self.net_minor > 0 or self.amount_minor == 0


@dataclass(frozen=True)
class PurchaseAggregates:
    purchase_count: int = 0
    purchase_days: int = 0
    gross_revenue_minor: int = 0
    refunded_minor: int = 0
    net_revenue_minor: int = 0
    avg_check_minor: int = 0
    first_purchase_at: datetime | None = None
    last_purchase_at: datetime | None = None
    interval_count: int = 0
    interval_mean_days: float | None = None
    interval_median_days: float | None = None
    interval_stdev_days: float | None = None
    main_category: str | None = None

    def as_columns(self) -> dict[str, object]:
        return dict(self.__dict__)


def _round_div(numerator: int, denominator: int) -> int:
    """Integer division rounded half to even, for money in minor units."""
    q, r = divmod(numerator, denominator)
    twice = 2 * r
    if twice > denominator or (twice == denominator and q % 2 == 1):
        q += 1
    return q


def _pstdev(values: list[float]) -> float:
    """Population standard deviation in floats (statistics.pstdev is exact, and slow)."""
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))


def compute(orders: Iterable[OrderFacts]) -> PurchaseAggregates:
    all_orders = list(orders)
    counted = sorted((o for o in all_orders if o.counts), key=lambda o: (o.occurred_at, o.order_id))
    gross = sum(o.amount_minor for o in all_orders)
    refunded = sum(o.refunded_minor for o in all_orders)
    net = gross - refunded
    if not counted:
        return PurchaseAggregates(
            gross_revenue_minor=gross, refunded_minor=refunded, net_revenue_minor=net
        )
    intervals = [
        (b.occurred_at - a.occurred_at).total_seconds() / SECONDS_PER_DAY
        for a, b in itertools.pairwise(counted)
    ]
    by_category: dict[str, int] = defaultdict(int)
    for o in counted:
        if o.category:
            by_category[o.category] += o.net_minor
    main_category = (
        min(by_category.items(), key=lambda kv: (-kv[1], kv[0]))[0] if by_category else None
    )
    return PurchaseAggregates(
        purchase_count=len(counted),
        purchase_days=len({o.occurred_at.date() for o in counted}),
        gross_revenue_minor=gross,
        refunded_minor=refunded,
        net_revenue_minor=net,
        avg_check_minor=_round_div(sum(o.net_minor for o in counted), len(counted)),
        first_purchase_at=counted[0].occurred_at,
        last_purchase_at=counted[-1].occurred_at,
        interval_count=len(intervals),
        interval_mean_days=math.fsum(intervals) / len(intervals) if intervals else None,
        interval_median_days=statistics.median(intervals) if intervals else None,
        interval_stdev_days=_pstdev(intervals) if len(intervals) > 1 else None,
        main_category=main_category,
    )
