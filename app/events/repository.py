"""All SQL of event ingestion."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import insert_ignoring_conflicts
from app.customers.models import Customer, Order
from app.events.models import Event


@dataclass(frozen=True)
class StoredEvent:
    event_id: str
    body_hash: str
    type: str
    customer_id: str
    received_at: datetime


async def stored_events(
    session: AsyncSession, event_ids: Collection[str]
) -> dict[str, StoredEvent]:
    if not event_ids:
        return {}
    rows = await session.execute(
        select(Event.event_id, Event.body_hash, Event.type, Customer.external_id, Event.received_at)
        .join(Customer, Customer.id == Event.customer_id)
        .where(Event.event_id.in_(list(event_ids)))
    )
    return {r[0]: StoredEvent(*r) for r in rows}


@dataclass
class OrderRow:
    id: int
    order_id: str
    customer_id: int
    occurred_at: datetime
    amount_minor: int
    refunded_minor: int
    category: str | None


_ORDER_COLUMNS = (
    Order.id,
    Order.order_id,
    Order.customer_id,
    Order.occurred_at,
    Order.amount_minor,
    Order.refunded_minor,
    Order.category,
)


async def orders_by_id(session: AsyncSession, order_ids: Collection[str]) -> dict[str, OrderRow]:
    if not order_ids:
        return {}
    rows = await session.execute(select(*_ORDER_COLUMNS).where(Order.order_id.in_(list(order_ids))))
    return {r.order_id: OrderRow(*r) for r in rows}


async def orders_of(session: AsyncSession, customer_pks: Collection[int]) -> list[OrderRow]:
    if not customer_pks:
        return []
    rows = await session.execute(
        select(*_ORDER_COLUMNS).where(Order.customer_id.in_(list(customer_pks)))
    )
    return [OrderRow(*r) for r in rows]


async def insert_new(
    session: AsyncSession, model: type[Event] | type[Order], key: str, rows: list[dict[str, Any]]
) -> set[str]:
    """Insert rows in the order of their unique key, skipping keys another transaction
    stored first; returns the keys this one inserted.

    Every writer inserts each table in key order, and the tables in one order (customers,
    events, orders), so concurrent batches may wait on each other's new keys but never
    deadlock; a conflict is an answer ("already recorded"), not an error.
    """
    if not rows:
        return set()
    rows = sorted(rows, key=lambda r: str(r[key]))
    column = getattr(model, key)
    stmt = insert_ignoring_conflicts(session, model.__table__, key).returning(column)
    return set(await session.scalars(stmt, rows))


async def delete_events(session: AsyncSession, event_ids: Collection[str]) -> None:
    """Take back events this transaction inserted and then refused (their order was taken)."""
    if event_ids:
        await session.execute(delete(Event).where(Event.event_id.in_(list(event_ids))))


async def lock_orders(session: AsyncSession, order_ids: Collection[str]) -> dict[str, OrderRow]:
    """The orders refunds name, locked in order-id order: refunds of one order take turns,
    and no customer row is locked."""
    if not order_ids:
        return {}
    rows = await session.execute(
        select(*_ORDER_COLUMNS)
        .where(Order.order_id.in_(list(order_ids)))
        .order_by(Order.order_id)
        .with_for_update()
    )
    return {r.order_id: OrderRow(*r) for r in rows}


async def events_by_id(session: AsyncSession, event_ids: Collection[str]) -> list[Event]:
    if not event_ids:
        return []
    return list(await session.scalars(select(Event).where(Event.event_id.in_(list(event_ids)))))


async def events_of_customers(session: AsyncSession, customer_pks: Collection[int]) -> list[Event]:
    if not customer_pks:
        return []
    return list(
        await session.scalars(select(Event).where(Event.customer_id.in_(list(customer_pks))))
    )


async def set_refunded(session: AsyncSession, refunded: Iterable[tuple[int, int]]) -> None:
    """Set each order's refunded total (order pk, new refunded_minor)."""
    for pk, total in refunded:
        await session.execute(update(Order).where(Order.id == pk).values(refunded_minor=total))


async def events_of(session: AsyncSession, customer_pk: int, until: datetime) -> list[Event]:
    """One customer's events at or before `until`, oldest first (uses the customer index)."""
    rows = await session.scalars(
        select(Event)
        .where(Event.customer_id == customer_pk, Event.occurred_at <= until)
        .order_by(Event.occurred_at, Event.id)
    )
    return list(rows)
