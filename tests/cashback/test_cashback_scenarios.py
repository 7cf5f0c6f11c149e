"""The ways cashback was played, replayed through the API: bonuses kept after a refund, pending
cashback spent at once; and the money boundaries of a redemption."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.auth.scopes import Scope
from app.cashback.rules import CashbackRules
from app.core.settings import Settings
from tests import factories as f
from tests.cashback.test_cashback_api import cashback, ledger_ok, redeem
from tests.conftest import KeyMaker
from tests.factories import at, send

INSUFFICIENT = "https://touchpoint.dev/problems/insufficient-balance"


@pytest.fixture
async def h(make_key: KeyMaker) -> dict[str, str]:
    key = await make_key(Scope.EVENTS_WRITE, Scope.CASHBACK_READ, Scope.CASHBACK_WRITE)
    return {"Authorization": f"Bearer {key}"}


def lots_of(cb: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [m for m in cb["history"] if m["kind"] == kind]


async def test_refunding_the_qualifying_order_takes_both_bonuses_back(
    client: httpx.AsyncClient, h: dict[str, str], app: Any
) -> None:
    """ref-B, referred by ref-A, buys for 3,000, redeems 250, then refunds the whole order."""
    await send(
        client,
        h,
        at(f.referral("ref-B", "ref-A"), 41),
        at(f.purchase("ref-B", order_id="B-1", amount="3000.00"), 40),
    )
    a, b = await cashback(client, h, "ref-A"), await cashback(client, h, "ref-B")
    assert a["balance"] == "500.00"  # the referral bonus, past its hold
    assert b["balance"] == "390.00"  # welcome 300 + 3 % of 3,000
    assert [m["order_id"] for m in lots_of(b, "welcome_bonus")] == ["B-1"]  # tied to its order
    assert [m["order_id"] for m in lots_of(a, "referral_bonus")] == ["B-1"]
    assert (await redeem(client, h, "ref-B", "250.00", "spend-250")).status_code == 201

    await send(client, h, at(f.refund("ref-B", "B-1", "3000.00"), 30))
    a, b = await cashback(client, h, "ref-A"), await cashback(client, h, "ref-B")
    assert (a["balance"], a["pending"], a["owed"]) == ("0.00", "0.00", "0.00")
    # ref-B held 140 after spending 250 of 390: all of it is taken, the 250 spent is owed.
    assert (b["balance"], b["pending"], b["owed"]) == ("0.00", "0.00", "250.00")
    for cb, kind in ((a, "referral_bonus"), (b, "welcome_bonus"), (b, "earn")):
        assert [m["remaining"] for m in lots_of(cb, kind)] == ["0.00"], (cb["customer_id"], kind)
    clawbacks = sorted(m["reason"] for m in lots_of(b, "clawback"))
    assert clawbacks == [
        "refund of order B-1: 50.00 of the welcome bonus taken back; 250.00 owed, repaid from "
        "later cashback",
        "refund of order B-1: 90.00 of its cashback taken back",
    ]
    assert await ledger_ok(app, "ref-A") == 0
    assert await ledger_ok(app, "ref-B") == 0

    # Later earnings repay what is owed before anything becomes spendable; a second purchase
    # brings no new bonus (the bonus belonged to the refunded order).
    await send(client, h, at(f.purchase("ref-B", order_id="B-2", amount="10000.00"), 20))
    b = await cashback(client, h, "ref-B")
    assert (b["balance"], b["owed"]) == ("50.00", "0.00")  # 300.00 earned, 250.00 repaid
    assert len(lots_of(b, "welcome_bonus")) == 1
    assert (await cashback(client, h, "ref-A"))["balance"] == "0.00"
    assert await ledger_ok(app, "ref-B") == 5000


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Bonuses need an order of at least 2,000.00 here (the default is any order)."""
    return Settings(
        database_url=db_url,
        env="test",
        webhook_allow_private=True,
        cashback=CashbackRules(bonus_min_order_minor=2000_00),
    )


async def test_a_partial_refund_below_the_qualifying_amount_takes_the_bonuses_back(
    client: httpx.AsyncClient, h: dict[str, str], app: Any
) -> None:
    await send(
        client,
        h,
        at(f.referral("small", "ref"), 50),
        at(f.purchase("small", order_id="S-1", amount="1999.99"), 49),  # below: no bonus
        at(f.referral("big", "ref"), 50),
        at(f.purchase("big", order_id="G-1", amount="3000.00"), 48),
    )
    assert lots_of(await cashback(client, h, "small"), "welcome_bonus") == []
    assert (await cashback(client, h, "ref"))["balance"] == "500.00"
    await send(client, h, at(f.refund("big", "G-1", "1000.00"), 40))  # 2,000.00 left: qualifies
    big = await cashback(client, h, "big")
    assert big["balance"] == "360.00"  # welcome 300 + 90 - a third of 90
    assert (await cashback(client, h, "ref"))["balance"] == "500.00"
    await send(client, h, at(f.refund("big", "G-1", "0.01"), 39))  # 1,999.99 left: it does not
    big = await cashback(client, h, "big")
    assert big["balance"] == "60.00"  # the welcome bonus is gone; a kopeck's share rounds to 0
    assert (await cashback(client, h, "ref"))["balance"] == "0.00"
    for customer in ("ref", "big", "small"):
        await ledger_ok(app, customer)


async def test_pending_cashback_cannot_be_spent_and_a_refund_inside_the_hold_removes_it(
    client: httpx.AsyncClient, h: dict[str, str], app: Any
) -> None:
    await send(client, h, at(f.purchase("p", order_id="old", amount="1000.00"), 40))  # 30.00
    await send(
        client,
        h,
        at(f.purchase("p", order_id="n1", amount="1000.00"), 2),  # a client: 4 % = 40.00
        at(f.purchase("p", order_id="n2", amount="1000.00"), 1.9),  # a regular: 5 % = 50.00
    )
    cb = await cashback(client, h, "p")
    assert (cb["balance"], cb["pending"]) == ("30.00", "90.00")
    refused = await redeem(client, h, "p", "81.00", "r-81")
    assert refused.status_code == 409 and refused.json()["type"] == INSUFFICIENT
    assert (refused.json()["balance"], refused.json()["pending"]) == ("30.00", "90.00")
    await send(
        client, h, at(f.refund("p", "n1", "1000.00"), 1), at(f.refund("p", "n2", "1000.00"), 1)
    )
    cb = await cashback(client, h, "p")
    assert (cb["balance"], cb["pending"], cb["owed"]) == ("30.00", "0.00", "0.00")
    assert sorted(m["reason"] for m in lots_of(cb, "clawback")) == [
        "refund of order n1: 40.00 of its cashback taken back",
        "refund of order n2: 50.00 of its cashback taken back",
    ]
    assert [m["remaining"] for m in lots_of(cb, "earn") if m["order_id"] == "old"] == ["30.00"]
    assert await ledger_ok(app, "p") == 3000


async def test_a_redemption_of_exactly_the_balance_passes_one_kopeck_more_is_409(
    client: httpx.AsyncClient, h: dict[str, str], app: Any
) -> None:
    await send(client, h, at(f.purchase("x", order_id="x1", amount="1234.56"), 30))  # 37.03
    over = await redeem(client, h, "x", "37.04", "over")
    assert over.status_code == 409, over.text
    assert over.headers["content-type"] == "application/problem+json"
    assert (over.json()["type"], over.json()["balance"]) == (INSUFFICIENT, "37.03")
    exact = await redeem(client, h, "x", "37.03", "exact")
    assert exact.status_code == 201, exact.text
    assert exact.json()["balance"] == "0.00"
    again = await redeem(client, h, "x", "0.01", "after")
    assert again.status_code == 409 and again.json()["type"] == INSUFFICIENT
    assert await ledger_ok(app, "x") == 0


async def test_any_id_the_schema_accepts_is_storable_in_the_ledger(
    client: httpx.AsyncClient, h: dict[str, str], app: Any
) -> None:
    order, refund_id = "o" * 200, "refund-" + "e" * 193  # the longest ids accepted
    await send(
        client,
        h,
        at(f.purchase("long", order_id=order, amount="1000.00"), 30),
        at(f.purchase("other", amount="1000.00"), 30),
    )
    r = await client.post(
        "/v1/events/batch",
        json={
            "events": [
                at(f.refund("long", order, "400.00", event_id=refund_id), 20),
                at(f.refund("long", order, "100.00", event_id="e" * 60), 19),
                at(f.purchase("other", amount="500.00"), 18),
            ]
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["summary"]["accepted"] == 3, r.text
    cb = await cashback(client, h, "long")
    assert cb["balance"] == "15.00"  # 30.00 earned, half refunded
    assert lots_of(cb, "clawback")[0]["order_id"] == order
    assert await ledger_ok(app, "long") == 1500
    await ledger_ok(app, "other")
