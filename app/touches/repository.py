"""All SQL of the touches domain."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import insert_rows
from app.customers.models import Customer, Order
from app.events.models import Event
from app.touches.models import Announcement, Touch
from app.touches.planner import Past
from app.touches.schemas import Recipient

REGULAR_AND_UP = ("regular", "adherent", "advocate")


async def histories(
    session: AsyncSession, customer_pks: Collection[int], until: datetime | None = None
) -> dict[int, list[Past]]:
    """Done touches and every other reported contact of each customer (at or before `until`).

    A contact that reported a touch is that touch; the others are contacts outside any plan.
    """
    out: dict[int, list[Past]] = defaultdict(list)
    if not customer_pks:
        return out
    pks = list(customer_pks)
    touches = select(Touch).where(Touch.customer_id.in_(pks), Touch.status == "done")
    if until is not None:
        touches = touches.where(Touch.completed_at <= until)
    reporting: set[str] = set()
    for t in await session.scalars(touches):
        if t.contact_event_id:
            reporting.add(t.contact_event_id)
        out[t.customer_id].append(
            Past(
                t.completed_at or t.due_at,
                t.channel,
                t.playbook,
                t.reason_key,
                t.outcome,
                step=t.step,
            )
        )
    contacts = select(Event.customer_id, Event.event_id, Event.occurred_at, Event.payload).where(
        Event.customer_id.in_(pks), Event.type == "contact"
    )
    if until is not None:
        contacts = contacts.where(Event.occurred_at <= until)
    for pk, event_id, at, payload in await session.execute(contacts):
        if event_id in reporting:
            continue
        out[pk].append(
            Past(
                at,
                payload.get("channel"),
                None,
                payload.get("reason_key"),
                payload.get("outcome"),
                inbound=payload.get("direction") == "inbound",
            )
        )
    return out


async def planned_of_many(session: AsyncSession, customer_pks: Collection[int]) -> dict[int, Touch]:
    if not customer_pks:
        return {}
    rows = await session.scalars(
        select(Touch)
        .where(Touch.customer_id.in_(list(customer_pks)), Touch.status == "planned")
        .order_by(Touch.id)
    )
    return {t.customer_id: t for t in rows}


async def planned_of(session: AsyncSession, customer_pk: int) -> Touch | None:
    return await session.scalar(
        select(Touch).where(Touch.customer_id == customer_pk, Touch.status == "planned").limit(1)
    )


async def touch_for_update(session: AsyncSession, touch_id: int) -> Touch | None:
    return await session.scalar(select(Touch).where(Touch.id == touch_id).with_for_update())


async def touches_of(session: AsyncSession, touch_ids: Collection[int]) -> dict[int, Touch]:
    if not touch_ids:
        return {}
    return {t.id: t for t in await session.scalars(select(Touch).where(Touch.id.in_(touch_ids)))}


async def customer(session: AsyncSession, customer_pk: int) -> Customer | None:
    return await session.get(Customer, customer_pk)


async def categories_of(
    session: AsyncSession, customer_pks: Collection[int]
) -> dict[int, frozenset[str]]:
    """The categories each customer bought in."""
    found: dict[int, set[str]] = defaultdict(set)
    if customer_pks:
        rows = await session.execute(
            select(Order.customer_id, Order.category)
            .where(Order.customer_id.in_(list(customer_pks)), Order.category.is_not(None))
            .distinct()
        )
        for pk, category in rows:
            if category is not None:
                found[pk].add(category)
    return {pk: frozenset(v) for pk, v in found.items()}


async def due_page(
    session: AsyncSession,
    before: datetime,
    now: datetime,
    channel: str | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[tuple[Touch, str]]:
    stmt = (
        select(Touch, Customer.external_id)
        .join(Customer, Customer.id == Touch.customer_id)
        .where(Touch.status == "planned", Touch.due_at <= before)
        .where(or_(Touch.claim_expires_at.is_(None), Touch.claim_expires_at <= now))
    )
    if channel:
        stmt = stmt.where(Touch.channel == channel)
    if after is not None:
        stmt = stmt.where(tuple_(Touch.due_at, Touch.id) > tuple_(*after))
    rows = await session.execute(stmt.order_by(Touch.due_at, Touch.id).limit(limit))
    return [(t, cid) for t, cid in rows]


async def due_unannounced(
    session: AsyncSession, now: datetime, limit: int
) -> list[tuple[Touch, str]]:
    rows = await session.execute(
        select(Touch, Customer.external_id)
        .join(Customer, Customer.id == Touch.customer_id)
        .where(Touch.status == "planned", Touch.due_at <= now, Touch.announced.is_(False))
        .order_by(Touch.due_at, Touch.id)
        .limit(limit)
        .with_for_update(of=Touch, skip_locked=True)
    )
    return [(t, cid) for t, cid in rows]


async def claim_replan_due(session: AsyncSession, now: datetime, limit: int) -> list[Customer]:
    """Customers whose planned touch may have changed by itself by `now`, locked (rows another
    transaction holds are skipped, so workers never re-plan the same customer at once)."""
    due = (
        select(Touch.customer_id)
        .where(Touch.status == "planned", Touch.replan_at <= now)
        .order_by(Touch.replan_at)
        .limit(limit)
    )
    return list(
        await session.scalars(
            select(Customer)
            .where(Customer.id.in_(due))
            .order_by(Customer.id)
            .with_for_update(skip_locked=True)
        )
    )


async def announcements(session: AsyncSession, after: datetime) -> list[Announcement]:
    return list(
        await session.scalars(select(Announcement).where(Announcement.effective_at > after))
    )


async def announcement(session: AsyncSession, announcement_id: int) -> Announcement | None:
    return await session.get(Announcement, announcement_id)


async def announcement_page(
    session: AsyncSession, after_id: int | None, limit: int
) -> list[Announcement]:
    stmt = select(Announcement).order_by(Announcement.id).limit(limit)
    if after_id is not None:
        stmt = stmt.where(Announcement.id > after_id)
    return list(await session.scalars(stmt))


async def audience(session: AsyncSession, a: Announcement) -> list[Customer]:
    """Customers the announcement is meant for, or who hold a touch carrying it."""
    stages = list(a.stages or REGULAR_AND_UP)
    targeted: Any = Customer.stage.in_(stages)
    if a.categories:
        bought = exists().where(
            Order.customer_id == Customer.id, Order.category.in_(list(a.categories))
        )
        targeted = and_(targeted, bought)
    holding = exists().where(
        Touch.customer_id == Customer.id,
        Touch.status == "planned",
        Touch.reason_key == f"announce:{a.id}",
    )
    return list(await session.scalars(select(Customer).where(or_(targeted, holding))))


async def insert_touches(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """The new plans in one statement (the unit of work would insert them one by one)."""
    if rows:
        await insert_rows(session, Touch, rows)


async def recipients(session: AsyncSession, pks: Collection[int]) -> dict[int, Recipient]:
    """Name and postal address of these customers (what a paper-mail touch is sent to)."""
    if not pks:
        return {}
    rows = await session.execute(
        select(Customer.id, Customer.name, Customer.postal_address).where(
            Customer.id.in_(list(pks))
        )
    )
    return {pk: Recipient(name=name, postal_address=address) for pk, name, address in rows}
