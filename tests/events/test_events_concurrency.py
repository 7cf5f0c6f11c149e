"""Concurrent batches over the same customers: every one applied once, none deadlocked."""

from __future__ import annotations

import asyncio
import random

import httpx

from app.auth.scopes import Scope
from tests import factories as f
from tests.conftest import Derive, KeyMaker


async def test_concurrent_batches_sharing_new_and_known_customers(
    client: httpx.AsyncClient, make_key: KeyMaker, derive: Derive
) -> None:
    h = {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}
    rnd = random.Random(5)
    expected: dict[str, int] = {}
    for round_ in range(4):
        # Each round brings new customers and comes back to earlier ones, in every batch.
        batches = []
        for _b in range(6):
            batch = []
            for _i in range(100):
                customer = f"c{rnd.randrange(100 * (round_ + 1))}"
                batch.append(f.purchase(customer, days=rnd.random() * 100, amount="10.00"))
                expected[customer] = expected.get(customer, 0) + 1
            batches.append(batch)
        # The projection runs meanwhile, as a worker would.
        *answers, _ = await asyncio.gather(
            *(client.post("/v1/events/batch", json={"events": b}, headers=h) for b in batches),
            derive(),
        )
        for r in answers:
            assert r.status_code == 200, r.text
            assert r.json()["summary"] == {"accepted": 100, "duplicate": 0, "rejected": 0}
    await derive()
    listed: dict[str, dict[str, str | int]] = {}
    cursor = None
    while True:
        params = {"limit": "200"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/customers", params=params, headers=h)).json()
        listed |= {c["customer_id"]: c["purchases"] for c in page["items"]}
        if not (cursor := page["next_cursor"]):
            break
    assert set(listed) == set(expected)
    for customer, count in expected.items():
        assert listed[customer]["purchase_count"] == count, customer
        assert listed[customer]["net_revenue"] == f"{10 * count}.00"
