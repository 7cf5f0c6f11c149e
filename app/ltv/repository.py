"""All SQL of the LTV domain."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import insert_rows
from app.customers.models import Customer, Order
from app.events.models import IS_REFUND, Event
from app.ltv.models import CustomerPrediction, ModelBacktest, ModelFit


async def latest_fit(session: AsyncSession, as_of: datetime | None = None) -> ModelFit | None:
    """The newest fit, or the newest fitted on data at or before `as_of` (back-testing)."""
    stmt = select(ModelFit).order_by(ModelFit.fitted_at.desc(), ModelFit.id.desc()).limit(1)
    if as_of is not None:
        stmt = stmt.where(ModelFit.as_of <= as_of)
    return await session.scalar(stmt)


async def purchases_as_of(
    session: AsyncSession, as_of: datetime, customer_pks: Collection[int] | None = None
) -> list[tuple[int, datetime, int]]:
    """(customer pk, when, net amount as of `as_of`) of every order placed at or before it
    that still counts as a purchase then.

    Refunds count only if they too happened at or before `as_of`, so a past answer does not
    change when a later refund arrives.
    """
    if customer_pks is not None and not customer_pks:
        return []
    refund_rows = select(
        Event.payload["order_id"].as_string().label("order_id"),
        Event.payload["amount"].as_float().label("amount"),
    ).where(IS_REFUND, Event.occurred_at <= as_of)
    if customer_pks is not None:
        refund_rows = refund_rows.where(Event.customer_id.in_(list(customer_pks)))
    rows_sub = refund_rows.subquery()
    sub = (
        select(rows_sub.c.order_id, func.sum(rows_sub.c.amount).label("amount"))
        .group_by(rows_sub.c.order_id)
        .subquery()
    )
    stmt = (
        select(
            Order.customer_id,
            Order.occurred_at,
            Order.amount_minor,
            func.coalesce(sub.c.amount, 0.0),
        )
        .outerjoin(sub, sub.c.order_id == Order.order_id)
        .where(Order.occurred_at <= as_of)
    )
    if customer_pks is not None:
        stmt = stmt.where(Order.customer_id.in_(list(customer_pks)))
    rows = await session.execute(stmt)
    # A fully refunded order is undone; a zero-amount order (a gift) still counts.
    return [
        (pk, at, net)
        for pk, at, amount, refunded in rows
        if (net := amount - round(refunded * 100)) > 0 or amount == 0
    ]


async def customers_for_prediction(
    session: AsyncSession, customer_pks: Collection[int] | None = None
) -> list[tuple[int, str | None, int]]:
    """(pk, main category, average check) of customers with at least one purchase."""
    stmt = select(Customer.id, Customer.main_category, Customer.avg_check_minor).where(
        Customer.purchase_count > 0
    )
    if customer_pks is not None:
        stmt = stmt.where(Customer.id.in_(list(customer_pks)))
    return [(r[0], r[1], r[2]) for r in await session.execute(stmt)]


async def replace_predictions(
    session: AsyncSession, customer_pks: Collection[int] | None, rows: list[dict[str, Any]]
) -> None:
    stmt = delete(CustomerPrediction)
    if customer_pks is not None:
        stmt = stmt.where(CustomerPrediction.customer_id.in_(list(customer_pks)))
    await session.execute(stmt)
    for start in range(0, len(rows), 5000):  # a refit rewrites every customer's: bound memory
        await insert_rows(session, CustomerPrediction, rows[start : start + 5000])


async def prediction_of(session: AsyncSession, customer_pk: int) -> CustomerPrediction | None:
    return await session.get(CustomerPrediction, customer_pk)


async def latest_backtest(session: AsyncSession) -> ModelBacktest | None:
    return await session.scalar(select(ModelBacktest).order_by(ModelBacktest.id.desc()).limit(1))


async def backtest(session: AsyncSession, backtest_id: int) -> ModelBacktest | None:
    return await session.get(ModelBacktest, backtest_id)


async def backtests_page(
    session: AsyncSession, before_id: int | None, limit: int
) -> list[ModelBacktest]:
    """Newest first, keyset on id."""
    stmt = select(ModelBacktest).order_by(ModelBacktest.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(ModelBacktest.id < before_id)
    return list(await session.scalars(stmt))


async def first_purchase_at(session: AsyncSession) -> datetime | None:
    """When the shop's history starts."""
    return await session.scalar(select(func.min(Order.occurred_at)))
