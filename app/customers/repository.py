"""All SQL of reading customers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.customers.models import Customer


async def by_external_id(session: AsyncSession, customer_id: str) -> Customer | None:
    return await session.scalar(select(Customer).where(Customer.external_id == customer_id))


async def lock_by_external_id(session: AsyncSession, customer_id: str) -> Customer | None:
    """The customer, locked for this transaction (writers of its facts wait)."""
    return await session.scalar(
        select(Customer).where(Customer.external_id == customer_id).with_for_update()
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
        .with_for_update(skip_locked=True)
    )
    return list(rows)
