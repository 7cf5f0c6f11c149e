"""Prometheus metrics: requests by route template, ingest counts, outbox backlog, deliveries."""

from __future__ import annotations

from datetime import UTC

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.core.outbox import OutboxMessage

REQUESTS = Counter("touchpoint_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "touchpoint_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS = Counter("touchpoint_events_total", "Events received", ["type", "status"])
DELIVERY_FAILURES = Counter(
    "touchpoint_webhook_delivery_failures_total", "Failed webhook attempts", ["kind"]
)
DELIVERIES = Counter("touchpoint_webhook_deliveries_total", "Webhook attempts", ["kind", "result"])
OUTBOX_BACKLOG = Gauge("touchpoint_outbox_backlog", "Outbox messages not yet fanned out")
OUTBOX_AGE = Gauge(
    "touchpoint_outbox_oldest_age_seconds", "Age of the oldest message not yet fanned out"
)
PROJECTION_BACKLOG = Gauge(
    "touchpoint_projection_backlog", "Customers whose facts are not derived yet"
)
PROJECTION_LAG = Gauge(
    "touchpoint_projection_lag_seconds", "Age of the oldest fact not derived yet"
)
PROJECTION_FAILED = Gauge(
    "touchpoint_projection_failed", "Customers set aside because deriving them raised"
)
RATE_LIMITED = Counter("touchpoint_rate_limited_total", "Requests refused by the rate limit")
RATE_LIMIT_STORE_ERRORS = Counter(
    "touchpoint_rate_limit_store_errors_total",
    "Times the shared rate-limit store (Redis) did not answer and the limit fell back per process",
)

CONTENT_TYPE = CONTENT_TYPE_LATEST


async def render(session: AsyncSession, projection: tuple[int, float, int]) -> bytes:
    """Refresh the gauges that need the database (cheap: the partial index on undispatched
    messages), then render every metric."""
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(OutboxMessage.created_at)).where(
                OutboxMessage.dispatched_at.is_(None)
            )
        )
    ).one()
    OUTBOX_BACKLOG.set(count or 0)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    OUTBOX_AGE.set((utcnow() - oldest).total_seconds() if oldest else 0)
    pending, lag, failed = projection
    PROJECTION_BACKLOG.set(pending)
    PROJECTION_LAG.set(lag)
    PROJECTION_FAILED.set(failed)
    return generate_latest()
