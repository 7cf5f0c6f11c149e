"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005; Fader & Hardie, "The Gamma-Gamma Model
of Monetary Value"). Inputs per customer: x repeat transactions and m, their mean value.

Log-likelihood in log-space with `gammaln`, analytic gradient, bounded L-BFGS-B over
log-parameters from several starts. Only customers with x > 0 carry information.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import digamma, gammaln

from app.ltv.optimize import best_of, converged, laplace_covariance

Array = NDArray[np.float64]
LOG_BOUNDS = (-12.0, 14.0)


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float
    log_likelihood: float = float("nan")
    n_customers: int = 0
    converged: bool = True
    # Laplace approximation: covariance of (log p, log q, log gamma) at the optimum.
    log_cov: Array | None = field(default=None, compare=False, repr=False)


def _xm(x: ArrayLike, m: ArrayLike) -> tuple[Array, Array]:
    return np.asarray(x, dtype=np.float64), np.asarray(m, dtype=np.float64)


def log_likelihood(
    params: tuple[float, float, float], x: ArrayLike, m: ArrayLike, weights: ArrayLike | None = None
) -> float:
    p, q, g = params
    xa, ma = _xm(x, m)
    w = np.ones_like(xa) if weights is None else np.asarray(weights, dtype=np.float64)
    px = p * xa
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(g)
        + (px - 1) * np.log(ma)
        + px * np.log(xa)
        - (px + q) * np.log(g + ma * xa)
    )
    return float(np.sum(w * ll))


def gradient(
    params: tuple[float, float, float], x: ArrayLike, m: ArrayLike, weights: ArrayLike | None = None
) -> Array:
    p, q, g = params
    xa, ma = _xm(x, m)
    w = np.ones_like(xa) if weights is None else np.asarray(weights, dtype=np.float64)
    px = p * xa
    log_gmx = np.log(g + ma * xa)
    psi = digamma(px + q)
    d_p = xa * (psi - digamma(px) + np.log(ma) + np.log(xa) - log_gmx)
    d_q = psi - digamma(q) + np.log(g) - log_gmx
    d_g = q / g - (px + q) / (g + ma * xa)
    return np.array([np.sum(w * d) for d in (d_p, d_q, d_g)])


class _Objective:
    """Negative mean log-likelihood and gradient over log-parameters. Gamma functions are
    evaluated on the distinct values of x only (there are few); per row only log(gamma + m x)
    and its reciprocal are computed, everything else is a precomputed weighted sum."""

    def __init__(self, x: Array, m: Array, w: Array) -> None:
        self.ux, self.ix = np.unique(x, return_inverse=True)
        self.mx = m * x
        self.w = w
        self.wx = w * x
        self.W_x = np.bincount(self.ix, weights=w, minlength=len(self.ux))
        self.WX_x = np.bincount(self.ix, weights=self.wx, minlength=len(self.ux))
        log_m = np.log(m)
        self.sum_wx_log_mx = float(np.dot(self.wx, log_m + np.log(x)))
        self.sum_w_log_m = float(np.dot(w, log_m))
        self.n = float(np.sum(w))

    def __call__(self, logp: Array) -> tuple[float, Array]:
        p, q, g = (float(v) for v in np.exp(logp))
        pux = p * self.ux
        log_gmx = np.log(g + self.mx)
        inv_gmx = 1.0 / (g + self.mx)
        swx_log = float(np.dot(self.wx, log_gmx))
        sw_log = float(np.dot(self.w, log_gmx))
        ll = (
            float(np.dot(self.W_x, gammaln(pux + q) - gammaln(pux)))
            + p * (self.sum_wx_log_mx - swx_log)
            - q * sw_log
            - self.sum_w_log_m
            + self.n * (q * np.log(g) - gammaln(q))
        )
        psi = digamma(pux + q)
        d_p = float(np.dot(self.WX_x, psi - digamma(pux))) + self.sum_wx_log_mx - swx_log
        d_q = float(np.dot(self.W_x, psi)) - sw_log + self.n * (np.log(g) - digamma(q))
        d_g = (
            self.n * q / g
            - p * float(np.dot(self.wx, inv_gmx))
            - q * float(np.dot(self.w, inv_gmx))
        )
        grad = np.array([d_p, d_q, d_g]) * np.array([p, q, g])
        if not np.isfinite(ll) or not np.all(np.isfinite(grad)):
            return 1e300, np.zeros(3)
        return -ll / self.n, -grad / self.n


def fit(x: ArrayLike, m: ArrayLike, weights: ArrayLike | None = None) -> GammaGammaParams:
    """Maximum-likelihood (p, q, gamma) from the customers with repeat purchases.

    Starting points are scored first and the optimiser runs from the two best.
    """
    xa, ma = _xm(x, m)
    keep = (xa > 0) & (ma > 0)
    xa, ma = xa[keep], ma[keep]
    w = np.ones_like(xa) if weights is None else np.asarray(weights, dtype=np.float64)[keep]
    objective = _Objective(xa, ma, w)
    scale = float(np.average(ma, weights=w)) if objective.n else 1.0
    # Start gamma where the population mean spend gamma * p / (q - 1) matches the data.
    starts = [
        np.log([p0, q0, scale * max(q0 - 1.0, 0.5) / p0])
        for p0, q0 in ((1.0, 1.0), (5.0, 3.0), (0.5, 5.0), (20.0, 10.0))
    ]
    best = best_of(objective, starts, LOG_BOUNDS)
    p, q, g = (float(v) for v in np.exp(best.x))
    return GammaGammaParams(
        p=p,
        q=q,
        gamma=g,
        log_likelihood=float(-best.fun * objective.n),
        n_customers=round(objective.n),
        converged=converged(best),
        log_cov=laplace_covariance(objective, best.x, objective.n) if objective.n else None,
    )


def expected_spend(params: GammaGammaParams, x: ArrayLike, m: ArrayLike) -> Array:
    """E[mean transaction value | x, m]: a weighted mean of the population mean and m."""
    xa, ma = _xm(x, m)
    p, q, g = params.p, params.q, params.gamma
    population = g * p / (q - 1) if q > 1 else np.nan
    with np.errstate(invalid="ignore"):
        own = np.where(xa > 0, ma, 0.0)
        weight = (p * xa) / (p * xa + q - 1)
        return np.asarray(
            np.where(xa > 0, (1 - weight) * population + weight * own, population),
            dtype=np.float64,
        )
