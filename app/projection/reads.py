"""Read-your-writes for everything about one customer."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.customers.models import Customer
from app.customers.service import get_customer
from app.projection.pipeline import fold_customer


async def current_customer(session: AsyncSession, settings: Settings, customer_id: str) -> Customer:
    """The customer (404 if unknown), derived first if facts about it are pending, so a
    client that posts a purchase and reads at once sees its effect."""
    return await fold_customer(session, settings, await get_customer(session, customer_id))
