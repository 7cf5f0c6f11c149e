"""The worker side of webhooks: fan-out of the outbox, claims with a lease, attempts, retries."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from app.core import metrics
from app.core.db import Database, utcnow
from app.core.outbox import OutboxMessage, emit
from app.core.settings import Settings
from app.webhooks import repository, retry, signing, ssrf
from app.webhooks.models import Attempt, WebhookEndpoint

log = logging.getLogger("touchpoint.webhooks")

FAN_OUT_BATCH = 500
DELIVERY_BATCH = 20


@dataclass
class Outcome:
    ok: bool
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None
    excerpt: str | None = None
    gone: bool = False  # 410: the receiver asks us to stop


def body_of(message: OutboxMessage) -> bytes:
    """The exact bytes sent (and signed): {type, timestamp, data}."""
    return json.dumps(
        {
            "type": message.type,
            "timestamp": message.created_at.isoformat(),
            "data": message.payload,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


async def fan_out(db: Database, settings: Settings) -> int:
    """Give every undispatched outbox message a delivery per subscribed, enabled endpoint."""
    async with db.sessionmaker() as session, session.begin():
        messages = await repository.undispatched(session, FAN_OUT_BATCH)
        if not messages:
            return 0
        endpoints = await repository.enabled_endpoints(session)
        now = utcnow()
        rows = [
            {
                "endpoint_id": e.id,
                "message_id": m.id,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for m in messages
            for e in endpoints
            if not e.event_types or m.type in e.event_types
        ]
        await repository.add_deliveries(session, rows)
        for m in messages:
            m.dispatched_at = now
        return len(messages)


async def reserve_slot(db: Database, endpoint_id: int, per_second: float) -> None:
    """Wait for this endpoint's next free slot; slots are shared by every worker (row lock)."""
    async with db.sessionmaker() as session, session.begin():
        endpoint = await repository.endpoint_for_update(session, endpoint_id)
        if endpoint is None:
            return
        now = utcnow()
        slot = max(endpoint.next_send_at or now, now)
        endpoint.next_send_at = slot + timedelta(seconds=1.0 / per_second)
    wait = (slot - now).total_seconds()
    if wait > 0:
        await asyncio.sleep(wait)


async def send_standard(
    db: Database,
    settings: Settings,
    client: httpx.AsyncClient,
    endpoint: WebhookEndpoint,
    message: OutboxMessage,
) -> Outcome:
    try:
        await ssrf.check(endpoint.url, settings.webhook_allow_private)
    except ssrf.UnsafeTarget as exc:
        return Outcome(False, error=f"refused target: {exc}")
    now = utcnow()
    secrets = [endpoint.secret]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_until
        and endpoint.previous_secret_until > now
    ):
        secrets.append(endpoint.previous_secret)
    body = body_of(message)
    headers = signing.headers(secrets, message.message_id, int(time.time()), body)
    if endpoint.rate_limit_per_second:
        await reserve_slot(db, endpoint.id, endpoint.rate_limit_per_second)
    try:
        response = await client.post(endpoint.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500])
    code = response.status_code
    excerpt = response.text[:500]
    if 200 <= code < 300:
        return Outcome(True, code, excerpt=excerpt)
    retry_after = (
        retry.parse_retry_after(response.headers.get("retry-after"), utcnow())
        if code in (429, 503)
        else None
    )
    return Outcome(False, code, f"HTTP {code}", retry_after, excerpt, gone=code == 410)


async def record(
    db: Database,
    settings: Settings,
    delivery_id: int,
    attempts: int,
    started: datetime,
    outcome: Outcome,
    duration_ms: int,
) -> None:
    async with db.sessionmaker() as session, session.begin():
        delivery = await repository.delivery_for_update(session, delivery_id)
        if delivery is None or delivery.status != "delivering" or delivery.attempts != attempts:
            return  # our lease ran out and another worker took over: its result stands
        session.add(
            Attempt(
                delivery_id=delivery.id,
                attempted_at=started,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=duration_ms,
                response_excerpt=outcome.excerpt,
            )
        )
        endpoint = await repository.endpoint_for_update(session, delivery.endpoint_id)
        assert endpoint is not None
        now = utcnow()
        delivery.last_status_code = outcome.status_code
        delivery.last_error = outcome.error
        metrics.DELIVERIES.labels(endpoint.kind, "success" if outcome.ok else "failure").inc()
        if not outcome.ok:
            metrics.DELIVERY_FAILURES.labels(endpoint.kind).inc()
        if outcome.ok:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
                "succeeded",
                now,
                None,
            )
            endpoint.failing_since = None
            return
        if outcome.gone:
            delivery.status, delivery.next_attempt_at = "failed", None
            await _disable(session, endpoint, "the receiver answered 410 Gone", now)
            return
        delay = retry.next_delay(
            delivery.attempts, settings.webhook_retry_schedule_seconds, outcome.retry_after
        )
        if delay is None:
            delivery.status, delivery.next_attempt_at = "failed", None
        else:
            delivery.status, delivery.next_attempt_at = "pending", now + timedelta(seconds=delay)
        endpoint.failing_since = endpoint.failing_since or now
        if now - endpoint.failing_since > timedelta(hours=settings.webhook_disable_after_hours):
            await _disable(session, endpoint, "failing for too long without a success", now)


async def _disable(session: Any, endpoint: WebhookEndpoint, reason: str, now: datetime) -> None:
    if not endpoint.enabled:
        return
    endpoint.enabled = False
    endpoint.disabled_reason = reason
    await emit(
        session,
        "endpoint.disabled",
        {"endpoint_id": endpoint.id, "url": endpoint.url, "reason": reason, "at": now.isoformat()},
    )


async def deliver_due(db: Database, settings: Settings) -> int:
    """Claim due deliveries (lease), send them, record each outcome."""
    from app.webhooks import bitrix

    async with db.sessionmaker() as session, session.begin():
        now = utcnow()
        claimed = await repository.claim(session, now, DELIVERY_BATCH)
        work = []
        for delivery, endpoint, message in claimed:
            delivery.status = "delivering"
            delivery.attempts += 1
            delivery.next_attempt_at = now + timedelta(seconds=settings.webhook_lease_seconds)
            work.append((delivery.id, delivery.attempts, endpoint, message))
        await session.flush()
        session.expunge_all()  # the endpoint and message travel on as plain values
    if not work:
        return 0
    async with httpx.AsyncClient(timeout=settings.webhook_timeout_seconds) as client:
        for delivery_id, attempts, endpoint, message in work:
            started = utcnow()
            t0 = time.perf_counter()
            try:
                if endpoint.kind == "bitrix24":
                    outcome = await bitrix.deliver(db, settings, client, endpoint, message)
                else:
                    outcome = await send_standard(db, settings, client, endpoint, message)
            except Exception as exc:  # a bug must not lose the message: it is retried
                log.exception("delivery %s failed unexpectedly", delivery_id)
                outcome = Outcome(False, error=f"internal error: {type(exc).__name__}")
            duration = int((time.perf_counter() - t0) * 1000)
            await record(db, settings, delivery_id, attempts, started, outcome, duration)
    return len(work)
