"""A slow or rate-limited Bitrix24 endpoint never holds back another endpoint's deliveries.
(The rates are measured in bench/webhook_fairness.py; here only who waits for whom.)"""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.auth.scopes import Scope
from app.core.db import utcnow
from app.core.outbox import emit
from app.webhooks import delivery
from app.webhooks.models import Delivery, WebhookEndpoint
from tests.conftest import KeyMaker
from tests.webhooks.servers import FakeBitrix, Receiver

MESSAGES = 45  # more than one pass claims for an endpoint


@pytest.fixture
async def h(make_key: KeyMaker) -> dict[str, str]:
    key = await make_key(Scope.WEBHOOKS_MANAGE, Scope.EVENTS_WRITE)
    return {"Authorization": f"Bearer {key}"}


async def setup(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, portal: FakeBitrix, receiver: Receiver
) -> int:
    r = await client.post(
        "/v1/webhooks/endpoints",
        json={"url": portal.url + "rest/1/abc/", "kind": "bitrix24"},
        headers=h,
    )
    assert r.status_code == 201
    assert (
        await client.post("/v1/webhooks/endpoints", json={"url": receiver.url}, headers=h)
    ).status_code == 201
    async with app.state.db.sessionmaker() as s, s.begin():
        for n in range(MESSAGES):
            await emit(s, "customer.at_risk", {"customer_id": f"c{n}", "status": "at_risk"}, "c1")
    return int(r.json()["id"])


async def passes_until(app: Any, settings: Any, done: Any, limit: int = 100) -> int:
    for n in range(1, limit + 1):
        await delivery.fan_out(app.state.db, settings)
        await delivery.deliver_due(app.state.db, settings)
        if done():
            return n
        await asyncio.sleep(0.01)
    raise AssertionError("not done")


async def test_a_portal_that_does_not_answer_holds_back_no_one(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any
) -> None:
    portal, receiver = FakeBitrix(), Receiver()
    portal.gate = threading.Event()  # every request to the portal hangs until set
    portal.start()
    receiver.start()
    try:
        await setup(client, h, app, portal, receiver)
        await passes_until(app, settings, lambda: len(receiver.requests) == MESSAGES)
        assert portal.waiting == 1 and portal.requests == 0  # still stuck on its first request
        portal.gate.set()
        await passes_until(app, settings, lambda: len(portal.comments) == MESSAGES, limit=400)
    finally:
        portal.gate and portal.gate.set()
        portal.stop()
        receiver.stop()


async def test_a_portal_at_its_rate_limit_is_not_even_claimed(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any
) -> None:
    portal, receiver = FakeBitrix(), Receiver()
    portal.start()
    receiver.start()
    try:
        bitrix_id = await setup(client, h, app, portal, receiver)
        async with app.state.db.sessionmaker() as s, s.begin():
            endpoint = await s.get(WebhookEndpoint, bitrix_id)
            assert endpoint is not None
            endpoint.next_send_at = utcnow() + timedelta(minutes=10)  # its bucket is full
        await passes_until(app, settings, lambda: len(receiver.requests) == MESSAGES)
        assert portal.requests == 0
        async with app.state.db.sessionmaker() as s:
            waiting = list(
                await s.scalars(select(Delivery).where(Delivery.endpoint_id == bitrix_id))
            )
        assert {(d.status, d.attempts) for d in waiting} == {("pending", 0)}
    finally:
        portal.stop()
        receiver.stop()
