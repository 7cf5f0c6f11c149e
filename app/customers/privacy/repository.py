"""All SQL of erasure and export.

Erasure is the one use case that rewrites rows of every domain about one customer; the
tables it reads and rewrites are listed here, in one place, so a new table that stores
something about a customer is added next to the others (and the erasure test, which scans
every text column of every table, fails until it is).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import delete, inspect, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.cashback.models import CashbackEntry, Redemption
from app.core.db import Base
from app.core.outbox import OutboxMessage
from app.customers.models import Customer, Order
from app.events.models import Event
from app.ltv.models import CustomerPrediction
from app.stages.models import StageChange
from app.touches.models import Touch
from app.webhooks.models import Attempt, BitrixContact, Delivery


def columns_of(row: Base) -> dict[str, Any]:
    """Every stored column of a row, by attribute name."""
    return {attr.key: getattr(row, attr.key) for attr in inspect(row).mapper.column_attrs}


async def referencing_customer_pks(session: AsyncSession, external_id: str) -> list[int]:
    """Customers whose referrer is (or was credited as) this sender's id."""
    return list(
        await session.scalars(
            select(Customer.id).where(
                or_(
                    Customer.referrer_id == external_id,
                    Customer.referral_credited_to == external_id,
                )
            )
        )
    )


async def lock_customers(session: AsyncSession, pks: Collection[int]) -> dict[int, Customer]:
    """Lock in id order, the order every writer uses, so erasure never deadlocks with them."""
    rows = await session.scalars(
        select(Customer)
        .where(Customer.id.in_(list(pks)))
        .order_by(Customer.id)
        .with_for_update(key_share=True)
    )
    return {c.id: c for c in rows}


async def events_of(session: AsyncSession, customer_pk: int) -> list[Event]:
    return list(
        await session.scalars(
            select(Event)
            .where(Event.customer_id == customer_pk)
            .order_by(Event.occurred_at, Event.event_id)
        )
    )


async def referral_events_naming(session: AsyncSession, external_id: str) -> list[Event]:
    """Other customers' referral events that name this sender's id as the referrer (a scan of
    the referral events: erasure is rare and this keeps rebuilds crediting the pseudonym)."""
    return list(
        await session.scalars(
            select(Event).where(
                Event.type == "referral", Event.payload["referrer_id"].as_string() == external_id
            )
        )
    )


async def orders_of(session: AsyncSession, customer_pk: int) -> list[Order]:
    return list(
        await session.scalars(
            select(Order).where(Order.customer_id == customer_pk).order_by(Order.occurred_at)
        )
    )


async def ledger_of(session: AsyncSession, customer_pk: int) -> list[CashbackEntry]:
    return list(
        await session.scalars(
            select(CashbackEntry)
            .where(CashbackEntry.customer_id == customer_pk)
            .order_by(CashbackEntry.id)
        )
    )


async def ledger_by_source(session: AsyncSession, sources: Collection[str]) -> list[CashbackEntry]:
    if not sources:
        return []
    return list(
        await session.scalars(select(CashbackEntry).where(CashbackEntry.source.in_(list(sources))))
    )


async def redemptions_of(session: AsyncSession, customer_pk: int) -> list[Redemption]:
    return list(
        await session.scalars(
            select(Redemption).where(Redemption.customer_id == customer_pk).order_by(Redemption.id)
        )
    )


async def stage_history_of(session: AsyncSession, customer_pk: int) -> list[StageChange]:
    return list(
        await session.scalars(
            select(StageChange)
            .where(StageChange.customer_id == customer_pk)
            .order_by(StageChange.changed_at, StageChange.id)
        )
    )


async def prediction_of(session: AsyncSession, customer_pk: int) -> CustomerPrediction | None:
    return await session.get(CustomerPrediction, customer_pk)


async def touches_of(session: AsyncSession, customer_pk: int) -> list[Touch]:
    return list(
        await session.scalars(
            select(Touch).where(Touch.customer_id == customer_pk).order_by(Touch.id)
        )
    )


async def messages_about(session: AsyncSession, external_id: str) -> list[OutboxMessage]:
    return list(
        await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.customer_id == external_id)
            .order_by(OutboxMessage.id)
        )
    )


async def deliveries_of(
    session: AsyncSession, message_pks: Collection[int]
) -> tuple[list[Delivery], list[Attempt]]:
    if not message_pks:
        return [], []
    deliveries = list(
        await session.scalars(select(Delivery).where(Delivery.message_id.in_(list(message_pks))))
    )
    attempts = list(
        await session.scalars(
            select(Attempt).where(Attempt.delivery_id.in_([d.id for d in deliveries]))
        )
    )
    return deliveries, attempts


async def bitrix_contacts_of(session: AsyncSession, external_id: str) -> list[BitrixContact]:
    return list(
        await session.scalars(select(BitrixContact).where(BitrixContact.customer_id == external_id))
    )


async def forget_bitrix_contacts(session: AsyncSession, external_id: str) -> None:
    await session.execute(delete(BitrixContact).where(BitrixContact.customer_id == external_id))
