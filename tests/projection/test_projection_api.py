"""The projection seen from outside: facts at acknowledgement, every per-customer answer
current at once, lists within the projection lag, no deadlock between parallel batches."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from app.auth.scopes import Scope
from app.customers.models import Customer
from app.projection import service as projection
from app.projection.pipeline import drain
from app.wiring import worker_jobs
from app.worker.runner import Worker
from tests import factories as f
from tests.conftest import Derive, KeyMaker


async def _admin(make_key: KeyMaker) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}


async def test_a_purchase_is_visible_at_once_without_waiting(
    client: httpx.AsyncClient, make_key: KeyMaker, app: Any
) -> None:
    h = await _admin(make_key)
    body = f.at(f.purchase("ann", amount="1000.00", order_id="o-ann"), 1)
    r = await client.post("/v1/events", json=body, headers=h)
    assert r.status_code == 201, r.text
    async with app.state.db.sessionmaker() as s:
        assert (await projection.backlog(s)).pending == 1  # acknowledged, not derived yet

    cashback = (await client.get("/v1/customers/ann/cashback", headers=h)).json()
    earned = [m for m in cashback["history"] if m["order_id"] == "o-ann"]
    assert [(m["kind"], m["amount"]) for m in earned] == [("earn", "30.00")]  # 3 % at buyer
    customer = (await client.get("/v1/customers/ann", headers=h)).json()
    assert customer["purchases"]["purchase_count"] == 1
    assert customer["purchases"]["net_revenue"] == "1000.00"
    async with app.state.db.sessionmaker() as s:
        assert (await projection.backlog(s)).pending == 0  # the read derived it


async def test_readyz_and_metrics_report_the_backlog(
    client: httpx.AsyncClient, make_key: KeyMaker, derive: Derive
) -> None:
    h = await _admin(make_key)
    batch = [f.at(f.purchase(f"q{i}"), 2) for i in range(3)]
    assert (await client.post("/v1/events/batch", json={"events": batch}, headers=h)).is_success
    ready = (await client.get("/readyz")).json()
    assert ready["projection"]["pending"] == 3 and ready["projection"]["lag_seconds"] >= 0
    metrics = (await client.get("/metrics", headers=h)).text
    assert "touchpoint_projection_backlog 3.0" in metrics
    assert await derive() == 3
    assert (await client.get("/readyz")).json()["projection"] == {
        "pending": 0,
        "lag_seconds": 0.0,
        "failed": 0,
    }


async def test_the_lapsed_list_follows_once_the_worker_derives(
    client: httpx.AsyncClient, make_key: KeyMaker, app: Any
) -> None:
    h = await _admin(make_key)
    # Weekly buyer for two months, silent for 120 days: lapsed or lost by their own rhythm.
    events = [f.at(f.purchase("kit", category="coffee"), 120 + 7 * k) for k in range(8)]
    assert (await client.post("/v1/events/batch", json={"events": events}, headers=h)).is_success
    listed = (await client.get("/v1/customers/lapsed", headers=h)).json()["items"]
    assert listed == []  # the list reflects the projection as it stands
    worker = Worker(app.state.db, app.state.settings, worker_jobs())
    task = asyncio.create_task(worker.run())
    try:
        for _ in range(300):  # bounded: the worker's first pass derives the backlog
            listed = (await client.get("/v1/customers/lapsed", headers=h)).json()["items"]
            if listed:
                break
            await asyncio.sleep(0.05)
    finally:
        worker.stop()
        await task
    assert [c["customer_id"] for c in listed] == ["kit"]
    assert listed[0]["status"] in {"lapsed", "lost"}


async def test_rebuild_derives_everyone_again_with_the_same_result(
    client: httpx.AsyncClient, make_key: KeyMaker, app: Any, derive: Derive
) -> None:
    h = await _admin(make_key)
    await f.send(
        client,
        h,
        f.at(f.purchase("r1", amount="100.00"), 30),
        f.at(f.purchase("r1", amount="200.00"), 20),
        f.at(f.profile("r1", email="r1@example.com", exclusive=True), 10),
        f.at(f.contact("r2"), 3),
    )
    before = {c: (await client.get(f"/v1/customers/{c}", headers=h)).json() for c in ("r1", "r2")}
    marked, derived = await projection.rebuild(app.state.db, app.state.settings, None)
    assert (marked, derived) == (2, 2)
    after = {c: (await client.get(f"/v1/customers/{c}", headers=h)).json() for c in ("r1", "r2")}
    for c in before:
        before[c].pop("updated_at"), after[c].pop("updated_at")
    assert after == before
    with pytest.raises(LookupError, match="nobody"):
        await projection.rebuild(app.state.db, app.state.settings, ["r1", "nobody"])


async def test_parallel_referral_batches_never_deadlock(
    client: httpx.AsyncClient, make_key: KeyMaker, app: Any
) -> None:
    """{purchase A, purchase C} and {purchase B, purchase D}, C referred by B and D by A,
    ten times in parallel, folded in the requests (wait=true) and by a worker at once."""
    h = await _admin(make_key)
    postgres = app.state.db.engine.dialect.name == "postgresql"

    async def deadlocks() -> int:
        async with app.state.db.engine.connect() as conn:
            return int(
                await conn.scalar(
                    text(
                        "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
                    )
                )
                or 0
            )

    before = await deadlocks() if postgres else 0
    rounds = []
    for n in range(10):
        a, b, c, d = (f"{x}{n}" for x in "abcd")
        await f.send(client, h, f.at(f.referral(c, b), 9), f.at(f.referral(d, a), 9))
        rounds.append(
            [
                [f.at(f.purchase(a), 2), f.at(f.purchase(c), 2)],
                [f.at(f.purchase(b), 2), f.at(f.purchase(d), 2)],
            ]
        )
    worker = Worker(app.state.db, app.state.settings, worker_jobs())
    task = asyncio.create_task(worker.run())
    try:
        answers = await asyncio.gather(
            *(
                client.post("/v1/events/batch?wait=true", json={"events": batch}, headers=h)
                for pair in rounds
                for batch in pair
            )
        )
    finally:
        worker.stop()
        await task
    assert [r.status_code for r in answers] == [200] * 20, [r.text for r in answers]
    assert all(r.json()["summary"]["accepted"] == 2 for r in answers)
    # Credits of referrers outside a batch are derived in their own fold: run it out.
    await drain(app.state.db, app.state.settings)
    async with app.state.db.sessionmaker() as s:
        credits = dict(
            (await s.execute(select(Customer.external_id, Customer.referrals_converted))).all()
        )
    for n in range(10):
        assert credits[f"a{n}"] == 1 and credits[f"b{n}"] == 1, n
    if postgres:
        assert await deadlocks() == before
