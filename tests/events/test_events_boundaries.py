"""Every limit of ingestion at its bound and one step past it, through the API: the clock
skew, what is left of an order to refund."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.auth.scopes import Scope
from app.events import service
from tests import factories as f
from tests.conftest import KeyMaker

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _writer(make_key: KeyMaker) -> dict[str, str]:
    key = await make_key(Scope.EVENTS_WRITE, Scope.CUSTOMERS_READ)
    return {"Authorization": f"Bearer {key}"}


def _at(body: dict[str, Any], when: datetime) -> dict[str, Any]:
    return body | {"occurred_at": when.isoformat()}


async def test_clock_skew_at_the_bound_and_one_microsecond_past(
    client: httpx.AsyncClient, make_key: KeyMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = await _writer(make_key)
    monkeypatch.setattr(service, "utcnow", lambda: NOW)
    bound = NOW + timedelta(seconds=300)  # the default TOUCHPOINT_MAX_FUTURE_SKEW_SECONDS
    ok = await client.post("/v1/events", json=_at(f.contact("c1"), bound), headers=h)
    assert ok.status_code == 201, ok.text
    past = bound + timedelta(microseconds=1)
    late = await client.post("/v1/events", json=_at(f.contact("c1"), past), headers=h)
    assert late.status_code == 422
    assert late.json()["type"].endswith("/event-in-future")
    batch = await client.post(
        "/v1/events/batch",
        json={"events": [_at(f.contact("c2"), bound), _at(f.contact("c2"), past)]},
        headers=h,
    )
    assert [x["status"] for x in batch.json()["results"]] == ["accepted", "rejected"]
    c1 = (await client.get("/v1/customers/c1", headers=h)).json()
    assert c1["relationship"]["contact_count"] == 1


async def test_refund_of_exactly_what_is_left_and_one_kopeck_more(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    h = await _writer(make_key)
    order = f.purchase("c1", order_id="o1", amount="1000.00", days=0)
    whole = await client.post(
        "/v1/events/batch",
        json={"events": [order, f.refund("c1", "o1", "1000.01", days=1)]},
        headers=h,
    )
    refused = whole.json()["results"][1]
    assert refused["status"] == "rejected"
    assert refused["error"]["type"].endswith("/refund-exceeds-order")
    assert refused["error"]["refundable"] == "1000.00"
    # Refunds in one batch count against each other, in the order they occurred.
    r = await client.post(
        "/v1/events/batch",
        json={
            "events": [
                f.refund("c1", "o1", "400.00", days=4),
                f.refund("c1", "o1", "600.01", days=3),
                f.refund("c1", "o1", "600.00", days=2),
                f.refund("c1", "o1", "0.01", days=5),
            ]
        },
        headers=h,
    )
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["accepted", "rejected", "accepted", "rejected"]
    assert results[1]["error"]["refundable"] == "400.00"
    assert results[3]["error"]["refundable"] == "0.00"
    c = (await client.get("/v1/customers/c1", headers=h)).json()
    assert c["purchases"]["net_revenue"] == "0.00"
    assert c["purchases"]["refunded"] == "1000.00"
    one_more = await client.post("/v1/events", json=f.refund("c1", "o1", "0.01"), headers=h)
    assert one_more.status_code == 422 and one_more.json()["refundable"] == "0.00"
