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
from app.core.errors import InvalidCursor, Unprocessable
from app.core.money import from_minor
from app.core.pagination import Page, decode_cursor, encode_cursor
from app.core.settings import Settings
from app.customers.models import Customer
from app.lapse import service as lapse_service
from app.ltv import backtest, clv, gamma_gamma, intervals, purchase, repository
from app.ltv.models import ModelBacktest, ModelFit
from app.ltv.schemas import (
    BacktestOut,
    Interval,
    LtvOut,
    ModelOut,
    MoneyInterval,
    PredictedLtv,
    SimpleLtv,
)

Array = NDArray[np.float64]

MODEL_HEURISTIC = "heuristic"
NEXT_PURCHASE_LIMIT_DAYS = 3650.0
DAYS_PER_YEAR = 365.0


def fitted_kind(name: str) -> str:
    """The stored kind of a fit: the purchase model and Gamma-Gamma, e.g. "paretonbd+gg"."""
    return f"{name}+gg"


@dataclass(frozen=True)
class Models:
    kind: str
    fit_id: int | None
    purchase: purchase.PurchaseModel | None  # None: priors per customer (category rhythm)
    gg: gamma_gamma.GammaGammaParams | None


def _models_of(fit: ModelFit | None) -> Models:
    if fit is None or fit.kind == MODEL_HEURISTIC:
        return Models(MODEL_HEURISTIC, fit.id if fit else None, None, None)
    p = fit.params
    uncertainty = fit.uncertainty or {}
    spend_cov = uncertainty.get("spend")
    return Models(
        fit.kind,
        fit.id,
        purchase.from_stored(fit.kind.split("+")[0], p, uncertainty.get("purchase")),
        gamma_gamma.GammaGammaParams(
            p["p"],
            p["q"],
            p["gamma"],
            log_cov=np.asarray(spend_cov, dtype=np.float64) if spend_cov is not None else None,
        ),
    )


def _summaries(
    purchases: list[tuple[int, datetime, int]], as_of: datetime
) -> dict[int, clv.Summary]:
    by_customer: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for pk, at, amount in purchases:
        by_customer[pk].append((at, amount))
    return {pk: clv.summarise(items, as_of) for pk, items in by_customer.items()}


async def _choice(session: AsyncSession, settings: Settings) -> tuple[str, dict[str, Any]]:
    """The purchase model to deploy and why: forced by the setting, else the latest
    back-test's lowest holdout error, else BG/NBD."""
    if settings.ltv_model != "auto":
        reason = f"forced by TOUCHPOINT_LTV_MODEL={settings.ltv_model}"
        return settings.ltv_model, {"reason": reason, "backtest_id": None, "forced": True}
    latest = await repository.latest_backtest(session)
    if latest is not None and latest.chosen_model:
        return latest.chosen_model, {
            "reason": f"back-test {latest.id}: {latest.report['reason']}",
            "backtest_id": latest.id,
            "forced": False,
        }
    why = "no back-test yet" if latest is None else f"back-test {latest.id}: too little history"
    return purchase.BGNBD, {
        "reason": f"{why}; BG/NBD, the default",
        "backtest_id": latest.id if latest else None,
        "forced": False,
    }


def _arrays(summaries: list[clv.Summary]) -> dict[str, Array]:
    return {
        "x": np.array([s.x for s in summaries], dtype=np.float64),
        "t_x": np.array([s.t_x for s in summaries], dtype=np.float64),
        "T": np.array([s.T for s in summaries], dtype=np.float64),
        "x_spend": np.array([s.x_spend for s in summaries], dtype=np.float64),
        "m": np.array([s.m_minor / 100 for s in summaries], dtype=np.float64),
    }


async def fit_models(session: AsyncSession, settings: Settings, as_of: datetime | None) -> ModelFit:
    """Fit the purchase model in use (see `_choice`) and Gamma-Gamma on every customer's
    purchases at or before `as_of`; Gamma-Gamma on the positive-spend repeaters only.

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
    a = _arrays(summaries)
    n_repeat = int(np.sum(a["x"] > 0))
    row = ModelFit(
        as_of=as_of,
        fitted_at=utcnow(),
        time_unit="days",
        n_customers=len(summaries),
        n_repeat_customers=n_repeat,
    )
    if n_repeat >= clv.MIN_REPEAT_CUSTOMERS_TO_FIT:
        name, selection = await _choice(session, settings)
        model = purchase.fit(name, a["x"], a["t_x"], a["T"])
        gg = gamma_gamma.fit(a["x_spend"], a["m"])
        row.kind = fitted_kind(name)
        row.params = model.params | {"p": gg.p, "q": gg.q, "gamma": gg.gamma}
        # The column keeps its first name; it holds the purchase model's log-likelihood.
        row.bgnbd_log_likelihood = model.log_likelihood
        row.gg_log_likelihood = gg.log_likelihood
        row.selection = selection
        row.uncertainty = {
            "purchase": model.log_cov.tolist() if model.log_cov is not None else None,
            "spend": gg.log_cov.tolist() if gg.log_cov is not None else None,
        }
    else:
        row.kind = MODEL_HEURISTIC
        row.params = {
            "r": clv.PRIOR_R,
            "a": clv.PRIOR_A,
            "b": clv.PRIOR_B,
            "p": clv.PRIOR_P,
            "q": clv.PRIOR_Q,
        }
        row.selection = {
            "reason": f"{n_repeat} repeat customers, fewer than the "
            f"{clv.MIN_REPEAT_CUSTOMERS_TO_FIT} the models need: the fallback priors",
            "backtest_id": None,
            "forced": False,
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
) -> dict[str, Array | None]:
    """Predictions for customers sharing one model (vectorised; a group may be one customer),
    with 90 % intervals when the model was fitted (see `intervals`).

    Without a fitted model the priors take alpha from the group's category rhythm and, for
    spend, the customer's own average check as the population mean.
    """
    model = models.purchase or backtest.fallback_model(rhythm_days)
    a = _arrays(summaries)
    x, t_x, T, x_spend, m = a["x"], a["t_x"], a["T"], a["x_spend"], a["m"]
    avg = np.array([c / 100 for c in avg_checks_minor], dtype=np.float64)
    if models.gg is not None:
        spend = gamma_gamma.expected_spend(models.gg, x_spend, m)
    else:
        w = clv.PRIOR_P * x_spend / (clv.PRIOR_P * x_spend + clv.PRIOR_Q - 1)
        spend = (1 - w) * avg + w * m
    # q <= 1 has no finite population mean: fall back to the customer's average check.
    usable = np.isfinite(spend) & (spend > 0)
    spend = np.where(usable, spend, avg)
    expected = model.expected(horizon_days, x, t_x, T)
    value = clv.discounted_values(
        model.expected, spend, horizon_days, settings.ltv_annual_discount_rate, x, t_x, T
    )
    out: dict[str, Array | None] = {
        "p_alive": model.p_alive(x, t_x, T),
        "expected_purchases": expected,
        "spend": spend,
        "value": value,
        "next_in_days": model.median_days_to_next_purchase(x, T),
        "expected_low": None,
        "expected_high": None,
        "value_low": None,
        "value_high": None,
    }
    if models.purchase is None or model.log_cov is None:
        return out
    sd_purchases = intervals.log_sd(
        lambda lp: model.with_log_params(lp).expected(horizon_days, x, t_x, T),
        np.log(np.array(model.vector)),
        model.log_cov,
    )
    sd_spend = None
    gg = models.gg
    if gg is not None and gg.log_cov is not None:

        def spend_at(lp: Array) -> Array:
            p, q, g = (float(v) for v in np.exp(lp))
            drawn = gamma_gamma.expected_spend(gamma_gamma.GammaGammaParams(p, q, g), x_spend, m)
            return np.where(usable, drawn, avg)

        sd_spend = intervals.log_sd(spend_at, np.log([gg.p, gg.q, gg.gamma]), gg.log_cov)
    purchases_bounds = intervals.bounds(expected, sd_purchases)
    value_bounds = intervals.bounds(value, intervals.combine(sd_purchases, sd_spend))
    if purchases_bounds is not None and value_bounds is not None:
        out["expected_low"], out["expected_high"] = purchases_bounds
        out["value_low"], out["value_high"] = value_bounds
    return out


def _at(values: Array | None, j: int) -> float | None:
    return None if values is None else float(values[j])


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
    values = {k: _at(v, 0) for k, v in one.items()}
    wait = values["next_in_days"]
    values["next_in_days"] = wait if wait is not None and wait <= NEXT_PURCHASE_LIMIT_DAYS else None
    return values


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
        groups[None if models.purchase else settings.rhythm_days(category)].append(i)
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
        for j, i in enumerate(members):
            pk, _, _, summary = ready[i]
            assert summary.first_day is not None
            first = datetime(
                summary.first_day.year, summary.first_day.month, summary.first_day.day, tzinfo=UTC
            )
            next_in = _at(p["next_in_days"], j) or 0.0
            value_low, value_high = _at(p["value_low"], j), _at(p["value_high"], j)
            rows[i] = {
                "customer_id": pk,
                "model_fit_id": models.fit_id,
                "model": models.kind,
                "x": summary.x,
                "t_x": summary.t_x,
                "T": summary.T,
                "repeat_spend_minor": round(summary.m_minor),
                "p_alive": _at(p["p_alive"], j),
                "horizon_days": horizon,
                "expected_purchases": _at(p["expected_purchases"], j),
                "expected_purchases_low": _at(p["expected_low"], j),
                "expected_purchases_high": _at(p["expected_high"], j),
                "expected_spend_minor": round((_at(p["spend"], j) or 0.0) * 100),
                "predicted_ltv_minor": round((_at(p["value"], j) or 0.0) * 100),
                "predicted_ltv_low_minor": None if value_low is None else round(value_low * 100),
                "predicted_ltv_high_minor": (
                    None if value_high is None else round(value_high * 100)
                ),
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
    gaps = [(b - a).total_seconds() / 86400 for a, b in itertools.pairwise(counted)]
    mean_interval = float(np.mean(gaps)) if gaps else None
    p: dict[str, Any]
    if summary.first_day is None:
        p = {
            "p_alive": 1.0,
            "expected_purchases": 0.0,
            "spend": 0.0,
            "value": 0.0,
            "next_in_days": None,
            "expected_low": None,
            "expected_high": None,
            "value_low": None,
            "value_high": None,
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
            value_interval=(
                MoneyInterval(
                    low=from_minor(round(p["value_low"] * 100)),
                    high=from_minor(round(p["value_high"] * 100)),
                )
                if p["value_low"] is not None
                else None
            ),
            expected_purchases=round(p["expected_purchases"], 6),
            expected_spend_per_purchase=from_minor(round(p["spend"] * 100)),
            annual_discount_rate=settings.ltv_annual_discount_rate,
        ),
        p_alive=round(p["p_alive"], 6),
        expected_purchases=round(p["expected_purchases"], 6),
        expected_purchases_interval=(
            Interval(low=round(p["expected_low"], 6), high=round(p["expected_high"], 6))
            if p["expected_low"] is not None
            else None
        ),
        interval_method=intervals.METHOD if p["expected_low"] is not None else None,
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
            purchase_model=None,
            purchase_log_likelihood=None,
            bgnbd_log_likelihood=None,
            gg_log_likelihood=None,
            reason="nothing fitted yet: the fallback priors",
            backtest_id=None,
            n_customers=0,
            n_repeat_customers=0,
            as_of=None,
            fitted_at=None,
            duration_ms=None,
        )
    name = None if fit.kind == MODEL_HEURISTIC else fit.kind.split("+")[0]
    selection = fit.selection or {}
    return ModelOut(
        id=fit.id,
        kind=fit.kind,
        time_unit=fit.time_unit,
        params={k: float(v) for k, v in fit.params.items()},
        purchase_model=name,
        purchase_log_likelihood=fit.bgnbd_log_likelihood,
        bgnbd_log_likelihood=fit.bgnbd_log_likelihood if name == purchase.BGNBD else None,
        gg_log_likelihood=fit.gg_log_likelihood,
        reason=selection.get("reason"),
        backtest_id=selection.get("backtest_id"),
        n_customers=fit.n_customers,
        n_repeat_customers=fit.n_repeat_customers,
        as_of=fit.as_of,
        fitted_at=fit.fitted_at,
        duration_ms=fit.duration_ms,
    )


async def run_backtest(
    session: AsyncSession,
    settings: Settings,
    calibration_end: datetime,
    holdout_end: datetime | None = None,
) -> ModelBacktest:
    """Fit every model on the facts up to `calibration_end`, score them on what happened up
    to `holdout_end` (default now), and store the report."""
    started = time.perf_counter()
    holdout_end = holdout_end or utcnow()
    if holdout_end <= calibration_end:
        raise Unprocessable("holdout_end must be after calibration_end.")
    calibration = _summaries(
        await repository.purchases_as_of(session, calibration_end), calibration_end
    )
    by_customer: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for pk, at, amount in await repository.purchases_as_of(session, holdout_end):
        if at > calibration_end:
            by_customer[pk].append((at, amount))
    categories = {pk: cat for pk, cat, _ in await repository.customers_for_prediction(session)}
    pks = [pk for pk, s in calibration.items() if s.first_day is not None]
    summaries = [calibration[pk] for pk in pks]
    held = [clv.holdout(by_customer.get(pk, []), calibration_end, holdout_end) for pk in pks]
    a = _arrays(summaries)
    data = backtest.Data(
        x=a["x"],
        t_x=a["t_x"],
        T=a["T"],
        x_spend=a["x_spend"],
        m=a["m"],
        rhythm_days=np.array([settings.rhythm_days(categories.get(pk)) for pk in pks]),
        holdout_days=np.array([h[0] for h in held], dtype=np.float64),
        holdout_spend_days=np.array([h[1] for h in held], dtype=np.float64),
        holdout_m=np.array([h[2] / 100 for h in held], dtype=np.float64),
        horizon_days=(holdout_end - calibration_end).total_seconds() / 86400,
    )
    report = backtest.run(data)
    row = ModelBacktest(
        created_at=utcnow(),
        calibration_end=calibration_end,
        holdout_end=holdout_end,
        chosen_model=report["chosen_model"],
        n_customers=report["customers"],
        n_repeat_customers=report["repeat_customers"],
        report=report,
        duration_ms=int((time.perf_counter() - started) * 1000),
    )
    session.add(row)
    await session.flush()
    return row


def backtest_out(row: ModelBacktest) -> BacktestOut:
    report = row.report
    return BacktestOut.model_validate(
        {
            "id": row.id,
            "created_at": row.created_at,
            "calibration_end": row.calibration_end,
            "holdout_end": row.holdout_end,
            "horizon_days": report["horizon_days"],
            "customers": row.n_customers,
            "repeat_customers": row.n_repeat_customers,
            "chosen_model": row.chosen_model,
            "reason": report["reason"],
            "models": report["models"],
            "fallback": report["fallback"],
            "spend": report["spend"],
            "duration_ms": row.duration_ms,
        }
    )


async def list_backtests(
    session: AsyncSession, limit: int, cursor: str | None
) -> Page[BacktestOut]:
    before = None
    if cursor is not None:
        (before,) = decode_cursor(cursor, int)
        if not isinstance(before, int):
            raise InvalidCursor("The cursor is not one this API issued.")
    rows = await repository.backtests_page(session, before, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[BacktestOut](
        items=[backtest_out(r) for r in rows],
        next_cursor=encode_cursor([rows[-1].id]) if more and rows else None,
    )


# The worker back-tests before a refit when the holdout can be a quarter of the shop's history
# and the calibration period still has this many repeat customers.
HOLDOUT_SHARE = 0.25


async def backtest_if_history_suffices(
    session: AsyncSession, settings: Settings, now: datetime | None = None
) -> ModelBacktest | None:
    """Back-test with the last quarter of the shop's history as the holdout, if the rest has
    enough repeat customers to fit the models; None (nothing stored) otherwise."""
    now = now or utcnow()
    first = await repository.first_purchase_at(session)
    if first is None or first >= now:
        return None
    calibration_end = now - (now - first) * HOLDOUT_SHARE
    calibration = _summaries(
        await repository.purchases_as_of(session, calibration_end), calibration_end
    )
    repeaters = sum(1 for s in calibration.values() if s.x > 0)
    if repeaters < clv.MIN_REPEAT_CUSTOMERS_TO_FIT:
        return None
    return await run_backtest(session, settings, calibration_end, now)
