"""From a customer's purchases to the models' inputs, and from the models to money (pure).

Conventions (as in the papers): purchases on one calendar day (UTC) count once; x is the number
of purchase days after the first; t_x the days from the first to the last purchase day; T the
days from the first purchase day to `as_of`; m the mean spend of the repeat purchase days (the
first day is the acquisition and excluded, as in the Gamma-Gamma note).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
from numpy.typing import NDArray

from app.ltv.bgnbd import BgNbdParams, expected_purchases

# Below this many customers with a repeat purchase the fit is too noisy to trust; the service
# then answers from the priors below (model "heuristic").
MIN_REPEAT_CUSTOMERS_TO_FIT = 30

# Fallback priors. BG/NBD shape parameters as in typical retail fits (CDNOW: r 0.24, a 0.79,
# b 2.43 — a minority drops out after each purchase); alpha is set from the shop's usual days
# between purchases so that the mean purchase rate r/alpha is one purchase per rhythm.
PRIOR_R = 0.25
PRIOR_A = 0.8
PRIOR_B = 2.4
# Gamma-Gamma: p = 6, q = 4 (CDNOW: 6.25, 3.74), with the population mean spend
# gamma * p / (q - 1) taken to be the customer's own average check.
PRIOR_P = 6.0
PRIOR_Q = 4.0


@dataclass(frozen=True)
class Summary:
    x: int
    t_x: float
    T: float
    m_minor: float  # mean spend of the repeat purchase days, minor units (0 if x == 0)
    first_day: date | None


def summarise(purchases: Iterable[tuple[datetime, int]], as_of: datetime) -> Summary:
    """(when, net amount in minor units) of counted purchases (zero-amount ones included:
    a gift is a purchase day) at or before as_of."""
    by_day: dict[date, int] = defaultdict(int)
    for at, amount in purchases:
        if at <= as_of:
            by_day[at.astimezone(UTC).date()] += amount
    if not by_day:
        return Summary(0, 0.0, 0.0, 0.0, None)
    days = sorted(by_day)
    first, last = days[0], days[-1]
    x = len(days) - 1
    repeat = [by_day[d] for d in days[1:]]
    return Summary(
        x=x,
        t_x=float((last - first).days),
        T=float(max((as_of.astimezone(UTC).date() - first).days, (last - first).days)),
        m_minor=float(np.mean(repeat)) if repeat else 0.0,
        first_day=first,
    )


def prior_bgnbd(rhythm_days: float) -> BgNbdParams:
    return BgNbdParams(r=PRIOR_R, alpha=PRIOR_R * rhythm_days, a=PRIOR_A, b=PRIOR_B)


def discounted_values(
    params: BgNbdParams,
    spend_per_purchase: NDArray[np.float64],
    horizon_days: float,
    annual_discount_rate: float,
    x: NDArray[np.float64],
    t_x: NDArray[np.float64],
    T: NDArray[np.float64],
    step_days: float = 30.0,
) -> NDArray[np.float64]:
    """Expected spend over the horizon, each month's expected purchases discounted to today
    (vectorised over customers: one row of month edges for all)."""
    if horizon_days <= 0:
        return np.zeros_like(x)
    edges = np.append(np.arange(step_days, horizon_days, step_days), horizon_days)[:, None]
    cumulative = expected_purchases(params, edges, x[None, :], t_x[None, :], T[None, :])
    per_step = np.diff(np.vstack([np.zeros((1, x.size)), cumulative]), axis=0)
    discount = (1.0 + annual_discount_rate) ** (-edges / 365.0)
    return np.asarray(np.sum(per_step * discount, axis=0) * spend_per_purchase, dtype=np.float64)
