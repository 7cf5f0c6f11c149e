"""HTTP only: data for the dashboard's charts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.analytics.cohorts import histogram, retention
from app.auth.principal import CustomersReader
from app.core.db import Session, utcnow
from app.core.money import MoneyOut, from_minor
from app.core.types import AsOf
from app.customers.models import Customer, Order

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])


class Bucket(BaseModel):
    from_value: MoneyOut
    to_value: MoneyOut
    customers: int


class Histogram(BaseModel):
    measure: str = Field(description="historic LTV: net revenue per customer who bought")
    buckets: list[Bucket]


class Cohort(BaseModel):
    month: str = Field(description="Month of the first purchase, YYYY-MM.")
    buyers: int
    retention: list[float] = Field(description="Share buying in month 0, 1, 2, … after.")


class Cohorts(BaseModel):
    cohorts: list[Cohort]


@router.get("/ltv-histogram", response_model=Histogram)
async def ltv_histogram(
    session: Session, _: CustomersReader, buckets: Annotated[int, Query(ge=2, le=50)] = 10
) -> Histogram:
    """How many customers fall in each band of historic LTV (net revenue to date)."""
    values = list(
        await session.scalars(select(Customer.net_revenue_minor).where(Customer.purchase_count > 0))
    )
    return Histogram(
        measure="historic LTV (net revenue to date) of customers with a purchase",
        buckets=[
            Bucket(from_value=from_minor(a), to_value=from_minor(b), customers=n)
            for a, b, n in histogram(values, buckets)
        ],
    )


@router.get("/cohorts", response_model=Cohorts)
async def cohorts(
    session: Session,
    _: CustomersReader,
    as_of: AsOf = None,
    months: Annotated[int, Query(ge=1, le=36)] = 12,
) -> Cohorts:
    """Monthly cohorts of first purchase: the share of each cohort still buying N months later
    (orders fully refunded do not count)."""
    at = as_of or utcnow()
    rows = await session.execute(
        select(Order.customer_id, Order.occurred_at).where(
            (Order.amount_minor > Order.refunded_minor) | (Order.amount_minor == 0),
            Order.occurred_at <= at,
        )
    )
    return Cohorts(
        cohorts=[
            Cohort(month=m, buyers=n, retention=shares)
            for m, n, shares in retention(((c, t) for c, t in rows), at, months)
        ]
    )
