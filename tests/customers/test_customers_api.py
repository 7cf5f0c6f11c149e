from __future__ import annotations

import httpx

from app.auth.scopes import Scope
from tests import factories as f
from tests.conftest import KeyMaker


async def test_list_customers_keyset_pagination(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    h = {"Authorization": f"Bearer {await make_key(Scope.EVENTS_WRITE, Scope.CUSTOMERS_READ)}"}
    events = [f.contact(f"cust-{i:02d}") for i in range(23)]
    await client.post("/v1/events/batch", json={"events": events}, headers=h)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 10}
        if cursor:
            params["cursor"] = cursor
        r = await client.get("/v1/customers", params=params, headers=h)
        assert r.status_code == 200
        seen += [c["customer_id"] for c in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        pages += 1
        if cursor is None:
            break
        # A customer arriving between pages does not disturb the walk.
        await client.post("/v1/events", json=f.contact(f"late-{pages}"), headers=h)
    assert pages == 3
    assert sorted(s for s in seen if s.startswith("cust-")) == sorted(
        e["customer_id"] for e in events
    )
    assert len(seen) == len(set(seen))
    bad = await client.get("/v1/customers", params={"cursor": "garbage!"}, headers=h)
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"
    too_big = await client.get("/v1/customers", params={"limit": 100000}, headers=h)
    assert too_big.status_code == 422


async def test_aggregates_and_intervals(client: httpx.AsyncClient, make_key: KeyMaker) -> None:
    h = {"Authorization": f"Bearer {await make_key(Scope.EVENTS_WRITE, Scope.CUSTOMERS_READ)}"}
    events = [
        f.purchase("c1", days=d, amount=a, order_id=f"o{d}")
        for d, a in ((0, "1000.00"), (30, "2000.00"), (61, "3000.00"), (91, "1000.00"))
    ]
    await client.post("/v1/events/batch", json={"events": events[::-1]}, headers=h)
    p = (await client.get("/v1/customers/c1", headers=h)).json()["purchases"]
    assert p["purchase_count"] == 4
    assert p["net_revenue"] == "7000.00"
    assert p["average_check"] == "1750.00"
    assert p["interval_count"] == 3
    assert p["interval_median_days"] == 30.0
    assert abs(p["interval_mean_days"] - 91 / 3) < 1e-9
    assert p["first_purchase_at"].startswith("2026-01-05")
    missing = await client.get("/v1/customers/nobody", headers=h)
    assert missing.status_code == 404
