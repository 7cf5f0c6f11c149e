"""The Bitrix24 connector against a fake portal on loopback that enforces a leaky bucket."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.auth.scopes import Scope
from app.core.outbox import emit
from app.webhooks import delivery
from app.webhooks.bitrix import php_query
from app.webhooks.models import BitrixContact, Delivery
from tests import factories as f
from tests.conftest import KeyMaker
from tests.webhooks.servers import FakeBitrix, _unphp


@pytest.fixture
async def h(make_key: KeyMaker) -> dict[str, str]:
    key = await make_key(Scope.WEBHOOKS_MANAGE, Scope.EVENTS_WRITE)
    return {"Authorization": f"Bearer {key}"}


async def drain(app: Any, settings: Any, rounds: int = 400) -> None:
    for _ in range(rounds):
        await delivery.fan_out(app.state.db, settings)
        await delivery.deliver_due(app.state.db, settings)
        async with app.state.db.sessionmaker() as s:
            states = {d.status for d in await s.scalars(select(Delivery))}
        if states <= {"succeeded", "failed"}:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"deliveries still open: {states}")


async def test_every_change_reaches_the_portal_without_tripping_its_limit(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any
) -> None:
    portal = FakeBitrix(drain_per_second=2.0, capacity=3.0)
    portal.start()
    portal.contacts.append({"ID": 1, "NAME": "Anna", "EMAIL": [{"VALUE": "anna@example.com"}]})
    try:
        r = await client.post(
            "/v1/webhooks/endpoints",
            json={"url": portal.url + "rest/1/abc/", "kind": "bitrix24"},
            headers=h,
        )
        assert r.status_code == 201
        await client.post("/v1/events", json=f.profile("anna", email="anna@example.com"), headers=h)
        await client.post(
            "/v1/events", json=f.profile("boris", phone="+7 900 111-22-33"), headers=h
        )
        async with app.state.db.sessionmaker() as s, s.begin():
            for cid in ("anna", "boris"):
                await emit(
                    s,
                    "customer.stage_changed",
                    {
                        "customer_id": cid,
                        "from": "client",
                        "to": "regular",
                        "reasons": ["3 purchases"],
                    },
                    cid,
                )
                await emit(
                    s,
                    "customer.lapsed",
                    {
                        "customer_id": cid,
                        "status": "lapsed",
                        "days_silent": 95.0,
                        "usual_interval_days": 30.0,
                        "value_at_risk": "24000.00",
                    },
                    cid,
                )
                await emit(
                    s,
                    "touch.due",
                    {
                        "customer_id": cid,
                        "due_at": "2026-12-01T10:00:00Z",
                        "channel": "call",
                        "reason": "we miss you",
                        "script": ["ask how it went", "offer 10 %"],
                    },
                    cid,
                )
            await emit(
                s,
                "customer.lapsed",
                {"customer_id": "anna", "status": "lapsed", "value_at_risk": "100.00"},
                "anna",
            )
        await drain(app, settings)
        assert portal.limit_errors == 0
        assert len(portal.contacts) == 2  # Anna found by e-mail, Boris created once
        boris = portal.contacts[1]
        assert (boris["ORIGINATOR_ID"], boris["ORIGIN_ID"]) == ("touchpoint", "boris")
        assert len(portal.comments) == 7  # 2 first stages (prospect), 2 stage changes, 3 lapses
        assert {c["ENTITY_ID"] for c in portal.comments} == {"1", "2"}
        assert len(portal.todos) == 2 and portal.todos[0]["title"] == "call: we miss you"
        assert len(portal.deals) == 2  # the 100.00 lapse is below the deal threshold
        async with app.state.db.sessionmaker() as s:
            mapping = {m.customer_id: m.contact_id for m in await s.scalars(select(BitrixContact))}
        assert mapping == {"anna": 1, "boris": 2}
    finally:
        portal.stop()


async def test_backs_off_on_query_limit_exceeded(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any
) -> None:
    portal = FakeBitrix(drain_per_second=50.0, capacity=50.0)
    portal.forced_errors = [(503, "QUERY_LIMIT_EXCEEDED"), (429, "OPERATION_TIME_LIMIT")]
    portal.start()
    try:
        await client.post(
            "/v1/webhooks/endpoints",
            json={
                "url": portal.url + "rest/1/abc/",
                "kind": "bitrix24",
                "rate_limit_per_second": 20,
            },
            headers=h,
        )
        async with app.state.db.sessionmaker() as s, s.begin():
            await emit(s, "customer.at_risk", {"customer_id": "c1", "status": "at_risk"}, "c1")
        fast = settings.model_copy(
            update={"webhook_retry_schedule_seconds": [0.0, 0.05, 0.05, 0.05]}
        )
        await drain(app, fast)
        async with app.state.db.sessionmaker() as s:
            d = await s.scalar(select(Delivery))
        assert d is not None, "no delivery"
        assert (d.status, d.attempts) == ("succeeded", 3), d.last_error
        assert len(portal.comments) == 1
    finally:
        portal.stop()


def test_batch_commands_round_trip() -> None:
    params = {
        "filter": {"EMAIL": "a+b@example.com"},
        "fields": {"PHONE": [{"VALUE": "+7 (900)", "VALUE_TYPE": "WORK"}]},
    }
    assert _unphp("&".join(php_query(params))) == params
