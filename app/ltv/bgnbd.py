"""BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

Pure NumPy/SciPy. The log-likelihood is written in log-space with `gammaln`/`betaln`, the
gradient is analytic, and the fit is a bounded L-BFGS-B search over the log-parameters from
several starting points. Customers sharing the same (x, t_x, T) are fitted as one weighted row,
which is what makes a fit on a million customers take seconds.

Time is in days throughout (the papers use weeks: alpha_weeks = alpha_days / 7).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1, logsumexp

from app.ltv.optimize import best_of, converged, laplace_covariance

Array = NDArray[np.float64]
# Eq. (10) has removable singularities at a = 1 (and a + b = 1 for x = 0): average both sides.
_SINGULAR = 1e-6

# Bounds on log-parameters: wide enough for any shop, tight enough to keep exp() finite.
LOG_BOUNDS = (-12.0, 12.0)
# Starting points (r, a, b); alpha is set from the data so that r / alpha is the observed
# purchase rate, which puts every start on the right time scale whatever the unit.
STARTS = ((0.25, 0.8, 2.5), (1.0, 1.0, 1.0), (1.0, 1.0, 5.0), (0.1, 0.3, 0.5))


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")
    n_customers: int = 0
    converged: bool = True
    # Laplace approximation: covariance of (log r, log alpha, log a, log b) at the optimum.
    log_cov: Array | None = field(default=None, compare=False, repr=False)

    @property
    def vector(self) -> tuple[float, float, float, float]:
        return (self.r, self.alpha, self.a, self.b)


def _arrays(*values: ArrayLike) -> tuple[Array, ...]:
    return tuple(np.asarray(v, dtype=np.float64) for v in values)


def _broadcast(*values: ArrayLike) -> tuple[Array, ...]:
    return tuple(np.broadcast_arrays(*_arrays(*values)))


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
    xa, ta, Ta = _arrays(x, t_x, T)
    whole = (
        xa.size > 0
        and np.all(xa == np.round(xa))
        and np.all(ta == np.round(ta))
        and np.all(Ta == np.round(Ta))
        and xa.max() < 2**20
        and max(ta.max(), Ta.max()) < 2**21
        and min(xa.min(), ta.min(), Ta.min()) >= 0
    )
    if whole:
        # Whole days (the usual case): one int64 key per row sorts far faster than rows.
        key = (xa.astype(np.int64) << 42) | (ta.astype(np.int64) << 21) | Ta.astype(np.int64)
        ukey, counts = np.unique(key, return_counts=True)
        mask = (1 << 21) - 1
        return (
            (ukey >> 42).astype(np.float64),
            ((ukey >> 21) & mask).astype(np.float64),
            (ukey & mask).astype(np.float64),
            counts.astype(np.float64),
        )
    rows = np.column_stack([xa, ta, Ta])
    unique, counts = np.unique(rows, axis=0, return_counts=True)
    return unique[:, 0], unique[:, 1], unique[:, 2], counts.astype(np.float64)


class _Objective:
    """Negative mean log-likelihood and its gradient over log-parameters, fast.

    Each customer's likelihood mixes two terms (alive at T, or dropped out after the last
    purchase). Everything except the mixing depends on x alone, on T alone or on t_x alone,
    and each of those takes few distinct values: such parts are computed on the distinct
    values and summed with precomputed weights. Only the mixing (a softplus of the difference
    of the two terms) is evaluated per row, in a dozen array operations.
    """

    def __init__(self, x: Array, t_x: Array, T: Array, w: Array, shift: int = 0) -> None:
        # shift = 1 gives MBG/NBD (Batislam et al. 2007): the same two terms with b + 1 in
        # place of b where x enters, and a dropout possible right after the first purchase.
        self.shift = shift
        # Rows grouped by x, so that per-x sums are contiguous segment sums.
        if np.any(np.diff(x) < 0):
            order = np.argsort(x, kind="stable")
            x, t_x, T, w = x[order], t_x[order], T[order], w[order]
        self.ux, self.ix = np.unique(x, return_inverse=True)
        self.segments = np.flatnonzero(np.r_[True, np.diff(x) != 0])
        self.uT, self.iT = np.unique(T, return_inverse=True)
        self.ut, self.it = np.unique(t_x, return_inverse=True)
        self.x, self.w = x, w
        nx, nT, nt = len(self.ux), len(self.uT), len(self.ut)
        self.W_x = np.bincount(self.ix, weights=w, minlength=nx)
        self.W_T = np.bincount(self.iT, weights=w, minlength=nT)
        self.WX_T = np.bincount(self.iT, weights=w * x, minlength=nT)
        self.W_t = np.bincount(self.it, weights=w, minlength=nt)
        self.WX_t = np.bincount(self.it, weights=w * x, minlength=nt)
        self.n = float(np.sum(w))

    def __call__(self, logp: Array) -> tuple[float, Array]:
        r, alpha, a, b = (float(v) for v in np.exp(logp))
        ux, x, w, ix = self.ux, self.x, self.w, self.ix
        rux = r + ux
        bs = b + self.shift  # b where x enters the likelihood
        second = ux + self.shift > 0  # the "dropped out after the last purchase" term exists
        ub1 = np.where(second, bs + ux - 1, bs)
        # Per distinct x.
        a1 = gammaln(rux) - gammaln(r) + r * np.log(alpha)
        beta_ab = betaln(a, b)
        b1 = betaln(a, bs + ux) - beta_ab
        # No second term without a repeat purchase (BG/NBD): a finite stand-in for log(0)
        # keeps the row arithmetic free of inf - inf.
        b2 = np.where(second, betaln(a + 1, ub1) - beta_ab, -1e30)
        # Per distinct T and t_x.
        lT, iT_ = np.log(alpha + self.uT), 1.0 / (alpha + self.uT)
        lt, it_ = np.log(alpha + self.ut), 1.0 / (alpha + self.ut)
        # Per row: d = term2 - term1, the log-odds of "dropped out after the last purchase".
        rx = r + x
        diff = lt[self.it] - lT[self.iT]
        d = (b2 - b1)[ix] - rx * diff
        with np.errstate(over="ignore"):
            e = np.exp(d)
        softplus = np.log1p(e)
        if np.isinf(softplus).any():  # exp overflowed: log(1 + e^d) is d there
            softplus = np.where(np.isinf(softplus), d, softplus)
        softplus_sum = float(np.dot(w, softplus))
        ww1 = w / (1.0 + e)  # weight of "alive at T" in each customer's likelihood
        # log-likelihood = sum of a1 + term1 + softplus(d); term1 = b1 - (r + x) log(alpha + T).
        sum_term1 = np.dot(self.W_x, b1) - r * np.dot(self.W_T, lT) - np.dot(self.WX_T, lT)
        ll = float(np.dot(self.W_x, a1) + sum_term1 + softplus_sum)
        S1 = np.add.reduceat(ww1, self.segments)
        S2 = self.W_x - S1
        # d/dr: digamma part per x; -(w1 log(alpha+T) + w2 log(alpha+t_x)) per row.
        d_r = np.dot(self.W_x, digamma(rux) - digamma(r) + np.log(alpha))
        d_r -= np.dot(self.W_t, lt) - np.dot(ww1, diff)
        # d/dalpha: r/alpha - (r + x)(w1 / (alpha + T) + w2 / (alpha + t_x)).
        inv_diff = it_[self.it] - iT_[self.iT]
        d_alpha = r / alpha * self.n - (r * np.dot(self.W_t, it_) + np.dot(self.WX_t, it_))
        d_alpha += np.dot(ww1 * rx, inv_diff)
        psi_ab, psi_abx = digamma(a + b), digamma(a + bs + ux)
        da1 = psi_ab - psi_abx
        da2 = digamma(a + 1) - digamma(a) + psi_ab - psi_abx
        db1 = digamma(bs + ux) - psi_abx - digamma(b) + psi_ab
        db2 = digamma(ub1) - psi_abx - digamma(b) + psi_ab
        d_a = np.dot(S1, da1) + np.dot(S2, np.where(S2 > 0, da2, 0.0))
        d_b = np.dot(S1, db1) + np.dot(S2, np.where(S2 > 0, db2, 0.0))
        grad = np.array([d_r, d_alpha, d_a, d_b]) * np.array([r, alpha, a, b])
        if not np.isfinite(ll) or not np.all(np.isfinite(grad)):
            return 1e300, np.zeros(4)
        # Scaled by n so the optimiser's tolerances mean the same for any sample size.
        return -ll / self.n, -grad / self.n


def optimum(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None, shift: int = 0
) -> tuple[Array, float, int, bool, Array | None]:
    """The maximum-likelihood log-parameters of BG/NBD (shift 0) or MBG/NBD (shift 1): the
    optimum, its log-likelihood, the number of customers, whether the search converged, and
    the Laplace covariance of the log-parameters (None if the Hessian is not definite).

    Every starting point is scored first; the optimiser then runs from the two best, and the
    better optimum wins (a poor start on a flat ridge is the usual way such fits go wrong).
    """
    xa, ta, Ta = _arrays(x, t_x, T)
    if weights is None:
        xa, ta, Ta, w = compress(xa, ta, Ta)
    else:
        w = np.asarray(weights, dtype=np.float64)
    objective = _Objective(xa, ta, Ta, w, shift)
    rate = max(float(np.dot(w, xa)) / max(float(np.dot(w, Ta)), 1e-9), 1e-6)
    starts = [np.log(np.array([r0, r0 / rate, a0, b0])) for r0, a0, b0 in STARTS]
    best = best_of(objective, starts, LOG_BOUNDS)
    return (
        np.asarray(best.x, dtype=np.float64),
        float(-best.fun * objective.n),
        round(objective.n),
        converged(best),
        laplace_covariance(objective, best.x, objective.n),
    )


def fit(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
) -> BgNbdParams:
    """Maximum-likelihood estimates of (r, alpha, a, b)."""
    logp, ll, n, ok, cov = optimum(x, t_x, T, weights)
    r, alpha, a, b = (float(v) for v in np.exp(logp))
    return BgNbdParams(
        r=r, alpha=alpha, a=a, b=b, log_likelihood=ll, n_customers=n, converged=ok, log_cov=cov
    )


def _log_odds_dropped(params: BgNbdParams, x: Array, t_x: Array, T: Array) -> Array:
    """log P(dropped out after the last purchase) / P(alive at T); -inf when x == 0."""
    r, alpha, a, b = params.vector
    x1 = np.maximum(x, 1)
    log_odds = np.log(a) - np.log(b + x1 - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(x > 0, log_odds, -np.inf)


def p_alive(params: BgNbdParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
    """P(the customer has not dropped out by T | x, t_x, T); 1 when x == 0 (a customer can
    only drop out right after a repeat purchase). Fader, Hardie & Lee, "Computing P(alive)
    using the BG/NBD model":
    1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x)).
    """
    xa, ta, Ta = _broadcast(x, t_x, T)
    return np.asarray(expit(-_log_odds_dropped(params, xa, ta, Ta)), dtype=np.float64)


def _purchases_if_alive(
    r: float, alpha: float, a: float, b: float, t: Array, x: Array, T: Array
) -> Array:
    """E[purchases in (T, T + t] | alive at T, x, T]: eq. (10) without its P(alive) factor.

    Eq. (10) is c / (a - 1) * (1 - (1 - z)^(r + x) 2F1(r + x, b + x; c; z)) with c = a + b + x - 1
    and z = t / (alpha + T + t). For frequent buyers over long horizons 2F1 overflows while the
    power underflows (inf * 0). Euler's transformation 2F1(A, B; C; z) =
    (1 - z)^(C - A - B) 2F1(C - A, C - B; C; z) gives the same product as
    (1 - z)^(a - 1) 2F1(a + b - 1 - r, a - 1; c; z), which has the opposite weakness (very
    large a and b). Each row takes the form whose power of (1 - z) is the smaller, and the
    other where that still fails.
    """
    shape = np.broadcast(t, x, T).shape
    t, x, T = (np.broadcast_to(v, shape).ravel() for v in (t, x, T))
    z = t / (alpha + T + t)
    log1mz = np.log1p(-z)

    def product(a_: float, b_: float, euler: NDArray[np.bool_]) -> Array:
        out = np.empty_like(z)
        c = a_ + b_ + x - 1
        e, d = euler, ~euler
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            out[e] = np.exp((a_ - 1) * log1mz[e]) * hyp2f1(a_ + b_ - 1 - r, a_ - 1, c[e], z[e])
            out[d] = np.exp((r + x[d]) * log1mz[d]) * hyp2f1(r + x[d], b_ + x[d], c[d], z[d])
        return out

    def formula(a_: float, b_: float) -> Array:
        euler = r + x > a_ - 1
        prod = product(a_, b_, euler)
        failed = ~np.isfinite(prod)
        if failed.any():
            prod = np.where(failed, product(a_, b_, ~euler), prod)
        value = (a_ + b_ + x - 1) / (a_ - 1) * (1.0 - prod)
        return np.asarray(value, dtype=np.float64).reshape(shape)

    if abs(a - 1) < _SINGULAR:
        return 0.5 * (formula(1 - _SINGULAR, b) + formula(1 + _SINGULAR, b))
    if abs(a + b - 1) < _SINGULAR and np.any(x == 0):
        lo, hi = formula(a, 1 - a - _SINGULAR), formula(a, 1 - a + _SINGULAR)
        return np.where(x.reshape(shape) == 0, 0.5 * (lo + hi), formula(a, b))
    return formula(a, b)


def expected_purchases(
    params: BgNbdParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> Array:
    """E[purchases in (T, T + t] | x, t_x, T]: eq. (10) of the paper, in a stable form."""
    r, alpha, a, b = params.vector
    ta_, xa, txa, Ta = _broadcast(t, x, t_x, T)
    alive = expit(-_log_odds_dropped(params, xa, txa, Ta))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(alive * _purchases_if_alive(r, alpha, a, b, ta_, xa, Ta), np.float64)


def expected_purchases_new(params: BgNbdParams, t: ArrayLike) -> Array:
    """E[X(t)] for a customer just acquired (eq. 9 of the paper: the unconditional mean)."""
    r, alpha, a, b = params.vector
    (ta,) = _arrays(t)
    zero = np.zeros_like(ta)
    return _purchases_if_alive(r, alpha, a, b, ta, zero, zero)


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
