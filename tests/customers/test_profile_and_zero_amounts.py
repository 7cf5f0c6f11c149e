"""Profile name and postal address; zero-amount purchases count, negative ones are refused."""

from __future__ import annotations

import httpx
import pytest

from app.auth.scopes import Scope
from tests import factories as f
from tests.conftest import KeyMaker
from tests.factories import send


@pytest.fixture
async def h(make_key: KeyMaker) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}


async def test_profile_carries_name_and_postal_address(
    client: httpx.AsyncClient, h: dict[str, str]
) -> None:
    address = {
        "text": "125009, Москва, ул. Тверская, д. 7, кв. 12",
        "postal_code": "125009",
        "city": "Москва",
        "street": "ул. Тверская",
        "building": "7",
        "apartment": "12",
    }
    await send(client, h, f.profile("p1", name="Ирина Петрова", postal_address=address))
    profile = (await client.get("/v1/customers/p1", headers=h)).json()["profile"]
    assert profile["name"] == "Ирина Петрова"
    assert {k: v for k, v in profile["postal_address"].items() if v is not None} == address
    # Free text alone is an address too; an empty one is refused.
    await send(client, h, f.profile("p1", days=1, postal_address={"text": "а/я 15, Тула"}))
    got = (await client.get("/v1/customers/p1", headers=h)).json()["profile"]
    assert got["postal_address"]["text"] == "а/я 15, Тула" and got["name"] == "Ирина Петрова"
    r = await client.post("/v1/events", json=f.profile("p1", postal_address={}), headers=h)
    assert r.status_code == 422


async def test_zero_amount_purchases_count_and_negative_ones_are_refused(
    client: httpx.AsyncClient, h: dict[str, str]
) -> None:
    await send(
        client,
        h,
        f.purchase("gift", days=0, amount="1000.00"),
        f.purchase("gift", days=3, amount="0.00"),
        f.purchase("gift", days=6, amount="0"),
    )
    stats = (await client.get("/v1/customers/gift", headers=h)).json()["purchases"]
    assert stats["purchase_count"] == 3 and stats["net_revenue"] == "1000.00"
    stage = (await client.get("/v1/customers/gift/stage", headers=h)).json()
    assert stage["stage"] == "regular" or stage["stage"] == "client"
    assert stage["reasons"][0].startswith("3 purchases")
    r = await client.post("/v1/events", json=f.purchase("gift", amount="-1.00"), headers=h)
    assert r.status_code == 422
    assert "negative" in r.text
