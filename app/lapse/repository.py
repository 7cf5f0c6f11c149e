"""All SQL of the lapse domain."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import insert_ignoring_conflicts
from app.customers import repository as customers_repository
from app.customers.models import Customer, Order
from app.lapse.models import CategoryRhythm
from app.lapse.schemas import LapsedSort
from app.ltv.models import CustomerPrediction, ModelFit


async def due(session: AsyncSession, now: datetime, limit: int) -> list[Customer]:
    return await customers_repository.claim_due(session, Customer.next_status_at, now, limit)


@dataclass(frozen=True)
class Filters:
    status: str | None
    category: str | None
    stage: str | None
    min_value_minor: int | None


async def fitted(session: AsyncSession) -> bool:
    kind = await session.scalar(
        select(ModelFit.kind).order_by(ModelFit.fitted_at.desc(), ModelFit.id.desc()).limit(1)
    )
    return kind is not None and kind != "heuristic"  # any fitted purchase model


async def lapsed_page(
    session: AsyncSession,
    f: Filters,
    sort: LapsedSort,
    as_of: datetime | None,
    after: tuple[Any, int] | None,
    limit: int,
    with_p_alive: bool,
) -> list[tuple[Customer, str, float | None]]:
    """One page of non-active customers with their status and P(alive).

    Without as_of it reads the stored status and the columns set only while a customer is not
    active, so each page is a range scan of (risk_value_minor, id) or (risk_since, id).
    """
    status: Any
    if as_of is None:
        value, since = Customer.risk_value_minor, Customer.risk_since
        status = Customer.status
        stmt = select(Customer, status).where(value.is_not(None))
    else:
        value, since = Customer.value_at_risk_minor, Customer.at_risk_at
        status = case(
            (Customer.lost_at <= as_of, "lost"),
            (Customer.lapse_at <= as_of, "lapsed"),
            else_="at_risk",
        )
        stmt = select(Customer, status).where(
            Customer.at_risk_at <= as_of, Customer.last_purchase_at <= as_of
        )
    if with_p_alive:
        stmt = stmt.add_columns(CustomerPrediction.p_alive).outerjoin(
            CustomerPrediction, CustomerPrediction.customer_id == Customer.id
        )
    if f.status:
        stmt = stmt.where(status == f.status)
    if f.category:
        stmt = stmt.where(Customer.main_category == f.category)
    if f.stage:
        stmt = stmt.where(Customer.stage == f.stage)
    if f.min_value_minor is not None:
        stmt = stmt.where(value >= f.min_value_minor)
    if sort == LapsedSort.VALUE_AT_RISK:
        if after is not None:
            stmt = stmt.where(tuple_(value, Customer.id) < tuple_(*after))
        stmt = stmt.order_by(value.desc(), Customer.id.desc())
    else:
        if after is not None:
            stmt = stmt.where(tuple_(since, Customer.id) > tuple_(*after))
        stmt = stmt.order_by(since.asc(), Customer.id.asc())
    rows: list[Any] = list(await session.execute(stmt.limit(limit)))
    return [(r[0], r[1], r[2] if with_p_alive else None) for r in rows]


async def category_rhythms(session: AsyncSession) -> list[CategoryRhythm]:
    return list(await session.scalars(select(CategoryRhythm)))


async def replace_category_rhythms(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await session.execute(delete(CategoryRhythm))
    await add_category_rhythms(session, rows)


async def add_category_rhythms(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert; a key another transaction wrote meanwhile keeps that transaction's row."""
    if rows:
        await session.execute(
            insert_ignoring_conflicts(session, CategoryRhythm.__table__, "category"), rows
        )


async def intervals_by_category(
    session: AsyncSession, categories: Collection[str] | None = None
) -> list[tuple[str | None, int, float | None]]:
    """(main category, purchases, median days between them) of every customer who bought."""
    stmt = select(
        Customer.main_category, Customer.purchase_count, Customer.interval_median_days
    ).where(Customer.purchase_count > 0)
    if categories is not None:
        stmt = stmt.where(Customer.main_category.in_(list(categories)))
    return [(r[0], int(r[1]), r[2]) for r in await session.execute(stmt)]


async def yearly_spend_by_category(
    session: AsyncSession, categories: Collection[str] | None = None
) -> list[tuple[str | None, int, int]]:
    """(main category, buyers, what they spent) over the latest 365 days of the shop's orders."""
    latest = await session.scalar(select(func.max(Order.occurred_at)))
    if latest is None:
        return []
    net = Order.amount_minor - Order.refunded_minor
    stmt = (
        select(
            Customer.main_category,
            func.count(func.distinct(Order.customer_id)),
            func.coalesce(func.sum(net), 0),
        )
        .join(Customer, Customer.id == Order.customer_id)
        .where(Order.occurred_at > latest - timedelta(days=365))
        .group_by(Customer.main_category)
    )
    if categories is not None:
        stmt = stmt.where(Customer.main_category.in_(list(categories)))
    return [(r[0], int(r[1]), int(r[2])) for r in await session.execute(stmt)]


async def not_active_customers(session: AsyncSession) -> list[Customer]:
    """Customers on the lapsed list (rows another transaction holds are skipped)."""
    return list(
        await session.scalars(
            select(Customer)
            .where(Customer.risk_value_minor.is_not(None))
            .order_by(Customer.id)
            .with_for_update(skip_locked=True, key_share=True)
        )
    )
