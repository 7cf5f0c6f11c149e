"""BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

Pure NumPy/SciPy. The log-likelihood is written in log-space with `gammaln`/`betaln`, the
gradient is analytic, and the fit is a bounded L-BFGS-B search over the log-parameters from
several starting points. Customers sharing the same (x, t_x, T) are fitted as one weighted row,
which is what makes a fit on a million customers take seconds.

Time is in days throughout (the papers use weeks: alpha_weeks = alpha_days / 7).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaln, digamma, gammaln, hyp2f1, logsumexp

Array = NDArray[np.float64]

# Bounds on log-parameters: wide enough for any shop, tight enough to keep exp() finite.
LOG_BOUNDS = (-12.0, 12.0)
STARTS = (
    (0.0, 0.0, 0.0, 0.0),
    (np.log(0.25), np.log(5.0), np.log(0.8), np.log(2.5)),
    (np.log(1.0), np.log(30.0), np.log(1.0), np.log(5.0)),
    (np.log(0.1), np.log(1.0), np.log(0.3), np.log(0.5)),
)


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")
    n_customers: int = 0
    converged: bool = True

    @property
    def vector(self) -> tuple[float, float, float, float]:
        return (self.r, self.alpha, self.a, self.b)


def _arrays(*values: ArrayLike) -> tuple[Array, ...]:
    return tuple(np.asarray(v, dtype=np.float64) for v in values)


def _terms(
    r: float, alpha: float, a: float, b: float, x: Array, t_x: Array, T: Array
) -> tuple[Array, Array, Array]:
    """Per-customer log-likelihood and the two mixture weights of its terms."""
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    term1 = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        term2 = np.where(
            x > 0,
            betaln(a + 1, np.maximum(b + x - 1, 1e-300))
            - betaln(a, b)
            - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    lse = logsumexp(np.stack([term1, term2]), axis=0)
    return a1 + lse, np.exp(term1 - lse), np.exp(term2 - lse)


def log_likelihood(
    params: tuple[float, float, float, float],
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None = None,
) -> float:
    xa, ta, Ta = _arrays(x, t_x, T)
    w = np.ones_like(xa) if weights is None else np.asarray(weights, dtype=np.float64)
    ll, _, _ = _terms(*params, xa, ta, Ta)
    return float(np.sum(w * ll))


def gradient(
    params: tuple[float, float, float, float],
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None = None,
) -> Array:
    """Analytic gradient of the (weighted) log-likelihood with respect to (r, alpha, a, b)."""
    r, alpha, a, b = params
    xa, ta, Ta = _arrays(x, t_x, T)
    w = np.ones_like(xa) if weights is None else np.asarray(weights, dtype=np.float64)
    _, w1, w2 = _terms(r, alpha, a, b, xa, ta, Ta)
    rx = r + xa
    d_r = digamma(rx) - digamma(r) + np.log(alpha) - w1 * np.log(alpha + Ta)
    d_r -= w2 * np.log(alpha + ta)
    d_alpha = r / alpha - w1 * rx / (alpha + Ta) - w2 * rx / (alpha + ta)
    psi_ab, psi_abx = digamma(a + b), digamma(a + b + xa)
    d_a = w1 * (psi_ab - psi_abx) + w2 * (digamma(a + 1) - digamma(a) + psi_ab - psi_abx)
    bx1 = np.where(xa > 0, b + xa - 1, b)  # unused where x == 0 (w2 is 0 there)
    d_b = w1 * (digamma(b + xa) - psi_abx - digamma(b) + psi_ab)
    d_b += w2 * (digamma(bx1) - psi_abx - digamma(b) + psi_ab)
    return np.array([np.sum(w * g) for g in (d_r, d_alpha, d_a, d_b)])


def compress(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> tuple[Array, Array, Array, Array]:
    """Unique (x, t_x, T) rows and how many customers share each."""
    rows = np.column_stack(_arrays(x, t_x, T))
    unique, counts = np.unique(rows, axis=0, return_counts=True)
    return unique[:, 0], unique[:, 1], unique[:, 2], counts.astype(np.float64)


def fit(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
) -> BgNbdParams:
    """Maximum-likelihood estimates of (r, alpha, a, b)."""
    xa, ta, Ta = _arrays(x, t_x, T)
    if weights is None:
        xa, ta, Ta, w = compress(xa, ta, Ta)
    else:
        w = np.asarray(weights, dtype=np.float64)
    n = float(np.sum(w))

    def objective(logp: Array) -> tuple[float, Array]:
        p = np.exp(logp)
        params = (float(p[0]), float(p[1]), float(p[2]), float(p[3]))
        ll = log_likelihood(params, xa, ta, Ta, w)
        grad = gradient(params, xa, ta, Ta, w) * p
        if not np.isfinite(ll) or not np.all(np.isfinite(grad)):
            return 1e300, np.zeros(4)
        # Scaled by n so the optimiser's tolerances mean the same for any sample size.
        return -ll / n, -grad / n

    best = None
    for start in STARTS:
        res = minimize(
            objective,
            np.array(start, dtype=np.float64),
            jac=True,
            method="L-BFGS-B",
            bounds=[LOG_BOUNDS] * 4,
            options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9},
        )
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None
    r, alpha, a, b = (float(v) for v in np.exp(best.x))
    return BgNbdParams(
        r=r,
        alpha=alpha,
        a=a,
        b=b,
        log_likelihood=float(-best.fun * n),
        n_customers=round(n),
        converged=bool(best.success),
    )


def p_alive(params: BgNbdParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
    """P(the customer has not dropped out by T); 1 for customers without repeat purchases."""
    r, alpha, a, b = params.vector
    xa, ta, Ta = _arrays(x, t_x, T)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_ratio = (
            np.log(a)
            - np.log(np.maximum(b + xa - 1, 1e-300))
            + (r + xa) * (np.log(alpha + Ta) - np.log(alpha + ta))
        )
        odds = np.where(xa > 0, np.exp(np.minimum(log_ratio, 700.0)), 0.0)
    return np.asarray(1.0 / (1.0 + odds), dtype=np.float64)


def expected_purchases(
    params: BgNbdParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> Array:
    """E[purchases in (T, T + t] | x, t_x, T]: equation (10) of the paper."""
    r, alpha, a, b = params.vector
    ta_, xa, txa, Ta = _arrays(t, x, t_x, T)
    z = ta_ / (alpha + Ta + ta_)
    head = (a + b + xa - 1) / (a - 1)
    tail = 1.0 - ((alpha + Ta) / (alpha + Ta + ta_)) ** (r + xa) * hyp2f1(
        r + xa, b + xa, a + b + xa - 1, z
    )
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        odds = np.where(
            xa > 0,
            a / np.maximum(b + xa - 1, 1e-300) * ((alpha + Ta) / (alpha + txa)) ** (r + xa),
            0.0,
        )
    return np.asarray(head * tail / (1.0 + odds), dtype=np.float64)


def expected_purchases_new(params: BgNbdParams, t: ArrayLike) -> Array:
    """E[X(t)] for a customer just acquired (unconditional)."""
    r, alpha, a, b = params.vector
    (ta,) = _arrays(t)
    head = (a + b - 1) / (a - 1)
    tail = 1.0 - (alpha / (alpha + ta)) ** r * hyp2f1(r, b, a + b - 1, ta / (alpha + ta))
    return np.asarray(head * tail, dtype=np.float64)


def median_days_to_next_purchase(params: BgNbdParams, x: ArrayLike, T: ArrayLike) -> Array:
    """Median wait for the next purchase if the customer is alive.

    Given x repeat purchases in T days, the purchase rate is Gamma(r + x, alpha + T); the wait
    for the next purchase is then Lomax with P(W > w) = ((alpha + T) / (alpha + T + w))^(r + x),
    whose median is (alpha + T) * (2^(1 / (r + x)) - 1). Dropout is not part of this figure;
    read it together with p_alive.
    """
    r, alpha, _, _ = params.vector
    xa, Ta = _arrays(x, T)
    return np.asarray((alpha + Ta) * (2.0 ** (1.0 / (r + xa)) - 1.0), dtype=np.float64)
