"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005; Fader & Hardie, "The Gamma-Gamma Model
of Monetary Value"). Inputs per customer: x repeat transactions and m, their mean value.

Log-likelihood in log-space with `gammaln`, analytic gradient, bounded L-BFGS-B over
log-parameters from several starts. Only customers with x > 0 carry information.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import digamma, gammaln

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


def fit(x: ArrayLike, m: ArrayLike, weights: ArrayLike | None = None) -> GammaGammaParams:
    xa, ma = _xm(x, m)
    keep = (xa > 0) & (ma > 0)
    xa, ma = xa[keep], ma[keep]
    w = np.ones_like(xa) if weights is None else np.asarray(weights, dtype=np.float64)[keep]
    n = float(np.sum(w))
    scale = float(np.average(ma, weights=w)) if n else 1.0

    def objective(logp: Array) -> tuple[float, Array]:
        p = np.exp(logp)
        params = (float(p[0]), float(p[1]), float(p[2]))
        ll = log_likelihood(params, xa, ma, w)
        grad = gradient(params, xa, ma, w) * p
        if not np.isfinite(ll) or not np.all(np.isfinite(grad)):
            return 1e300, np.zeros(3)
        return -ll / n, -grad / n

    best = None
    for p0, q0 in ((1.0, 1.0), (5.0, 3.0), (0.5, 5.0), (20.0, 10.0)):
        # Start gamma where the population mean spend gamma * p / (q - 1) matches the data.
        g0 = scale * max(q0 - 1.0, 0.5) / p0
        res = minimize(
            objective,
            np.log([p0, q0, g0]),
            jac=True,
            method="L-BFGS-B",
            bounds=[LOG_BOUNDS] * 3,
            options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9},
        )
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None
    p, q, g = (float(v) for v in np.exp(best.x))
    return GammaGammaParams(
        p=p,
        q=q,
        gamma=g,
        log_likelihood=float(-best.fun * n),
        n_customers=round(n),
        converged=bool(best.success),
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
