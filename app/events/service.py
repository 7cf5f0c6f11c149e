"""Use cases of ingestion: validate, deduplicate, store the facts, mark customers pending.

Nothing is derived here: the projection (`app/projection/`) folds the pending customers, in
the worker or, for a customer read or written at once, in that request.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.core.errors import AppError, IdempotencyConflict
from app.core.money import to_minor
from app.core.settings import Settings
from app.core.types import STORED
from app.customers import aggregates
from app.customers import repository as customers
from app.customers.models import Customer, Order
from app.events import repository
from app.events.models import Event
from app.events.rules import (
    FutureEvent,
    InvalidEvent,
    OrderExists,
    OrderState,
    RefundTooLarge,
    UnknownOrder,
    WrongCurrency,
    apply_refund,
    check_event,
    check_purchase,
    fold,
)
from app.events.schemas import (
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
)
from app.projection import repository as marks

T = TypeVar("T")

__all__ = [
    "FutureEvent",
    "InvalidEvent",
    "OrderExists",
    "RefundTooLarge",
    "UnknownOrder",
    "WrongCurrency",
    "customer_as_of",
    "ingest",
]

event_adapter: TypeAdapter[EventIn] = TypeAdapter(EventIn)


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


@dataclass
class Ingested:
    results: list[EventResult]
    # Primary keys of the customers whose facts changed (pending derivation).
    customer_pks: set[int]


async def ingest(
    session: AsyncSession, settings: Settings, raw_events: list[Any], now: datetime | None = None
) -> Ingested:
    """Store a batch of facts: every event gets its own result and is stored whole or not at
    all; the customers of the stored ones are marked pending."""
    now = now or utcnow()
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

    def duplicate(p: _Pending, old: repository.StoredEvent) -> None:
        if old.body_hash != p.hash:
            reject(p.index, p.event.event_id, _idempotency_conflict(), p.event)
            return
        results[p.index] = EventResult(
            event_id=old.event_id,
            status=EventStatus.DUPLICATE,
            customer_id=old.customer_id,
            type=old.type,
            received_at=old.received_at,
        )

    pending = _validate(raw_events, settings, now, reject)
    unique, repeats, first_by_id = _split_repeats(pending)

    stored = await repository.stored_events(session, {p.event.event_id for p in unique})
    fresh = [p for p in unique if p.event.event_id not in stored]
    for p in unique:
        if p.event.event_id in stored:
            duplicate(p, stored[p.event.event_id])

    # Unique keys go in one fixed order, customers, events, orders, each sorted by its key,
    # so that concurrent batches never deadlock.
    pks = await customers.ensure(session, _customer_ids(fresh))
    inserted = await repository.insert_new(
        session, Event, "event_id", [_event_row(p, pks, now) for p in fresh]
    )
    raced = [p for p in fresh if p.event.event_id not in inserted]
    if raced:  # a concurrent batch stored the same event id first: answer as a repeat would
        stored = await repository.stored_events(session, {p.event.event_id for p in raced})
        for p in raced:
            duplicate(p, stored[p.event.event_id])
    fresh = [p for p in fresh if p.event.event_id in inserted]

    refused = await _store_orders(session, fresh, pks, reject)
    await repository.delete_events(session, [p.event.event_id for p in refused])
    accepted = [p for p in fresh if p not in refused]
    await marks.mark(session, [(pks[p.event.customer_id], p.event.event_id) for p in accepted], now)
    for p in accepted:
        results[p.index] = EventResult(
            event_id=p.event.event_id,
            status=EventStatus.ACCEPTED,
            customer_id=p.event.customer_id,
            type=p.event.type,
            received_at=now,
        )

    # Repeats inside the batch mirror their first occurrence.
    for p in repeats:
        first = first_by_id[p.event.event_id]
        done = results[first.index]
        if done is None or first.hash != p.hash:
            reject(p.index, p.event.event_id, _idempotency_conflict(), p.event)
        elif done.status == EventStatus.REJECTED:
            results[p.index] = done
        else:
            results[p.index] = done.model_copy(update={"status": EventStatus.DUPLICATE})
    return Ingested(
        [r for r in results if r is not None], {pks[p.event.customer_id] for p in accepted}
    )


def _validate(
    raw_events: list[Any], settings: Settings, now: datetime, reject: Any
) -> list[_Pending]:
    """Each event on its own: its schema, then the rules that need settings or the clock."""
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
    return pending


def _split_repeats(
    pending: list[_Pending],
) -> tuple[list[_Pending], list[_Pending], dict[str, _Pending]]:
    """Repeats inside the batch: the first occurrence of an event id stands for the others."""
    first_by_id: dict[str, _Pending] = {}
    unique: list[_Pending] = []
    repeats: list[_Pending] = []
    for p in pending:
        first = first_by_id.setdefault(p.event.event_id, p)
        (unique if first is p else repeats).append(p)
    return unique, repeats, first_by_id


def _customer_ids(fresh: list[_Pending]) -> set[str]:
    """The batch's customers, and the referrers its referrals name (created as prospects, so
    the credit has a place)."""
    ids = {p.event.customer_id for p in fresh}
    ids.update(p.event.referrer_id for p in fresh if isinstance(p.event, ReferralEvent))
    return ids


def _event_row(p: _Pending, pks: dict[str, int], now: datetime) -> dict[str, Any]:
    return {
        "event_id": p.event.event_id,
        "type": p.event.type,
        "customer_id": pks[p.event.customer_id],
        "occurred_at": p.event.occurred_at,
        "received_at": now,
        "body_hash": p.hash,
        # Only the fields the sender gave: the projection replays the payload, and a profile
        # field left out must not read as one set to null.
        "payload": p.event.model_dump(
            mode="json",
            exclude={"event_id", "customer_id", "occurred_at", "type"},
            exclude_unset=True,
        ),
    }


async def _store_orders(
    session: AsyncSession, fresh: list[_Pending], pks: dict[str, int], reject: Any
) -> list[_Pending]:
    """Record new orders and apply refunds; returns the events refused by the order rules.

    Purchases first, so a refund may travel in the batch of its order. Refunds lock the
    order rows they change (never a customer row).
    """
    purchases = sorted(
        (p for p in fresh if isinstance(p.event, PurchaseEvent)),
        key=lambda p: (p.event.occurred_at, p.event.event_id),
    )
    refunds = sorted(
        (p for p in fresh if isinstance(p.event, RefundEvent)),
        key=lambda p: (p.event.occurred_at, p.event.event_id),
    )
    refused: list[_Pending] = []
    if not purchases and not refunds:
        return refused
    known = {
        o.order_id: OrderState(o.customer_id, o.amount_minor, o.refunded_minor)
        for o in (
            await repository.orders_by_id(
                session,
                {p.event.order_id for p in purchases},  # type: ignore[union-attr]
            )
        ).values()
    }
    new_orders: dict[str, tuple[_Pending, dict[str, Any]]] = {}
    for p in purchases:
        ev = p.event
        assert isinstance(ev, PurchaseEvent)
        try:
            check_purchase(ev.order_id, known)
        except AppError as exc:
            reject(p.index, ev.event_id, exc, ev)
            refused.append(p)
            continue
        amount = to_minor(ev.amount)
        known[ev.order_id] = OrderState(pks[ev.customer_id], amount, 0)
        new_orders[ev.order_id] = (
            p,
            {
                "order_id": ev.order_id,
                "customer_id": pks[ev.customer_id],
                "occurred_at": ev.occurred_at,
                "amount_minor": amount,
                "refunded_minor": 0,
                "category": ev.category,
                "event_id": ev.event_id,
            },
        )
    stored = await repository.insert_new(
        session, Order, "order_id", [row for _, row in new_orders.values()]
    )
    for order_id, (p, _) in new_orders.items():
        if order_id not in stored:  # a concurrent batch recorded it first
            reject(
                p.index,
                p.event.event_id,
                OrderExists(f"Order {order_id!r} was already recorded by another event."),
                p.event,
            )
            refused.append(p)
            known.pop(order_id, None)

    if refunds:
        locked = await repository.lock_orders(
            session,
            {p.event.order_id for p in refunds},  # type: ignore[union-attr]
        )
        orders = {
            o.order_id: (o.id, OrderState(o.customer_id, o.amount_minor, o.refunded_minor))
            for o in locked.values()
        }
        changed: dict[int, OrderState] = {}
        for p in refunds:
            ev = p.event
            assert isinstance(ev, RefundEvent)
            pk, order = orders.get(ev.order_id, (None, None))
            try:
                apply_refund(
                    ev.order_id, pks[ev.customer_id], ev.customer_id, to_minor(ev.amount), order
                )
            except AppError as exc:
                reject(p.index, ev.event_id, exc, ev)
                refused.append(p)
                continue
            assert pk is not None and order is not None
            changed[pk] = order
        await repository.set_refunded(
            session, [(pk, o.refunded_minor) for pk, o in sorted(changed.items())]
        )
    return refused


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


def event_of(row: Event, external_id: str) -> EventIn:
    """A stored event as the sender's event again (the payload holds the fields given)."""
    # Stored facts replay under the rules they were accepted with (STORED skips the door's
    # newer checks, such as the id alphabet), so derivation never fails on an old fact.
    return event_adapter.validate_python(
        {
            **row.payload,
            "event_id": row.event_id,
            "type": row.type,
            "customer_id": external_id,
            "occurred_at": row.occurred_at,
        },
        context=STORED,
    )


def replay(customer: Customer, events: Iterable[EventIn]) -> Customer:
    """The customer as these events describe it (a detached copy): the same fold and the
    same aggregates as the projection, so a past moment can be reproduced exactly."""
    copy, _ = replay_at(customer, events, frozenset(), lambda c: None)
    return copy


def replay_at(
    customer: Customer,
    events: Iterable[EventIn],
    moments: Collection[str],
    visit: Callable[[Customer], T],
) -> tuple[Customer, dict[str, T]]:
    """One pass over the customer's events in time order: at each event whose id is in
    `moments`, `visit` sees the customer as the events up to and including it describe it.
    Returns the final copy and what `visit` answered, by event id."""
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
    purchases: dict[str, PurchaseEvent] = {}
    refunds: list[RefundEvent] = []
    seen: dict[str, T] = {}
    for event in events:
        fold(copy, event)
        if isinstance(event, PurchaseEvent):
            purchases[event.order_id] = event
        elif isinstance(event, RefundEvent):
            refunds.append(event)
        if event.event_id in moments:
            _aggregate(copy, purchases, refunds)
            seen[event.event_id] = visit(copy)
    _aggregate(copy, purchases, refunds)
    return copy, seen


def _aggregate(
    copy: Customer, purchases: dict[str, PurchaseEvent], refunds: list[RefundEvent]
) -> None:
    refunded: dict[str, int] = defaultdict(int)
    for r in refunds:
        refunded[r.order_id] += to_minor(r.amount)
    facts = [
        aggregates.OrderFacts(
            p.order_id, p.occurred_at, to_minor(p.amount), refunded[p.order_id], p.category
        )
        for p in purchases.values()
    ]
    for name, value in aggregates.compute(facts).as_columns().items():
        setattr(copy, name, value)


async def customer_as_of(session: AsyncSession, customer: Customer, as_of: datetime) -> Customer:
    """The customer as the events at or before `as_of` describe them (a detached copy)."""
    rows = await repository.events_of(session, customer.id, as_of)
    return replay(customer, (event_of(r, customer.external_id) for r in rows))
