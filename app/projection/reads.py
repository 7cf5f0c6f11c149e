"""Read-your-writes for everything about one customer."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound
from app.core.settings import Settings
from app.customers.models import Customer
from app.projection import repository
from app.projection.pipeline import fold_now


async def current_customer(session: AsyncSession, settings: Settings, customer_id: str) -> Customer:
    """The customer (404 if unknown), derived first if facts about it are pending, so a
    client that posts a purchase and reads at once sees its effect."""
    customer, pending = await repository.with_pending(session, customer_id)
    if customer is None:
        raise NotFound(f"No customer {customer_id!r}.")
    if not pending:
        return customer
    return await fold_now(session, settings, customer.id)
