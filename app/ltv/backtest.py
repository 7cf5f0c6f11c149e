"""Holdout back-test of the purchase and spend models (pure: arrays in, a report out).

Fit on the calibration period (facts up to T), predict each calibration customer's repeat
purchases in the holdout (T, T2], and compare with what happened: in total, per customer
(mean absolute error), by number of calibration repeat purchases, and by P(alive) at T. The
fallback priors are scored on the same customers, so a shop can see whether the models beat
them. Gamma-Gamma's spend is compared with the mean spend of the holdout purchase days.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.ltv import clv, gamma_gamma, purchase

Array = NDArray[np.float64]

FALLBACK = "heuristic"
MAX_BUCKET = 7  # calibration repeat purchases 0, 1, ..., 6, 7+
P_ALIVE_EDGES = np.linspace(0.0, 1.0, 11)


@dataclass(frozen=True)
class Data:
    """One row per customer acquired by T (calibration) and what they did in (T, T2]."""

    x: Array
    t_x: Array
    T: Array
    x_spend: Array  # calibration repeat days with a positive spend
    m: Array  # their mean spend (major units; 0 if none)
    rhythm_days: Array  # the fallback's usual days between purchases per customer
    holdout_days: Array  # purchase days in the holdout
    holdout_spend_days: Array  # of which with a positive spend
    holdout_m: Array  # their mean spend (major units; 0 if none)
    horizon_days: float


def _by_frequency(x: Array, predicted: Array, actual: Array) -> list[dict[str, Any]]:
    rows = []
    for k in range(MAX_BUCKET + 1):
        sel = x >= k if k == MAX_BUCKET else x == k
        n = int(sel.sum())
        rows.append(
            {
                "repeat_purchases": f"{k}+" if k == MAX_BUCKET else str(k),
                "customers": n,
                "predicted_mean": float(predicted[sel].mean()) if n else None,
                "actual_mean": float(actual[sel].mean()) if n else None,
            }
        )
    return rows


def _p_alive_table(alive: Array, bought: Array) -> list[dict[str, Any]]:
    rows = []
    bucket = np.clip(np.digitize(alive, P_ALIVE_EDGES[1:-1]), 0, len(P_ALIVE_EDGES) - 2)
    for i in range(len(P_ALIVE_EDGES) - 1):
        sel = bucket == i
        n = int(sel.sum())
        rows.append(
            {
                "p_alive_from": float(P_ALIVE_EDGES[i]),
                "p_alive_to": float(P_ALIVE_EDGES[i + 1]),
                "customers": n,
                "mean_p_alive": float(alive[sel].mean()) if n else None,
                "bought_share": float(bought[sel].mean()) if n else None,
            }
        )
    return rows


def _scores(data: Data, predicted: Array, alive: Array) -> dict[str, Any]:
    actual = data.holdout_days
    total_actual = float(actual.sum())
    total_predicted = float(predicted.sum())
    return {
        "predicted_repeat_purchases": total_predicted,
        "actual_repeat_purchases": int(total_actual),
        "aggregate_error": (
            (total_predicted - total_actual) / total_actual if total_actual else None
        ),
        "mae": float(np.mean(np.abs(predicted - actual))),
        "by_frequency": _by_frequency(data.x, predicted, actual),
        "p_alive_calibration": _p_alive_table(alive, (actual > 0).astype(np.float64)),
    }


def fallback_model(rhythm_days: float) -> purchase.PurchaseModel:
    prior = clv.prior_bgnbd(rhythm_days)
    return purchase.PurchaseModel(purchase.BGNBD, prior.vector)


def _fallback(data: Data) -> dict[str, Any]:
    predicted = np.zeros_like(data.x)
    alive = np.ones_like(data.x)
    for rhythm in np.unique(data.rhythm_days):
        sel = data.rhythm_days == rhythm
        model = fallback_model(float(rhythm))
        args = (data.x[sel], data.t_x[sel], data.T[sel])
        predicted[sel] = model.expected(data.horizon_days, *args)
        alive[sel] = model.p_alive(*args)
    return {"model": FALLBACK, "params": {}, "log_likelihood": None, "converged": True} | (
        _scores(data, predicted, alive)
    )


def _spend(data: Data) -> dict[str, Any]:
    """Gamma-Gamma on the positive-spend repeaters, against the holdout's mean spend."""
    gg = gamma_gamma.fit(data.x_spend, data.m)
    expected = gamma_gamma.expected_spend(gg, data.x_spend, data.m)
    sel = data.holdout_spend_days > 0
    actual = data.holdout_m[sel]
    predicted = expected[sel]
    ok = np.isfinite(predicted)
    n = int(ok.sum())
    mean_pred = float(predicted[ok].mean()) if n else None
    mean_actual = float(actual[ok].mean()) if n else None
    return {
        "model": "gamma_gamma",
        "params": {"p": gg.p, "q": gg.q, "gamma": gg.gamma},
        "log_likelihood": gg.log_likelihood,
        "fitted_customers": gg.n_customers,
        "customers": n,
        "predicted_mean_spend": mean_pred,
        "actual_mean_spend": mean_actual,
        "mae": float(np.mean(np.abs(predicted[ok] - actual[ok]))) if n else None,
        "aggregate_error": (
            (mean_pred - mean_actual) / mean_actual if mean_pred and mean_actual else None
        ),
    }


def run(data: Data, names: tuple[str, ...] = purchase.NAMES) -> dict[str, Any]:
    """The back-test report: every model's fit and holdout scores, the fallback's, the spend
    model's, and the model with the lowest per-customer error (among converged fits)."""
    n_repeat = int((data.x > 0).sum())
    report: dict[str, Any] = {
        "customers": int(data.x.size),
        "repeat_customers": n_repeat,
        "horizon_days": data.horizon_days,
        "fallback": _fallback(data) if data.x.size else None,
        "models": [],
        "spend": None,
        "chosen_model": None,
        "reason": None,
    }
    if n_repeat < clv.MIN_REPEAT_CUSTOMERS_TO_FIT:
        report["reason"] = (
            f"{n_repeat} customers repeated in the calibration period; the models need "
            f"{clv.MIN_REPEAT_CUSTOMERS_TO_FIT}: the fallback priors stay in use"
        )
        return report
    fallback_mae = report["fallback"]["mae"]
    for name in names:
        model = purchase.fit(name, data.x, data.t_x, data.T)
        predicted = model.expected(data.horizon_days, data.x, data.t_x, data.T)
        scores = _scores(data, predicted, model.p_alive(data.x, data.t_x, data.T))
        report["models"].append(
            {
                "model": name,
                "params": model.params,
                "log_likelihood": model.log_likelihood,
                "converged": model.converged,
                "beats_fallback": bool(scores["mae"] < fallback_mae),
            }
            | scores
        )
    report["spend"] = _spend(data)
    candidates = [m for m in report["models"] if m["converged"]] or report["models"]
    best = min(candidates, key=lambda m: m["mae"])
    report["chosen_model"] = best["model"]
    errors = ", ".join(f"{m['model']} {m['mae']:.4f}" for m in report["models"])
    report["reason"] = (
        f"lowest per-customer holdout error (mean absolute error of repeat purchases: {errors}; "
        f"fallback {fallback_mae:.4f})"
    )
    return report
