"""The worker side of webhooks: fan-out of the outbox, fair claims, lanes, attempts, retries.

Fairness: deliveries are claimed endpoint by endpoint (at most `PER_ENDPOINT` each), only for
endpoints whose request bucket has room, and each endpoint's batch runs in its own lane (an
asyncio task) so a slow receiver holds up only itself. A pass returns as soon as one lane is
done; the others go on in the background and their endpoints are skipped by the following
passes until they are done (one worker at a time per endpoint, across processes too, through
`lane_until`). A delivery never sleeps for a rate limit: one that may not go yet is put back
with the time it may, and only a pass with nothing else to do waits for the next free slot.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.core import metrics
from app.core.db import Database, utcnow
from app.core.outbox import OutboxMessage, emit
from app.core.settings import Settings
from app.webhooks import bitrix, pacing, repository, retry, standard
from app.webhooks.models import Attempt, WebhookEndpoint
from app.webhooks.outcome import Outcome
from app.webhooks.payloads import body_of, endpoint_public

log = logging.getLogger("touchpoint.webhooks")

FAN_OUT_BATCH = 500
# Deliveries claimed per endpoint and pass; the lease of each covers the ones before it.
PER_ENDPOINT = 20
# Lanes (endpoints being delivered to) running at once in one process.
MAX_LANES = 16

Sender = Callable[
    [Database, Settings, httpx.AsyncClient, WebhookEndpoint, OutboxMessage, list[str] | None],
    Awaitable[Outcome],
]
SENDERS: dict[str, Sender] = {"standard": standard.send, "bitrix24": bitrix.deliver}

__all__ = ["Outcome", "body_of", "deliver_due", "fan_out", "record"]


@dataclass
class Claimed:
    delivery_id: int
    attempts: int  # the lease token: the attempt number this worker claimed
    message: OutboxMessage
    progress: list[str] | None


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


def bucket_of(endpoint: WebhookEndpoint, settings: Settings) -> pacing.Bucket | None:
    if endpoint.kind == "bitrix24":
        return bitrix.bucket_of(endpoint, settings)
    if endpoint.rate_limit_per_second:
        return pacing.spacing_bucket(endpoint.rate_limit_per_second)
    return None


def _ready_at(endpoint: WebhookEndpoint, settings: Settings, now: datetime) -> datetime:
    bucket = bucket_of(endpoint, settings)
    return now if bucket is None else bucket.ready_at(endpoint.next_send_at, now)


def _room(endpoint: WebhookEndpoint, settings: Settings, now: datetime) -> int:
    """How many deliveries to claim for the endpoint now: as many requests as its bucket
    has room for (0 when it is empty: then they are not even claimed)."""
    bucket = bucket_of(endpoint, settings)
    if bucket is None:
        return PER_ENDPOINT
    room = int(bucket.usable - bucket.level(endpoint.next_send_at, now) + 1e-9)
    return max(0, min(PER_ENDPOINT, room))


class Lanes:
    """The endpoints this process is delivering to right now, one task each."""

    def __init__(self) -> None:
        self.running: dict[int, asyncio.Task[int]] = {}
        self.last_started = 0  # round-robin among endpoints when more are due than lanes

    def busy(self) -> set[int]:
        self.running = {k: t for k, t in self.running.items() if not t.done()}
        return set(self.running)

    def start(self, endpoint_id: int, work: Coroutine[Any, Any, int]) -> asyncio.Task[int]:
        task = asyncio.create_task(work, name=f"webhook-lane-{endpoint_id}")
        self.running[endpoint_id] = task
        self.last_started = endpoint_id
        return task


_lanes: weakref.WeakKeyDictionary[AsyncEngine, Lanes] = weakref.WeakKeyDictionary()


def lanes_of(db: Database) -> Lanes:
    return _lanes.setdefault(db.engine, Lanes())


@dataclass
class Claims:
    lanes: list[tuple[WebhookEndpoint, list[Claimed]]]
    # The first moment an endpoint with due work but an empty bucket has room again.
    next_ready: datetime | None = None


async def claim(db: Database, settings: Settings, lanes: Lanes) -> Claims:
    """Lease due deliveries, at most PER_ENDPOINT for each ready endpoint not busy here."""
    busy = lanes.busy()
    free_lanes = MAX_LANES - len(busy)
    if free_lanes <= 0:
        return Claims([])
    next_ready: datetime | None = None
    async with db.sessionmaker() as session, session.begin():
        now = utcnow()
        due = await repository.due_endpoints(session, now, busy)
        due.sort(key=lambda e: (e.id <= lanes.last_started, e.id))
        claimed: list[tuple[WebhookEndpoint, list[Claimed]]] = []
        for endpoint in due:
            if len(claimed) >= free_lanes:
                break
            room = _room(endpoint, settings, now)
            if room == 0:  # its bucket is empty: not even claimed, so nobody waits on it
                ready = _ready_at(endpoint, settings, now)
                next_ready = ready if next_ready is None else min(next_ready, ready)
                continue
            items = await _lease(session, endpoint.id, now, settings, room)
            if items:
                endpoint.lane_until = now + _lease_time(settings, len(items))
                claimed.append((endpoint, items))
        await session.flush()
        session.expunge_all()  # the endpoints and messages travel on as plain values
    return Claims(claimed, next_ready)


async def _lease(
    session: AsyncSession, endpoint_id: int, now: datetime, settings: Settings, limit: int
) -> list[Claimed]:
    items = []
    rows = await repository.claim_for(session, endpoint_id, now, limit)
    for position, (delivery, message) in enumerate(rows):
        delivery.status = "delivering"
        delivery.attempts += 1
        # Sent one after another: the lease covers the time the ones before may take.
        delivery.next_attempt_at = now + _lease_time(settings, position)
        items.append(Claimed(delivery.id, delivery.attempts, message, delivery.progress))
    return items


def _lease_time(settings: Settings, before: int) -> timedelta:
    return timedelta(
        seconds=settings.webhook_lease_seconds + before * settings.webhook_timeout_seconds
    )


async def _lane(
    db: Database, settings: Settings, endpoint: WebhookEndpoint, items: list[Claimed]
) -> int:
    """Send one endpoint's claimed messages in order; stop at the first "not before T"."""
    try:
        await _send_in_order(db, settings, endpoint, items)
        return len(items)
    finally:
        if endpoint.lane_until is not None:
            async with db.sessionmaker() as session, session.begin():
                await repository.end_lane(session, endpoint.id, endpoint.lane_until)


async def _send_in_order(
    db: Database, settings: Settings, endpoint: WebhookEndpoint, items: list[Claimed]
) -> None:
    send = SENDERS.get(endpoint.kind, standard.send)
    async with httpx.AsyncClient(
        timeout=settings.webhook_timeout_seconds, trust_env=False
    ) as client:
        for index, item in enumerate(items):
            started = utcnow()
            t0 = time.perf_counter()
            try:
                outcome = await send(db, settings, client, endpoint, item.message, item.progress)
            except Exception as exc:  # a bug must not lose the message: it is retried
                log.exception("delivery %s failed unexpectedly", item.delivery_id)
                outcome = Outcome(False, error=f"internal error: {type(exc).__name__}")
            duration = int((time.perf_counter() - t0) * 1000)
            try:
                await record(db, settings, item, started, outcome, duration)
                if outcome.defer_until is not None:
                    await _release(db, items[index + 1 :], outcome.defer_until)
                    return
            except Exception:
                # The lease runs out and the deliveries are claimed again: nothing is lost.
                log.exception("recording delivery %s failed", item.delivery_id)
                return


async def deliver_due(db: Database, settings: Settings) -> int:
    """Claim due deliveries fairly and send them, each endpoint in its own lane.

    Returns as soon as one lane of this process is done (or after
    TOUCHPOINT_WEBHOOK_ROUND_SECONDS): the next pass claims again for that endpoint while
    slower lanes go on. With no lane running, it waits (as long at most) for the first
    endpoint whose bucket frees up. Answers the deliveries claimed now plus those of the lanes
    that finished meanwhile (1 after such a wait), so the worker comes straight back while
    there is work.
    """
    lanes = lanes_of(db)
    claims = await claim(db, settings, lanes)
    for endpoint, items in claims.lanes:
        lanes.start(endpoint.id, _lane(db, settings, endpoint, items))
    claimed = sum(len(items) for _, items in claims.lanes)
    running = list(lanes.running.values())
    if not running:
        if claims.next_ready is None:
            return 0
        wait = (claims.next_ready - utcnow()).total_seconds()
        if wait > settings.webhook_round_seconds:
            return 0
        await asyncio.sleep(max(wait, 0.0))  # the slot comes before the next poll would
        return 1
    done, _ = await asyncio.wait(
        running, timeout=settings.webhook_round_seconds, return_when=asyncio.FIRST_COMPLETED
    )
    finished = sum(t.result() for t in done if not t.cancelled() and t.exception() is None)
    return claimed + finished


async def _release(db: Database, items: list[Claimed], until: datetime) -> None:
    """Put back claimed deliveries that were not tried: no attempt counted."""
    if not items:
        return
    async with db.sessionmaker() as session, session.begin():
        for item in items:
            delivery = await repository.delivery_for_update(session, item.delivery_id)
            if delivery and delivery.status == "delivering" and delivery.attempts == item.attempts:
                delivery.status, delivery.next_attempt_at = "pending", until
                delivery.attempts -= 1


async def record(
    db: Database,
    settings: Settings,
    item: Claimed,
    started: datetime,
    outcome: Outcome,
    duration_ms: int,
) -> None:
    async with db.sessionmaker() as session, session.begin():
        delivery = await repository.delivery_for_update(session, item.delivery_id)
        if (
            delivery is None
            or delivery.status != "delivering"
            or delivery.attempts != item.attempts
        ):
            return  # our lease ran out and another worker took over: its result stands
        if outcome.requested:
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
        if outcome.progress is not None:
            delivery.progress = list(outcome.progress)
        if outcome.requested:
            delivery.last_status_code = outcome.status_code
            delivery.last_error = outcome.error
            result = "success" if outcome.ok else "failure"
            metrics.DELIVERIES.labels(endpoint.kind, result).inc()
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
        if outcome.defer_until is not None:
            # The receiver's limits said when: wait until then without using up the schedule.
            delivery.status, delivery.next_attempt_at = "pending", outcome.defer_until
            delivery.attempts -= 1
            if outcome.requested:
                await _note_failure(session, settings, endpoint, now)
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
        await _note_failure(session, settings, endpoint, now)


async def _note_failure(
    session: AsyncSession, settings: Settings, endpoint: WebhookEndpoint, now: datetime
) -> None:
    endpoint.failing_since = endpoint.failing_since or now
    if now - endpoint.failing_since > timedelta(hours=settings.webhook_disable_after_hours):
        await _disable(session, endpoint, "failing for too long without a success", now)


async def _disable(
    session: AsyncSession, endpoint: WebhookEndpoint, reason: str, now: datetime
) -> None:
    if not endpoint.enabled:
        return
    endpoint.enabled = False
    endpoint.disabled_reason = reason
    await emit(
        session,
        "endpoint.disabled",
        endpoint_public(endpoint) | {"reason": reason, "at": now.isoformat()},
    )
