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
        description="What the customer would spend in the next 12 months if won back: "
        "BG/NBD purchases given alive × Gamma-Gamma spend once the models are fitted; before "
        "that a repeat customer's own check × purchases a year at their rhythm, and a one-order "
        "customer what the shop's buyers of that category spend in a year (never more, for "
        "one order, than that)."
    )
    next_touch: str = Field(description="Link to the customer's next recommended touch.")
