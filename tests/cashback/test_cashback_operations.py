"""What a shop and a mobile app do with the ledger: adjustments (and a win-back offer's grant),
redemptions tied to an order and reversed, redemptions with the customer's own token."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.auth.scopes import Scope
from app.cashback.rules import CashbackRules
from app.core.db import utcnow
from app.core.outbox import OutboxMessage
from app.core.settings import Settings
from tests import factories as f
from tests.cashback.test_cashback_api import cashback, ledger_ok, redeem
from tests.conftest import KeyMaker
from tests.factories import NOW, at, send

PROBLEMS = "https://touchpoint.dev/problems/"


@pytest.fixture
def settings(db_url: str) -> Settings:
    """The app's limits made small enough to reach: 50.00 a redemption, 80.00 a day."""
    return Settings(
        database_url=db_url,
        env="test",
        webhook_allow_private=True,
        cashback=CashbackRules(me_max_redemption_minor=50_00, me_max_daily_minor=80_00),
    )


@pytest.fixture
async def h(make_key: KeyMaker) -> dict[str, str]:
    key = await make_key(
        Scope.EVENTS_WRITE, Scope.CASHBACK_READ, Scope.CASHBACK_WRITE, Scope.TOUCHES_READ
    )
    return {"Authorization": f"Bearer {key}"}


async def adjust(
    client: httpx.AsyncClient, h: dict[str, str], c: str, key: str | None, **body: Any
) -> httpx.Response:
    headers = h | ({"Idempotency-Key": key} if key else {})
    return await client.post(f"/v1/customers/{c}/cashback/adjustments", json=body, headers=headers)


async def messages(app: Any, type_: str) -> list[dict[str, Any]]:
    async with app.state.db.sessionmaker() as s:
        rows = await s.scalars(
            select(OutboxMessage).where(OutboxMessage.type == type_).order_by(OutboxMessage.id)
        )
        return [m.payload for m in rows]


async def test_adjustments_credit_at_once_debit_never_below_zero_and_are_idempotent(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, make_key: KeyMaker
) -> None:
    await send(client, h, at(f.purchase("c1", amount="1000.00"), 1))  # 30.00, pending
    first = await adjust(client, h, "c1", "a-1", amount="100.00", reason="goodwill")
    assert first.status_code == 201, first.text
    assert (first.json()["balance"], first.json()["pending"]) == ("100.00", "30.00")
    again = await adjust(client, h, "c1", "a-1", amount="100.00", reason="goodwill")
    assert again.status_code == 201 and again.json() == first.json()
    other = await adjust(client, h, "c1", "a-1", amount="100.00", reason="something else")
    assert other.status_code == 409 and other.json()["type"] == PROBLEMS + "idempotency-conflict"
    assert (await adjust(client, h, "c1", None, amount="1.00", reason="x")).status_code == 422
    assert (await adjust(client, h, "c1", "z", amount="0", reason="x")).status_code == 422
    assert (await adjust(client, h, "c1", "z", amount="1.00", reason="")).status_code == 422
    past = (NOW - timedelta(days=1)).isoformat()
    r = await adjust(client, h, "c1", "past", amount="1.00", reason="x", expires_at=past)
    assert r.status_code == 422 and r.json()["type"] == PROBLEMS + "expiry-in-past"
    events_only = {"Authorization": f"Bearer {await make_key(Scope.EVENTS_WRITE)}"}
    assert (await adjust(client, events_only, "c1", "k", amount="1", reason="x")).status_code == 403
    assert (await adjust(client, h, "nobody", "k", amount="1", reason="x")).status_code == 404

    # A debit takes pending cashback too, but never more than there is: 130.00 in all.
    over = await adjust(client, h, "c1", "d-1", amount="-130.01", reason="correction")
    assert over.status_code == 409 and over.json()["type"] == PROBLEMS + "insufficient-balance"
    exact = await adjust(client, h, "c1", "d-2", amount="-130.00", reason="correction")
    assert exact.status_code == 201 and exact.json()["balance"] == "0.00"
    assert exact.json()["pending"] == "0.00"
    cb = await cashback(client, h, "c1")
    assert [m["reason"] for m in cb["history"][:2]] == ["correction", "goodwill"]
    assert await ledger_ok(app, "c1") == 0
    adjusted = await messages(app, "cashback.adjusted")
    assert [m["amount"] for m in adjusted] == ["100.00", "-130.00"]


async def test_a_win_back_offer_is_granted_against_its_touch(
    client: httpx.AsyncClient, h: dict[str, str], app: Any
) -> None:
    monthly = [at(f.purchase("r1", amount="1000.00"), 200 - 30 * i) for i in range(5)]
    await send(client, h, at(f.profile("r1", email="r1@example.com"), 300), *monthly)
    await send(client, h, at(f.purchase("r2", amount="100.00"), 30))
    touch = (await client.get("/v1/customers/r1/next-touch", headers=h)).json()["touch"]
    assert touch["playbook"] == "win_back" and touch["offer"]
    elsewhere = (await client.get("/v1/customers/r2/next-touch", headers=h)).json()["touch"]
    wrong = await adjust(
        client, h, "r1", "g-0", amount="10.00", reason="win-back", touch_id=elsewhere["touch_id"]
    )
    assert wrong.status_code == 422 and wrong.json()["type"] == PROBLEMS + "unknown-touch"
    expires = (NOW + timedelta(days=30)).isoformat()
    r = await adjust(
        client,
        h,
        "r1",
        "g-1",
        amount="100.00",
        reason=touch["offer"],
        touch_id=touch["touch_id"],
        expires_at=expires,
    )
    assert r.status_code == 201, r.text
    assert r.json()["touch_id"] == touch["touch_id"]
    grant = (await cashback(client, h, "r1"))["history"][0]
    assert grant["kind"] == "offer_grant" and grant["remaining"] == "100.00"
    assert grant["reason"] == f"{touch['offer']} (touch {touch['touch_id']})"
    assert grant["expires_at"].startswith(expires[:19])
    await ledger_ok(app, "r1")


async def test_a_redemption_names_its_order_and_is_reversed_once(
    client: httpx.AsyncClient, h: dict[str, str], app: Any
) -> None:
    await send(client, h, at(f.purchase("c1", amount="1000.00"), 30))  # 30.00
    r = await client.post(
        "/v1/customers/c1/cashback/redemptions",
        json={"amount": "20.00", "order_id": "till-7"},
        headers=h | {"Idempotency-Key": "red-1"},
    )
    assert r.status_code == 201 and r.json()["order_id"] == "till-7"
    rid = r.json()["redemption_id"]
    other = await client.post(
        "/v1/customers/c1/cashback/redemptions",
        json={"amount": "20.00", "order_id": "till-8"},
        headers=h | {"Idempotency-Key": "red-1"},
    )
    assert other.status_code == 409  # the same key for another order
    first = await client.post(f"/v1/cashback/redemptions/{rid}/reversal", headers=h)
    assert first.status_code == 200, first.text
    assert (first.json()["amount"], first.json()["balance"]) == ("20.00", "30.00")
    assert first.json()["order_id"] == "till-7"
    again = await client.post(f"/v1/cashback/redemptions/{rid}/reversal", headers=h)
    assert again.status_code == 200 and again.json() == first.json()
    assert (await cashback(client, h, "c1"))["balance"] == "30.00"
    back = (await cashback(client, h, "c1"))["history"][0]
    earned = [m for m in (await cashback(client, h, "c1"))["history"] if m["kind"] == "earn"]
    assert back["kind"] == "reversal" and back["expires_at"] == earned[0]["expires_at"]
    assert len(await messages(app, "cashback.reversed")) == 1
    assert (
        await client.post("/v1/cashback/redemptions/999999/reversal", headers=h)
    ).status_code == 404
    refused = await redeem(client, h, "c1", "999.00", "too-much")
    assert refused.status_code == 409
    assert await ledger_ok(app, "c1") == 3000


async def test_a_reversal_after_the_lot_expired_comes_back_as_a_fresh_lot(
    client: httpx.AsyncClient, h: dict[str, str], app: Any
) -> None:
    await send(client, h, at(f.purchase("c1", amount="1000.00"), 360))  # expires in 5 days
    r = await redeem(client, h, "c1", "10.00", "r")
    assert r.status_code == 201
    later = utcnow() + timedelta(days=6)
    app.state.clock = lambda: later
    assert (await cashback(client, h, "c1"))["balance"] == "0.00"  # the lot has expired
    back = await client.post(
        f"/v1/cashback/redemptions/{r.json()['redemption_id']}/reversal", headers=h
    )
    assert back.status_code == 200 and back.json()["balance"] == "10.00"
    lot = (await cashback(client, h, "c1"))["history"][0]
    assert (
        lot["kind"] == "reversal"
        and lot["expires_at"][:10] == (later + timedelta(days=30)).date().isoformat()
    )
    await ledger_ok(app, "c1")


async def test_the_mobile_app_redeems_with_its_own_token_within_its_limits(
    client: httpx.AsyncClient, h: dict[str, str], app: Any
) -> None:
    await send(client, h, at(f.purchase("c1", amount="10000.00"), 30))  # 300.00
    await send(client, h, at(f.purchase("c2", amount="10000.00"), 30))

    async def token_for(customer: str) -> dict[str, str]:
        r = await client.post(f"/v1/customers/{customer}/tokens", headers=h)
        return {"Authorization": f"Bearer {r.json()['token']}"}

    mine = await token_for("c1")
    # A second device's token (another lifetime, so not the same token within one second).
    app.state.settings.customer_token_ttl_seconds = 1800
    second_device = await token_for("c1")
    assert second_device != mine

    async def spend(headers: dict[str, str], amount: str, key: str | None) -> httpx.Response:
        extra = {"Idempotency-Key": key} if key else {}
        return await client.post(
            "/v1/me/cashback/redemptions", json={"amount": amount}, headers=headers | extra
        )

    ok = await spend(mine, "40.00", "m-1")
    assert ok.status_code == 201, ok.text
    assert set(ok.json()) == {
        "redemption_id",
        "customer_id",
        "amount",
        "balance",
        "order_id",
        "created_at",
    }
    assert (ok.json()["customer_id"], ok.json()["balance"]) == ("c1", "260.00")
    assert (await spend(mine, "40.00", "m-1")).json() == ok.json()  # a retry: the first answer
    assert (await spend(mine, "1.00", None)).status_code == 422
    too_big = await spend(mine, "50.01", "m-2")
    assert too_big.status_code == 409 and too_big.json()["type"] == PROBLEMS + "redemption-limit"
    assert (await spend(mine, "40.00", "m-3")).status_code == 201  # 80.00 today: the limit
    day_over = await spend(mine, "0.01", "m-4")
    assert day_over.status_code == 409 and day_over.json()["left"] == "0.00"
    assert (await spend(second_device, "50.00", "m-5")).status_code == 201  # its own allowance
    assert (await spend(h, "1.00", "m-6")).status_code == 403  # a backend key is no customer
    assert (await cashback(client, h, "c2"))["balance"] == "300.00"  # only the token's customer
    assert (await cashback(client, h, "c1"))["balance"] == "170.00"
    assert (await client.get("/v1/me", headers=mine)).json()["cashback_balance"] == "170.00"
    # A reversed redemption no longer counts against the token's day.
    rid = ok.json()["redemption_id"]
    assert (
        await client.post(f"/v1/cashback/redemptions/{rid}/reversal", headers=h)
    ).status_code == 200
    assert (await spend(mine, "40.00", "m-7")).status_code == 201
    assert await ledger_ok(app, "c1") == 30000 - 4000 - 5000 - 4000
