"""All SQL of event ingestion."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.base import instance_state

from app.core.db import execute_tuples, insert_ignoring_conflicts, insert_rows, utcnow
from app.customers.models import Customer, Order
from app.events.models import Event


@dataclass(frozen=True)
class StoredEvent:
    event_id: str
    body_hash: str
    type: str
    customer_id: str
    received_at: datetime


def new_customer_row(external_id: str, now: datetime) -> dict[str, Any]:
    """Column values of a customer we hear of for the first time (a prospect, no history)."""
    return {
        "external_id": external_id,
        "created_at": now,
        "updated_at": now,
        "profile_versions": {},
        "contact_count": 0,
        "review_count": 0,
        "purchase_count": 0,
        "purchase_days": 0,
        "gross_revenue_minor": 0,
        "refunded_minor": 0,
        "net_revenue_minor": 0,
        "avg_check_minor": 0,
        "interval_count": 0,
        "stage": "prospect",
        "status": "active",
        "referrals_converted": 0,
        "episode_peak": "active",
        "value_at_risk_minor": 0,
        "cashback_balance_minor": 0,
    }


async def insert_missing_customers(session: AsyncSession, external_ids: Iterable[str]) -> None:
    """Create the customers not known yet (see `create_customers`).

    Known customers are not offered to the INSERT at all: in a steady stream most are, and a
    conflicting insert costs about as much as a new one.
    """
    ids = set(external_ids)
    if ids:
        known = set(
            await session.scalars(
                select(Customer.external_id).where(Customer.external_id.in_(list(ids)))
            )
        )
        await create_customers(session, ids - known)


async def create_customers(session: AsyncSession, external_ids: Iterable[str]) -> None:
    """Customers believed new, in sorted order, in one `INSERT … ON CONFLICT DO NOTHING` (a
    concurrent writer may create one first)."""
    now = utcnow()
    rows = [new_customer_row(e, now) for e in sorted(set(external_ids))]
    if rows:
        stmt = insert_ignoring_conflicts(session, Customer.__table__, "external_id")
        await session.execute(stmt, rows)


async def lock_customers(
    session: AsyncSession, external_ids: Collection[str]
) -> dict[str, Customer]:
    """Create missing customers, then load and lock every one of them for this transaction.

    Every insert comes before the first row lock, and rows are locked in id order: concurrent
    writers of one customer are serialised without deadlocks, and aggregates are recomputed
    from data no other transaction is changing.
    """
    if not external_ids:
        return {}
    ids = sorted(external_ids)
    await insert_missing_customers(session, ids)
    rows = await session.scalars(
        select(Customer)
        .where(Customer.external_id.in_(ids))
        .order_by(Customer.id)
        .with_for_update()
    )
    return {c.external_id: c for c in rows}


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


async def insert_events(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await insert_rows(session, Event, rows)


async def insert_orders(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await insert_rows(session, Order, rows)


_FIXED_COLUMNS = {"id", "external_id", "created_at", "updated_at"}
_MUTABLE_COLUMNS = [c.key for c in Customer.__table__.columns if c.key not in _FIXED_COLUMNS]
_customers = Customer.__table__
assert isinstance(_customers, Table)
# Core executemany (not the ORM's bulk path): one prepared statement for every row.
_UPDATE_CUSTOMER = (
    update(_customers)
    .where(_customers.c.id == bindparam("_pk"))
    .values({key: bindparam(key) for key in [*_MUTABLE_COLUMNS, "updated_at"]})
)
_SAVED = [*_MUTABLE_COLUMNS, "updated_at", "_pk"]


def _changed(c: Customer) -> bool:
    """Whether any attribute set since loading holds a new value (only set ones are compared)."""
    state = instance_state(c)
    if not state.modified:
        return False
    now = state.dict
    return any(now.get(key) != old for key, old in state.committed_state.items())


async def save_customers(session: AsyncSession, customers: Iterable[Customer]) -> None:
    """Write back every touched customer in one executemany, then detach the objects.

    The unit of work would emit one UPDATE per customer (each changes a different set of
    columns); writing the full row for all of them lets the driver pipeline one statement.
    """
    touched = [c for c in customers if _changed(c)]
    if not touched:
        return
    now = utcnow()
    rows = []
    for c in touched:
        state = c.__dict__
        rows.append((*(state.get(key) for key in _MUTABLE_COLUMNS), now, c.id))
    for c in touched:
        session.expunge(c)
    await execute_tuples(session, _UPDATE_CUSTOMER, _SAVED, rows)


async def add_refunds(session: AsyncSession, refunded: Iterable[tuple[int, int]]) -> None:
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
