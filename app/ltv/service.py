"""Use cases of the LTV domain: fitting, per-customer predictions, and the LTV answer."""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.core.money import from_minor
from app.core.settings import Settings
from app.customers.models import Customer
from app.lapse import service as lapse_service
from app.ltv import bgnbd, clv, gamma_gamma, repository
from app.ltv.models import ModelFit
from app.ltv.schemas import LtvOut, ModelOut, PredictedLtv, SimpleLtv

Array = NDArray[np.float64]

MODEL_FITTED = "bgnbd+gg"
MODEL_HEURISTIC = "heuristic"
NEXT_PURCHASE_LIMIT_DAYS = 3650.0
DAYS_PER_YEAR = 365.0


@dataclass(frozen=True)
class Models:
    kind: str
    fit_id: int | None
    bgnbd: bgnbd.BgNbdParams | None  # None: priors per customer (rhythm of their category)
    gg: gamma_gamma.GammaGammaParams | None


def _models_of(fit: ModelFit | None) -> Models:
    if fit is None or fit.kind != MODEL_FITTED:
        return Models(MODEL_HEURISTIC, fit.id if fit else None, None, None)
    p = fit.params
    return Models(
        MODEL_FITTED,
        fit.id,
        bgnbd.BgNbdParams(p["r"], p["alpha"], p["a"], p["b"]),
        gamma_gamma.GammaGammaParams(p["p"], p["q"], p["gamma"]),
    )


def _summaries(
    purchases: list[tuple[int, datetime, int]], as_of: datetime
) -> dict[int, clv.Summary]:
    by_customer: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for pk, at, amount in purchases:
        by_customer[pk].append((at, amount))
    return {pk: clv.summarise(items, as_of) for pk, items in by_customer.items()}


async def fit_models(session: AsyncSession, settings: Settings, as_of: datetime | None) -> ModelFit:
    """Fit BG/NBD and Gamma-Gamma on every customer's purchases at or before `as_of`.

    Too few repeat customers → a "heuristic" record (the documented priors) instead.
    Afterwards every customer's stored prediction is recomputed with the new parameters.
    """
    started = time.perf_counter()
    as_of = as_of or utcnow()
    summaries = [
        s
        for s in _summaries(await repository.purchases_as_of(session, as_of), as_of).values()
        if s.first_day is not None
    ]
    x = np.array([s.x for s in summaries], dtype=np.float64)
    t_x = np.array([s.t_x for s in summaries], dtype=np.float64)
    T = np.array([s.T for s in summaries], dtype=np.float64)
    m = np.array([s.m_minor / 100 for s in summaries], dtype=np.float64)
    n_repeat = int(np.sum(x > 0))
    row = ModelFit(
        as_of=as_of,
        fitted_at=utcnow(),
        time_unit="days",
        n_customers=len(summaries),
        n_repeat_customers=n_repeat,
    )
    if n_repeat >= clv.MIN_REPEAT_CUSTOMERS_TO_FIT:
        bg = bgnbd.fit(x, t_x, T)
        gg = gamma_gamma.fit(x, m)
        row.kind = MODEL_FITTED
        row.params = {
            "r": bg.r,
            "alpha": bg.alpha,
            "a": bg.a,
            "b": bg.b,
            "p": gg.p,
            "q": gg.q,
            "gamma": gg.gamma,
        }
        row.bgnbd_log_likelihood = bg.log_likelihood
        row.gg_log_likelihood = gg.log_likelihood
    else:
        row.kind = MODEL_HEURISTIC
        row.params = {
            "r": clv.PRIOR_R,
            "a": clv.PRIOR_A,
            "b": clv.PRIOR_B,
            "p": clv.PRIOR_P,
            "q": clv.PRIOR_Q,
        }
    row.duration_ms = int((time.perf_counter() - started) * 1000)
    session.add(row)
    await session.flush()
    await refresh_predictions(session, settings, None, now=as_of, fit=row)
    # Category rhythms and values at risk are refreshed with every fit.
    await lapse_service.after_fit(session, settings, utcnow())
    return row


def _predict_group(
    models: Models,
    settings: Settings,
    rhythm_days: float,
    summaries: list[clv.Summary],
    avg_checks_minor: list[int],
    horizon_days: float,
) -> dict[str, Array]:
    """Predictions for customers sharing one model (vectorised; a group may be one customer).

    Without a fitted model the priors take alpha from the group's category rhythm and, for
    spend, the customer's own average check as the population mean.
    """
    bg = models.bgnbd or clv.prior_bgnbd(rhythm_days)
    x = np.array([s.x for s in summaries], dtype=np.float64)
    t_x = np.array([s.t_x for s in summaries], dtype=np.float64)
    T = np.array([s.T for s in summaries], dtype=np.float64)
    m = np.array([s.m_minor / 100 for s in summaries], dtype=np.float64)
    avg = np.array([c / 100 for c in avg_checks_minor], dtype=np.float64)
    if models.gg is not None:
        spend = gamma_gamma.expected_spend(models.gg, x, m)
    else:
        w = clv.PRIOR_P * x / (clv.PRIOR_P * x + clv.PRIOR_Q - 1)
        spend = (1 - w) * avg + w * m
    # q <= 1 has no finite population mean: fall back to the customer's average check.
    spend = np.where(np.isfinite(spend) & (spend > 0), spend, avg)
    return {
        "p_alive": bgnbd.p_alive(bg, x, t_x, T),
        "expected_purchases": bgnbd.expected_purchases(bg, horizon_days, x, t_x, T),
        "spend": spend,
        "value": clv.discounted_values(
            bg, spend, horizon_days, settings.ltv_annual_discount_rate, x, t_x, T
        ),
        "next_in_days": bgnbd.median_days_to_next_purchase(bg, x, T),
    }


def _predict(
    models: Models,
    settings: Settings,
    summary: clv.Summary,
    category: str | None,
    avg_check_minor: int,
    horizon_days: float,
) -> dict[str, Any]:
    """One customer's predictions (the group computation with a group of one)."""
    one = _predict_group(
        models,
        settings,
        settings.rhythm_days(category),
        [summary],
        [avg_check_minor],
        horizon_days,
    )
    wait = float(one["next_in_days"][0])
    return {
        "p_alive": float(one["p_alive"][0]),
        "expected_purchases": float(one["expected_purchases"][0]),
        "spend": float(one["spend"][0]),
        "value": float(one["value"][0]),
        "next_in_days": wait if wait <= NEXT_PURCHASE_LIMIT_DAYS else None,
    }


async def refresh_predictions(
    session: AsyncSession,
    settings: Settings,
    customer_pks: Collection[int] | None,
    now: datetime | None = None,
    fit: ModelFit | None = None,
    customers: list[Customer] | None = None,
    purchases: list[tuple[int, datetime, int]] | None = None,
) -> int:
    """Recompute the stored predictions of some customers (None: all) with the current fit.

    At ingest, `customers` are those customers' objects, which hold changes not yet written,
    and `purchases` their (pk, when, net amount) orders as the ingest already loaded them.
    """
    now = now or utcnow()
    fit = fit or await repository.latest_fit(session)
    models = _models_of(fit)
    horizon = settings.ltv_default_horizon_days
    if customers is None:
        info = await repository.customers_for_prediction(session, customer_pks)
    else:
        info = [(c.id, c.main_category, c.avg_check_minor) for c in customers if c.purchase_count]
    if purchases is None:
        purchases = await repository.purchases_as_of(
            session, now, [pk for pk, _, _ in info] if customer_pks is not None else None
        )
    summaries = _summaries(purchases, now)
    ready = [
        (pk, cat, chk, summaries[pk])
        for pk, cat, chk in info
        if pk in summaries and summaries[pk].first_day is not None
    ]
    # Vectorised by model: one group for a fitted model; per category rhythm for the priors.
    groups: dict[float | None, list[int]] = defaultdict(list)
    for i, (_, category, _, _) in enumerate(ready):
        groups[None if models.bgnbd else settings.rhythm_days(category)].append(i)
    rows: list[dict[str, Any]] = [{} for _ in ready]
    for rhythm, members in groups.items():
        p = _predict_group(
            models,
            settings,
            rhythm or settings.default_rhythm_days,
            [ready[i][3] for i in members],
            [ready[i][2] for i in members],
            float(horizon),
        )
        alive, expected, spend = p["p_alive"], p["expected_purchases"], p["spend"]
        value, wait = p["value"], p["next_in_days"]
        for j, i in enumerate(members):
            pk, _, _, summary = ready[i]
            assert summary.first_day is not None
            first = datetime(
                summary.first_day.year, summary.first_day.month, summary.first_day.day, tzinfo=UTC
            )
            next_in = float(wait[j])
            rows[i] = {
                "customer_id": pk,
                "model_fit_id": models.fit_id,
                "model": models.kind,
                "x": summary.x,
                "t_x": summary.t_x,
                "T": summary.T,
                "repeat_spend_minor": round(summary.m_minor),
                "p_alive": float(alive[j]),
                "horizon_days": horizon,
                "expected_purchases": float(expected[j]),
                "expected_spend_minor": round(float(spend[j]) * 100),
                "predicted_ltv_minor": round(float(value[j]) * 100),
                "expected_next_purchase_at": (
                    first + timedelta(days=summary.T + next_in)
                    if next_in <= NEXT_PURCHASE_LIMIT_DAYS
                    else None
                ),
                "computed_at": now,
            }
    await repository.replace_predictions(session, customer_pks, rows)
    return len(rows)


def _simple(
    customer_avg_check: int,
    mean_interval: float | None,
    category: str | None,
    settings: Settings,
    horizon_days: int,
) -> SimpleLtv:
    if mean_interval and mean_interval > 0:
        per_year, basis = DAYS_PER_YEAR / mean_interval, "the customer's mean days between orders"
    else:
        rhythm = settings.rhythm_days(category)
        per_year = DAYS_PER_YEAR / rhythm
        basis = f"the usual rhythm of {category or 'the shop'} ({rhythm:g} days)"
    value = customer_avg_check / 100 * per_year * horizon_days / DAYS_PER_YEAR
    return SimpleLtv(
        value=from_minor(round(value * 100)),
        average_check=from_minor(customer_avg_check),
        purchases_per_year=round(per_year, 4),
        horizon_days=horizon_days,
        basis=basis,
    )


async def customer_ltv(
    session: AsyncSession,
    settings: Settings,
    customer: Customer,
    as_of: datetime | None,
    horizon_days: int,
) -> LtvOut:
    """Historic, simple and predicted LTV of one customer. Never fits: reads the stored fit."""
    now = utcnow()
    at = as_of or now
    fit = await repository.latest_fit(session, at if as_of else None)
    models = _models_of(fit)
    purchases = await repository.purchases_as_of(session, at, [customer.id])
    summary = clv.summarise([(when, amount) for _, when, amount in purchases], at)
    counted = sorted(when for _, when, _ in purchases)
    net = sum(amount for _, _, amount in purchases)
    avg_check = round(net / len(counted)) if counted else 0
    intervals = [(b - a).total_seconds() / 86400 for a, b in itertools.pairwise(counted)]
    mean_interval = float(np.mean(intervals)) if intervals else None
    p: dict[str, Any]
    if summary.first_day is None:
        p = {
            "p_alive": 1.0,
            "expected_purchases": 0.0,
            "spend": 0.0,
            "value": 0.0,
            "next_in_days": None,
        }
    else:
        p = _predict(models, settings, summary, customer.main_category, avg_check, horizon_days)
    return LtvOut(
        customer_id=customer.external_id,
        as_of=at,
        horizon_days=horizon_days,
        historic=from_minor(net),
        simple=_simple(avg_check, mean_interval, customer.main_category, settings, horizon_days),
        predicted=PredictedLtv(
            value=from_minor(round(p["value"] * 100)),
            expected_purchases=round(p["expected_purchases"], 6),
            expected_spend_per_purchase=from_minor(round(p["spend"] * 100)),
            annual_discount_rate=settings.ltv_annual_discount_rate,
        ),
        p_alive=round(p["p_alive"], 6),
        expected_purchases=round(p["expected_purchases"], 6),
        expected_next_purchase_at=(
            at + timedelta(days=p["next_in_days"]) if p["next_in_days"] is not None else None
        ),
        average_days_between_orders=round(mean_interval, 4) if mean_interval else None,
        model=models.kind if summary.first_day is not None else MODEL_HEURISTIC,
        model_fit_id=models.fit_id,
    )


def model_out(fit: ModelFit | None) -> ModelOut:
    if fit is None:
        return ModelOut(
            id=None,
            kind=MODEL_HEURISTIC,
            time_unit="days",
            params={
                "r": clv.PRIOR_R,
                "a": clv.PRIOR_A,
                "b": clv.PRIOR_B,
                "p": clv.PRIOR_P,
                "q": clv.PRIOR_Q,
            },
            bgnbd_log_likelihood=None,
            gg_log_likelihood=None,
            n_customers=0,
            n_repeat_customers=0,
            as_of=None,
            fitted_at=None,
            duration_ms=None,
        )
    return ModelOut(
        id=fit.id,
        kind=fit.kind,
        time_unit=fit.time_unit,
        params={k: float(v) for k, v in fit.params.items()},
        bgnbd_log_likelihood=fit.bgnbd_log_likelihood,
        gg_log_likelihood=fit.gg_log_likelihood,
        n_customers=fit.n_customers,
        n_repeat_customers=fit.n_repeat_customers,
        as_of=fit.as_of,
        fitted_at=fit.fitted_at,
        duration_ms=fit.duration_ms,
    )
