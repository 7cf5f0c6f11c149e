"""The Bitrix24 connector against a fake portal on loopback: crm.item.* only, the leaky bucket,
the per-method time budget."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.auth.scopes import Scope
from app.core.db import create_database
from app.core.outbox import emit
from app.webhooks import bitrix, delivery
from app.webhooks.bitrix_client import php_query
from app.webhooks.models import Attempt, BitrixContact, Delivery, WebhookEndpoint
from tests import factories as f
from tests.conftest import KeyMaker
from tests.webhooks.servers import FakeBitrix, _unphp

ALLOWED = {
    "crm.item.list",
    "crm.item.add",
    "crm.item.get",
    "crm.item.update",
    "crm.duplicate.findbycomm",
    "crm.activity.todo.add",
    "crm.timeline.comment.add",
}


@pytest.fixture
async def h(make_key: KeyMaker) -> dict[str, str]:
    key = await make_key(Scope.WEBHOOKS_MANAGE, Scope.EVENTS_WRITE)
    return {"Authorization": f"Bearer {key}"}


async def states(app: Any) -> Counter[str]:
    async with app.state.db.sessionmaker() as s:
        return Counter(d.status for d in await s.scalars(select(Delivery)))


async def drain(app: Any, settings: Any, dbs: list[Any] | None = None, rounds: int = 400) -> None:
    """Worker passes (one per database handle: several handles act as several processes)
    until every delivery is final; between idle passes the worker's poll interval."""
    dbs = dbs or [app.state.db]
    for _ in range(rounds):
        for db in dbs:
            await delivery.fan_out(db, settings)
        await asyncio.gather(*(delivery.deliver_due(db, settings) for db in dbs))
        current = await states(app)
        if set(current) <= {"succeeded", "failed"}:
            return
        await asyncio.sleep(0.05)
    async with app.state.db.sessionmaker() as s:
        open_ = [
            (d.id, d.status, d.attempts, d.next_attempt_at, d.last_error, d.progress)
            for d in await s.scalars(select(Delivery))
            if d.status not in ("succeeded", "failed")
        ]
        paused = [e.paused_methods for e in await s.scalars(select(WebhookEndpoint))]
    raise AssertionError(f"deliveries still open: {current} {open_} {paused}")


async def portal_endpoint(
    client: httpx.AsyncClient,
    h: dict[str, str],
    portal: FakeBitrix,
    code: str = "abc",
    **extra: Any,
) -> dict[str, Any]:
    r = await client.post(
        "/v1/webhooks/endpoints",
        json={"url": portal.url + f"rest/1/{code}/", "kind": "bitrix24", **extra},
        headers=h,
    )
    assert r.status_code == 201, r.text
    return r.json()


def lapsed(cid: str, value: str = "24000.00") -> tuple[str, dict[str, Any]]:
    return "customer.lapsed", {
        "customer_id": cid,
        "status": "lapsed",
        "days_silent": 95.0,
        "usual_interval_days": 30.0,
        "value_at_risk": value,
    }


def due_touch(cid: str, touch_id: int, due_at: str = "2026-12-05T20:30:00Z") -> tuple[str, Any]:
    return "touch.due", {
        "touch_id": touch_id,
        "customer_id": cid,
        "due_at": due_at,
        "channel": "call",
        "reason": "we miss you",
        "script": ["ask how it went", "offer 10 %"],
        "offer": "a cashback bonus of 10 %",
    }


def new_buyer(cid: str) -> tuple[str, dict[str, Any]]:
    return "customer.stage_changed", {
        "customer_id": cid,
        "from": "prospect",
        "to": "buyer",
        "reasons": ["first purchase"],
    }


async def put(app: Any, *messages: tuple[str, dict[str, Any]]) -> None:
    async with app.state.db.sessionmaker() as s, s.begin():
        for type_, payload in messages:
            await emit(s, type_, payload, payload["customer_id"])


async def test_buyer_lapse_and_touch_become_contact_deal_and_todo_through_crm_item(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any
) -> None:
    portal = FakeBitrix()
    portal.start()
    # Entered by a manager before: no origin, found by e-mail.
    portal.contacts.append(
        {"id": 1, "name": "Anna", "fm": [{"typeId": "EMAIL", "value": "anna@example.com"}]}
    )
    try:
        first = await portal_endpoint(client, h, portal)
        await client.post(
            "/v1/events",
            json=f.profile(
                "anna", email="anna@example.com", phone="+7 900 000-00-01", timezone="Asia/Tokyo"
            ),
            headers=h,
        )
        await client.post(
            "/v1/events",
            json=f.profile("boris", email="boris@example.com", phone="+7 900 111-22-33"),
            headers=h,
        )
        await put(app, new_buyer("boris"), lapsed("boris"), due_touch("boris", 7))
        await put(app, new_buyer("anna"), lapsed("anna", "100.00"), due_touch("anna", 8))
        await drain(app, settings)
        assert await states(app) == {"succeeded": 6}
        assert portal.deprecated == [] and set(portal.calls) <= ALLOWED
        assert portal.limit_errors == 0
        # One contact each: Anna found by e-mail (and completed), Boris created with the profile.
        assert len(portal.contacts) == 2
        anna, boris = portal.contacts
        assert anna["name"] == "Anna" and anna["originId"] == "anna"
        assert {(m["typeId"], m["value"]) for m in anna["fm"]} == {
            ("EMAIL", "anna@example.com"),
            ("PHONE", "+7 900 000-00-01"),
        }
        assert (boris["originatorId"], boris["originId"], boris["name"]) == (
            "touchpoint",
            "boris",
            "boris",
        )
        assert {(m["typeId"], m["valueType"], m["value"]) for m in boris["fm"]} == {
            ("EMAIL", "WORK", "boris@example.com"),
            ("PHONE", "WORK", "+7 900 111-22-33"),
        }
        # The deal: a crm.item of type 2, the value at risk in the shop's currency.
        (deal,) = portal.deals  # Anna's 100.00 is below the deal threshold
        assert deal["opportunity"] == "24000.0" and deal["currencyId"] == "RUB"
        assert deal["contactIds"] == [str(boris["id"])]
        # To-dos: the touch id, reminders, the deadline in the customer's working hours.
        todos = {t["description"].rsplit("#", 1)[-1]: t for t in portal.todos}
        assert set(todos) == {"7", "8"}
        assert todos["7"]["pingOffsets"] == ["0", "15"]
        # 20:30 UTC Saturday is 23:30 in Moscow and 05:30 Sunday in Tokyo: next Monday, 09:00.
        assert todos["7"]["deadline"] == "2026-12-07T09:00:00+03:00"
        assert todos["8"]["deadline"] == "2026-12-07T09:00:00+09:00"
        touch_comments = [c["COMMENT"] for c in portal.comments if "Touch #" in c["COMMENT"]]
        assert sorted(touch_comments) == [
            "Touch #7 due: call, we miss you",
            "Touch #8 due: call, we miss you",
        ]
        assert len(portal.comments) == 8  # 2 first stages, 2 stage changes, 2 lapses, 2 touches
        async with app.state.db.sessionmaker() as s:
            mapping = {m.customer_id: m.contact_id for m in await s.scalars(select(BitrixContact))}
        assert mapping == {"anna": 1, "boris": 2}
        # The next message uses the remembered contact; another webhook of the same portal
        # finds both by our id. Never a duplicate.
        await portal_endpoint(client, h, portal, code="other")
        await put(app, due_touch("boris", 9))
        await put(app, due_touch("anna", 10))
        await drain(app, settings)
        assert len(portal.contacts) == 2 and portal.deprecated == []
        assert Counter(t["ownerId"] for t in portal.todos[2:]) == {"2": 2, "1": 2}
        assert first["bitrix_plan"] == "standard"
    finally:
        portal.stop()


async def test_keeps_to_2_per_second_with_a_burst_of_50_across_workers(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any
) -> None:
    portal = FakeBitrix(drain_per_second=2.0, capacity=50.0)
    portal.start()
    other_process = create_database(settings)  # a second worker process: its own engine
    try:
        await portal_endpoint(client, h, portal)
        await client.post("/v1/events", json=f.profile("c1", email="c1@example.com"), headers=h)
        messages = 52
        await put(
            app,
            *[("customer.at_risk", {"customer_id": "c1", "status": "at_risk"})] * messages,
        )
        await drain(app, settings, dbs=[app.state.db, other_process])
        # The first message looks the contact up and creates it, each message is one batch.
        assert portal.requests == messages + 2 > 50
        assert portal.limit_errors == 0
        assert len(portal.comments) == messages and len(portal.contacts) == 1
        async with app.state.db.sessionmaker() as s:
            ds = list(await s.scalars(select(Delivery)))
        assert {(d.status, d.attempts) for d in ds} == {("succeeded", 1)}
    finally:
        portal.stop()
        await other_process.dispose()


async def test_operation_time_limit_pauses_the_method_until_reset_then_all_arrive(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any
) -> None:
    portal = FakeBitrix(drain_per_second=50.0, capacity=250.0)
    # To-dos: 3 per 1.5 s window; contacts: 1 per 4 s window (the 2nd customer waits).
    portal.budgets = {"crm.activity.todo.add": (3, 1.5), "crm.item.add": (1, 4.0)}
    portal.start()
    try:
        ep = await portal_endpoint(client, h, portal, bitrix_plan="enterprise")
        for cid in ("c1", "c2"):
            await client.post(
                "/v1/events", json=f.profile(cid, email=f"{cid}@example.com"), headers=h
            )
        await put(app, due_touch("c2", 6), *[due_touch("c1", n) for n in range(1, 6)])
        await drain(app, settings)
        assert portal.time_limit_answers["crm.activity.todo.add"] >= 1
        assert portal.time_limit_answers["crm.item.add"] >= 1
        assert portal.calls_while_blocked == {}  # paused until operating_reset_at
        assert sorted(int(t["description"].rsplit("#", 1)[-1]) for t in portal.todos) == [
            1,
            2,
            3,
            4,
            5,
            6,
        ]
        # A batch stopped half-way is resumed, not repeated: one comment per touch.
        assert len(portal.comments) == 6 and len(portal.contacts) == 2
        async with app.state.db.sessionmaker() as s:
            ds = list(await s.scalars(select(Delivery)))
            codes = Counter(a.status_code for a in await s.scalars(select(Attempt)))
            endpoint = await s.get(WebhookEndpoint, ep["id"])
        assert {(d.status, d.attempts) for d in ds} == {("succeeded", 1)}
        assert codes[429] >= 2 and codes[200] == 6
        assert endpoint is not None and set(endpoint.paused_methods or {}) <= {
            "crm.activity.todo.add",
            "crm.item.add",
        }
    finally:
        portal.stop()


async def test_query_limit_exceeded_waits_for_the_bucket_without_using_up_retries(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any
) -> None:
    portal = FakeBitrix(drain_per_second=50.0, capacity=50.0)
    portal.forced_errors = [(503, "QUERY_LIMIT_EXCEEDED"), (503, "QUERY_LIMIT_EXCEEDED")]
    portal.start()
    try:
        await portal_endpoint(client, h, portal, rate_limit_per_second=20)
        await put(app, ("customer.at_risk", {"customer_id": "c1", "status": "at_risk"}))
        one_try = settings.model_copy(update={"webhook_retry_schedule_seconds": [0.0]})
        await drain(app, one_try)
        async with app.state.db.sessionmaker() as s:
            d = await s.scalar(select(Delivery))
            codes = [a.status_code for a in await s.scalars(select(Attempt).order_by(Attempt.id))]
        assert d is not None and (d.status, d.attempts) == ("succeeded", 1), d.last_error
        assert codes == [503, 503, 200] and len(portal.comments) == 1
    finally:
        portal.stop()


async def test_enterprise_limits_are_chosen_per_endpoint(
    client: httpx.AsyncClient, h: dict[str, str], settings: Any
) -> None:
    portal = FakeBitrix()
    ep = await portal_endpoint(client, h, portal, bitrix_plan="enterprise")
    assert ep["bitrix_plan"] == "enterprise"
    r = await client.patch(
        f"/v1/webhooks/endpoints/{ep['id']}", json={"bitrix_plan": "standard"}, headers=h
    )
    assert r.status_code == 200 and r.json()["bitrix_plan"] == "standard"
    refused = await client.post(
        "/v1/webhooks/endpoints",
        json={"url": "http://127.0.0.1:9/x", "bitrix_plan": "enterprise"},
        headers=h,
    )
    assert refused.status_code == 422
    enterprise = WebhookEndpoint(kind="bitrix24", bitrix_plan="enterprise", url="http://x/")
    standard = WebhookEndpoint(kind="bitrix24", bitrix_plan="standard", url="http://x/")
    big, small = bitrix.bucket_of(enterprise, settings), bitrix.bucket_of(standard, settings)
    assert (big.capacity, big.per_second, small.capacity, small.per_second) == (250, 5, 50, 2)


def test_batch_commands_round_trip() -> None:
    params = {
        "filter": {"=originId": "a+b@example.com"},
        "fields": {"fm": [{"value": "+7 (900)", "valueType": "WORK", "typeId": "PHONE"}]},
    }
    assert _unphp("&".join(php_query(params))) == params


def test_the_fake_portal_refuses_deprecated_methods() -> None:
    portal = FakeBitrix()
    status, _, body = portal.handle("/rest/1/abc/crm.contact.add.json", {}, b'{"fields": {}}')
    assert status == 400 and b"ERROR_METHOD_DEPRECATED" in body
    assert portal.deprecated == ["crm.contact.add"]
