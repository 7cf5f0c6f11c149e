from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.core.inputs import INSTANT_RANGE
from app.core.money import MoneyOut
from app.core.types import Instant, InstantOrNaive


class SimpleLtv(BaseModel):
    """Average check × purchases per year × horizon, with the inputs shown."""

    value: MoneyOut
    average_check: MoneyOut
    purchases_per_year: float
    horizon_days: int
    basis: str = Field(description="Where purchases per year came from.")


class Interval(BaseModel):
    """A 90 % interval from the fitted parameters' uncertainty (see `interval_method`)."""

    low: float
    high: float


class MoneyInterval(BaseModel):
    low: MoneyOut
    high: MoneyOut


class PredictedLtv(BaseModel):
    value: MoneyOut = Field(description="Discounted expected spend over the horizon.")
    value_interval: MoneyInterval | None = Field(
        default=None, description="90 % interval of `value`; null with the fallback priors."
    )
    expected_purchases: float = Field(
        description="Expected purchases over the horizon (the purchase model in use)."
    )
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
    expected_purchases_interval: Interval | None = Field(
        default=None,
        description="90 % interval of `expected_purchases`; null with the fallback priors.",
    )
    interval_level: float = 0.9
    interval_method: str | None = Field(
        default=None,
        description='"laplace-delta": Laplace approximation of the parameters at the fitted '
        "optimum, carried to each customer by the delta method on the log scale.",
    )
    expected_next_purchase_at: datetime | None = Field(
        description="When the expected number of purchases since as_of reaches one, "
        "given the customer is alive; null if never within ten years."
    )
    average_days_between_orders: float | None
    model: str = Field(
        description='"bgnbd+gg", "mbgnbd+gg", "paretonbd+gg" or "heuristic" (fallback priors).'
    )
    model_fit_id: int | None


class ModelOut(BaseModel):
    id: int | None
    kind: str
    time_unit: str
    params: dict[str, float]
    purchase_model: str | None = Field(
        description='"bgnbd", "mbgnbd" or "paretonbd"; null for the fallback priors.'
    )
    purchase_log_likelihood: float | None
    bgnbd_log_likelihood: float | None = Field(description="Set when the model is BG/NBD.")
    gg_log_likelihood: float | None
    reason: str | None = Field(description="Why this purchase model is the one in use.")
    backtest_id: int | None = Field(description="The back-test the choice was made on.")
    n_customers: int
    n_repeat_customers: int
    as_of: datetime | None
    fitted_at: datetime | None
    duration_ms: int | None


class FitIn(BaseModel):
    as_of: InstantOrNaive | None = Field(
        default=None, description=f"Fit on events at or before this ({INSTANT_RANGE})."
    )


class BacktestIn(BaseModel):
    calibration_end: Instant = Field(description="Fit on facts at or before this (T).")
    holdout_end: Instant | None = Field(
        default=None, description="Score on what happened in (T, holdout_end]; default now."
    )


class FrequencyRow(BaseModel):
    repeat_purchases: str = Field(description='Calibration repeat purchases: "0" … "6", "7+".')
    customers: int
    predicted_mean: float | None = Field(description="Mean predicted holdout purchases.")
    actual_mean: float | None = Field(description="Mean actual holdout purchases.")


class PAliveRow(BaseModel):
    p_alive_from: float
    p_alive_to: float
    customers: int
    mean_p_alive: float | None = Field(description="Mean P(alive) at the calibration end.")
    bought_share: float | None = Field(description="Share who bought in the holdout.")


class BacktestModel(BaseModel):
    model: str = Field(description='"bgnbd", "mbgnbd", "paretonbd" or "heuristic".')
    params: dict[str, float]
    log_likelihood: float | None
    converged: bool
    beats_fallback: bool | None = Field(
        default=None, description="Lower per-customer error than the fallback priors."
    )
    predicted_repeat_purchases: float
    actual_repeat_purchases: int
    aggregate_error: float | None = Field(
        description="(predicted - actual) / actual over the whole calibration population."
    )
    mae: float = Field(description="Mean absolute error of each customer's holdout purchases.")
    by_frequency: list[FrequencyRow]
    p_alive_calibration: list[PAliveRow]


class SpendScore(BaseModel):
    model: str
    params: dict[str, float]
    log_likelihood: float | None
    fitted_customers: int = Field(description="Positive-spend repeaters it was fitted on.")
    customers: int = Field(description="Customers with a positive-spend holdout purchase.")
    predicted_mean_spend: float | None
    actual_mean_spend: float | None
    mae: float | None
    aggregate_error: float | None


class BacktestOut(BaseModel):
    id: int
    created_at: datetime
    calibration_end: datetime
    holdout_end: datetime
    horizon_days: float
    customers: int
    repeat_customers: int
    chosen_model: str | None = Field(description="Lowest holdout error; null if not fitted.")
    reason: str | None
    models: list[BacktestModel]
    fallback: BacktestModel | None
    spend: SpendScore | None
    duration_ms: int
