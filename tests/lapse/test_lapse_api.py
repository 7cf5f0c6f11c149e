from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.auth.scopes import Scope
from app.core.outbox import OutboxMessage
from app.lapse import jobs
from tests import factories as f
from tests.conftest import KeyMaker
from tests.factories import NOW, at, send


async def _messages(app: Any, customer: str | None = None) -> list[tuple[str, str | None]]:
    async with app.state.db.sessionmaker() as s:
        stmt = select(OutboxMessage.type, OutboxMessage.customer_id).where(
            OutboxMessage.type.in_(
                ["customer.at_risk", "customer.lapsed", "customer.lost", "customer.reactivated"]
            )
        )
        if customer:
            stmt = stmt.where(OutboxMessage.customer_id == customer)
        return [(t, c) for t, c in await s.execute(stmt.order_by(OutboxMessage.id))]


@pytest.fixture
async def h(make_key: KeyMaker) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_key(Scope.EVENTS_WRITE, Scope.CUSTOMERS_READ)}"}


async def test_episode_messages_once_and_reactivation(
    client: httpx.AsyncClient,
    h: dict[str, str],
    app: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    coffee = [at(f.purchase("c1", category="coffee"), 30 - 1.4 * i) for i in range(10)]
    await send(client, h, *coffee)  # last purchase 17.4 days ago: long lapsed for a coffee drinker
    assert [t for t, _ in await _messages(app, "c1")] == [
        "customer.at_risk",
        "customer.lapsed",
        "customer.lost",
    ]
    c = (await client.get("/v1/customers/lapsed", headers=h)).json()["items"]
    assert [(x["customer_id"], x["status"]) for x in c] == [("c1", "lost")]
    # Replays and worker passes announce nothing new.
    await send(client, h, *coffee)
    assert await jobs.advance_due(app.state.db, settings) == 0
    assert len(await _messages(app, "c1")) == 3
    # A purchase brings the customer back: a new episode.
    await send(client, h, *[at(f.purchase("c1", category="coffee"), 0)])
    assert [t for t, _ in await _messages(app, "c1")][-1] == "customer.reactivated"
    assert (await client.get("/v1/customers/lapsed", headers=h)).json()["items"] == []
    # Silence again, as the worker sees it later: at_risk, then lapsed, each once.
    for days, expected in ((4, "customer.at_risk"), (7, "customer.lapsed")):
        later = NOW + timedelta(days=days)
        monkeypatch.setattr(jobs, "utcnow", lambda later=later: later)
        assert await jobs.advance_due(app.state.db, settings) == 1
        assert await jobs.advance_due(app.state.db, settings) == 0
        assert [t for t, _ in await _messages(app, "c1")][-1] == expected
    assert Counter(t for t, _ in await _messages(app, "c1")) == {
        "customer.at_risk": 2,
        "customer.lapsed": 2,
        "customer.lost": 1,
        "customer.reactivated": 1,
    }


async def test_two_workers_do_not_double_process(
    client: httpx.AsyncClient,
    h: dict[str, str],
    app: Any,
    settings: Any,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = [at(f.purchase(f"c{i}", category="coffee"), 0.5) for i in range(300)]
    await send(client, h, *events)
    assert await _messages(app) == []
    later = NOW + timedelta(days=5)
    monkeypatch.setattr(jobs, "utcnow", lambda: later)
    monkeypatch.setattr(jobs, "BATCH", 50)

    async def worker() -> int:
        total = 0
        while (n := await jobs.advance_due(app.state.db, settings)) > 0:
            total += n
        return total

    handled = await asyncio.gather(worker(), worker())
    assert sum(handled) == 300
    messages = await _messages(app)
    assert Counter(messages) == {("customer.at_risk", f"c{i}"): 1 for i in range(300)}
    if db_url.startswith("postgresql"):
        assert all(n > 0 for n in handled)  # both workers took a share


async def test_lapsed_list_sorting_filters_and_stable_pages(
    client: httpx.AsyncClient, h: dict[str, str]
) -> None:
    events = []
    for i in range(30):
        # Monthly buyers of different value, silent for 70 days: lapsed (3 × 30 days).
        cat = "coffee" if i % 2 else "books"
        for k in range(4):
            events.append(
                at(f.purchase(f"c{i:02d}", amount=f"{100 * (i + 1)}.00", category=cat), 70 + 30 * k)
            )
    await send(client, h, *events)
    first = (await client.get("/v1/customers/lapsed", params={"limit": 10}, headers=h)).json()
    values = [float(x["value_at_risk"]) for x in first["items"]]
    assert values == sorted(values, reverse=True) and len(values) == 10
    assert first["items"][0]["customer_id"] == "c29"
    row = first["items"][0]
    assert row["next_touch"] == "/v1/customers/c29/next-touch"
    assert row["usual_interval_days"] > 0 and row["days_silent"] > 69
    seen = [x["customer_id"] for x in first["items"]]
    cursor = first["next_cursor"]
    # Customers keep arriving and one lapsed customer comes back between pages.
    await send(
        client,
        h,
        at(f.purchase("newbie"), 0),
        at(f.purchase("c05", amount="600.00", category="coffee"), 0),
    )
    while cursor:
        page = (
            await client.get(
                "/v1/customers/lapsed", params={"limit": 10, "cursor": cursor}, headers=h
            )
        ).json()
        seen += [x["customer_id"] for x in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen))
    # c05 sorts on the third page (by value at risk), which is read after it came back.
    assert set(seen) == {f"c{i:02d}" for i in range(30)} - {"c05"}
    coffee = (
        await client.get(
            "/v1/customers/lapsed", params={"category": "coffee", "min_value": "2000"}, headers=h
        )
    ).json()
    assert coffee["items"] and all(
        x["main_category"] == "coffee" and float(x["value_at_risk"]) >= 2000
        for x in coffee["items"]
    )
    overdue = (
        await client.get("/v1/customers/lapsed", params={"sort": "overdue", "limit": 50}, headers=h)
    ).json()
    days = [x["overdue_days"] for x in overdue["items"]]
    assert days == sorted(days, reverse=True)
    bad = await client.get(
        "/v1/customers/lapsed",
        params={"cursor": first["next_cursor"], "sort": "overdue"},
        headers=h,
    )
    assert bad.status_code == 400
    future = (
        await client.get(
            "/v1/customers/lapsed",
            params={"as_of": (NOW + timedelta(days=1)).isoformat(), "status": "at_risk"},
            headers=h,
        )
    ).json()
    # Monthly book buyers (category rhythm 60 days) are only at risk after 71 silent days;
    # the coffee buyers are lapsed by then, and c05 has just come back.
    assert {x["customer_id"] for x in future["items"]} == {f"c{i:02d}" for i in range(0, 30, 2)}
    assert all(x["status"] == "at_risk" for x in future["items"])
