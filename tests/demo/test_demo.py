from __future__ import annotations

from typing import Any

import httpx

from app.auth.scopes import Scope
from app.core.db import utcnow
from app.demo.generator import events
from app.demo.service import fill
from tests.conftest import KeyMaker


def test_the_demo_shop_is_seeded_and_varied() -> None:
    now = utcnow()
    a, b = events(now, 200, seed=3), events(now, 200, seed=3)
    assert a == b  # fixed seed
    kinds = {e["type"] for e in a}
    assert kinds == {"profile", "contact", "lead", "purchase", "refund", "review", "referral"}
    categories = {e.get("category") for e in a if e["type"] == "purchase"}
    assert {"coffee", "furniture"} <= categories
    assert all(e["occurred_at"] <= now.isoformat() for e in a)


async def test_every_endpoint_answers_on_the_demo(
    client: httpx.AsyncClient, make_key: KeyMaker, app: Any, settings: Any
) -> None:
    counts = await fill(app.state.db, settings, 150, 5)
    assert counts["accepted"] > 1000 and counts["rejected"] == 0
    h = {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}
    pyramid = (await client.get("/v1/analytics/pyramid", headers=h)).json()
    assert pyramid["customers"] == 150
    assert sum(1 for lv in pyramid["levels"] if lv["customers"]) >= 5
    lapsed = (await client.get("/v1/customers/lapsed", headers=h)).json()
    assert lapsed["items"]
    model = (await client.get("/v1/models/current", headers=h)).json()
    assert model["kind"] in ("bgnbd+gg", "heuristic") and model["n_customers"] > 50
    customer = lapsed["items"][0]["customer_id"]
    for path in ("", "/stage", "/ltv", "/next-touch", "/cashback"):
        r = await client.get(f"/v1/customers/{customer}{path}", headers=h)
        assert r.status_code == 200, (path, r.text)
