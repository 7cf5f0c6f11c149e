"""MBG/NBD (Batislam, Denizel & Filiztekin 2007, "Empirical validation and comparison of
models for customer base analysis").

BG/NBD lets a customer drop out only after a repeat purchase, so a customer who never came
back is always "alive" there. MBG/NBD lets the customer drop out after every purchase, the
first included: with p the dropout probability,

    L = B(a, b + x + 1) / B(a, b) * G(r + x) alpha^r / (G(r) (alpha + T)^(r + x))
      + B(a + 1, b + x) / B(a, b) * G(r + x) alpha^r / (G(r) (alpha + t_x)^(r + x)).

Written in log-space with `gammaln`/`betaln`, analytic gradient; the optimiser shares the fast
per-distinct-value objective of BG/NBD (the same two terms with b + 1 where x enters). Time in
days, as in `bgnbd`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import betaln, digamma, expit, gammaln, logsumexp

from app.ltv import bgnbd

Array = NDArray[np.float64]


@dataclass(frozen=True)
class MbgNbdParams:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")
    n_customers: int = 0
    converged: bool = True
    log_cov: Array | None = field(default=None, compare=False, repr=False)

    @property
    def vector(self) -> tuple[float, float, float, float]:
        return (self.r, self.alpha, self.a, self.b)


def _terms(
    r: float, alpha: float, a: float, b: float, x: Array, t_x: Array, T: Array
) -> tuple[Array, Array, Array]:
    """Per-customer log-likelihood and the shares of its two terms."""
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    term1 = betaln(a, b + x + 1) - betaln(a, b) - (r + x) * np.log(alpha + T)
    term2 = betaln(a + 1, b + x) - betaln(a, b) - (r + x) * np.log(alpha + t_x)
    lse = logsumexp(np.stack([term1, term2]), axis=0)
    return a1 + lse, np.exp(term1 - lse), np.exp(term2 - lse)


def log_likelihood(
    params: tuple[float, float, float, float],
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None = None,
) -> float:
    xa, ta, Ta = bgnbd._arrays(x, t_x, T)
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
    xa, ta, Ta = bgnbd._arrays(x, t_x, T)
    w = np.ones_like(xa) if weights is None else np.asarray(weights, dtype=np.float64)
    _, w1, w2 = _terms(r, alpha, a, b, xa, ta, Ta)
    rx = r + xa
    d_r = digamma(rx) - digamma(r) + np.log(alpha)
    d_r -= w1 * np.log(alpha + Ta) + w2 * np.log(alpha + ta)
    d_alpha = r / alpha - w1 * rx / (alpha + Ta) - w2 * rx / (alpha + ta)
    psi_ab, psi_abx = digamma(a + b), digamma(a + b + xa + 1)
    d_a = w1 * (psi_ab - psi_abx) + w2 * (digamma(a + 1) - digamma(a) + psi_ab - psi_abx)
    d_b = w1 * (digamma(b + xa + 1) - psi_abx) + w2 * (digamma(b + xa) - psi_abx)
    d_b += psi_ab - digamma(b)
    return np.array([np.sum(w * g) for g in (d_r, d_alpha, d_a, d_b)])


def fit(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
) -> MbgNbdParams:
    """Maximum-likelihood estimates of (r, alpha, a, b)."""
    logp, ll, n, ok, cov = bgnbd.optimum(x, t_x, T, weights, shift=1)
    r, alpha, a, b = (float(v) for v in np.exp(logp))
    return MbgNbdParams(
        r=r, alpha=alpha, a=a, b=b, log_likelihood=ll, n_customers=n, converged=ok, log_cov=cov
    )


def _log_odds_dropped(params: MbgNbdParams, x: Array, t_x: Array, T: Array) -> Array:
    r, alpha, a, b = params.vector
    return np.asarray(
        np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x)),
        dtype=np.float64,
    )


def p_alive(params: MbgNbdParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
    """1 / (1 + a / (b + x) ((alpha + T) / (alpha + t_x))^(r + x)): below 1 even for x = 0."""
    xa, ta, Ta = bgnbd._broadcast(x, t_x, T)
    return np.asarray(expit(-_log_odds_dropped(params, xa, ta, Ta)), dtype=np.float64)


def expected_purchases(
    params: MbgNbdParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> Array:
    """E[purchases in (T, T + t] | x, t_x, T] = P(alive) * (a + b + x) / (a - 1)
    * (1 - ((alpha + T) / (alpha + T + t))^(r + x) 2F1(r + x, b + x + 1; a + b + x; z)):
    BG/NBD's "if alive" expectation with b + 1, computed by its stable routine."""
    r, alpha, a, b = params.vector
    ta_, xa, txa, Ta = bgnbd._broadcast(t, x, t_x, T)
    alive = expit(-_log_odds_dropped(params, xa, txa, Ta))
    with np.errstate(divide="ignore", invalid="ignore"):
        if_alive = bgnbd._purchases_if_alive(r, alpha, a, b + 1, ta_, xa, Ta)
        return np.asarray(alive * if_alive, np.float64)


def expected_purchases_new(params: MbgNbdParams, t: ArrayLike) -> Array:
    """E[X(t)] for a customer just acquired: b / (a - 1) (1 - (alpha / (alpha + t))^r
    2F1(r, b + 1; a + b; t / (alpha + t)))."""
    (ta,) = bgnbd._arrays(t)
    zero = np.zeros_like(ta)
    return expected_purchases(params, ta, zero, zero, zero)


def median_days_to_next_purchase(params: MbgNbdParams, x: ArrayLike, T: ArrayLike) -> Array:
    """As in BG/NBD: the purchase rate given x purchases in T days is Gamma(r + x, alpha + T)."""
    r, alpha, _, _ = params.vector
    xa, Ta = bgnbd._arrays(x, T)
    return np.asarray((alpha + Ta) * (2.0 ** (1.0 / (r + xa)) - 1.0), dtype=np.float64)
