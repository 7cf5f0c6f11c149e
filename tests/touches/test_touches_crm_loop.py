"""A CRM that polls the next touch, performs it at its due time and reports it back.

Simulated time: the application's clock is injected (`app.state.clock`) for the touch
endpoints and the worker job gets `now`; events carry the simulated time, so the test settings
allow `occurred_at` up to 70 days ahead of the real clock.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.auth.scopes import Scope
from app.core.outbox import OutboxMessage
from app.core.settings import Settings
from app.main import create_app
from app.touches import jobs
from app.webhooks import delivery
from app.webhooks.models import Delivery
from tests import factories as f
from tests.factories import at, send
from tests.webhooks.servers import Receiver

_ids = itertools.count(1)
DAY = timedelta(days=1)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def sim(db_url: str) -> AsyncIterator[tuple[Any, Settings, httpx.AsyncClient, Clock]]:
    settings = Settings(
        database_url=db_url,
        env="test",
        webhook_allow_private=True,
        max_future_skew_seconds=70 * 86400,
    )
    app = create_app(settings)
    start = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0) + DAY
    clock = Clock(start)
    app.state.clock = clock
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield app, settings, client, clock
    await app.state.db.dispose()


async def _headers(app: Any) -> dict[str, str]:
    from app.auth.keys import create_key

    async with app.state.db.sessionmaker() as session, session.begin():
        issued = await create_key(
            session, "crm", [Scope.EVENTS_WRITE, Scope.TOUCHES_READ, Scope.TOUCHES_WRITE]
        )
    return {"Authorization": f"Bearer {issued.key}"}


async def _event(client: httpx.AsyncClient, h: dict[str, str], body: dict[str, Any]) -> None:
    r = await client.post("/v1/events", json=body, headers=h)
    assert r.status_code == 201, r.text


async def _next(client: httpx.AsyncClient, h: dict[str, str], cid: str) -> dict[str, Any]:
    r = await client.get(f"/v1/customers/{cid}/next-touch", headers=h)
    assert r.status_code == 200, r.text
    touch = r.json()["touch"]
    assert touch is not None
    return dict(touch)


async def _report(
    client: httpx.AsyncClient,
    h: dict[str, str],
    way: str,
    touch: dict[str, Any],
    when: datetime,
    outcome: str,
) -> None:
    if way == "outcome":
        r = await client.post(
            f"/v1/touches/{touch['touch_id']}/outcome", json={"outcome": outcome}, headers=h
        )
        assert r.status_code == 200 and r.json()["status"] == "done", r.text
        return
    body = f.contact(touch["customer_id"], channel=touch["channel"], outcome=outcome)
    body |= {"event_id": f"crm-{next(_ids)}", "occurred_at": when.isoformat()}
    if way == "touch_id":
        body["touch_id"] = touch["touch_id"]
    elif way == "reason_key":
        body["reason_key"] = touch["reason_key"]
    await _event(client, h, body)


WAYS = ("outcome", "touch_id", "reason_key", "no_id")


async def _run_crm(
    app: Any, settings: Settings, client: httpx.AsyncClient, clock: Clock, not_heard_every: int
) -> list[tuple[float, dict[str, Any], str]]:
    """60 simulated days for a new lead; returns (day, touch, outcome) of every touch done."""
    h = await _headers(app)
    start = clock.now
    await _event(client, h, f.lead("crm-lead") | {"occurred_at": start.isoformat()})
    await _event(
        client,
        h,
        f.profile("crm-lead", email="lead@example.com", phone="+70000000001")
        | {"occurred_at": start.isoformat()},
    )
    done: list[tuple[float, dict[str, Any], str]] = []
    for n in range(1, 40):
        touch = await _next(client, h, "crm-lead")
        due = datetime.fromisoformat(touch["due_at"])
        if due > start + 60 * DAY:
            break
        clock.now = max(clock.now, due)
        await jobs.announce_due(app.state.db, settings, now=clock.now)  # touch.due goes out
        outcome = "no_answer" if not_heard_every and n % not_heard_every == 0 else "reached"
        await _report(client, h, WAYS[(n - 1) % len(WAYS)], touch, clock.now, outcome)
        after = await _next(client, h, "crm-lead")
        assert after["touch_id"] != touch["touch_id"], f"report {n} did not advance the plan"
        done.append(((due - start) / DAY, touch, outcome))
    # The touch after the last one done within 60 days is the second cycle.
    assert (await _next(client, h, "crm-lead"))["playbook"] == "second_cycle"
    async with app.state.db.sessionmaker() as s:
        sent = [m.payload for m in await s.scalars(select(OutboxMessage))]
    due_messages = Counter(p["touch_id"] for p in sent if "due_at" in p and p.get("touch_id"))
    assert set(due_messages.values()) == {1}  # touch.due once per touch
    assert {t["touch_id"] for _, t, _ in done} <= set(due_messages)
    return done


def _check_nurture(done: list[tuple[float, dict[str, Any], str]]) -> None:
    nurture = [(d, t, o) for d, t, o in done if t["playbook"] == "lead_nurture"]
    assert [t["step"] for _, t, _ in nurture] == [1, 2, 3, 4, 5, 6, 7]
    assert all(1 <= d <= 30 for d, _, _ in nurture)
    assert len([d for d, _, _ in nurture if 21 <= d <= 30]) >= 4
    heard: set[str] = set()
    for _, t, outcome in nurture:
        assert t["reason_key"] not in heard, "a reason the customer already heard"
        if outcome == "reached":
            heard.add(t["reason_key"])
    assert nurture[0][1]["reason"] == "спасибо за интерес"  # the default locale is Russian
    rest = [t for _, t, _ in done[len(nurture) :]]
    assert all(t["playbook"] == "second_cycle" for t in rest)


async def test_a_fake_crm_over_60_days_advances_the_plan_whichever_way_it_reports(
    sim: tuple[Any, Settings, httpx.AsyncClient, Clock],
) -> None:
    app, settings, client, clock = sim
    done = await _run_crm(app, settings, client, clock, not_heard_every=0)
    _check_nurture(done)
    nurture = [t for _, t, _ in done if t["playbook"] == "lead_nurture"]
    assert len({t["reason_key"] for t in nurture}) == 7  # a new reason every time


async def test_the_same_with_every_third_touch_not_answered(
    sim: tuple[Any, Settings, httpx.AsyncClient, Clock],
) -> None:
    app, settings, client, clock = sim
    done = await _run_crm(app, settings, client, clock, not_heard_every=3)
    _check_nurture(done)
    nurture = [(t, o) for _, t, o in done if t["playbook"] == "lead_nurture"]
    # The reason of an unanswered touch is carried by the next attempt.
    for (t, outcome), (nxt, _) in itertools.pairwise(nurture):
        if outcome == "no_answer":
            assert nxt["reason_key"] == t["reason_key"]


async def test_unrelated_events_leave_the_touch_and_its_due_message_alone(
    client: httpx.AsyncClient, app: Any, settings: Settings, admin: dict[str, str]
) -> None:
    receiver = Receiver()
    receiver.start()
    try:
        r = await client.post(
            "/v1/webhooks/endpoints",
            json={"url": receiver.url, "event_types": ["touch.due", "touch.cancelled"]},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        await send(
            client,
            admin,
            at(f.lead("s1"), 3),
            at(f.profile("s1", email="s1@example.com"), 3),
        )

        async def worker_pass() -> list[str]:
            """Worker passes until every message is out and delivered (bounded), then the
            types the receiver got."""
            for _ in range(200):
                await jobs.announce_due(app.state.db, settings)
                await delivery.fan_out(app.state.db, settings)
                await delivery.deliver_due(app.state.db, settings)
                async with app.state.db.sessionmaker() as s:
                    waiting = await s.scalar(
                        select(func.count())
                        .select_from(OutboxMessage)
                        .where(OutboxMessage.dispatched_at.is_(None))
                    )
                    pending = await s.scalar(
                        select(func.count())
                        .select_from(Delivery)
                        .where(Delivery.status == "pending")
                    )
                if not waiting and not pending:
                    return [json.loads(body)["type"] for _, body in receiver.requests]
                await asyncio.sleep(0.05)  # a delivery lane or bucket not free yet
            raise AssertionError("the worker did not deliver everything")

        polled = (await client.get("/v1/customers/s1/next-touch", headers=admin)).json()
        touch = polled["touch"]
        assert (touch["playbook"], touch["step"]) == ("lead_nurture", 1)
        assert await worker_pass() == ["touch.due"]
        # Between polling and reporting: a profile change and a review.
        await send(
            client,
            admin,
            at(f.profile("s1", phone="+70000000002"), 0),
            at(f.review("s1", rating=4), 0),
        )
        again = (await client.get("/v1/customers/s1/next-touch", headers=admin)).json()["touch"]
        assert again["touch_id"] == touch["touch_id"]
        assert await worker_pass() == ["touch.due"]  # no second touch.due, no cancellation
        # Reported with the old id: done, and the plan moves on.
        await send(
            client,
            admin,
            at(f.contact("s1", channel=touch["channel"], touch_id=touch["touch_id"]), 0),
        )
        nxt = (await client.get("/v1/customers/s1/next-touch", headers=admin)).json()["touch"]
        assert nxt["touch_id"] != touch["touch_id"] and nxt["step"] == 2
        assert await worker_pass() == ["touch.due"]
    finally:
        receiver.stop()
