from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.auth.scopes import Scope
from app.core.outbox import OutboxMessage
from app.touches import jobs
from tests import factories as f
from tests.conftest import KeyMaker
from tests.factories import NOW, at, send


@pytest.fixture
async def h(make_key: KeyMaker) -> dict[str, str]:
    key = await make_key(Scope.EVENTS_WRITE, Scope.TOUCHES_READ, Scope.TOUCHES_WRITE)
    return {"Authorization": f"Bearer {key}"}


async def test_queue_claim_outcome_and_contact_closing(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any
) -> None:
    await send(
        client,
        h,
        at(f.lead("c1"), 40),
        at(f.profile("c1", email="c1@example.com"), 40),
        at(f.lead("c2"), 40),
        at(f.profile("c2", email="c2@example.com"), 40),
    )
    t1 = (await client.get("/v1/customers/c1/next-touch", headers=h)).json()
    # A lead with no touch yet gets the first nurture touch, on the one channel it can be reached.
    assert (t1["playbook"], t1["reason_key"], t1["channel"]) == ("lead_nurture", "welcome", "email")
    assert t1["reason"]
    later = (NOW + timedelta(days=60)).isoformat()
    queue = (await client.get("/v1/touches/due", params={"before": later}, headers=h)).json()
    assert {t["customer_id"] for t in queue["items"]} == {"c1", "c2"}
    tid = t1["touch_id"]
    mine = await client.post(f"/v1/touches/{tid}/claim", json={"operator": "olga"}, headers=h)
    assert mine.status_code == 200 and mine.json()["claimed_by"] == "olga"
    theirs = await client.post(f"/v1/touches/{tid}/claim", json={"operator": "ivan"}, headers=h)
    assert theirs.status_code == 409 and theirs.json()["claimed_by"] == "olga"
    queue = (await client.get("/v1/touches/due", params={"before": later}, headers=h)).json()
    assert [t["customer_id"] for t in queue["items"]] == ["c2"]  # held touches leave the queue
    done = await client.post(f"/v1/touches/{tid}/outcome", json={"outcome": "reached"}, headers=h)
    assert done.status_code == 200 and done.json()["status"] == "done"
    nxt = (await client.get("/v1/customers/c1/next-touch", headers=h)).json()
    assert nxt["touch_id"] != tid and nxt["reason_key"] != t1["reason_key"]
    # A contact event naming the touch closes it.
    t2 = (await client.get("/v1/customers/c2/next-touch", headers=h)).json()
    await send(
        client,
        h,
        at(f.contact("c2", channel="call", touch_id=t2["touch_id"], outcome="interested"), 0),
    )
    assert (
        await client.post(
            f"/v1/touches/{t2['touch_id']}/outcome", json={"outcome": "reached"}, headers=h
        )
    ).status_code == 409
    assert (await client.get("/v1/customers/c2/next-touch", headers=h)).json()["touch_id"] != t2[
        "touch_id"
    ]


async def test_touch_due_goes_to_the_outbox_once(
    client: httpx.AsyncClient,
    h: dict[str, str],
    app: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await send(client, h, at(f.lead("c1"), 5), at(f.profile("c1", email="c1@example.com"), 5))
    later = NOW + timedelta(days=60)
    monkeypatch.setattr(jobs, "utcnow", lambda: later)
    assert await jobs.announce_due(app.state.db, settings) == 1
    assert await jobs.announce_due(app.state.db, settings) == 0
    async with app.state.db.sessionmaker() as s:
        n = await s.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.type == "touch.due")
        )
    assert n == 1


async def test_lapsed_regular_gets_win_back_and_regulars_hear_announcements(
    client: httpx.AsyncClient, h: dict[str, str]
) -> None:
    monthly = [at(f.purchase("r1", amount="1000.00"), 200 - 30 * i) for i in range(5)]
    await send(client, h, at(f.profile("r1", email="r1@example.com"), 300), *monthly)
    t = (await client.get("/v1/customers/r1/next-touch", headers=h)).json()
    assert t["playbook"] == "win_back" and t["offer"]
    fresh = [at(f.purchase("r2", amount="1000.00"), 30 - 7 * i) for i in range(5)]
    await send(client, h, at(f.profile("r2", email="r2@example.com"), 60), *fresh)
    effective = (NOW + timedelta(days=10)).isoformat()
    r = await client.post(
        "/v1/announcements",
        json={"title": "new opening hours", "effective_at": effective},
        headers=h,
    )
    assert r.status_code == 201
    t2 = (await client.get("/v1/customers/r2/next-touch", headers=h)).json()
    assert t2["playbook"] == "announcement" and t2["reason"] == "new opening hours"


async def test_next_touch_as_of(client: httpx.AsyncClient, h: dict[str, str]) -> None:
    await send(
        client,
        h,
        at(f.lead("c1"), 10),
        at(f.profile("c1", email="c1@example.com"), 10),
        at(f.purchase("c1", amount="500.00"), 2),
    )
    before = (
        await client.get(
            "/v1/customers/c1/next-touch",
            params={"as_of": (NOW - timedelta(days=5)).isoformat()},
            headers=h,
        )
    ).json()
    assert before["playbook"] == "lead_nurture" and before["touch_id"] is None
    now = (await client.get("/v1/customers/c1/next-touch", headers=h)).json()
    assert now["playbook"] == "care"
