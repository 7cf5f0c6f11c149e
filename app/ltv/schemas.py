from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.core.inputs import INSTANT_RANGE
from app.core.money import MoneyOut
from app.core.types import InstantOrNaive


class SimpleLtv(BaseModel):
    """Average check × purchases per year × horizon, with the inputs shown."""

    value: MoneyOut
    average_check: MoneyOut
    purchases_per_year: float
    horizon_days: int
    basis: str = Field(description="Where purchases per year came from.")


class PredictedLtv(BaseModel):
    value: MoneyOut = Field(description="Discounted expected spend over the horizon.")
    expected_purchases: float = Field(description="Expected purchases over the horizon (BG/NBD).")
    expected_spend_per_purchase: MoneyOut = Field(description="Gamma-Gamma conditional mean.")
    annual_discount_rate: float


class LtvOut(BaseModel):
    customer_id: str
    as_of: datetime
    horizon_days: int
    historic: MoneyOut = Field(description="Net revenue to date (refunds subtracted).")
    simple: SimpleLtv
    predicted: PredictedLtv
    p_alive: float
    expected_purchases: float
    expected_next_purchase_at: datetime | None = Field(
        description="When the expected number of purchases since as_of reaches one, "
        "given the customer is alive; null if never within ten years."
    )
    average_days_between_orders: float | None
    model: str = Field(description='"bgnbd+gg" or "heuristic" (fallback priors).')
    model_fit_id: int | None


class ModelOut(BaseModel):
    id: int | None
    kind: str
    time_unit: str
    params: dict[str, float]
    bgnbd_log_likelihood: float | None
    gg_log_likelihood: float | None
    n_customers: int
    n_repeat_customers: int
    as_of: datetime | None
    fitted_at: datetime | None
    duration_ms: int | None


class FitIn(BaseModel):
    as_of: InstantOrNaive | None = Field(
        default=None, description=f"Fit on events at or before this ({INSTANT_RANGE})."
    )
