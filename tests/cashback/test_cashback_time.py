"""Cashback against the clock: expiry exactly on time without the worker, `cashback.expiring`
once per customer and date at a real receiver, back-filled history equal to an in-time delivery,
and a ledger that does not depend on how events are batched."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.auth.scopes import Scope
from app.cashback import expiry
from app.cashback.models import CashbackEntry
from app.core.db import utcnow
from app.webhooks import delivery
from tests import factories as f
from tests.cashback.test_cashback_api import cashback, ledger_ok, redeem
from tests.conftest import KeyMaker
from tests.factories import at, send
from tests.webhooks.servers import Receiver

SECOND = timedelta(seconds=1)


@pytest.fixture
async def h(make_key: KeyMaker) -> dict[str, str]:
    key = await make_key(
        Scope.EVENTS_WRITE, Scope.CASHBACK_READ, Scope.CASHBACK_WRITE, Scope.WEBHOOKS_MANAGE
    )
    return {"Authorization": f"Bearer {key}"}


def when(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


async def test_a_lot_is_not_spendable_one_second_after_its_expiry_with_the_worker_stopped(
    client: httpx.AsyncClient, h: dict[str, str], app: Any
) -> None:
    await send(client, h, at(f.purchase("c1", order_id="o1", amount="1000.00"), 300))
    lot = (await cashback(client, h, "c1"))["history"][0]
    expires = when(lot["expires_at"])
    app.state.clock = lambda: expires - SECOND
    cb = await cashback(client, h, "c1")
    assert (cb["balance"], cb["expiring_soon"]) == ("30.00", "30.00")
    app.state.clock = lambda: expires + SECOND
    cb = await cashback(client, h, "c1")
    assert (cb["balance"], cb["pending"], cb["next_expiry_at"]) == ("0.00", "0.00", None)
    refused = await redeem(client, h, "c1", "0.01", "late")
    assert refused.status_code == 409 and refused.json()["balance"] == "0.00"
    async with app.state.db.sessionmaker() as s:
        swept = await s.scalar(
            select(func.count()).select_from(CashbackEntry).where(CashbackEntry.kind == "expire")
        )
    assert swept == 0  # the worker never ran: the balance alone knew
    app.state.clock = lambda: expires - SECOND  # a second before, all of it still spends
    assert (await redeem(client, h, "c1", "30.00", "in-time")).status_code == 201
    assert await ledger_ok(app, "c1") == 0


async def test_expiring_notices_reach_a_receiver_once_per_customer_and_date_never_past(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any
) -> None:
    receiver = Receiver()
    receiver.start()
    try:
        r = await client.post(
            "/v1/webhooks/endpoints",
            json={"url": receiver.url, "event_types": ["cashback.expiring"]},
            headers=h,
        )
        assert r.status_code == 201, r.text
        day = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
        # n1: two lots expiring the same day; n2 and n3: one lot each, on other days.
        await send(
            client,
            h,
            f.purchase("n1", amount="1000.00")
            | {"occurred_at": (day - timedelta(days=280, hours=-10)).isoformat()},
            f.purchase("n1", amount="1000.00")
            | {"occurred_at": (day - timedelta(days=280, hours=-14)).isoformat()},
            f.purchase("n2", amount="2000.00")
            | {"occurred_at": (day - timedelta(days=310, hours=-12)).isoformat()},
            f.purchase("n3", amount="500.00")
            | {"occurred_at": (day - timedelta(days=330, hours=-12)).isoformat()},
        )
        first, second = day + timedelta(days=45), day + timedelta(days=60)
        sent: dict[str, datetime] = {}

        async def announce(now: datetime) -> int:
            async with app.state.db.sessionmaker() as s, s.begin():
                n = await expiry.announce_expiring(s, settings, now)
            await delivery.fan_out(app.state.db, settings)
            await delivery.deliver_due(app.state.db, settings)
            for _, body in receiver.requests:
                sent.setdefault(json.loads(body)["data"]["customer_id"], now)
            return n

        # At `first` n2's lot (day+55) is within 30 days; n3's (day+35) is already past; n1's
        # (day+85) is too far.
        assert await announce(first) == 1
        assert await announce(first) == 0  # once
        assert await announce(second) == 1  # n1 now; n2's date has passed: not again
        assert await announce(second + timedelta(days=40)) == 0  # everything is past
        payloads = [json.loads(body)["data"] for _, body in receiver.requests]
        assert sorted((p["customer_id"], p["amount"], p["expires_on"]) for p in payloads) == [
            ("n1", "70.00", (day + timedelta(days=85)).date().isoformat()),  # 30.00 + 40.00
            ("n2", "60.00", (day + timedelta(days=55)).date().isoformat()),
        ]
        for p in payloads:
            assert when(p["expires_at"]) > sent[p["customer_id"]]  # never for a past date
        assert len({(p["customer_id"], p["expires_on"]) for p in payloads}) == len(payloads)
    finally:
        receiver.stop()


def two_years(prefix: str, now: datetime, seed: int = 18) -> list[dict[str, Any]]:
    """A referral and two years of purchases and refunds of three customers, oldest first."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for n in range(3):
        cid = f"{prefix}-{n}"
        t = now - timedelta(days=730 - 20 * n)
        if n == 1:
            out.append(f.referral(cid, f"{prefix}-0") | {"occurred_at": t.isoformat()})
        k = 0
        while t < now - timedelta(days=1):
            t += timedelta(hours=1)
            order = f"{cid}-o{k}"
            amount = rng.randrange(100_00, 5000_00)
            out.append(
                f.purchase(cid, order_id=order, amount=f"{amount / 100:.2f}", event_id=f"{order}-p")
                | {"occurred_at": t.isoformat()}
            )
            if rng.random() < 0.35:
                refunded_at = t + timedelta(days=rng.choice([1, 10, 20, 200, 400]))
                if refunded_at < now:
                    part = amount if rng.random() < 0.5 else amount // 3
                    out.append(
                        f.refund(cid, order, f"{part / 100:.2f}", event_id=f"{order}-r")
                        | {"occurred_at": refunded_at.isoformat()}
                    )
            t += timedelta(days=rng.randrange(20, 140))
            k += 1
    out.sort(key=lambda e: e["occurred_at"])
    return out


async def test_a_two_year_backfill_leaves_the_balances_of_an_in_time_delivery(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In time: each event is posted when it happens (ingestion's clock set to its instant,
    the only way to replay time through it), the expiry worker having run up to then.
    Back-filled: the same history posted today in one batch."""
    now = utcnow()
    in_time, backfill = two_years("live", now), two_years("late", now)
    assert len(in_time) > 20 and any(e["type"] == "refund" for e in in_time)
    for event in in_time:
        instant = when(event["occurred_at"])
        # Ingestion and the projection read the real clock: both are set to the instant.
        monkeypatch.setattr("app.events.service.utcnow", lambda instant=instant: instant)
        monkeypatch.setattr("app.projection.pipeline.utcnow", lambda instant=instant: instant)
        async with app.state.db.sessionmaker() as s, s.begin():
            await expiry.expire_lots(s, instant)
        await send(client, h, event)
    monkeypatch.undo()
    await send(client, h, *backfill)
    async with app.state.db.sessionmaker() as s, s.begin():
        await expiry.expire_lots(s, utcnow())
    expired_at_once = 0
    for n in range(3):
        live, late = await cashback(client, h, f"live-{n}"), await cashback(client, h, f"late-{n}")
        fields = ("balance", "pending", "owed", "expiring_soon", "next_expiry_at")
        assert [live[k] for k in fields] == [late[k] for k in fields], n
        assert await ledger_ok(app, f"live-{n}") == await ledger_ok(app, f"late-{n}")
        expired_at_once += sum(1 for m in late["history"] if m["kind"] == "expire")
    assert expired_at_once > 0  # the history reached past the expiry period
    assert float(late["balance"]) > 0


def ladder(prefix: str) -> list[dict[str, Any]]:
    """Purchases that climb the ladder, a referral, a refunded qualifying order, a partial
    refund: every rule of the cashback step, in time order."""
    a, b = f"{prefix}-a", f"{prefix}-b"
    return [
        at(f.purchase(a, order_id=f"{a}-1", amount="1000.00"), 100),
        at(f.referral(b, a), 95),
        at(f.purchase(a, order_id=f"{a}-2", amount="1000.00"), 90),
        at(f.purchase(b, order_id=f"{b}-1", amount="3000.00"), 85),
        at(f.purchase(a, order_id=f"{a}-3", amount="1000.00"), 80),
        at(f.refund(b, f"{b}-1", "3000.00"), 75),
        at(f.purchase(b, order_id=f"{b}-2", amount="700.00"), 70),
        at(f.purchase(a, order_id=f"{a}-4", amount="1000.00"), 70),
        at(f.refund(a, f"{a}-2", "400.00"), 60),
        at(f.purchase(a, order_id=f"{a}-5", amount="1000.00"), 3),
    ]


async def test_the_ledger_does_not_depend_on_how_events_are_batched(
    client: httpx.AsyncClient, h: dict[str, str], app: Any
) -> None:
    for event in ladder("one"):
        await send(client, h, event)
    await send(client, h, *ladder("all"))
    for who in ("a", "b"):
        one, every = (
            await cashback(client, h, f"one-{who}"),
            await cashback(client, h, f"all-{who}"),
        )

        def moves(cb: dict[str, Any], prefix: str) -> list[tuple[str, str, str | None]]:
            return sorted(
                (m["kind"], m["amount"], (m["order_id"] or "").replace(prefix, ""))
                for m in cb["history"]
            )

        assert moves(one, "one") == moves(every, "all"), who
        for k in ("balance", "pending", "owed"):
            assert one[k] == every[k]
    rates = {
        m["order_id"]: m["reason"].split(" of order")[0]
        for m in (await cashback(client, h, "all-a"))["history"]
        if m["kind"] == "earn"
    }
    # The stage at each purchase's own time, however late it was folded: buyer, client,
    # regular (three in a steady rhythm), regular, and a client again after 67 silent days.
    assert rates == {
        "all-a-1": "3%",
        "all-a-2": "4%",
        "all-a-3": "5%",
        "all-a-4": "5%",
        "all-a-5": "4%",
    }
