"""From a customer's purchases to the models' inputs, and from the models to money (pure).

Conventions (as in the papers): purchases on one calendar day (UTC) count once; x is the number
of purchase days after the first; t_x the days from the first to the last purchase day; T the
days from the first purchase day to `as_of`; m the mean spend of the repeat purchase days (the
first day is the acquisition and excluded, as in the Gamma-Gamma note).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
from numpy.typing import NDArray

from app.ltv.bgnbd import BgNbdParams

Array = NDArray[np.float64]

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
    m_minor: float  # mean spend of the positive-spend repeat purchase days, minor units
    first_day: date | None
    # Repeat purchase days with a positive spend: the Gamma-Gamma x (zero-amount purchases,
    # gifts and fully discounted orders, count as purchases but carry no spend).
    x_spend: int = 0


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
    spent = [by_day[d] for d in days[1:] if by_day[d] > 0]
    return Summary(
        x=x,
        t_x=float((last - first).days),
        T=float(max((as_of.astimezone(UTC).date() - first).days, (last - first).days)),
        m_minor=float(np.mean(spent)) if spent else 0.0,
        first_day=first,
        x_spend=len(spent),
    )


def holdout(
    purchases: Iterable[tuple[datetime, int]], start: datetime, end: datetime
) -> tuple[int, int, float]:
    """Purchase days in (start, end] (counted as the models count them), how many of them had
    a positive spend, and their mean spend in minor units (0 if none)."""
    by_day: dict[date, int] = defaultdict(int)
    for at, amount in purchases:
        if start < at <= end and amount >= 0:
            by_day[at.astimezone(UTC).date()] += amount
    spent = [v for v in by_day.values() if v > 0]
    return len(by_day), len(spent), float(np.mean(spent)) if spent else 0.0


def prior_bgnbd(rhythm_days: float) -> BgNbdParams:
    return BgNbdParams(r=PRIOR_R, alpha=PRIOR_R * rhythm_days, a=PRIOR_A, b=PRIOR_B)


def discounted_values(
    expected: Callable[[Array, Array, Array, Array], Array],
    spend_per_purchase: Array,
    horizon_days: float,
    annual_discount_rate: float,
    x: Array,
    t_x: Array,
    T: Array,
    step_days: float = 30.0,
) -> Array:
    """Expected spend over the horizon, each month's expected purchases (`expected(t, x, t_x,
    T)` of the purchase model in use) discounted to today (vectorised over customers: one row
    of month edges for all)."""
    if horizon_days <= 0:
        return np.zeros_like(x)
    edges = np.append(np.arange(step_days, horizon_days, step_days), horizon_days)[:, None]
    cumulative = expected(edges, x[None, :], t_x[None, :], T[None, :])
    per_step = np.diff(np.vstack([np.zeros((1, x.size)), cumulative]), axis=0)
    discount = (1.0 + annual_discount_rate) ** (-edges / 365.0)
    return np.asarray(np.sum(per_step * discount, axis=0) * spend_per_purchase, dtype=np.float64)
