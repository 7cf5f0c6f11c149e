from __future__ import annotations

import random
from datetime import datetime
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import func, select

from app.auth.scopes import Scope
from app.core.settings import Settings
from app.ltv.models import CustomerPrediction
from tests import factories as f
from tests.conftest import KeyMaker


async def _headers(make_key: KeyMaker) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}


async def _post(client: httpx.AsyncClient, h: dict[str, str], events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 1000):
        r = await client.post(
            "/v1/events/batch?wait=true", json={"events": events[start : start + 1000]}, headers=h
        )
        assert r.status_code == 200 and r.json()["summary"]["rejected"] == 0, r.text


def _one(value: Any) -> float:
    """The single number in what `lifetimes` returns (a scalar or a one-element array)."""
    (number,) = np.ravel(value)
    return float(number)


def _prior_reference(rhythm_days: float) -> Any:
    """`lifetimes`' BG/NBD set to the documented fallback priors (README: r 0.25, a 0.8, b 2.4,
    alpha = r × the rhythm)."""
    import lifetimes
    import pandas as pd

    ref = lifetimes.BetaGeoFitter()
    ref.params_ = pd.Series({"r": 0.25, "alpha": 0.25 * rhythm_days, "a": 0.8, "b": 2.4})
    return ref


async def test_monthly_customer_is_worth_18000_a_year(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    h = await _headers(make_key)
    months = [f"2025-{m:02d}-05T10:00:00Z" for m in range(1, 13)] + ["2026-01-05T10:00:00Z"]
    await _post(
        client, h, [f.purchase("c1", amount="1500.00") | {"occurred_at": m} for m in months]
    )
    r = await client.get(
        "/v1/customers/c1/ltv", params={"as_of": "2026-01-20T00:00:00Z"}, headers=h
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["historic"] == "19500.00"
    simple = body["simple"]
    assert simple["average_check"] == "1500.00"
    # Twelve monthly intervals over 365 days: 12 purchases a year, 1,500 × 12 = 18,000.
    assert simple["purchases_per_year"] == pytest.approx(12.0, rel=1e-3)
    assert float(simple["value"]) == pytest.approx(18000, rel=1e-3)
    assert body["average_days_between_orders"] == pytest.approx(365 / 12, abs=1e-4)
    assert body["model"] == "heuristic"  # a one-customer shop cannot be fitted
    # The documented priors for the shop's default 30-day rhythm, computed by the independent
    # `lifetimes`: x = 12 repeat days, t_x = 365, T = 380 (to 2026-01-20).
    ref = _prior_reference(Settings().default_rhythm_days)
    assert body["p_alive"] == pytest.approx(
        _one(ref.conditional_probability_alive(12, 365, 380)), abs=1e-6
    )
    expected = _one(ref.conditional_expected_number_of_purchases_up_to_time(365, 12, 365, 380))
    assert body["expected_purchases"] == pytest.approx(expected, abs=1e-6)
    assert body["predicted"]["expected_purchases"] == body["expected_purchases"]
    assert body["expected_next_purchase_at"] is not None


async def test_first_purchase_already_gets_an_answer(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    h = await _headers(make_key)
    await _post(client, h, [f.purchase("c1", days=0, amount="3000.00", category="furniture")])
    body = (await client.get("/v1/customers/c1/ltv", params={"as_of": f.ts(0.5)}, headers=h)).json()
    assert body["model"] == "heuristic"
    rhythm = Settings().rhythm_days("furniture")
    assert body["simple"]["basis"] == f"the usual rhythm of furniture ({rhythm:g} days)"
    assert body["p_alive"] == 1.0
    # A first purchase: x = t_x = T = 0; each month's expected purchases from `lifetimes`,
    # discounted at 10 % a year, times the average check (no repeat spend to blend in yet).
    ref = _prior_reference(rhythm)
    edges = [*range(30, 365, 30), 365]
    cumulative = [
        _one(ref.conditional_expected_number_of_purchases_up_to_time(t, 0, 0, 0)) for t in edges
    ]
    monthly = [b - a for a, b in zip([0.0, *cumulative[:-1]], cumulative, strict=True)]
    value = sum(n * 1.1 ** (-t / 365) for n, t in zip(monthly, edges, strict=True)) * 3000
    assert body["predicted"]["value"] == f"{value:.2f}"
    assert body["predicted"]["expected_spend_per_purchase"] == "3000.00"
    assert body["expected_purchases"] == pytest.approx(cumulative[-1], abs=1e-6)


async def test_as_of_ignores_later_events(client: httpx.AsyncClient, make_key: KeyMaker) -> None:
    h = await _headers(make_key)
    await _post(
        client,
        h,
        [
            f.purchase("c1", days=0, amount="100.00", order_id="o1"),
            f.purchase("c1", days=10, amount="200.00", order_id="o2"),
        ],
    )
    before = (
        await client.get("/v1/customers/c1/ltv", params={"as_of": f.ts(20)}, headers=h)
    ).json()
    await _post(
        client,
        h,
        [
            f.purchase("c1", days=30, amount="900.00", order_id="o3"),
            f.refund("c1", "o1", "100.00", days=40),
        ],
    )
    again = (await client.get("/v1/customers/c1/ltv", params={"as_of": f.ts(20)}, headers=h)).json()
    assert again == before
    assert before["historic"] == "300.00"
    now = (await client.get("/v1/customers/c1/ltv", headers=h)).json()
    assert now["historic"] == "1100.00"


async def test_fit_with_enough_repeaters_uses_the_models(
    client: httpx.AsyncClient, make_key: KeyMaker, app: Any
) -> None:
    h = await _headers(make_key)
    rnd = random.Random(3)
    events = []
    for i in range(120):
        n = rnd.choice([1, 1, 2, 3, 5])
        day = rnd.uniform(0, 60)
        for k in range(n):
            events.append(
                f.purchase(
                    f"c{i}", days=round(day + 25 * k, 2), amount=f"{rnd.randint(500, 5000)}.00"
                )
            )
    await _post(client, h, events)
    assert (await client.get("/v1/models/current", headers=h)).json()["kind"] == "heuristic"
    r = await client.post("/v1/models/fit", json={"as_of": f.ts(200)}, headers=h)
    assert r.status_code == 201, r.text
    model = r.json()
    assert model["kind"] == "bgnbd+gg"
    assert set(model["params"]) == {"r", "alpha", "a", "b", "p", "q", "gamma"}
    assert model["time_unit"] == "days"
    assert model["n_customers"] == 120 and model["n_repeat_customers"] >= 30
    assert model["bgnbd_log_likelihood"] < 0
    current = (await client.get("/v1/models/current", headers=h)).json()
    assert current["id"] == model["id"]
    body = (await client.get("/v1/customers/c0/ltv", headers=h)).json()
    assert body["model"] == "bgnbd+gg" and body["model_fit_id"] == model["id"]
    async with app.state.db.sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(CustomerPrediction)) == 120
    # A new purchase refreshes that customer's stored prediction in the ingest transaction.
    async with app.state.db.sessionmaker() as s:
        old = await s.scalar(select(func.max(CustomerPrediction.computed_at)))
    await _post(client, h, [f.purchase("c0", days=210, amount="100.00")])
    async with app.state.db.sessionmaker() as s:
        newest = await s.scalar(select(func.max(CustomerPrediction.computed_at)))
    assert newest is not None and old is not None and newest > old


async def test_fit_needs_admin(client: httpx.AsyncClient, make_key: KeyMaker) -> None:
    key = await make_key(Scope.CUSTOMERS_READ)
    r = await client.post("/v1/models/fit", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 403


async def test_worker_refits_when_the_fit_is_stale(app: Any, settings: Any) -> None:
    from app.ltv import jobs, repository

    async with app.state.db.sessionmaker() as s:
        assert await repository.latest_fit(s) is None
    await jobs.daily_refit(app.state.db, settings)
    async with app.state.db.sessionmaker() as s:
        first = await repository.latest_fit(s)
    assert first is not None and first.kind == "heuristic"
    await jobs.daily_refit(app.state.db, settings)  # fresh: nothing to do
    async with app.state.db.sessionmaker() as s:
        again = await repository.latest_fit(s)
    assert again is not None and again.id == first.id


async def test_stored_predictions_follow_every_ingest(
    app: Any, client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    """The prediction the lapsed list and the analytics read is current after each batch,
    including the customer's very first purchase (made in the same transaction)."""
    h = await _headers(make_key)

    async def stored() -> CustomerPrediction | None:
        async with app.state.db.sessionmaker() as s:
            return await s.scalar(select(CustomerPrediction))

    await _post(client, h, [f.purchase("c1", days=0, amount="1000.00")])
    first = await stored()
    assert first is not None and first.x == 0 and first.repeat_spend_minor == 0
    await _post(client, h, [f.purchase("c1", days=30, amount="3000.00")])
    second = await stored()
    assert second is not None and second.x == 1 and second.repeat_spend_minor == 300000


def _shop(
    rnd: random.Random, customers: int = 150, span_days: int = 400, base: Any = None
) -> list[dict[str, Any]]:
    """Customers acquired over the first half of the span, each buying at their own rhythm
    (40 days on average) until they drop out (their own chance after each purchase)."""
    events = []
    for i in range(customers):
        day = rnd.uniform(0, span_days / 2)
        mean_gap, drop = 40 * rnd.gammavariate(1.5, 1 / 1.5), rnd.betavariate(1.0, 2.5)
        while day < span_days:
            event = f.purchase(f"c{i}", amount=f"{rnd.randint(5, 50)}00.00")
            events.append(event | {"occurred_at": f.ts(round(day, 2), base=base or f.BASE_TIME)})
            if rnd.random() < drop:
                break
            day += rnd.expovariate(1 / mean_gap)
    return events


async def test_worker_refit_backtests_first_and_deploys_the_best(
    app: Any, client: httpx.AsyncClient, make_key: KeyMaker, settings: Any
) -> None:
    from datetime import timedelta

    from app.core.db import utcnow
    from app.ltv import jobs, repository

    h = await _headers(make_key)
    # Purchases over the last 400 days: the last quarter (100 days) is the holdout.
    start = (utcnow() - timedelta(days=400)).replace(microsecond=0)
    events = _shop(random.Random(8), span_days=399, base=start)
    await _post(client, h, events)
    await jobs.daily_refit(app.state.db, settings)
    async with app.state.db.sessionmaker() as s:
        backtest = await repository.latest_backtest(s)
        fit = await repository.latest_fit(s)
    assert backtest is not None and backtest.chosen_model is not None
    assert backtest.n_repeat_customers >= 30
    first = min(e["occurred_at"] for e in events)
    span = backtest.holdout_end - datetime.fromisoformat(first.replace("Z", "+00:00"))
    holdout = backtest.holdout_end - backtest.calibration_end
    assert holdout / span == pytest.approx(0.25, abs=0.01)
    assert fit is not None and fit.kind == f"{backtest.chosen_model}+gg"
    current = (await client.get("/v1/models/current", headers=h)).json()
    assert (
        current["backtest_id"] == backtest.id and current["purchase_model"] == backtest.chosen_model
    )
    body = (await client.get("/v1/customers/c1/ltv", headers=h)).json()
    interval = body["expected_purchases_interval"]
    assert (
        interval is not None and interval["low"] <= body["expected_purchases"] <= interval["high"]
    )


async def test_a_setting_forces_the_purchase_model(
    app: Any, client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    h = await _headers(make_key)
    await _post(client, h, _shop(random.Random(9), span_days=300))
    app.state.settings = app.state.settings.model_copy(update={"ltv_model": "paretonbd"})
    r = await client.post("/v1/models/fit", json={"as_of": f.ts(300)}, headers=h)
    assert r.status_code == 201, r.text
    model = r.json()
    assert model["kind"] == "paretonbd+gg" and model["purchase_model"] == "paretonbd"
    assert set(model["params"]) == {"r", "alpha", "s", "beta", "p", "q", "gamma"}
    assert model["reason"] == "forced by TOUCHPOINT_LTV_MODEL=paretonbd"
    assert model["bgnbd_log_likelihood"] is None and model["purchase_log_likelihood"] < 0
    body = (await client.get("/v1/customers/c3/ltv", params={"as_of": f.ts(300)}, headers=h)).json()
    assert body["model"] == "paretonbd+gg"
    assert body["expected_purchases_interval"] is not None
    # Too little history for a back-test: stored as such, the fallback scored alone.
    r = await client.post(
        "/v1/models/backtest",
        json={"calibration_end": f.ts(-300), "holdout_end": f.ts(300)},
        headers=h,
    )
    assert r.status_code == 201 and r.json()["chosen_model"] is None and r.json()["models"] == []
    r = await client.post(
        "/v1/models/backtest", json={"calibration_end": f.ts(10), "holdout_end": f.ts(5)}, headers=h
    )
    assert r.status_code == 422


async def test_backtests_list_pages_newest_first(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    h = await _headers(make_key)
    ids = []
    for k in range(3):
        r = await client.post(
            "/v1/models/backtest",
            json={"calibration_end": f.ts(k), "holdout_end": f.ts(50)},
            headers=h,
        )
        ids.append(r.json()["id"])
    first = (await client.get("/v1/models/backtests", params={"limit": 2}, headers=h)).json()
    assert [b["id"] for b in first["items"]] == ids[::-1][:2] and first["next_cursor"]
    rest = (
        await client.get(
            "/v1/models/backtests", params={"limit": 2, "cursor": first["next_cursor"]}, headers=h
        )
    ).json()
    assert [b["id"] for b in rest["items"]] == ids[:1] and rest["next_cursor"] is None
    key = await make_key(Scope.CUSTOMERS_READ)
    denied = await client.post(
        "/v1/models/backtest",
        json={"calibration_end": f.ts(0)},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert denied.status_code == 403
