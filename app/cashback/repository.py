"""All SQL of the cashback domain."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.cashback.models import CashbackEntry, Redemption
from app.customers.models import Customer


async def lock_customer(session: AsyncSession, customer_id: str) -> Customer | None:
    return await session.scalar(
        select(Customer).where(Customer.external_id == customer_id).with_for_update(key_share=True)
    )


async def open_lots(session: AsyncSession, customer_pk: int) -> list[CashbackEntry]:
    rows = await session.scalars(
        select(CashbackEntry)
        .where(CashbackEntry.customer_id == customer_pk, CashbackEntry.remaining_minor > 0)
        .order_by(CashbackEntry.expires_at, CashbackEntry.id)
    )
    return list(rows)


async def entries_by_source(
    session: AsyncSession, sources: Collection[str]
) -> dict[str, CashbackEntry]:
    if not sources:
        return {}
    rows = await session.scalars(
        select(CashbackEntry).where(CashbackEntry.source.in_(list(sources)))
    )
    return {e.source: e for e in rows}


async def clawed_for_order(session: AsyncSession, customer_pk: int, order_id: str) -> int:
    total = await session.scalar(
        select(
            func.coalesce(func.sum(CashbackEntry.details["wanted_minor"].as_integer()), 0)
        ).where(
            CashbackEntry.customer_id == customer_pk,
            CashbackEntry.kind == "clawback",
            CashbackEntry.order_id == order_id,
        )
    )
    return int(total or 0)


async def history(session: AsyncSession, customer_pk: int, limit: int) -> list[CashbackEntry]:
    rows = await session.scalars(
        select(CashbackEntry)
        .where(CashbackEntry.customer_id == customer_pk)
        .order_by(CashbackEntry.id.desc())
        .limit(limit)
    )
    return list(rows)


async def sums(
    session: AsyncSession, customer_pk: int, now: datetime, soon: datetime, young_since: datetime
) -> tuple[int, int, datetime | None, int]:
    """(ledger sum, expiring before `soon`, the next expiry, young cashback still refundable)."""
    ledger = await session.scalar(
        select(func.coalesce(func.sum(CashbackEntry.amount_minor), 0)).where(
            CashbackEntry.customer_id == customer_pk
        )
    )
    expiring = await session.execute(
        select(
            func.coalesce(func.sum(CashbackEntry.remaining_minor), 0),
            func.min(CashbackEntry.expires_at),
        ).where(
            CashbackEntry.customer_id == customer_pk,
            CashbackEntry.remaining_minor > 0,
            CashbackEntry.expires_at <= soon,
        )
    )
    soon_sum, next_expiry = expiring.one()
    if next_expiry is None:
        next_expiry = await session.scalar(
            select(func.min(CashbackEntry.expires_at)).where(
                CashbackEntry.customer_id == customer_pk, CashbackEntry.remaining_minor > 0
            )
        )
    pending = await session.scalar(
        select(func.coalesce(func.sum(CashbackEntry.remaining_minor), 0)).where(
            CashbackEntry.customer_id == customer_pk,
            CashbackEntry.kind == "earn",
            CashbackEntry.remaining_minor > 0,
            CashbackEntry.occurred_at > young_since,
        )
    )
    return int(ledger or 0), int(soon_sum or 0), next_expiry, int(pending or 0)


async def redemption(session: AsyncSession, customer_pk: int, key: str) -> Redemption | None:
    return await session.scalar(
        select(Redemption).where(
            Redemption.customer_id == customer_pk, Redemption.idempotency_key == key
        )
    )


async def lots_due(
    session: AsyncSession, before: datetime, notified: bool | None, limit: int
) -> list[CashbackEntry]:
    """Open lots expiring at or before `before` (optionally: not yet announced), claimed."""
    stmt = select(CashbackEntry).where(
        CashbackEntry.remaining_minor > 0, CashbackEntry.expires_at <= before
    )
    if notified is not None:
        stmt = stmt.where(CashbackEntry.expiring_notified.is_(notified))
    rows = await session.scalars(
        stmt.order_by(CashbackEntry.expires_at, CashbackEntry.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


async def lock_customers_by_pk(session: AsyncSession, pks: Collection[int]) -> dict[int, Customer]:
    if not pks:
        return {}
    rows = await session.scalars(
        select(Customer)
        .where(Customer.id.in_(sorted(pks)))
        .order_by(Customer.id)
        .with_for_update(key_share=True)
    )
    return {c.id: c for c in rows}
