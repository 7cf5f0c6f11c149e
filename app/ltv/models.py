from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntPK, JSONDoc, UTCDateTime, utcnow


class ModelFit(Base):
    """One fit of the buy-till-you-die models (or the documented fallback priors)."""

    __tablename__ = "model_fits"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    # "<purchase model>+gg" when fitted on the shop's data ("bgnbd+gg", "mbgnbd+gg",
    # "paretonbd+gg"), "heuristic" for the fallback priors.
    kind: Mapped[str] = mapped_column(String(20))
    as_of: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    fitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # r, alpha, a, b (BG/NBD) and p, q, gamma (Gamma-Gamma); time unit in `time_unit`.
    params: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    time_unit: Mapped[str] = mapped_column(String(8), default="days")
    bgnbd_log_likelihood: Mapped[float | None] = mapped_column(Float, default=None)
    gg_log_likelihood: Mapped[float | None] = mapped_column(Float, default=None)
    n_customers: Mapped[int] = mapped_column(Integer, default=0)
    n_repeat_customers: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    # Why this purchase model: {"reason": ..., "backtest_id": ..., "forced": ...}.
    selection: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, default=None)
    # Laplace covariances of the log-parameters: {"purchase": [[...]], "spend": [[...]]}.
    uncertainty: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, default=None)


class CustomerPrediction(Base):
    """The latest per-customer prediction, refreshed on ingest and after every fit."""

    __tablename__ = "customer_predictions"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    model_fit_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_fits.id", ondelete="SET NULL"), default=None
    )
    model: Mapped[str] = mapped_column(String(20))
    # The papers' summary: repeat purchase days x, time of the last t_x and age T, in days.
    x: Mapped[int] = mapped_column(Integer)
    t_x: Mapped[float] = mapped_column(Float)
    T: Mapped[float] = mapped_column(Float)
    # Mean spend of the repeat purchase days (minor units), the Gamma-Gamma input m.
    repeat_spend_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    p_alive: Mapped[float] = mapped_column(Float, index=True)
    horizon_days: Mapped[int] = mapped_column(Integer)
    expected_purchases: Mapped[float] = mapped_column(Float)
    # 90 % intervals from the parameters' uncertainty (null for the fallback priors).
    expected_purchases_low: Mapped[float | None] = mapped_column(Float, default=None)
    expected_purchases_high: Mapped[float | None] = mapped_column(Float, default=None)
    predicted_ltv_low_minor: Mapped[int | None] = mapped_column(BigInteger, default=None)
    predicted_ltv_high_minor: Mapped[int | None] = mapped_column(BigInteger, default=None)
    expected_spend_minor: Mapped[int] = mapped_column(BigInteger)
    predicted_ltv_minor: Mapped[int] = mapped_column(BigInteger, index=True)
    expected_next_purchase_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelBacktest(Base):
    """One holdout back-test: the models fitted on facts up to `calibration_end`, scored on
    what happened up to `holdout_end`. `report` holds every model's figures."""

    __tablename__ = "model_backtests"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    calibration_end: Mapped[datetime] = mapped_column(UTCDateTime)
    holdout_end: Mapped[datetime] = mapped_column(UTCDateTime)
    # The purchase model with the lowest holdout error; null when too few customers repeat.
    chosen_model: Mapped[str | None] = mapped_column(String(20), default=None)
    n_customers: Mapped[int] = mapped_column(Integer, default=0)
    n_repeat_customers: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
