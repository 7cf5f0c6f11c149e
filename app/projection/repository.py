"""All SQL of the pending marks."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import UTCDateTime, insert_tuples
from app.customers.models import Customer
from app.projection.models import PendingMark

_COLUMNS = ("customer_id", "event_id", "marked_at")


async def mark(
    session: AsyncSession, marks: Collection[tuple[int, str | None]], at: datetime
) -> None:
    """Append marks (customer pk, event id or None); never waits on another writer."""
    if marks:
        rows = sorted({(pk, event_id, at) for pk, event_id in marks}, key=lambda r: r[0])
        await insert_tuples(session, PendingMark, _COLUMNS, rows)


_PENDING = select(PendingMark.customer_id).where(PendingMark.failed_at.is_(None))


async def claim(session: AsyncSession, limit: int) -> list[Customer]:
    """Up to `limit` pending customers, in id order, locked for this transaction.

    On PostgreSQL the rows other workers hold are skipped (SKIP LOCKED), so any number of
    workers share the backlog and never fold one customer at the same time.
    """
    stmt = (
        select(Customer)
        .where(Customer.id.in_(_PENDING))
        .order_by(Customer.id)
        .limit(limit)
        .with_for_update(skip_locked=True, key_share=True)
    )
    return list(await session.scalars(stmt))


async def marks_of(
    session: AsyncSession, pks: Collection[int]
) -> list[tuple[int, int, str | None]]:
    """(mark id, customer pk, event id) of these customers' pending marks; marks written
    after this statement stay for the next pass."""
    if not pks:
        return []
    rows = await session.execute(
        select(PendingMark.id, PendingMark.customer_id, PendingMark.event_id)
        .where(PendingMark.customer_id.in_(list(pks)), PendingMark.failed_at.is_(None))
        .order_by(PendingMark.id)
    )
    return [(i, c, e) for i, c, e in rows]


async def with_pending(session: AsyncSession, external_id: str) -> tuple[Customer | None, bool]:
    """The customer and whether facts about it wait for derivation, in one query (the read
    path's only one before the answer's own)."""
    pending = _PENDING.where(PendingMark.customer_id == Customer.id).exists()
    row = (
        await session.execute(select(Customer, pending).where(Customer.external_id == external_id))
    ).first()
    return (None, False) if row is None else (row[0], bool(row[1]))


async def is_pending(session: AsyncSession, pk: int) -> bool:
    return (
        await session.scalar(_PENDING.where(PendingMark.customer_id == pk).limit(1))
    ) is not None


async def clear(session: AsyncSession, mark_ids: Collection[int]) -> None:
    ids = list(mark_ids)
    for start in range(0, len(ids), 5000):
        await session.execute(
            delete(PendingMark).where(PendingMark.id.in_(ids[start : start + 5000]))
        )


async def fail(session: AsyncSession, pks: Collection[int], at: datetime) -> None:
    """Set aside the marks of customers whose derivation raised, so they do not hold back
    the others; `touchpoint rebuild` (or a new event) tries them again."""
    if pks:
        await session.execute(
            update(PendingMark).where(PendingMark.customer_id.in_(list(pks))).values(failed_at=at)
        )


async def mark_all(session: AsyncSession, at: datetime, pks: Collection[int] | None) -> int:
    """One mark without an event for every customer (or the given ones): derive again."""
    # Erased customers are frozen: derived again, they would be planned touches.
    query = select(Customer.id, literal(at, UTCDateTime())).where(Customer.erased_at.is_(None))
    retry = update(PendingMark).values(failed_at=None)
    if pks is not None:
        query = query.where(Customer.id.in_(list(pks)))
        retry = retry.where(PendingMark.customer_id.in_(list(pks)))
    await session.execute(retry)
    result = await session.execute(
        insert(PendingMark).from_select(["customer_id", "marked_at"], query)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def backlog(session: AsyncSession) -> tuple[int, datetime | None, int]:
    """(customers pending, the oldest mark's time, customers set aside after a failure)."""
    pending, oldest = (
        await session.execute(
            select(
                func.count(func.distinct(PendingMark.customer_id)), func.min(PendingMark.marked_at)
            ).where(PendingMark.failed_at.is_(None))
        )
    ).one()
    failed = await session.scalar(
        select(func.count(func.distinct(PendingMark.customer_id))).where(
            PendingMark.failed_at.is_not(None)
        )
    )
    return pending or 0, oldest, failed or 0
