"""Use cases of reading customers."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import InvalidCursor, NotFound
from app.core.pagination import Page, decode_cursor, encode_cursor
from app.customers import repository
from app.customers.models import Customer
from app.customers.schemas import CustomerOut


async def get_customer(session: AsyncSession, customer_id: str) -> Customer:
    customer = await repository.by_external_id(session, customer_id)
    if customer is None:
        raise NotFound(f"No customer {customer_id!r}.")
    return customer


async def list_customers(
    session: AsyncSession, limit: int, cursor: str | None
) -> Page[CustomerOut]:
    after = None
    if cursor:
        (after,) = decode_cursor(cursor, int)
        if not isinstance(after, int):
            raise InvalidCursor("The cursor is not one this API issued.")
    rows = await repository.page_after(session, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[CustomerOut](
        items=[CustomerOut.of(c) for c in rows],
        next_cursor=encode_cursor([rows[-1].id]) if more and rows else None,
    )
