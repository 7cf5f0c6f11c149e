"""All SQL of the webhooks domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import insert_rows
from app.core.outbox import OutboxMessage
from app.customers.models import Customer
from app.webhooks.models import Attempt, BitrixContact, Delivery, WebhookEndpoint


async def undispatched(session: AsyncSession, limit: int) -> list[OutboxMessage]:
    rows = await session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.dispatched_at.is_(None))
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


async def enabled_endpoints(session: AsyncSession) -> list[WebhookEndpoint]:
    return list(await session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.enabled)))


async def add_deliveries(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await insert_rows(session, Delivery, rows)


async def delivery_for_update(session: AsyncSession, delivery_id: int) -> Delivery | None:
    return await session.scalar(
        select(Delivery).where(Delivery.id == delivery_id).with_for_update()
    )


async def endpoint_for_update(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint | None:
    return await session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).with_for_update()
    )


async def deliveries_of(
    session: AsyncSession, endpoint_id: int, status: str | None, after: int | None, limit: int
) -> list[tuple[Delivery, OutboxMessage]]:
    stmt = (
        select(Delivery, OutboxMessage)
        .join(OutboxMessage, OutboxMessage.id == Delivery.message_id)
        .where(Delivery.endpoint_id == endpoint_id)
    )
    if status:
        stmt = stmt.where(Delivery.status == status)
    if after is not None:
        stmt = stmt.where(Delivery.id < after)
    rows = await session.execute(stmt.order_by(Delivery.id.desc()).limit(limit))
    return [(d, m) for d, m in rows]


async def delivery_by_message(
    session: AsyncSession, endpoint_id: int, message_id: str
) -> Delivery | None:
    return await session.scalar(
        select(Delivery)
        .join(OutboxMessage, OutboxMessage.id == Delivery.message_id)
        .where(Delivery.endpoint_id == endpoint_id, OutboxMessage.message_id == message_id)
        .with_for_update(of=Delivery)
    )


async def attempts_of(session: AsyncSession, delivery_id: int) -> list[Attempt]:
    return list(
        await session.scalars(
            select(Attempt).where(Attempt.delivery_id == delivery_id).order_by(Attempt.id)
        )
    )


async def failed_since(session: AsyncSession, endpoint_id: int, since: datetime) -> list[Delivery]:
    return list(
        await session.scalars(
            select(Delivery)
            .where(
                Delivery.endpoint_id == endpoint_id,
                Delivery.status == "failed",
                Delivery.created_at >= since,
            )
            .with_for_update()
        )
    )


async def customer(session: AsyncSession, external_id: str) -> Customer | None:
    return await session.scalar(select(Customer).where(Customer.external_id == external_id))


async def bitrix_contact(session: AsyncSession, endpoint_id: int, customer_id: str) -> int | None:
    return await session.scalar(
        select(BitrixContact.contact_id).where(
            BitrixContact.endpoint_id == endpoint_id, BitrixContact.customer_id == customer_id
        )
    )


async def remember_contact(
    session: AsyncSession, endpoint_id: int, customer_id: str, contact_id: int
) -> None:
    existing = await session.scalar(
        select(BitrixContact).where(
            BitrixContact.endpoint_id == endpoint_id, BitrixContact.customer_id == customer_id
        )
    )
    if existing is None:
        session.add(
            BitrixContact(endpoint_id=endpoint_id, customer_id=customer_id, contact_id=contact_id)
        )
    else:
        existing.contact_id = contact_id


async def forget_contact(session: AsyncSession, endpoint_id: int, customer_id: str) -> None:
    await session.execute(
        delete(BitrixContact).where(
            BitrixContact.endpoint_id == endpoint_id, BitrixContact.customer_id == customer_id
        )
    )


async def due_endpoints(
    session: AsyncSession, now: datetime, exclude: set[int]
) -> list[WebhookEndpoint]:
    """Enabled endpoints with at least one delivery due and no worker delivering to them,
    locked (an index probe per endpoint, however long a backlog one of them has)."""
    due = (
        select(Delivery.id)
        .where(
            Delivery.endpoint_id == WebhookEndpoint.id,
            Delivery.status.in_(["pending", "delivering"]),
            Delivery.next_attempt_at <= now,
        )
        .exists()
    )
    free = or_(WebhookEndpoint.lane_until.is_(None), WebhookEndpoint.lane_until <= now)
    stmt = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.enabled, free, due)
        .order_by(WebhookEndpoint.id)
        .with_for_update(skip_locked=True)
    )
    if exclude:
        stmt = stmt.where(WebhookEndpoint.id.not_in(exclude))
    return list(await session.scalars(stmt))


async def end_lane(session: AsyncSession, endpoint_id: int, lease_until: datetime) -> None:
    """Free the endpoint for the next worker, unless the lease already passed to another."""
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.lane_until == lease_until)
        .values(lane_until=None)
    )


async def claim_for(
    session: AsyncSession, endpoint_id: int, now: datetime, limit: int
) -> list[tuple[Delivery, OutboxMessage]]:
    """Due deliveries of one endpoint, locked; a lapsed lease makes a delivery due again."""
    rows = await session.execute(
        select(Delivery, OutboxMessage)
        .join(OutboxMessage, OutboxMessage.id == Delivery.message_id)
        .where(
            Delivery.endpoint_id == endpoint_id,
            Delivery.status.in_(["pending", "delivering"]),
            Delivery.next_attempt_at <= now,
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
        .with_for_update(of=Delivery, skip_locked=True)
    )
    return [(d, m) for d, m in rows]
