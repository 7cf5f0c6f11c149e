"""How fast requests may leave for one endpoint: a leaky bucket kept as one timestamp (pure).

The bucket is the one Bitrix24 keeps per portal: every request adds one, it drains `per_second`
a second, and above `capacity` the portal answers 503 QUERY_LIMIT_EXCEEDED. Its level at time t
is `(tat - t) * per_second`, where `tat` (the "theoretical arrival time" of the generic cell
rate algorithm) is all the state there is, so every worker shares it through one column of
the endpoint row. A request is never waited for: when the bucket has no room the caller
defers the work to `ready_at` and gets on with other endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Bucket:
    capacity: float  # requests the receiver accepts at once
    per_second: float  # how fast it drains
    headroom: float = 0.0  # requests of the capacity left unused (clock and network jitter)

    @property
    def usable(self) -> float:
        return max(self.capacity - self.headroom, 1.0)

    def level(self, tat: datetime | None, now: datetime) -> float:
        if tat is None or tat <= now:
            return 0.0
        return (tat - now).total_seconds() * self.per_second

    def ready_at(self, tat: datetime | None, now: datetime, n: int = 1) -> datetime:
        """The first moment `n` more requests fit."""
        if tat is None:
            return now
        moment = tat - timedelta(seconds=(self.usable - n) / self.per_second)
        return max(moment, now)

    def take(self, tat: datetime | None, now: datetime, n: int = 1) -> datetime | None:
        """The new `tat` if `n` requests may leave now, else None (nothing taken)."""
        if self.level(tat, now) + n > self.usable + 1e-9:
            return None
        start = max(tat or now, now)
        return start + timedelta(seconds=n / self.per_second)

    def full(self, now: datetime) -> datetime:
        """The `tat` of a bucket filled to capacity: after a 503 the receiver told us so."""
        return now + timedelta(seconds=self.capacity / self.per_second)


# Bitrix24's published limits per portal: 50 requests and 2 a second; Enterprise 250 and 5.
BITRIX_PLANS = {"standard": (50.0, 2.0), "enterprise": (250.0, 5.0)}


def bitrix_bucket(plan: str | None, per_second: float | None = None) -> Bucket:
    """The portal's bucket for its plan; an endpoint's own `rate_limit_per_second` replaces the
    drain rate (a portal shared with other integrations leaves us less)."""
    capacity, drain = BITRIX_PLANS.get(plan or "standard", BITRIX_PLANS["standard"])
    # Keep a tenth of the burst (at least 2) unused: requests that leave in order may still
    # arrive bunched up.
    return Bucket(capacity, per_second or drain, headroom=max(2.0, capacity / 10))


def spacing_bucket(per_second: float) -> Bucket:
    """A plain rate limit: one request every 1/per_second seconds, no burst."""
    return Bucket(1.0, per_second)
