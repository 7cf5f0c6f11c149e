"""All SQL of the touches domain."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import insert_rows
from app.customers.models import Customer
from app.events.models import Event
from app.touches.models import Announcement, Touch
from app.touches.planner import Past


async def histories(
    session: AsyncSession, customer_pks: Collection[int], until: datetime | None = None
) -> dict[int, list[Past]]:
    """Done touches and reported contacts of each customer (at or before `until`)."""
    out: dict[int, list[Past]] = defaultdict(list)
    if not customer_pks:
        return out
    touches = select(Touch).where(Touch.customer_id.in_(list(customer_pks)), Touch.status == "done")
    if until is not None:
        touches = touches.where(Touch.completed_at <= until)
    for t in await session.scalars(touches):
        out[t.customer_id].append(
            Past(t.completed_at or t.due_at, t.channel, t.playbook, t.reason_key, t.outcome)
        )
    contacts = select(Event.customer_id, Event.occurred_at, Event.payload).where(
        Event.customer_id.in_(list(customer_pks)), Event.type == "contact"
    )
    if until is not None:
        contacts = contacts.where(Event.occurred_at <= until)
    for pk, at, payload in await session.execute(contacts):
        if payload.get("touch_id"):
            continue  # already counted as the touch it closed
        out[pk].append(
            Past(
                at,
                payload.get("channel"),
                None,
                None,
                payload.get("outcome"),
                inbound=payload.get("direction") == "inbound",
            )
        )
    return out


async def announcements(session: AsyncSession, after: datetime) -> list[Announcement]:
    return list(
        await session.scalars(select(Announcement).where(Announcement.effective_at > after))
    )


async def drop_planned(
    session: AsyncSession, customer_pks: Collection[int], now: datetime
) -> set[int]:
    """Remove the planned touches of these customers, except those an operator holds;
    returns the customers whose touch is held."""
    if not customer_pks:
        return set()
    held = set(
        await session.scalars(
            select(Touch.customer_id).where(
                Touch.customer_id.in_(list(customer_pks)),
                Touch.status == "planned",
                Touch.claim_expires_at > now,
            )
        )
    )
    await session.execute(
        delete(Touch).where(
            Touch.customer_id.in_(list(set(customer_pks) - held)), Touch.status == "planned"
        )
    )
    return held


async def planned_of(session: AsyncSession, customer_pk: int) -> Touch | None:
    return await session.scalar(
        select(Touch).where(Touch.customer_id == customer_pk, Touch.status == "planned").limit(1)
    )


async def touch_for_update(session: AsyncSession, touch_id: int) -> Touch | None:
    return await session.scalar(select(Touch).where(Touch.id == touch_id).with_for_update())


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


async def regulars_and_up(session: AsyncSession) -> list[Customer]:
    return list(
        await session.scalars(
            select(Customer).where(Customer.stage.in_(["regular", "adherent", "advocate"]))
        )
    )


async def close_planned(
    session: AsyncSession,
    touch_id: int,
    customer_pk: int,
    at: datetime,
    outcome: str,
    channel: str,
) -> None:
    """Mark a planned touch of this customer done (a contact event answered it)."""
    await session.execute(
        update(Touch)
        .where(Touch.id == touch_id, Touch.customer_id == customer_pk, Touch.status == "planned")
        .values(status="done", completed_at=at, outcome=outcome, channel=channel)
    )


async def insert_touches(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """The new plans in one statement (the unit of work would insert them one by one)."""
    if rows:
        await insert_rows(session, Touch, rows)
