"""All SQL of customer rows: the one module that creates, locks and saves them."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.base import instance_state

from app.core.db import execute_tuples, insert_ignoring_conflicts, utcnow
from app.customers.models import Customer


async def by_external_id(session: AsyncSession, customer_id: str) -> Customer | None:
    return await session.scalar(select(Customer).where(Customer.external_id == customer_id))


async def lock_by_external_id(session: AsyncSession, customer_id: str) -> Customer | None:
    """The customer, locked for this transaction (writers of its facts wait)."""
    return await session.scalar(
        select(Customer).where(Customer.external_id == customer_id).with_for_update(key_share=True)
    )


async def page_after(session: AsyncSession, after_pk: int | None, limit: int) -> list[Customer]:
    stmt = select(Customer).order_by(Customer.id).limit(limit)
    if after_pk is not None:
        stmt = stmt.where(Customer.id > after_pk)
    return list(await session.scalars(stmt))


async def claim_due(
    session: AsyncSession, due_column: Any, now: datetime, limit: int
) -> list[Customer]:
    """Customers whose `due_column` time has come, oldest first, locked for this transaction;
    rows another worker holds are skipped (SKIP LOCKED), so workers never overlap."""
    rows = await session.scalars(
        select(Customer)
        .where(due_column <= now)
        .order_by(due_column)
        .limit(limit)
        .with_for_update(skip_locked=True, key_share=True)
    )
    return list(rows)


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


async def create_customers(session: AsyncSession, external_ids: Iterable[str]) -> None:
    """Customers believed new, in sorted order, in one `INSERT … ON CONFLICT DO NOTHING` (a
    concurrent writer may create one first)."""
    now = utcnow()
    rows = [new_customer_row(e, now) for e in sorted(set(external_ids))]
    if rows:
        stmt = insert_ignoring_conflicts(session, Customer.__table__, "external_id")
        await session.execute(stmt, rows)


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
        c.updated_at = now  # detached: the object now says what the row says
    await execute_tuples(session, _UPDATE_CUSTOMER, _SAVED, rows)


async def ensure(session: AsyncSession, external_ids: Collection[str]) -> dict[str, int]:
    """Primary keys of these customers, creating the ones not known yet, without locking any.

    New customers go in one `INSERT … ON CONFLICT DO NOTHING` in sorted order (see
    `create_customers`); existing rows are only read, so writers of one customer never wait
    on each other's row locks.
    """
    if not external_ids:
        return {}
    ids = sorted(set(external_ids))
    found = await pks_of(session, ids)
    missing = [e for e in ids if e not in found]
    if missing:
        await create_customers(session, missing)
        found.update(await pks_of(session, missing))
    return found


async def pks_of(session: AsyncSession, external_ids: Collection[str]) -> dict[str, int]:
    rows = await session.execute(
        select(Customer.external_id, Customer.id).where(
            Customer.external_id.in_(list(external_ids))
        )
    )
    return {e: pk for e, pk in rows}


async def lock(
    session: AsyncSession, pks: Collection[int], skip_locked: bool = False
) -> list[Customer]:
    """Load and lock these customers in id order (rows other transactions hold are waited
    for, or skipped with `skip_locked`).

    Every customer-row lock is `FOR NO KEY UPDATE` (`key_share`): the foreign-key checks of
    inserts that name a customer (events, orders, pending marks) take `FOR KEY SHARE`, which
    it does not block, so writers never wait for a fold, and two folds that each mark the
    other's customer pending (referrals) cannot deadlock.
    """
    if not pks:
        return []
    rows = await session.scalars(
        select(Customer)
        .where(Customer.id.in_(list(pks)))
        .order_by(Customer.id)
        .with_for_update(skip_locked=skip_locked, key_share=True)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def referrals_credited(
    session: AsyncSession, referrers: Collection[str], excluding: Collection[int]
) -> dict[str, int]:
    """How many customers (outside `excluding`) credit each of these referrers."""
    if not referrers:
        return {}
    stmt = (
        select(Customer.referral_credited_to, func.count())
        .where(Customer.referral_credited_to.in_(list(referrers)))
        .group_by(Customer.referral_credited_to)
    )
    if excluding:
        stmt = stmt.where(Customer.id.not_in(list(excluding)))
    return {r: n for r, n in await session.execute(stmt) if r is not None}


async def credited_referrals(
    session: AsyncSession, referrers: Collection[str], excluding: Collection[int]
) -> list[tuple[str | None, str, datetime | None]]:
    """(referrer, referred customer, first purchase) of every credit these referrers hold
    from customers outside `excluding`."""
    if not referrers:
        return []
    stmt = select(
        Customer.referral_credited_to, Customer.external_id, Customer.first_purchase_at
    ).where(Customer.referral_credited_to.in_(list(referrers)))
    if excluding:
        stmt = stmt.where(Customer.id.not_in(list(excluding)))
    return [(r, e, t) for r, e, t in await session.execute(stmt)]
