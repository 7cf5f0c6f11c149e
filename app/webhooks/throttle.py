"""The shared state of an endpoint's limits: its leaky bucket and its paused methods.

Both live on the endpoint row, changed under its row lock, so every worker of every replica
keeps to one budget. Nothing here sleeps: a caller told "not before T" defers its work.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from app.core.db import Database, utcnow
from app.webhooks import repository
from app.webhooks.models import WebhookEndpoint
from app.webhooks.pacing import Bucket


async def take(db: Database, endpoint_id: int, bucket: Bucket, n: int = 1) -> datetime | None:
    """Take `n` request slots now; None when taken, else when they would be free."""
    async with db.sessionmaker() as session, session.begin():
        endpoint = await repository.endpoint_for_update(session, endpoint_id)
        if endpoint is None:
            return None
        now = utcnow()
        tat = bucket.take(endpoint.next_send_at, now, n)
        if tat is None:
            return bucket.ready_at(endpoint.next_send_at, now, n)
        endpoint.next_send_at = tat
        return None


async def fill(db: Database, endpoint_id: int, bucket: Bucket) -> datetime:
    """The receiver said its bucket is full (503 QUERY_LIMIT_EXCEEDED): wait for it to drain."""
    async with db.sessionmaker() as session, session.begin():
        endpoint = await repository.endpoint_for_update(session, endpoint_id)
        now = utcnow()
        full = bucket.full(now)
        if endpoint is not None:
            endpoint.next_send_at = max(endpoint.next_send_at or full, full)
        return bucket.ready_at(full, now)


def paused_until(
    paused: dict[str, float] | None, methods: Iterable[str], now: datetime
) -> datetime | None:
    """The latest pause among `methods` still running at `now` (pure)."""
    until = [paused[m] for m in methods if paused and m in paused]
    latest = max(until, default=0.0)
    if latest <= now.timestamp():
        return None
    return datetime.fromtimestamp(latest, UTC)


async def pause(db: Database, endpoint_id: int, method: str, until: datetime) -> None:
    """Call `method` of this endpoint no more before `until` (OPERATION_TIME_LIMIT)."""
    async with db.sessionmaker() as session, session.begin():
        endpoint = await repository.endpoint_for_update(session, endpoint_id)
        if endpoint is None:
            return
        now = utcnow().timestamp()
        paused = {m: t for m, t in (endpoint.paused_methods or {}).items() if t > now}
        paused[method] = max(paused.get(method, 0.0), until.timestamp())
        endpoint.paused_methods = paused


async def paused_methods(db: Database, endpoint_id: int) -> dict[str, float]:
    async with db.sessionmaker() as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        return dict(endpoint.paused_methods or {}) if endpoint else {}
