from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.auth.scopes import Scope
from app.cashback import jobs, tokens
from app.cashback.models import CashbackEntry
from app.core.outbox import OutboxMessage
from app.customers.models import Customer
from tests import factories as f
from tests.conftest import KeyMaker
from tests.factories import NOW, at, send


@pytest.fixture
async def h(make_key: KeyMaker) -> dict[str, str]:
    key = await make_key(Scope.EVENTS_WRITE, Scope.CASHBACK_READ, Scope.CASHBACK_WRITE)
    return {"Authorization": f"Bearer {key}"}


async def cashback(client: httpx.AsyncClient, h: dict[str, str], c: str) -> dict[str, Any]:
    r = await client.get(f"/v1/customers/{c}/cashback", headers=h)
    assert r.status_code == 200, r.text
    return r.json()


async def ledger_ok(app: Any, customer: str) -> int:
    """The ledger reconciles to the cached balance, and the lots hold exactly that."""
    async with app.state.db.sessionmaker() as s:
        c = await s.scalar(select(Customer).where(Customer.external_id == customer))
        assert c is not None
        total = await s.scalar(
            select(func.coalesce(func.sum(CashbackEntry.amount_minor), 0)).where(
                CashbackEntry.customer_id == c.id
            )
        )
        lots = await s.scalar(
            select(func.coalesce(func.sum(CashbackEntry.remaining_minor), 0)).where(
                CashbackEntry.customer_id == c.id
            )
        )
    assert total == lots == c.cashback_balance_minor >= 0
    return c.cashback_balance_minor


async def redeem(
    client: httpx.AsyncClient, h: dict[str, str], c: str, amount: str, key: str
) -> httpx.Response:
    return await client.post(
        f"/v1/customers/{c}/cashback/redemptions",
        json={"amount": amount},
        headers=h | {"Idempotency-Key": key},
    )


async def test_earn_by_stage_referral_and_welcome(
    client: httpx.AsyncClient, h: dict[str, str], app: Any
) -> None:
    await send(client, h, at(f.purchase("anna", order_id="a1", amount="1000.00"), 10))
    cb = await cashback(client, h, "anna")
    assert cb["balance"] == "30.00" and cb["earn_rate"] == 0.03  # a buyer earns 3 %
    assert cb["history"][0]["reason"].startswith("3% of order a1")
    await send(client, h, at(f.purchase("anna", order_id="a2", amount="1000.00"), 5))
    cb = await cashback(client, h, "anna")
    assert cb["balance"] == "70.00"  # the second purchase made her a client: 4 %
    await send(
        client,
        h,
        at(f.referral("boris", "anna"), 3),
        at(f.purchase("boris", order_id="b1", amount="200.00"), 2),
    )
    assert (await cashback(client, h, "anna"))["balance"] == "570.00"
    boris = await cashback(client, h, "boris")
    assert boris["balance"] == "306.00"  # welcome 300 + 3 % of 200
    kinds = sorted(m["kind"] for m in boris["history"])
    assert kinds == ["earn", "welcome_bonus"]
    await send(client, h, at(f.purchase("boris", order_id="b2", amount="200.00"), 1))
    assert (await cashback(client, h, "anna"))["balance"] == "570.00"  # only the first purchase
    assert await ledger_ok(app, "anna") == 57000
    assert await ledger_ok(app, "boris") == 30600 + 800
    async with app.state.db.sessionmaker() as s:
        earned = await s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.type == "cashback.earned")
        )
    assert earned == 4


async def test_refund_claws_back_proportionally_never_below_zero(
    client: httpx.AsyncClient, h: dict[str, str], app: Any
) -> None:
    await send(client, h, at(f.purchase("c1", order_id="o1", amount="1000.00"), 10))  # 30.00
    await send(client, h, at(f.refund("c1", "o1", "500.00"), 9))
    assert (await cashback(client, h, "c1"))["balance"] == "15.00"
    await send(
        client, h, at(f.refund("c1", "o1", "250.00"), 8), at(f.refund("c1", "o1", "250.00"), 7)
    )
    assert (await cashback(client, h, "c1"))["balance"] == "0.00"
    # Spent before the refund: the refund takes what is left, never more.
    await send(client, h, at(f.purchase("c1", order_id="o2", amount="1000.00"), 6))
    assert (await redeem(client, h, "c1", "25.00", "k1")).status_code == 201
    await send(client, h, at(f.refund("c1", "o2", "1000.00"), 5))
    cb = await cashback(client, h, "c1")
    assert cb["balance"] == "0.00"
    assert "had already been spent" in cb["history"][0]["reason"]
    assert await ledger_ok(app, "c1") == 0


async def test_redemptions_are_idempotent_and_bounded(
    client: httpx.AsyncClient, h: dict[str, str], app: Any
) -> None:
    await send(client, h, at(f.purchase("c1", order_id="o1", amount="10000.00"), 3))  # 300.00
    first = await redeem(client, h, "c1", "100.00", "r-1")
    assert first.status_code == 201 and first.json()["balance"] == "200.00"
    again = await redeem(client, h, "c1", "100.00", "r-1")
    assert again.status_code == 201 and again.json() == first.json()
    other = await redeem(client, h, "c1", "50.00", "r-1")
    assert other.status_code == 409 and other.json()["type"].endswith("/idempotency-conflict")
    too_much = await redeem(client, h, "c1", "250.00", "r-2")
    assert too_much.status_code == 409
    assert too_much.headers["content-type"] == "application/problem+json"
    assert too_much.json()["balance"] == "200.00"
    await send(client, h, at(f.purchase("c1", order_id="o2", amount="10000.00"), 1))
    replay = await redeem(client, h, "c1", "250.00", "r-2")
    assert replay.status_code == 409 and replay.json() == too_much.json()  # the first answer
    missing_key = await client.post(
        "/v1/customers/c1/cashback/redemptions", json={"amount": "1.00"}, headers=h
    )
    assert missing_key.status_code == 422
    assert (await redeem(client, h, "c1", "-1", "r-3")).status_code == 422
    assert (await redeem(client, h, "nobody", "1.00", "r-4")).status_code == 404
    assert await ledger_ok(app, "c1") == 60000  # 300 - 100 + 4 % of 10,000 as a client


async def test_fifty_parallel_redemptions_never_overspend(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, db_url: str
) -> None:
    await send(client, h, at(f.purchase("c1", order_id="o1", amount="10000.00"), 3))  # 300.00
    replies = await asyncio.gather(*(redeem(client, h, "c1", "17.00", f"p-{i}") for i in range(50)))
    codes = [r.status_code for r in replies]
    assert set(codes) <= {201, 409}, codes
    succeeded = codes.count(201)
    assert succeeded == 300 // 17  # 17 redemptions fit in 300.00, the rest are refused
    assert await ledger_ok(app, "c1") == 30000 - succeeded * 1700


async def test_customer_tokens(
    client: httpx.AsyncClient, h: dict[str, str], make_key: KeyMaker, settings: Any
) -> None:
    await send(
        client,
        h,
        at(f.purchase("c1", amount="1000.00"), 3),
        at(f.purchase("c2", amount="1000.00"), 3),
    )
    r = await client.post("/v1/customers/c1/tokens", headers=h)
    assert r.status_code == 201
    token = r.json()["token"]
    mine = {"Authorization": f"Bearer {token}"}
    me = await client.get("/v1/me", headers=mine)
    assert me.status_code == 200 and me.json()["customer_id"] == "c1"
    assert (await client.get("/v1/me/cashback", headers=mine)).json()["balance"] == "30.00"
    for method, path in (
        ("GET", "/v1/customers/c2"),
        ("GET", "/v1/customers/c2/cashback"),
        ("GET", "/v1/customers/c1/cashback"),
        ("GET", "/v1/customers"),
        ("POST", "/v1/customers/c1/tokens"),
    ):
        assert (await client.request(method, path, headers=mine)).status_code == 403, path
    assert (
        await client.get("/v1/me", headers=h)
    ).status_code == 403  # a backend key is no customer
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (
        await client.get("/v1/me", headers={"Authorization": f"Bearer {forged}"})
    ).status_code == 401
    other_secret = tokens.issue(
        tokens.hs256_keys("another-secret-" + "x" * 32),
        "c2",
        600,
        NOW,
        settings.customer_token_audience,
    ).token
    assert (
        await client.get("/v1/me", headers={"Authorization": f"Bearer {other_secret}"})
    ).status_code == 401


async def test_expiry_oldest_first_and_announced_once(
    client: httpx.AsyncClient,
    h: dict[str, str],
    app: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await send(client, h, at(f.purchase("c1", order_id="old", amount="1000.00"), 350))  # 3 %
    await send(client, h, at(f.purchase("c1", order_id="new", amount="1000.00"), 10))  # 4 %
    cb = await cashback(client, h, "c1")
    assert cb["expiring_soon"] == "30.00"  # the old lot expires within 30 days
    assert (await redeem(client, h, "c1", "10.00", "x")).status_code == 201  # from the old lot
    assert await jobs.announce(app.state.db, settings) == 1
    assert await jobs.announce(app.state.db, settings) == 0
    later = NOW + timedelta(days=20)
    monkeypatch.setattr(jobs, "utcnow", lambda: later)
    assert await jobs.expire(app.state.db, settings) == 1
    cb = await cashback(client, h, "c1")
    assert cb["balance"] == "40.00"  # 20.00 of the old lot expired; the new lot is intact
    assert cb["history"][0]["kind"] == "expire" and cb["history"][0]["amount"] == "-20.00"
    assert await ledger_ok(app, "c1") == 4000
