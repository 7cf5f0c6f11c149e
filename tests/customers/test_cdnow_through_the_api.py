"""The CDNOW sample that `lifetimes` ships, zero-amount lines included, posted through the API
and fitted as of 1997-09-30: the same 2,357 customers and the same BG/NBD and Gamma-Gamma
parameters as `lifetimes` on those transactions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from app.auth.scopes import Scope
from app.core.settings import Settings
from tests.conftest import KeyMaker
from tests.factories import send


@pytest.fixture
async def h(make_key: KeyMaker) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}


CDNOW = Path(__import__("lifetimes").__file__).parent / "datasets" / "CDNOW_sample.txt"
AS_OF = "1997-09-30T23:59:59Z"


@pytest.fixture
def settings(db_url: str) -> Settings:
    # CDNOW is in US dollars.
    return Settings(database_url=db_url, env="test", webhook_allow_private=True, currency="USD")


def _cdnow_events() -> list[dict[str, Any]]:
    events = []
    for n, line in enumerate(CDNOW.read_text().splitlines()):
        customer, _, day, _, amount = line.split()
        when = f"{day[:4]}-{day[4:6]}-{day[6:]}T12:00:00Z"
        events.append(
            {
                "event_id": f"cdnow-{n}",
                "type": "purchase",
                "customer_id": customer,
                "occurred_at": when,
                "order_id": f"cdnow-{n}",
                "amount": amount,
                "currency": "USD",
            }
        )
    return events


def _lifetimes_reference() -> dict[str, float]:
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    df = pd.read_csv(
        CDNOW,
        sep=r"\s+",
        header=None,
        names=["customer_id", "index", "date", "quantity", "amount"],
        dtype={"customer_id": str, "date": str},
    )
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    summary = summary_data_from_transaction_data(
        df, "customer_id", "date", monetary_value_col="amount", observation_period_end="1997-09-30"
    )
    bg = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    paid = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    gg = GammaGammaFitter().fit(paid["frequency"], paid["monetary_value"])
    return {
        "customers": float(len(summary)),
        "repeat": float((summary["frequency"] > 0).sum()),
        **{k: float(bg.params_[k]) for k in ("r", "alpha", "a", "b")},
        "p": float(gg.params_["p"]),
        "q": float(gg.params_["q"]),
        "gamma": float(gg.params_["v"]),
    }


@pytest.mark.slow
async def test_cdnow_sample_through_the_api_fits_like_lifetimes(
    client: httpx.AsyncClient, h: dict[str, str]
) -> None:
    events = _cdnow_events()
    assert len(events) == 6919 and sum(e["amount"] in {"0", "0.00"} for e in events) == 8
    for start in range(0, len(events), 1000):
        await send(client, h, *events[start : start + 1000])
    r = await client.post("/v1/models/fit", json={"as_of": AS_OF}, headers=h)
    assert r.status_code == 201, r.text
    fit = r.json()
    ref = _lifetimes_reference()
    assert fit["kind"] == "bgnbd+gg"
    assert fit["n_customers"] == ref["customers"] == 2357
    assert fit["n_repeat_customers"] == ref["repeat"]
    ours = np.array([fit["params"][k] for k in ("r", "alpha", "a", "b", "p", "q", "gamma")])
    theirs = np.array([ref[k] for k in ("r", "alpha", "a", "b", "p", "q", "gamma")])
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)  # measured: at most 2.5e-7 apart
