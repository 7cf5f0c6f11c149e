from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from app.auth.scopes import Scope
from app.core.outbox import OutboxMessage, emit
from app.webhooks import delivery
from app.webhooks.models import Delivery, WebhookEndpoint
from tests import factories as f
from tests.conftest import KeyMaker
from tests.webhooks.servers import Receiver, free_port

FAST = [0.0, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05]


@pytest.fixture
async def h(make_key: KeyMaker) -> dict[str, str]:
    key = await make_key(Scope.WEBHOOKS_MANAGE, Scope.EVENTS_WRITE)
    return {"Authorization": f"Bearer {key}"}


async def endpoint(
    client: httpx.AsyncClient, h: dict[str, str], url: str, **extra: Any
) -> dict[str, Any]:
    r = await client.post("/v1/webhooks/endpoints", json={"url": url, **extra}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["secret"].startswith("whsec_")
    return r.json()


async def messages(app: Any, n: int, type_: str = "customer.stage_changed") -> list[str]:
    async with app.state.db.sessionmaker() as s, s.begin():
        return [await emit(s, type_, {"customer_id": f"c{i}", "n": i}, f"c{i}") for i in range(n)]


async def run_worker(app: Any, settings: Any, until: Any, rounds: int = 200) -> None:
    """Worker passes until `until()` holds (bounded; sleeps between idle passes)."""
    for _ in range(rounds):
        await delivery.fan_out(app.state.db, settings)
        await delivery.deliver_due(app.state.db, settings)
        if until():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the worker did not get there in time")


async def test_signed_messages_verify_with_an_independent_implementation(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any
) -> None:
    receiver = Receiver()
    receiver.start()
    try:
        ep = await endpoint(client, h, receiver.url)
        r = await client.post(
            "/v1/events?wait=true", json=f.purchase("c1", amount="100.00"), headers=h
        )
        assert r.status_code == 201
        async with app.state.db.sessionmaker() as s:
            expected = {m.message_id: m.type for m in await s.scalars(select(OutboxMessage))}
        assert expected  # stage change, cashback earned …
        await run_worker(app, settings, lambda: len(receiver.requests) >= len(expected))
        verifier = Webhook(ep["secret"])
        seen = {}
        for headers, body in receiver.requests:
            payload = verifier.verify(body, headers)  # raises on a bad signature
            assert set(payload) == {"type", "timestamp", "data"}
            seen[headers["webhook-id"]] = payload["type"]
        assert seen == expected
        one = next(iter(expected))
        attempts = (
            await client.get(
                f"/v1/webhooks/endpoints/{ep['id']}/messages/{one}/attempts", headers=h
            )
        ).json()
        assert [a["status_code"] for a in attempts] == [200]
        listing = (
            await client.get(f"/v1/webhooks/endpoints/{ep['id']}/messages", headers=h)
        ).json()
        assert {m["status"] for m in listing["items"]} == {"succeeded"}
    finally:
        receiver.stop()


async def test_a_receiver_down_for_a_while_gets_every_message_once(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any
) -> None:
    port = free_port()
    receiver = Receiver(port=port)  # not listening yet: connections are refused
    await endpoint(client, h, receiver.url)
    ids = await messages(app, 20)
    fast = settings.model_copy(update={"webhook_retry_schedule_seconds": FAST})
    # Retries due at once: each pass tries every message again, with nothing to wait for.
    at_once = settings.model_copy(update={"webhook_retry_schedule_seconds": [0.0] * 12})
    for _ in range(3):
        await delivery.fan_out(app.state.db, at_once)
        await delivery.deliver_due(app.state.db, at_once)
    async with app.state.db.sessionmaker() as s:
        tried = [(d.attempts, d.status) for d in await s.scalars(select(Delivery))]
    assert tried == [(3, "pending")] * 20 and receiver.requests == []
    receiver.start()
    try:
        await run_worker(
            app, fast, lambda: len({h["webhook-id"] for h, _ in receiver.requests}) == 20
        )
        assert {h["webhook-id"] for h, _ in receiver.requests} == set(ids)
        async with app.state.db.sessionmaker() as s:
            assert {d.status for d in await s.scalars(select(Delivery))} == {"succeeded"}
    finally:
        receiver.stop()


async def test_two_workers_never_send_one_message_twice(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any
) -> None:
    receiver = Receiver()
    receiver.start()
    try:
        await endpoint(client, h, receiver.url)
        ids = await messages(app, 60)

        async def worker() -> None:
            for _ in range(100):
                await delivery.fan_out(app.state.db, settings)
                if (
                    await delivery.deliver_due(app.state.db, settings) == 0
                    and len(receiver.requests) >= 60
                ):
                    return
                await asyncio.sleep(0.01)

        await asyncio.gather(worker(), worker())
        counts = Counter(h["webhook-id"] for h, _ in receiver.requests)
        assert set(counts) == set(ids) and set(counts.values()) == {1}
    finally:
        receiver.stop()


async def test_retry_after_410_and_resend(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any
) -> None:
    answers = {1: (429, {"Retry-After": "3600"}), 2: (200, {}), 3: (410, {})}
    receiver = Receiver(lambda n: answers.get(n, (200, {})))
    receiver.start()
    try:
        ep = await endpoint(client, h, receiver.url)
        (first,) = await messages(app, 1)
        await delivery.fan_out(app.state.db, settings)
        await delivery.deliver_due(app.state.db, settings)
        async with app.state.db.sessionmaker() as s:
            d = await s.scalar(select(Delivery))
            assert d is not None and d.status == "pending" and d.last_status_code == 429
            assert d.next_attempt_at is not None
            assert d.next_attempt_at - datetime.now(UTC) > timedelta(minutes=59)  # Retry-After
        # An operator resends now: same webhook-id, delivered.
        r = await client.post(
            f"/v1/webhooks/endpoints/{ep['id']}/messages/{first}/resend", headers=h
        )
        assert r.status_code == 202
        await delivery.deliver_due(app.state.db, settings)
        assert [hd["webhook-id"] for hd, _ in receiver.requests] == [first, first]
        # 410 Gone disables the endpoint and records endpoint.disabled.
        await messages(app, 1)
        await delivery.fan_out(app.state.db, settings)
        await delivery.deliver_due(app.state.db, settings)
        got = (await client.get(f"/v1/webhooks/endpoints/{ep['id']}", headers=h)).json()
        assert got["enabled"] is False and "410" in got["disabled_reason"]
        async with app.state.db.sessionmaker() as s:
            disabled = await s.scalar(
                select(OutboxMessage).where(OutboxMessage.type == "endpoint.disabled")
            )
        assert disabled is not None and disabled.payload["endpoint_id"] == ep["id"]
    finally:
        receiver.stop()


async def test_failing_for_days_disables_and_recover_requeues(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any
) -> None:
    receiver = Receiver(lambda n: (500, {}))
    receiver.start()
    try:
        ep = await endpoint(client, h, receiver.url)
        await messages(app, 2)
        short = settings.model_copy(update={"webhook_retry_schedule_seconds": [0.0, 0.0]})
        for _ in range(3):
            await delivery.fan_out(app.state.db, short)
            await delivery.deliver_due(app.state.db, short)
        failed = (
            await client.get(
                f"/v1/webhooks/endpoints/{ep['id']}/messages",
                params={"status": "failed"},
                headers=h,
            )
        ).json()
        assert len(failed["items"]) == 2 and failed["items"][0]["attempts"] == 2
        receiver.respond = lambda n: (200, {})
        since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        r = await client.post(
            f"/v1/webhooks/endpoints/{ep['id']}/recover", json={"since": since}, headers=h
        )
        assert r.json() == {"requeued": 2}
        await delivery.deliver_due(app.state.db, short)
        ok = (
            await client.get(
                f"/v1/webhooks/endpoints/{ep['id']}/messages",
                params={"status": "succeeded"},
                headers=h,
            )
        ).json()
        assert len(ok["items"]) == 2
        # Failing with no success for longer than allowed: disabled.
        receiver.respond = lambda n: (500, {})
        async with app.state.db.sessionmaker() as s, s.begin():
            e = await s.get(WebhookEndpoint, ep["id"])
            assert e is not None
            e.failing_since = datetime.now(UTC) - timedelta(days=6)
        await messages(app, 1)
        await delivery.fan_out(app.state.db, short)
        await delivery.deliver_due(app.state.db, short)
        got = (await client.get(f"/v1/webhooks/endpoints/{ep['id']}", headers=h)).json()
        assert got["enabled"] is False and "too long" in got["disabled_reason"]
    finally:
        receiver.stop()


async def test_secret_rotation_signs_with_both(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any
) -> None:
    receiver = Receiver()
    receiver.start()
    try:
        ep = await endpoint(client, h, receiver.url)
        rotated = (
            await client.post(
                f"/v1/webhooks/endpoints/{ep['id']}/rotate-secret",
                json={"grace_seconds": 600},
                headers=h,
            )
        ).json()
        await messages(app, 1)
        await run_worker(app, settings, lambda: len(receiver.requests) == 1)
        headers, body = receiver.requests[0]
        assert len(headers["webhook-signature"].split()) == 2
        Webhook(ep["secret"]).verify(body, headers)
        Webhook(rotated["secret"]).verify(body, headers)
        assert json.loads(body)["type"] == "customer.stage_changed"
    finally:
        receiver.stop()


async def test_private_targets_are_refused_unless_allowed(
    client: httpx.AsyncClient, h: dict[str, str], app: Any
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"webhook_allow_private": False})
    for url in (
        "http://127.0.0.1:9/hook",
        "http://10.0.0.7/hook",
        "http://[::1]/x",
        "ftp://example.com/",
    ):
        r = await client.post("/v1/webhooks/endpoints", json={"url": url}, headers=h)
        assert r.status_code == 422, url
    ok = await client.post(
        "/v1/webhooks/endpoints", json={"url": "http://93.184.215.14/hook"}, headers=h
    )
    assert ok.status_code == 201
    assert (
        "secret"
        not in (await client.get(f"/v1/webhooks/endpoints/{ok.json()['id']}", headers=h)).json()
    )


async def test_management_needs_the_scope(client: httpx.AsyncClient, make_key: KeyMaker) -> None:
    key = await make_key(Scope.EVENTS_WRITE)
    r = await client.get("/v1/webhooks/endpoints", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 403
