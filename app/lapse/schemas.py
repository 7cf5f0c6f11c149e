from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from app.core.money import MoneyOut


class LapsedSort(StrEnum):
    VALUE_AT_RISK = "value_at_risk"
    OVERDUE = "overdue"


class RiskStatus(StrEnum):
    AT_RISK = "at_risk"
    LAPSED = "lapsed"
    LOST = "lost"


class LapsedCustomer(BaseModel):
    customer_id: str
    stage: str
    status: str
    main_category: str | None
    last_purchase_at: datetime | None
    usual_interval_days: float | None = Field(description="The customer's own rhythm.")
    days_silent: float | None
    overdue_days: float | None = Field(description="Days since the customer became at risk.")
    p_alive: float | None = Field(description="From the BG/NBD model once one is fitted.")
    value_at_risk: MoneyOut = Field(
        description="A year of purchases at the customer's rhythm: what the shop loses a year "
        "if this customer is gone (average check × 365 / usual interval)."
    )
    next_touch: str = Field(description="Link to the customer's next recommended touch.")
