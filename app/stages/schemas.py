from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.core.money import MoneyOut


class StageOut(BaseModel):
    customer_id: str
    as_of: datetime
    stage: str
    since: datetime | None = Field(description="When the customer reached this stage.")
    reasons: list[str] = Field(description="Why, in plain words and figures.")
    next_stage: str | None
    next_requirements: list[str] = Field(description="What it takes to reach the next stage.")


class PyramidLevel(BaseModel):
    stage: str
    customers: int
    share: float = Field(description="Share of all customers.")
    revenue: MoneyOut
    revenue_share: float
    average_revenue: MoneyOut
    reached: int = Field(description="Customers at this stage or above.")
    reached_revenue: MoneyOut = Field(
        description="Revenue of the customers at this stage or above."
    )
    conversion: float | None = Field(
        description="People: reached at this stage / reached at the previous one."
    )
    money_conversion: float | None = Field(
        description="Money: revenue reached at this stage / at the previous one."
    )


class PyramidOut(BaseModel):
    as_of: datetime
    customers: int
    revenue: MoneyOut
    repeat_revenue_share: float = Field(
        description="Share of revenue from customers with two purchases or more."
    )
    levels: list[PyramidLevel]
