"""The maximum-likelihood search both models share (pure)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import OptimizeResult, minimize

Array = NDArray[np.float64]
Objective = Callable[[Array], tuple[float, Array]]


def best_of(
    objective: Objective, starts: Iterable[Array], bounds: tuple[float, float], keep: int = 2
) -> OptimizeResult:
    """Score every starting point, run bounded L-BFGS-B (analytic gradient) from the `keep`
    best, and return the better optimum: a poor start on a flat ridge is the usual way such
    fits go wrong."""
    ranked = sorted(starts, key=lambda s: objective(s)[0])
    results = [
        minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=[bounds] * len(start),
            options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9},
        )
        for start in ranked[:keep]
    ]
    return min(results, key=lambda res: float(res.fun))


def converged(res: OptimizeResult) -> bool:
    """Success, or a line search that stalled at machine precision on a flat optimum
    (L-BFGS-B's ABNORMAL_TERMINATION) where the mean-scaled gradient is already ~0."""
    return bool(res.success) or bool(np.max(np.abs(res.jac)) < 1e-4)


def laplace_covariance(objective: Objective, logp: Array, n: float) -> Array | None:
    """Covariance of the log-parameters under the Laplace approximation: the inverse of the
    negative log-likelihood's Hessian at the optimum. The Hessian is the central difference of
    the analytic gradient (the objective is the mean negative log-likelihood, hence `n`).
    None when it is not positive definite (an optimum on a bound or a flat ridge)."""
    k = len(logp)
    h = 1e-5
    hess = np.empty((k, k))
    for i in range(k):
        step = np.zeros(k)
        step[i] = h
        hess[i] = (objective(logp + step)[1] - objective(logp - step)[1]) / (2 * h)
    hess = (hess + hess.T) / 2 * n
    try:
        np.linalg.cholesky(hess)
    except np.linalg.LinAlgError:
        return None
    return np.asarray(np.linalg.inv(hess), dtype=np.float64)
