"""All SQL of the stages domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.customers import repository as customers_repository
from app.customers.models import Customer, Order
from app.events.models import IS_REFUND, Event
from app.stages.models import StageChange


async def since_as_of(
    session: AsyncSession, customer_pk: int, stage: str, as_of: datetime
) -> datetime | None:
    return await session.scalar(
        select(StageChange.changed_at)
        .where(
            StageChange.customer_id == customer_pk,
            StageChange.to_stage == stage,
            StageChange.changed_at <= as_of,
        )
        .order_by(StageChange.changed_at.desc(), StageChange.id.desc())
        .limit(1)
    )


async def referrals_converted_as_of(
    session: AsyncSession, referrer_id: str, as_of: datetime
) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Customer)
            .where(Customer.referrer_id == referrer_id, Customer.first_purchase_at <= as_of)
        )
        or 0
    )


async def due_for_review(session: AsyncSession, now: datetime, limit: int) -> list[Customer]:
    return await customers_repository.claim_due(session, Customer.stage_review_at, now, limit)


async def pyramid_now(session: AsyncSession) -> list[tuple[str, int, int, int]]:
    """(stage, customers, net revenue, revenue of repeat customers) from the aggregates."""
    rows = await session.execute(
        select(
            Customer.stage,
            func.count(),
            func.coalesce(func.sum(Customer.net_revenue_minor), 0),
            func.coalesce(
                func.sum(case((Customer.purchase_count >= 2, Customer.net_revenue_minor), else_=0)),
                0,
            ),
        ).group_by(Customer.stage)
    )
    return [(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows]


async def pyramid_as_of(session: AsyncSession, as_of: datetime) -> list[tuple[str, int, int, int]]:
    """The same from the stage history and the orders and refunds at or before `as_of`."""
    last = (
        select(
            StageChange.customer_id,
            StageChange.to_stage,
            func.row_number()
            .over(
                partition_by=StageChange.customer_id,
                order_by=(StageChange.changed_at.desc(), StageChange.id.desc()),
            )
            .label("rn"),
        )
        .where(StageChange.changed_at <= as_of)
        .subquery()
    )
    stage_of = select(last.c.customer_id, last.c.to_stage).where(last.c.rn == 1).subquery()
    refunds = (
        select(
            Event.customer_id.label("customer_id"),
            Event.payload["amount"].as_float().label("amount"),
        )
        .where(IS_REFUND, Event.occurred_at <= as_of)
        .subquery()
    )
    refunded = (
        select(refunds.c.customer_id, func.sum(refunds.c.amount).label("amount"))
        .group_by(refunds.c.customer_id)
        .subquery()
    )
    bought = (
        select(
            Order.customer_id,
            func.sum(Order.amount_minor).label("gross"),
            func.count().label("orders"),
        )
        .where(Order.occurred_at <= as_of)
        .group_by(Order.customer_id)
        .subquery()
    )
    net = func.coalesce(bought.c.gross, 0) - func.coalesce(refunded.c.amount, 0) * 100
    rows = await session.execute(
        select(
            stage_of.c.to_stage,
            func.count(),
            func.coalesce(func.sum(net), 0),
            func.coalesce(func.sum(case((bought.c.orders >= 2, net), else_=0)), 0),
        )
        .select_from(stage_of)
        .outerjoin(bought, bought.c.customer_id == stage_of.c.customer_id)
        .outerjoin(refunded, refunded.c.customer_id == stage_of.c.customer_id)
        .group_by(stage_of.c.to_stage)
    )
    return [(r[0], int(r[1]), round(float(r[2])), round(float(r[3]))) for r in rows]
