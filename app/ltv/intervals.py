"""Per-customer 90 % intervals from the parameters' uncertainty (pure, vectorised).

The fitted log-parameters are approximately normal with the Laplace covariance (the inverse
Hessian of the log-likelihood at the optimum). A customer's expected purchases are a smooth
function of them, so the delta method carries that normal to each customer: the gradient of
log E[purchases] over the log-parameters (central differences, one evaluation per step for
all customers at once) gives the standard deviation of log E, and the interval is
E * exp(+-1.645 sd). The log scale keeps the interval positive and skewed the way the
posterior is. Predicted LTV adds the Gamma-Gamma spend's own uncertainty the same way (the
two models are fitted on separate likelihoods, so their variances add on the log scale).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

LEVEL = 0.9
Z = 1.6448536269514722  # the standard normal's 95th percentile: a two-sided 90 % interval
METHOD = "laplace-delta"
_STEP = 1e-4


def log_sd(values: Callable[[Array], Array], logp: Array, cov: Array | None) -> Array | None:
    """Standard deviation of log(values(logp)) per customer, given cov of logp."""
    if cov is None:
        return None
    k = logp.size
    grads = []
    for i in range(k):
        step = np.zeros(k)
        step[i] = _STEP
        with np.errstate(divide="ignore", invalid="ignore"):
            up = np.log(values(logp + step))
            down = np.log(values(logp - step))
        grads.append(np.where(np.isfinite(up) & np.isfinite(down), (up - down) / (2 * _STEP), 0))
    g = np.stack(grads)  # k x customers
    var = np.einsum("ic,ij,jc->c", g, cov, g)
    return np.asarray(np.sqrt(np.maximum(var, 0.0)), dtype=np.float64)


def bounds(point: Array, sd: Array | None) -> tuple[Array, Array] | None:
    """(low, high) of the 90 % interval around `point` with log-scale sd."""
    if sd is None:
        return None
    return point * np.exp(-Z * sd), point * np.exp(Z * sd)


def combine(*sds: Array | None) -> Array | None:
    """The sd of a product of independent factors on the log scale (None if all are None)."""
    present = [s for s in sds if s is not None]
    if not present:
        return None
    return np.asarray(np.sqrt(sum(s**2 for s in present)), dtype=np.float64)
