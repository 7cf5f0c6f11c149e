"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987) as written by Fader, Hardie & Lee, "A note
on deriving the Pareto/NBD model and related expressions" (2005).

Purchases at rate lambda ~ Gamma(r, alpha) while alive; lifetime exponential with rate
mu ~ Gamma(s, beta). The likelihood of (x, t_x, T) is

    L = G(r + x) alpha^r beta^s / G(r)
        * [ (alpha + T)^-(r + x) (beta + T)^-s + s / (r + s + x) * A0 ],
    A0 = F(t_x) - F(T),  F(tau) = (M + tau)^-k 2F1(k, e; k + 1; |alpha - beta| / (M + tau)),

with k = r + s + x, M = max(alpha, beta), e = s + 1 if alpha >= beta else r + x (eq. 18-20).
2F1 is evaluated after Euler's transformation, (1 - z)^(1 - e) 2F1(1, k + 1 - e; k + 1; z),
which stays finite where the direct form overflows (large x, z near 1). Everything is summed
in log-space.

F depends on (x, tau) only, so it is computed once per distinct (x, t_x) and (x, T) pair, not
per customer. Its derivatives with respect to the parameters have no closed form (they are
derivatives of 2F1 in its parameters): they are central differences on those pairs, and the
rest of the gradient is analytic; tests check the whole gradient against finite differences
of the plain likelihood. Time in days.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import digamma, gammaln, hyp2f1

from app.ltv import bgnbd
from app.ltv.optimize import best_of, converged, laplace_covariance

Array = NDArray[np.float64]
LOG_BOUNDS = (-12.0, 12.0)
_STEP = 1e-5  # central-difference step on the log-parameters


@dataclass(frozen=True)
class ParetoNbdParams:
    r: float
    alpha: float
    s: float
    beta: float
    log_likelihood: float = float("nan")
    n_customers: int = 0
    converged: bool = True
    log_cov: Array | None = field(default=None, compare=False, repr=False)

    @property
    def vector(self) -> tuple[float, float, float, float]:
        return (self.r, self.alpha, self.s, self.beta)


def log_f(params: Array, x: Array, tau: Array) -> Array:
    """log F(tau) for one parameter vector (r, alpha, s, beta) and arrays x, tau."""
    r, alpha, s, beta = (float(v) for v in params)
    k = r + s + x
    big = max(alpha, beta)
    e = s + 1.0 if alpha >= beta else r + x
    z = abs(alpha - beta) / (big + tau)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = hyp2f1(1.0, k + 1.0 - e, k + 1.0, z)
        return np.asarray(
            -k * np.log(big + tau) + (1.0 - e) * np.log1p(-z) + np.log(h), dtype=np.float64
        )


def _log_f_and_grad(logp: Array, x: Array, tau: Array) -> tuple[Array, Array]:
    """log F on pairs and its gradient over the log-parameters (4 x pairs)."""
    value = log_f(np.exp(logp), x, tau)
    grad = np.empty((4, x.size))
    for i in range(4):
        step = np.zeros(4)
        step[i] = _STEP
        up = log_f(np.exp(logp + step), x, tau)
        down = log_f(np.exp(logp - step), x, tau)
        grad[i] = (up - down) / (2 * _STEP)
    return value, grad


def _log_a0(lf_t: Array, lf_T: Array) -> tuple[Array, Array]:
    """log A0 = log(F(t_x) - F(T)) (-inf when t_x == T) and rho = F(T) / F(t_x)."""
    rho = np.exp(np.minimum(lf_T - lf_t, 0.0))
    with np.errstate(divide="ignore"):
        return lf_t + np.log1p(-rho), rho


def _row_terms(
    r: float, alpha: float, s: float, beta: float, x: Array, T: Array, log_a0: Array
) -> tuple[Array, Array, Array]:
    """(log-likelihood, log of the "alive at T" term, log of the "died in (t_x, T)" term)."""
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    died = np.log(s) - np.log(r + s + x) + log_a0
    with np.errstate(invalid="ignore"):  # -inf on both sides far from the optimum
        return a1 + np.logaddexp(alive, died), alive, died


def log_likelihood(
    params: tuple[float, float, float, float],
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None = None,
) -> float:
    """The plain per-customer log-likelihood, summed (with weights)."""
    xa, ta, Ta = bgnbd._arrays(x, t_x, T)
    w = np.ones_like(xa) if weights is None else np.asarray(weights, dtype=np.float64)
    p = np.array(params, dtype=np.float64)
    log_a0, _ = _log_a0(log_f(p, xa, ta), log_f(p, xa, Ta))
    ll, _, _ = _row_terms(*params, xa, Ta, log_a0)
    return float(np.sum(w * ll))


class _Objective:
    """Negative mean log-likelihood and its gradient over log-parameters; F and its
    derivatives on the distinct (x, t_x) and (x, T) pairs, the rest per row."""

    def __init__(self, x: Array, t_x: Array, T: Array, w: Array) -> None:
        pairs = np.concatenate([np.column_stack([x, t_x]), np.column_stack([x, T])])
        unique, inverse = np.unique(pairs, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        self.px, self.ptau = unique[:, 0], unique[:, 1]
        self.it, self.iT = inverse[: x.size], inverse[x.size :]
        self.x, self.T, self.w = x, T, w
        self.ux, self.ix = np.unique(x, return_inverse=True)
        self.W_x = np.bincount(self.ix, weights=w, minlength=self.ux.size)
        self.n = float(np.sum(w))

    def __call__(self, logp: Array) -> tuple[float, Array]:
        r, alpha, s, beta = (float(v) for v in np.exp(logp))
        x, T, w = self.x, self.T, self.w
        lf, g = _log_f_and_grad(logp, self.px, self.ptau)
        log_a0, rho = _log_a0(lf[self.it], lf[self.iT])
        ll, alive, died = _row_terms(r, alpha, s, beta, x, T, log_a0)
        total = float(np.dot(w, ll))
        # Shares of the two terms in each customer's likelihood.
        with np.errstate(invalid="ignore"):
            lse = np.logaddexp(alive, died)
            p_died = np.exp(died - lse)
        p_alive = 1.0 - p_died
        # d log A0 = (g(t_x) - rho g(T)) / (1 - rho); rows with A0 = 0 carry no weight.
        with np.errstate(divide="ignore", invalid="ignore"):
            d_a0 = (g[:, self.it] - rho * g[:, self.iT]) / (1.0 - rho)
        d_a0 = np.where(p_died > 0, d_a0, 0.0)
        k = r + s + x
        wa, wd = w * p_alive, w * p_died
        d_r = r * float(np.dot(self.W_x, digamma(r + self.ux) - digamma(r) + np.log(alpha)))
        d_r += -r * float(np.dot(wa, np.log(alpha + T))) + float(np.dot(wd, d_a0[0] - r / k))
        d_alpha = r * self.n - alpha * float(np.dot(wa, (r + x) / (alpha + T)))
        d_alpha += float(np.dot(wd, d_a0[1]))
        d_s = s * np.log(beta) * self.n - s * float(np.dot(wa, np.log(beta + T)))
        d_s += float(np.dot(wd, 1.0 - s / k + d_a0[2]))
        d_beta = s * self.n - s * beta * float(np.dot(wa, 1.0 / (beta + T)))
        d_beta += float(np.dot(wd, d_a0[3]))
        grad = np.array([d_r, d_alpha, d_s, d_beta])
        if not np.isfinite(total) or not np.all(np.isfinite(grad)):
            return 1e300, np.zeros(4)
        return -total / self.n, -grad / self.n


def fit(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
) -> ParetoNbdParams:
    """Maximum-likelihood (r, alpha, s, beta) by bounded L-BFGS-B over the log-parameters,
    from the two best of several starting points put on the data's time scale."""
    xa, ta, Ta = bgnbd._arrays(x, t_x, T)
    if weights is None:
        xa, ta, Ta, w = bgnbd.compress(xa, ta, Ta)
    else:
        w = np.asarray(weights, dtype=np.float64)
    objective = _Objective(xa, ta, Ta, w)
    rate = max(float(np.dot(w, xa)) / max(float(np.dot(w, Ta)), 1e-9), 1e-6)
    span = max(float(np.average(Ta, weights=w)), 1.0)
    starts = [
        np.log(np.array([r0, r0 / rate, s0, s0 * span * m]))
        for r0, s0, m in ((0.5, 0.5, 1.0), (1.0, 1.0, 1.0), (0.25, 0.5, 4.0), (1.0, 0.3, 0.5))
    ]
    best = best_of(objective, starts, LOG_BOUNDS)
    r, alpha, s, beta = (float(v) for v in np.exp(best.x))
    return ParetoNbdParams(
        r=r,
        alpha=alpha,
        s=s,
        beta=beta,
        log_likelihood=float(-best.fun * objective.n),
        n_customers=round(objective.n),
        converged=converged(best),
        log_cov=laplace_covariance(objective, best.x, objective.n),
    )


def _alive_share(params: ParetoNbdParams, x: Array, t_x: Array, T: Array) -> Array:
    r, alpha, s, beta = params.vector
    p = np.array(params.vector)
    log_a0, _ = _log_a0(log_f(p, x, t_x), log_f(p, x, T))
    _, alive, died = _row_terms(r, alpha, s, beta, x, T, log_a0)
    return np.asarray(np.exp(alive - np.logaddexp(alive, died)), dtype=np.float64)


def p_alive(params: ParetoNbdParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
    """P(alive at T | x, t_x, T) (eq. 36-37): the share of the "alive at T" term."""
    xa, ta, Ta = bgnbd._broadcast(x, t_x, T)
    return _alive_share(params, xa, ta, Ta)


def expected_purchases(
    params: ParetoNbdParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> Array:
    """E[purchases in (T, T + t] | x, t_x, T] (eq. 41): P(alive) (r + x)(beta + T) /
    ((alpha + T)(s - 1)) (1 - ((beta + T) / (beta + T + t))^(s - 1)); the s -> 1 limit is
    (r + x)(beta + T) / (alpha + T) log((beta + T + t) / (beta + T))."""
    r, alpha, s, beta = params.vector
    ta_, xa, txa, Ta = bgnbd._broadcast(t, x, t_x, T)
    alive = _alive_share(params, xa, txa, Ta)
    log_y = np.log(beta + Ta) - np.log(beta + Ta + ta_)
    near_one = abs(s - 1.0) < 1e-9
    lifetime = -log_y if near_one else -np.expm1((s - 1.0) * log_y) / (s - 1.0)
    return np.asarray(alive * (r + xa) * (beta + Ta) / (alpha + Ta) * lifetime, np.float64)


def expected_purchases_new(params: ParetoNbdParams, t: ArrayLike) -> Array:
    """E[X(t)] for a customer just acquired: r beta / (alpha (s - 1)) (1 - (beta / (beta +
    t))^(s - 1))."""
    (ta,) = bgnbd._arrays(t)
    zero = np.zeros_like(ta)
    return expected_purchases(params, ta, zero, zero, zero)


def median_days_to_next_purchase(params: ParetoNbdParams, x: ArrayLike, T: ArrayLike) -> Array:
    """Given alive, the purchase rate is Gamma(r + x, alpha + T), as in BG/NBD."""
    r, alpha, _, _ = params.vector
    xa, Ta = bgnbd._arrays(x, T)
    return np.asarray((alpha + Ta) * (2.0 ** (1.0 / (r + xa)) - 1.0), dtype=np.float64)


def gradient(
    params: tuple[float, float, float, float],
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None = None,
) -> Array:
    """Gradient of the (weighted) log-likelihood with respect to (r, alpha, s, beta)."""
    xa, ta, Ta = bgnbd._arrays(x, t_x, T)
    w = np.ones_like(xa) if weights is None else np.asarray(weights, dtype=np.float64)
    objective = _Objective(xa, ta, Ta, w)
    _, grad = objective(np.log(np.array(params, dtype=np.float64)))
    return np.asarray(-grad * objective.n / np.array(params), dtype=np.float64)
