"""Use cases of ingestion: validate, deduplicate, apply, keep aggregates current."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.core.errors import AppError, Conflict, IdempotencyConflict, Unprocessable
from app.core.money import to_minor
from app.core.settings import Settings
from app.customers import aggregates
from app.customers.models import Customer
from app.events import hooks, repository
from app.events.schemas import (
    PROFILE_FIELDS,
    ContactEvent,
    EventIn,
    EventResult,
    EventStatus,
    LeadEvent,
    ProfileEvent,
    PurchaseEvent,
    ReferralEvent,
    RefundEvent,
    ReviewEvent,
    occurred_key,
)

event_adapter: TypeAdapter[EventIn] = TypeAdapter(EventIn)

LEAD_RANK = {"interest": 1, "desire": 2}


class OrderExists(Conflict):
    slug, title = "order-exists", "Order already recorded"


class UnknownOrder(Unprocessable):
    slug, title = "unknown-order", "Refund for an unknown order"


class RefundTooLarge(Unprocessable):
    slug, title = "refund-exceeds-order", "Refund larger than what is left of the order"


class WrongCurrency(Unprocessable):
    slug, title = "wrong-currency", "Currency not accepted"


class FutureEvent(Unprocessable):
    slug, title = "event-in-future", "Event in the future"


class InvalidEvent(Unprocessable):
    slug, title = "validation", "Invalid event"


def body_hash(event: EventIn) -> str:
    # Fields serialise in declaration order and values in normal form ("100.5" → "100.50",
    # offsets → as given but parsed), so equal bodies hash equally however they were written.
    return hashlib.sha256(event.model_dump_json().encode()).hexdigest()


def problem_of(exc: AppError) -> dict[str, Any]:
    return {
        "type": exc.type_uri,
        "title": exc.title,
        "status": exc.status,
        "detail": exc.detail,
        **exc.extra,
    }


@dataclass
class _Pending:
    index: int
    event: EventIn
    hash: str


def check_event(event: EventIn, settings: Settings, now: datetime) -> None:
    """Checks that need the deployment's settings or the clock, not the database."""
    if event.occurred_at - now > timedelta(seconds=settings.max_future_skew_seconds):
        raise FutureEvent(
            f"occurred_at is more than {settings.max_future_skew_seconds} s in the future"
        )
    if isinstance(event, PurchaseEvent) and event.currency != settings.currency:
        raise WrongCurrency(
            f"This deployment accepts {settings.currency} only, not {event.currency}.",
            accepted_currency=settings.currency,
        )


async def ingest(
    session: AsyncSession, settings: Settings, raw_events: list[Any]
) -> list[EventResult]:
    """Apply a batch: every event gets its own result and is applied whole or not at all."""
    now = utcnow()
    results: list[EventResult | None] = [None] * len(raw_events)

    def reject(i: int, event_id: str | None, exc: AppError, event: EventIn | None = None) -> None:
        result = EventResult(
            event_id=event_id,
            status=EventStatus.REJECTED,
            customer_id=event.customer_id if event else None,
            type=event.type if event else None,
            error=problem_of(exc),
        )
        result._error_exc = exc
        results[i] = result

    # 1. Validate each event on its own.
    pending: list[_Pending] = []
    for i, raw in enumerate(raw_events):
        event_id = raw.get("event_id") if isinstance(raw, dict) else None
        event_id = event_id if isinstance(event_id, str) else None
        try:
            event = raw if isinstance(raw, _EVENT_CLASSES) else event_adapter.validate_python(raw)
            check_event(event, settings, now)
        except ValidationError as exc:
            errors = [
                {"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False, include_input=False)
            ]
            reject(i, event_id, InvalidEvent("The event does not match its schema.", errors=errors))
            continue
        except AppError as exc:
            reject(i, event_id, exc, event)
            continue
        pending.append(_Pending(i, event, body_hash(event)))

    # 2. Repeats inside the batch: the first occurrence stands for the others.
    first_by_id: dict[str, _Pending] = {}
    unique: list[_Pending] = []
    repeats: list[_Pending] = []
    for p in pending:
        first = first_by_id.setdefault(p.event.event_id, p)
        (unique if first is p else repeats).append(p)

    # 3. Lock the customers, then see which events are already stored.
    customers = await repository.lock_customers(session, {p.event.customer_id for p in unique})
    stored = await repository.stored_events(session, {p.event.event_id for p in unique})
    fresh: list[_Pending] = []
    for p in unique:
        old = stored.get(p.event.event_id)
        if old is None:
            fresh.append(p)
        elif old.body_hash == p.hash:
            results[p.index] = EventResult(
                event_id=old.event_id,
                status=EventStatus.DUPLICATE,
                customer_id=old.customer_id,
                type=old.type,
                received_at=old.received_at,
            )
        else:
            reject(p.index, p.event.event_id, _idempotency_conflict(), p.event)

    # 4. Orders: purchases first, so a refund may arrive in the same batch as its order.
    applied = await _apply_orders(session, customers, fresh, reject)

    # 5. Store the accepted events and fold them into the customers.
    applied.sort(key=lambda p: (p.event.occurred_at, p.event.event_id))
    await repository.insert_events(
        session,
        [
            {
                "event_id": p.event.event_id,
                "type": p.event.type,
                "customer_id": customers[p.event.customer_id].id,
                "occurred_at": p.event.occurred_at,
                "received_at": now,
                "body_hash": p.hash,
                "payload": p.event.model_dump(
                    mode="json", exclude={"event_id", "customer_id", "occurred_at", "type"}
                ),
            }
            for p in applied
        ],
    )
    for p in applied:
        fold(customers[p.event.customer_id], p.event)
        results[p.index] = EventResult(
            event_id=p.event.event_id,
            status=EventStatus.ACCEPTED,
            customer_id=p.event.customer_id,
            type=p.event.type,
            received_at=now,
        )
    ctx = hooks.IngestContext(
        session=session,
        settings=settings,
        now=now,
        customers=customers,
        accepted=[p.event for p in applied],
        purchases_changed={
            p.event.customer_id for p in applied if isinstance(p.event, PurchaseEvent | RefundEvent)
        },
    )
    await _refresh_purchase_aggregates(ctx)
    for _name, hook in hooks.registered():
        await hook(ctx)
    await repository.save_customers(session, customers.values())
    await session.flush()

    # 6. Repeats inside the batch mirror their first occurrence.
    for p in repeats:
        first = first_by_id[p.event.event_id]
        done = results[first.index]
        assert done is not None
        if first.hash != p.hash:
            reject(p.index, p.event.event_id, _idempotency_conflict(), p.event)
        elif done.status == EventStatus.REJECTED:
            results[p.index] = done
        else:
            results[p.index] = done.model_copy(update={"status": EventStatus.DUPLICATE})
    return [r for r in results if r is not None]


_EVENT_CLASSES = (
    PurchaseEvent,
    RefundEvent,
    ContactEvent,
    LeadEvent,
    ReferralEvent,
    ReviewEvent,
    ProfileEvent,
)


def _idempotency_conflict() -> IdempotencyConflict:
    return IdempotencyConflict(
        "An event with this event_id was already accepted with a different body."
    )


async def _apply_orders(
    session: AsyncSession,
    customers: dict[str, Customer],
    fresh: list[_Pending],
    reject: Any,
) -> list[_Pending]:
    """Insert new orders and apply refunds; returns every event that can be applied."""
    purchases = [p for p in fresh if isinstance(p.event, PurchaseEvent)]
    refunds = [p for p in fresh if isinstance(p.event, RefundEvent)]
    others = [p for p in fresh if not isinstance(p.event, PurchaseEvent | RefundEvent)]
    order_ids = {p.event.order_id for p in purchases + refunds}  # type: ignore[union-attr]
    known = await repository.orders_by_id(session, order_ids)

    applied = list(others)
    new_orders: dict[str, dict[str, Any]] = {}
    for p in sorted(purchases, key=lambda p: (p.event.occurred_at, p.event.event_id)):
        ev = p.event
        assert isinstance(ev, PurchaseEvent)
        if ev.order_id in known or ev.order_id in new_orders:
            reject(
                p.index,
                ev.event_id,
                OrderExists(f"Order {ev.order_id!r} was already recorded by another event."),
                ev,
            )
            continue
        new_orders[ev.order_id] = {
            "order_id": ev.order_id,
            "customer_id": customers[ev.customer_id].id,
            "occurred_at": ev.occurred_at,
            "amount_minor": to_minor(ev.amount),
            "refunded_minor": 0,
            "category": ev.category,
            "event_id": ev.event_id,
        }
        applied.append(p)
    await repository.insert_orders(session, list(new_orders.values()))

    if refunds:
        known.update(await repository.orders_by_id(session, set(new_orders)))
        refunded: dict[int, int] = {}
        for p in sorted(refunds, key=lambda p: (p.event.occurred_at, p.event.event_id)):
            ev = p.event
            assert isinstance(ev, RefundEvent)
            order = known.get(ev.order_id)
            if order is None or order.customer_id != customers[ev.customer_id].id:
                reject(
                    p.index,
                    ev.event_id,
                    UnknownOrder(
                        f"No order {ev.order_id!r} is recorded for customer {ev.customer_id!r}; "
                        "send the purchase first."
                    ),
                    ev,
                )
                continue
            already = refunded.get(order.id, order.refunded_minor)
            left = order.amount_minor - already
            if to_minor(ev.amount) > left:
                reject(
                    p.index,
                    ev.event_id,
                    RefundTooLarge(
                        f"Order {ev.order_id!r} has {left / 100:.2f} left to refund.",
                        refundable=f"{left / 100:.2f}",
                    ),
                    ev,
                )
                continue
            refunded[order.id] = already + to_minor(ev.amount)
            applied.append(p)
        await repository.add_refunds(session, refunded.items())
    return applied


def fold(c: Customer, ev: EventIn) -> None:
    """Fold one event into the customer's non-purchase facts.

    Every rule is a min, a max, a count or last-writer-wins by (occurred_at, event_id), so
    the result does not depend on the order in which events arrive.
    """
    at = ev.occurred_at
    c.first_seen_at = at if c.first_seen_at is None else min(c.first_seen_at, at)
    c.last_event_at = at if c.last_event_at is None else max(c.last_event_at, at)
    if isinstance(ev, ContactEvent):
        c.contact_count = (c.contact_count or 0) + 1
        c.last_contact_at = at if c.last_contact_at is None else max(c.last_contact_at, at)
    elif isinstance(ev, LeadEvent):
        if c.lead_level is None or LEAD_RANK[ev.level.value] > LEAD_RANK[c.lead_level]:
            c.lead_level = ev.level.value
        c.lead_at = at if c.lead_at is None else min(c.lead_at, at)
    elif isinstance(ev, ReferralEvent):
        version = occurred_key(at, ev.event_id)
        if c.referrer_version is None or version > c.referrer_version:
            c.referrer_id, c.referrer_version = ev.referrer_id, version
    elif isinstance(ev, ReviewEvent):
        c.review_count = (c.review_count or 0) + 1
        if ev.public and (c.best_public_rating or 0) < ev.rating:
            c.best_public_rating = ev.rating
    elif isinstance(ev, ProfileEvent):
        version = occurred_key(at, ev.event_id)
        versions = dict(c.profile_versions or {})
        for name in PROFILE_FIELDS:
            if name not in ev.model_fields_set:
                continue
            if versions.get(name, "") >= version:
                continue
            value = getattr(ev, name)
            if name == "preferred_channels" and value is not None:
                value = [ch.value for ch in value]
            elif name == "consents" and value is not None:
                value = {ch.value: ok for ch, ok in sorted(value.items())}
            setattr(c, name, value)
            versions[name] = version
        c.profile_versions = versions


async def _refresh_purchase_aggregates(ctx: hooks.IngestContext) -> None:
    if not ctx.purchases_changed:
        return
    by_pk = {ctx.customers[e].id: ctx.customers[e] for e in ctx.purchases_changed}
    facts: dict[int, list[aggregates.OrderFacts]] = defaultdict(list)
    for o in await repository.orders_of(ctx.session, list(by_pk)):
        facts[o.customer_id].append(
            aggregates.OrderFacts(
                o.order_id, o.occurred_at, o.amount_minor, o.refunded_minor, o.category
            )
        )
    for pk, customer in by_pk.items():
        ctx.orders[customer.external_id] = facts[pk]
        for name, value in aggregates.compute(facts[pk]).as_columns().items():
            setattr(customer, name, value)


async def customer_as_of(session: AsyncSession, customer: Customer, as_of: datetime) -> Customer:
    """The customer as the events at or before `as_of` describe them (a detached copy).

    Replays that customer's stored events through the same rules as ingestion, so any answer
    derived from it can be reproduced for a past moment.
    """
    copy = Customer(
        id=customer.id,
        external_id=customer.external_id,
        created_at=customer.created_at,
        updated_at=customer.updated_at,
        profile_versions={},
        contact_count=0,
        review_count=0,
        referrals_converted=0,
        stage="prospect",
        status="active",
    )
    orders: dict[str, list[Any]] = {}
    refunds: list[RefundEvent] = []
    for row in await repository.events_of(session, customer.id, as_of):
        event = event_adapter.validate_python(
            {
                **row.payload,
                "event_id": row.event_id,
                "type": row.type,
                "customer_id": customer.external_id,
                "occurred_at": row.occurred_at,
            }
        )
        fold(copy, event)
        if isinstance(event, PurchaseEvent):
            orders[event.order_id] = [event, 0]
        elif isinstance(event, RefundEvent):
            refunds.append(event)
    for r in refunds:
        if r.order_id in orders:
            orders[r.order_id][1] += to_minor(r.amount)
    facts = [
        aggregates.OrderFacts(p.order_id, p.occurred_at, to_minor(p.amount), refunded, p.category)
        for p, refunded in orders.values()
    ]
    for name, value in aggregates.compute(facts).as_columns().items():
        setattr(copy, name, value)
    return copy
