"""The three purchase models behind one face (pure): BG/NBD, MBG/NBD and Pareto/NBD.

Each is fitted, stored and used the same way: a name, its parameters as named in its paper,
P(alive), the conditional expectation of purchases, and the Laplace covariance of its
log-parameters for the intervals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from app.ltv import bgnbd, mbgnbd, paretonbd

Array = NDArray[np.float64]
Params = bgnbd.BgNbdParams | mbgnbd.MbgNbdParams | paretonbd.ParetoNbdParams

BGNBD, MBGNBD, PARETONBD = "bgnbd", "mbgnbd", "paretonbd"
NAMES = (BGNBD, MBGNBD, PARETONBD)
PARAM_NAMES: dict[str, tuple[str, str, str, str]] = {
    BGNBD: ("r", "alpha", "a", "b"),
    MBGNBD: ("r", "alpha", "a", "b"),
    PARETONBD: ("r", "alpha", "s", "beta"),
}
TITLES = {BGNBD: "BG/NBD", MBGNBD: "MBG/NBD", PARETONBD: "Pareto/NBD"}
_MODULES: dict[str, Any] = {BGNBD: bgnbd, MBGNBD: mbgnbd, PARETONBD: paretonbd}
_TYPES: dict[str, Any] = {
    BGNBD: bgnbd.BgNbdParams,
    MBGNBD: mbgnbd.MbgNbdParams,
    PARETONBD: paretonbd.ParetoNbdParams,
}


@dataclass(frozen=True)
class PurchaseModel:
    name: str
    vector: tuple[float, float, float, float]
    log_likelihood: float = float("nan")
    n_customers: int = 0
    converged: bool = True
    log_cov: Array | None = field(default=None, compare=False, repr=False)

    @property
    def params(self) -> dict[str, float]:
        return dict(zip(PARAM_NAMES[self.name], self.vector, strict=True))

    @property
    def typed(self) -> Params:
        return _TYPES[self.name](*self.vector)  # type: ignore[no-any-return]

    def with_log_params(self, logp: Array) -> PurchaseModel:
        a, b, c, d = (float(v) for v in np.exp(logp))
        return PurchaseModel(self.name, (a, b, c, d))

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
        return np.asarray(_MODULES[self.name].p_alive(self.typed, x, t_x, T), np.float64)

    def expected(self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
        """E[purchases in (T, T + t] | x, t_x, T]."""
        module = _MODULES[self.name]
        return np.asarray(module.expected_purchases(self.typed, t, x, t_x, T), np.float64)

    def expected_new(self, t: ArrayLike) -> Array:
        module = _MODULES[self.name]
        return np.asarray(module.expected_purchases_new(self.typed, t), np.float64)

    def median_days_to_next_purchase(self, x: ArrayLike, T: ArrayLike) -> Array:
        module = _MODULES[self.name]
        return np.asarray(module.median_days_to_next_purchase(self.typed, x, T), np.float64)


def fit(name: str, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> PurchaseModel:
    p = _MODULES[name].fit(x, t_x, T)
    return PurchaseModel(
        name,
        p.vector,
        log_likelihood=p.log_likelihood,
        n_customers=p.n_customers,
        converged=p.converged,
        log_cov=p.log_cov,
    )


def from_stored(
    name: str, params: dict[str, Any], log_cov: list[list[float]] | None = None
) -> PurchaseModel:
    a, b, c, d = (float(params[k]) for k in PARAM_NAMES[name])
    cov = np.asarray(log_cov, dtype=np.float64) if log_cov is not None else None
    return PurchaseModel(name, (a, b, c, d), log_cov=cov)
