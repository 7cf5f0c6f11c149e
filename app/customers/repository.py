"""All SQL of reading customers."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.customers.models import Customer


async def by_external_id(session: AsyncSession, customer_id: str) -> Customer | None:
    return await session.scalar(select(Customer).where(Customer.external_id == customer_id))


async def page_after(session: AsyncSession, after_pk: int | None, limit: int) -> list[Customer]:
    stmt = select(Customer).order_by(Customer.id).limit(limit)
    if after_pk is not None:
        stmt = stmt.where(Customer.id > after_pk)
    return list(await session.scalars(stmt))
