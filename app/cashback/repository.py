"""All SQL of the cashback domain."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.cashback.models import Adjustment, CashbackEntry, ExpiryNotice, Redemption
from app.core.db import execute_tuples, insert_ignoring_conflicts, insert_rows
from app.customers.models import Customer, Order

# Rows per IN list: far below the drivers' parameter limits.
CHUNK = 5_000


async def lock_customer(session: AsyncSession, customer_id: str) -> Customer | None:
    return await session.scalar(
        select(Customer).where(Customer.external_id == customer_id).with_for_update(key_share=True)
    )


async def lock_customer_by_pk(session: AsyncSession, pk: int) -> Customer | None:
    return await session.scalar(
        select(Customer).where(Customer.id == pk).with_for_update(key_share=True)
    )


async def open_lots(session: AsyncSession, customer_pk: int) -> list[CashbackEntry]:
    """Lots with something left (pending, spendable, or past expiry and not yet swept)."""
    rows = await session.scalars(
        select(CashbackEntry)
        .where(CashbackEntry.customer_id == customer_pk, CashbackEntry.remaining_minor > 0)
        .order_by(CashbackEntry.expires_at, CashbackEntry.id)
    )
    return list(rows)


async def open_debts(
    session: AsyncSession, customer_pks: Collection[int]
) -> dict[int, list[CashbackEntry]]:
    """Clawbacks still owed (a shortfall), oldest first, by customer."""
    debts: dict[int, list[CashbackEntry]] = defaultdict(list)
    pks = sorted(customer_pks)
    for start in range(0, len(pks), CHUNK):
        rows = await session.scalars(
            select(CashbackEntry)
            .where(
                CashbackEntry.customer_id.in_(pks[start : start + CHUNK]),
                CashbackEntry.outstanding_minor > 0,
            )
            .order_by(CashbackEntry.id)
        )
        for e in rows:
            debts[e.customer_id].append(e)
    return debts


async def entries_by_source(
    session: AsyncSession, sources: Collection[str]
) -> dict[str, CashbackEntry]:
    found: dict[str, CashbackEntry] = {}
    wanted = sorted(sources)
    for start in range(0, len(wanted), CHUNK):
        rows = await session.scalars(
            select(CashbackEntry).where(CashbackEntry.source.in_(wanted[start : start + CHUNK]))
        )
        found.update({e.source: e for e in rows})
    return found


async def bonuses_of_orders(
    session: AsyncSession, order_ids: Collection[str]
) -> list[CashbackEntry]:
    if not order_ids:
        return []
    rows = await session.scalars(
        select(CashbackEntry)
        .where(
            CashbackEntry.order_id.in_(sorted(order_ids)),
            CashbackEntry.kind.in_(("welcome_bonus", "referral_bonus")),
        )
        .order_by(CashbackEntry.id)
    )
    return list(rows)


async def clawed_by_lot(
    session: AsyncSession, customer_pks: Collection[int], lots: Collection[CashbackEntry]
) -> dict[str, int]:
    """What clawbacks already asked of each lot (taken or owed), by the lot's source.

    Clawbacks written before 2026-12 name only their order: they count against its earned lot.
    """
    if not lots:
        return {}
    lot_source = CashbackEntry.details["lot_source"].as_string()
    wanted = func.sum(CashbackEntry.details["wanted_minor"].as_integer())
    rows = await session.execute(
        select(lot_source, CashbackEntry.order_id, wanted)
        .where(
            CashbackEntry.customer_id.in_(sorted(customer_pks)),
            CashbackEntry.kind == "clawback",
            CashbackEntry.order_id.in_(sorted({e.order_id for e in lots if e.order_id})),
        )
        .group_by(lot_source, CashbackEntry.order_id)
    )
    out: dict[str, int] = defaultdict(int)
    for source, order_id, total in rows:
        out[source if source is not None else f"earn:{order_id}"] += int(total or 0)
    return out


async def history(session: AsyncSession, customer_pk: int, limit: int) -> list[CashbackEntry]:
    rows = await session.scalars(
        select(CashbackEntry)
        .where(CashbackEntry.customer_id == customer_pk)
        .order_by(CashbackEntry.id.desc())
        .limit(limit)
    )
    return list(rows)


async def owed(session: AsyncSession, customer_pk: int) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(CashbackEntry.outstanding_minor), 0)).where(
            CashbackEntry.customer_id == customer_pk, CashbackEntry.outstanding_minor > 0
        )
    )
    return int(total or 0)


async def redemption(session: AsyncSession, customer_pk: int, key: str) -> Redemption | None:
    return await session.scalar(
        select(Redemption).where(
            Redemption.customer_id == customer_pk, Redemption.idempotency_key == key
        )
    )


async def redemption_by_entry(session: AsyncSession, entry_id: int) -> Redemption | None:
    return await session.scalar(
        select(Redemption).where(Redemption.entry_id == entry_id, Redemption.succeeded.is_(True))
    )


async def redeemed_with_token(session: AsyncSession, token_hash: str, since: datetime) -> int:
    """What a customer token redeemed since `since` (reversed redemptions do not count)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(Redemption.amount_minor), 0)).where(
            Redemption.token_hash == token_hash,
            Redemption.created_at > since,
            Redemption.succeeded.is_(True),
            Redemption.reversed_at.is_(None),
        )
    )
    return int(total or 0)


async def adjustment(session: AsyncSession, customer_pk: int, key: str) -> Adjustment | None:
    return await session.scalar(
        select(Adjustment).where(
            Adjustment.customer_id == customer_pk, Adjustment.idempotency_key == key
        )
    )


async def bonuses_of_customers(
    session: AsyncSession, customer_pks: Collection[int]
) -> list[CashbackEntry]:
    """Bonus lots these customers hold (to see whether their orders still qualify)."""
    if not customer_pks:
        return []
    rows = await session.scalars(
        select(CashbackEntry)
        .where(
            CashbackEntry.customer_id.in_(sorted(customer_pks)),
            CashbackEntry.kind.in_(("welcome_bonus", "referral_bonus")),
        )
        .order_by(CashbackEntry.id)
    )
    return list(rows)


async def order_states(
    session: AsyncSession, order_ids: Collection[str]
) -> dict[str, tuple[int, int]]:
    """(amount, refunded) of each order."""
    if not order_ids:
        return {}
    rows = await session.execute(
        select(Order.order_id, Order.amount_minor, Order.refunded_minor).where(
            Order.order_id.in_(sorted(order_ids))
        )
    )
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


# ---- the worker's time scans -------------------------------------------------------------


async def customers_with_lots_due(session: AsyncSession, now: datetime) -> list[int]:
    rows = await session.scalars(
        select(CashbackEntry.customer_id)
        .where(CashbackEntry.remaining_minor > 0, CashbackEntry.expires_at <= now)
        .distinct()
    )
    return sorted(rows)


async def lock_customers_by_pk(session: AsyncSession, pks: Sequence[int]) -> None:
    """Row locks, in id order (as every writer of a customer takes them), no objects loaded."""
    if pks:
        await session.execute(
            select(Customer.id)
            .where(Customer.id.in_(pks))
            .order_by(Customer.id)
            .with_for_update(key_share=True)
        )


async def lots_due(
    session: AsyncSession, customer_pks: Sequence[int], now: datetime
) -> list[tuple[int, int, int, str, str, datetime]]:
    """(id, customer, remaining, source, reason, expires_at) of the customers' lots past expiry."""
    rows = await session.execute(
        select(
            CashbackEntry.id,
            CashbackEntry.customer_id,
            CashbackEntry.remaining_minor,
            CashbackEntry.source,
            CashbackEntry.reason,
            CashbackEntry.expires_at,
        ).where(
            CashbackEntry.customer_id.in_(customer_pks),
            CashbackEntry.remaining_minor > 0,
            CashbackEntry.expires_at <= now,
        )
    )
    return [(r[0], r[1], int(r[2] or 0), r[3], r[4], r[5] or now) for r in rows]


_customers = Customer.__table__
assert isinstance(_customers, Table)


async def empty_lots(session: AsyncSession, lot_ids: Sequence[int]) -> None:
    await session.execute(
        update(CashbackEntry)
        .where(CashbackEntry.id.in_(lot_ids))
        .values(remaining_minor=0)
        .execution_options(synchronize_session=False)
    )


async def insert_entries(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await insert_rows(session, CashbackEntry, rows)


_LOWER_BALANCE = (
    update(_customers)
    .where(_customers.c.id == bindparam("_pk"))
    .values(
        cashback_balance_minor=_customers.c.cashback_balance_minor - bindparam("_minus"),
        updated_at=bindparam("_now"),
    )
)


async def lower_balances(session: AsyncSession, minus: dict[int, int], now: datetime) -> None:
    await execute_tuples(
        session,
        _LOWER_BALANCE,
        ["_minus", "_now", "_pk"],
        [(v, now, k) for k, v in sorted(minus.items())],
    )


async def lots_expiring(
    session: AsyncSession, now: datetime, horizon: datetime
) -> list[tuple[int, int, datetime]]:
    """(customer, remaining, expires_at) of live lots expiring after `now`, by `horizon`."""
    rows = await session.execute(
        select(
            CashbackEntry.customer_id, CashbackEntry.remaining_minor, CashbackEntry.expires_at
        ).where(
            CashbackEntry.remaining_minor > 0,
            CashbackEntry.expires_at > now,
            CashbackEntry.expires_at <= horizon,
        )
    )
    return [(r[0], int(r[1] or 0), r[2] or horizon) for r in rows]


async def notices_sent(
    session: AsyncSession, customer_pks: Collection[int], since: date
) -> set[tuple[int, date]]:
    """(customer, expiry date) pairs already announced, for dates from `since` on."""
    sent: set[tuple[int, date]] = set()
    wanted = sorted(customer_pks)
    for start in range(0, len(wanted), CHUNK):
        rows = await session.execute(
            select(ExpiryNotice.customer_id, ExpiryNotice.expires_on).where(
                ExpiryNotice.customer_id.in_(wanted[start : start + CHUNK]),
                ExpiryNotice.expires_on >= since,
            )
        )
        sent.update((r[0], r[1]) for r in rows)
    return sent


async def claim_notices(
    session: AsyncSession, notices: list[tuple[int, date, int]], now: datetime
) -> set[tuple[int, date]]:
    """Insert (customer, expiry date, amount) notices, skipping pairs already there; returns the
    pairs this call inserted."""
    claimed: set[tuple[int, date]] = set()
    table = ExpiryNotice.__table__
    for start in range(0, len(notices), 1000):
        part = notices[start : start + 1000]
        stmt = (
            insert_ignoring_conflicts(session, table, "customer_id", "expires_on")
            .values(
                [
                    {"customer_id": c, "expires_on": d, "amount_minor": a, "notified_at": now}
                    for c, d, a in part
                ]
            )
            .returning(table.c.customer_id, table.c.expires_on)
        )
        claimed.update((r[0], r[1]) for r in await session.execute(stmt))
    return claimed


async def external_ids(session: AsyncSession, pks: Collection[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    wanted = sorted(pks)
    for start in range(0, len(wanted), CHUNK):
        rows = await session.execute(
            select(Customer.id, Customer.external_id).where(
                Customer.id.in_(wanted[start : start + CHUNK])
            )
        )
        out.update({r[0]: r[1] for r in rows})
    return out
