"""Value at risk: what a lapsed customer would spend in the next 12 months if won back.

With fitted models (the purchase model in use — BG/NBD, MBG/NBD or Pareto/NBD — and
Gamma-Gamma): E[purchases in 365 days | alive] from the purchase model — the
customer's purchase rate given their history, with dropout after each future purchase — times
the spend Gamma-Gamma expects per purchase (the population mean for customers without a paid
repeat purchase: spend models use positive-spend repeaters only). Without a fit: a repeat
customer's own average check × purchases a year at their rhythm; a one-order customer is worth
what the shop's buyers of that category spend in a year. Whatever the model says, one order
never puts more at risk than the shop's own yearly buyers of that category spend.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from app.ltv import clv, gamma_gamma, purchase
from app.ltv import repository as ltv_repository
from app.ltv.models import ModelFit

HORIZON_DAYS = 365.0


@dataclass(frozen=True)
class Fitted:
    purchases: purchase.PurchaseModel
    gg: gamma_gamma.GammaGammaParams


def fitted_of(fit: ModelFit | None) -> Fitted | None:
    """The fitted models ("<purchase model>+gg"), or None for the fallback priors."""
    if fit is None or not fit.kind.endswith("+gg"):
        return None
    p = fit.params
    return Fitted(
        purchase.from_stored(fit.kind.removesuffix("+gg"), p),
        gamma_gamma.GammaGammaParams(p["p"], p["q"], p["gamma"]),
    )


async def current_models(session: AsyncSession) -> Fitted | None:
    return fitted_of(await ltv_repository.latest_fit(session))


@dataclass(frozen=True)
class Subject:
    """One customer's inputs: counted purchases (when, net minor units) and their figures."""

    purchases: list[tuple[datetime, int]]
    avg_check_minor: int
    usual_interval_days: float | None
    category_yearly_minor: int | None


def values_minor(models: Fitted | None, subjects: list[Subject], now: datetime) -> list[int]:
    """Value at risk of each subject, in minor units (vectorised over the subjects)."""
    if not subjects:
        return []
    summaries = [clv.summarise(s.purchases, now) for s in subjects]
    single = np.array([s.x == 0 for s in summaries])
    own = np.array(
        [
            s.avg_check_minor * HORIZON_DAYS / s.usual_interval_days
            if s.usual_interval_days
            else 0.0
            for s in subjects
        ]
    )
    cap = np.array(
        [
            np.inf if s.category_yearly_minor is None else float(s.category_yearly_minor)
            for s in subjects
        ]
    )
    if models is None:
        value = np.where(single & np.isfinite(cap), cap, own)
    else:
        x = np.array([s.x for s in summaries], dtype=np.float64)
        t_x = np.array([s.t_x for s in summaries], dtype=np.float64)
        T = np.array([s.T for s in summaries], dtype=np.float64)
        m = np.array([s.m_minor for s in summaries], dtype=np.float64)
        alive = models.purchases.p_alive(x, t_x, T)
        expected = models.purchases.expected(HORIZON_DAYS, x, t_x, T)
        with np.errstate(divide="ignore", invalid="ignore"):
            if_alive = np.where(alive > 0, expected / alive, 0.0)
        # Spend models use positive-spend repeat days only (gifts say nothing about spend);
        # none of them: the population mean.
        paid = np.array([s.x_spend for s in summaries], dtype=np.float64)
        # The models are fitted in currency units, the columns hold minor units.
        spend = gamma_gamma.expected_spend(models.gg, paid, m / 100) * 100
        avg = np.array([s.avg_check_minor for s in subjects], dtype=np.float64)
        spend = np.where(np.isfinite(spend) & (spend > 0), spend, avg)
        value = np.where(np.isfinite(if_alive), if_alive * spend, own)
    value = np.where(single, np.minimum(value, cap), value)
    return [round(float(v)) if np.isfinite(v) else 0 for v in value]
