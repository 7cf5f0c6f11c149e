from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from app.auth.scopes import Scope
from app.core.outbox import OutboxMessage
from app.customers.models import Customer
from app.touches import jobs
from app.touches.guardrails import in_working_hours
from app.touches.settings import TouchRules
from tests import factories as f
from tests.conftest import KeyMaker
from tests.factories import NOW, at, send


@pytest.fixture
async def h(make_key: KeyMaker) -> dict[str, str]:
    key = await make_key(Scope.EVENTS_WRITE, Scope.TOUCHES_READ, Scope.TOUCHES_WRITE)
    return {"Authorization": f"Bearer {key}"}


async def next_touch(client: httpx.AsyncClient, h: dict[str, str], cid: str) -> dict[str, Any]:
    r = await client.get(f"/v1/customers/{cid}/next-touch", headers=h)
    assert r.status_code == 200, r.text
    touch = r.json()["touch"]
    assert touch is not None, r.text
    return dict(touch)


async def messages(app: Any, type_: str) -> list[dict[str, Any]]:
    async with app.state.db.sessionmaker() as s:
        rows = await s.scalars(select(OutboxMessage).where(OutboxMessage.type == type_))
        return [m.payload for m in rows]


async def test_queue_claim_outcome_and_contact_closing(
    client: httpx.AsyncClient, h: dict[str, str]
) -> None:
    await send(
        client,
        h,
        at(f.lead("c1"), 6),
        at(f.profile("c1", email="c1@example.com"), 6),
        at(f.lead("c2"), 6),
        at(f.profile("c2", email="c2@example.com"), 6),
    )
    t1 = await next_touch(client, h, "c1")
    # Seen 6 days ago: step 1 (day 2) has expired unheard, so step 2 (day 7) carries the first
    # reason, on the one channel with an address.
    assert (t1["playbook"], t1["step"], t1["reason_key"], t1["channel"]) == (
        "lead_nurture",
        2,
        "welcome",
        "email",
    )
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
    again = await client.post(f"/v1/touches/{tid}/outcome", json={"outcome": "reached"}, headers=h)
    assert again.status_code == 409
    nxt = await next_touch(client, h, "c1")
    assert nxt["touch_id"] != tid and nxt["reason_key"] != t1["reason_key"]
    # A contact naming the reason key reports the touch.
    t2 = await next_touch(client, h, "c2")
    await send(
        client,
        h,
        at(f.contact("c2", channel="call", reason_key=t2["reason_key"], outcome="interested"), 0),
    )
    closed = await client.post(
        f"/v1/touches/{t2['touch_id']}/outcome", json={"outcome": "reached"}, headers=h
    )
    assert closed.status_code == 409
    assert (await next_touch(client, h, "c2"))["touch_id"] != t2["touch_id"]


async def test_an_early_contact_without_id_is_not_the_touch(
    client: httpx.AsyncClient, h: dict[str, str]
) -> None:
    await send(client, h, at(f.lead("e1"), 1), at(f.profile("e1", email="e1@example.com"), 1))
    t = await next_touch(client, h, "e1")
    assert datetime.fromisoformat(t["due_at"]) > NOW  # day 2: tomorrow
    await send(client, h, at(f.contact("e1", channel="call"), 0))
    same = await next_touch(client, h, "e1")
    assert same["touch_id"] == t["touch_id"]  # an unplanned contact: it counts for the caps only


async def test_a_touch_re_planned_meanwhile_can_still_be_reported(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any
) -> None:
    await send(client, h, at(f.lead("r1"), 3), at(f.profile("r1", email="r1@example.com"), 3))
    old = await next_touch(client, h, "r1")
    assert old["step"] == 1
    # Its lifetime passes (day 9 after the lead): the worker expires it; step 2 carries the
    # reason the customer has not heard yet.
    await jobs.announce_due(app.state.db, settings, now=NOW + timedelta(days=6))
    fresh = await next_touch(client, h, "r1")
    assert fresh["touch_id"] != old["touch_id"] and fresh["step"] == 2
    assert fresh["reason_key"] == old["reason_key"]
    # The CRM did the old one after all: the contact still counts, so its reason is used up
    # and step 2 takes the next reason.
    await send(client, h, at(f.contact("r1", channel="email", touch_id=old["touch_id"]), 0))
    r = await client.post(
        f"/v1/touches/{old['touch_id']}/outcome", json={"outcome": "reached"}, headers=h
    )
    assert r.status_code == 409  # done by the contact
    now = await next_touch(client, h, "r1")
    assert now["step"] == 2 and now["reason_key"] != old["reason_key"]


async def test_history_puts_each_customer_at_the_step_of_its_calendar(
    client: httpx.AsyncClient, h: dict[str, str], app: Any
) -> None:
    # A lead first seen 400 days ago: the second cycle (days 60, 90 … 390, 420): step 13.
    await send(
        client, h, at(f.lead("old-lead"), 400), at(f.profile("old-lead", email="a@x.ru"), 400)
    )
    t = await next_touch(client, h, "old-lead")
    assert (t["playbook"], t["step"]) == ("second_cycle", 13)
    assert datetime.fromisoformat(t["due_at"]) > NOW + timedelta(days=19)  # not due today
    # Seven contacts on days 2–29 after the first contact, each half a day after its step's
    # calendar time (past any quiet hours, as a shop's calls would be): the second cycle.
    contacts = [
        at(f.contact("hand", channel="call"), 30 - d - 0.5) for d in (2, 7, 13, 21, 24, 27, 29)
    ]
    await send(
        client, h, at(f.lead("hand"), 30), at(f.profile("hand", email="b@x.ru"), 30), *contacts
    )
    t = await next_touch(client, h, "hand")
    assert (t["playbook"], t["step"]) == ("second_cycle", 1)
    # One purchase 900 days ago: no thank-you, the slow rhythm of a lost customer.
    await send(
        client, h, at(f.purchase("old-buyer"), 900), at(f.profile("old-buyer", email="c@x.ru"), 900)
    )
    t = await next_touch(client, h, "old-buyer")
    assert t["playbook"] == "regular"
    due = datetime.fromisoformat(t["due_at"])
    assert NOW - timedelta(days=3) < due <= NOW + timedelta(days=90)
    # Lost yesterday: a probe with the same rhythm (ten purchases ten days apart, the last one
    # today) tells when such a customer is lost; the real one stopped that long ago plus a day.
    probe = [at(f.purchase("probe"), 10 * i) for i in range(10)]
    await send(client, h, at(f.profile("probe", email="p@x.ru"), 100), *probe)
    async with app.state.db.sessionmaker() as s:
        c = await s.scalar(select(Customer).where(Customer.external_id == "probe"))
        assert c is not None and c.lost_at is not None and c.last_purchase_at is not None
        silent = (c.lost_at - c.last_purchase_at) / timedelta(days=1)
    buys = [at(f.purchase("lost"), silent + 1 + 10 * i) for i in range(10)]
    await send(client, h, at(f.profile("lost", email="d@x.ru"), silent + 101), *buys)
    t = await next_touch(client, h, "lost")
    assert t["playbook"] == "win_back" and t["offer"] and t["priority"] == 1
    await send(client, h, at(f.contact("lost", channel="email", touch_id=t["touch_id"]), 0))
    after = await next_touch(client, h, "lost")
    assert after["playbook"] == "regular" and after["offer"] is None
    assert datetime.fromisoformat(after["due_at"]) >= NOW + timedelta(days=89)


async def test_a_company_is_contacted_on_working_days_in_working_hours(
    client: httpx.AsyncClient, h: dict[str, str]
) -> None:
    tz = ZoneInfo("Asia/Vladivostok")
    # The lead came at 20:00 local yesterday: nurture step 1 would fall at 20:00 tomorrow.
    yesterday = (NOW.astimezone(tz) - timedelta(days=1)).replace(
        hour=20, minute=0, second=0, microsecond=0
    )
    seen = f.lead("b2b") | {"occurred_at": yesterday.isoformat()}
    profile = f.profile(
        "b2b", email="buyer@romashka.ru", company="ООО Ромашка", timezone="Asia/Vladivostok"
    ) | {"occurred_at": yesterday.isoformat()}
    await send(client, h, seen, profile)
    t = await next_touch(client, h, "b2b")
    due = datetime.fromisoformat(t["due_at"])
    local = due.astimezone(tz)
    assert due > yesterday + timedelta(days=2)  # moved out of the evening
    assert local.isoweekday() <= 5 and 9 <= local.hour < 18
    assert in_working_hours(due, "Asia/Vladivostok", TouchRules())


async def test_nothing_to_plan_is_200_with_the_reason_and_unknown_is_404(
    client: httpx.AsyncClient, h: dict[str, str]
) -> None:
    closed = {ch: False for ch in ("email", "messenger", "sms", "call", "push")}
    await send(client, h, at(f.lead("quiet"), 1), at(f.profile("quiet", consents=closed), 1))
    r = await client.get("/v1/customers/quiet/next-touch", headers=h)
    assert r.status_code == 200
    assert r.json()["touch"] is None and r.json()["reason"] == "no_consent"
    assert r.json()["explanation"]
    r = await client.get("/v1/customers/nobody/next-touch", headers=h)
    assert r.status_code == 404


async def test_a_purchase_returning_a_lapsed_customer_cancels_the_held_win_back(
    client: httpx.AsyncClient, h: dict[str, str], app: Any
) -> None:
    monthly = [at(f.purchase("w1", amount="1000.00"), 200 - 30 * i) for i in range(5)]
    await send(client, h, at(f.profile("w1", email="w1@example.com"), 300), *monthly)
    t = await next_touch(client, h, "w1")
    assert t["playbook"] == "win_back" and t["offer"]
    r = await client.post(
        f"/v1/touches/{t['touch_id']}/claim", json={"operator": "olga"}, headers=h
    )
    assert r.status_code == 200
    await send(client, h, at(f.purchase("w1", amount="1000.00"), 0))
    after = await next_touch(client, h, "w1")
    assert after["playbook"] != "win_back" and after["offer"] is None
    cancelled = await messages(app, "touch.cancelled")
    assert [(m["touch_id"], m["cause"]) for m in cancelled] == [(t["touch_id"], "returned")]


async def test_an_expired_claim_is_planned_again(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any
) -> None:
    await send(client, h, at(f.lead("k1"), 3), at(f.profile("k1", email="k1@example.com"), 3))
    t = await next_touch(client, h, "k1")
    r = await client.post(
        f"/v1/touches/{t['touch_id']}/claim", json={"operator": "olga", "minutes": 5}, headers=h
    )
    assert r.status_code == 200
    await jobs.announce_due(app.state.db, settings, now=datetime.now(UTC) + timedelta(minutes=10))
    again = await next_touch(client, h, "k1")
    assert again["touch_id"] == t["touch_id"] and again["claimed_by"] is None


async def test_announcements_list_correct_cancel_and_target(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any
) -> None:
    coffee = [at(f.purchase("r2", category="coffee"), 30 - 7 * i) for i in range(5)]
    books = [at(f.purchase("r3", category="books"), 30 - 7 * i) for i in range(5)]
    await send(
        client,
        h,
        at(f.profile("r2", email="r2@example.com"), 60),
        at(f.profile("r3", email="r3@example.com"), 60),
        *coffee,
        *books,
    )
    effective = (NOW + timedelta(days=5)).isoformat()
    r = await client.post(
        "/v1/announcements",
        json={
            "title": "новые часы работы",
            "details": "с 8:00 до 22:00",
            "effective_at": effective,
            "categories": ["coffee"],
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    a = r.json()
    t = await next_touch(client, h, "r2")
    assert (t["playbook"], t["details"]) == ("announcement", "с 8:00 до 22:00")
    assert t["reason"] == "новые часы работы" and "Рассказать: новые часы работы" in t["script"]
    assert (await next_touch(client, h, "r3"))["playbook"] != "announcement"
    second = await client.post(
        "/v1/announcements", json={"title": "x", "effective_at": effective}, headers=h
    )
    page = (await client.get("/v1/announcements", params={"limit": 1}, headers=h)).json()
    assert [x["id"] for x in page["items"]] == [a["id"]] and page["next_cursor"]
    rest = await client.get(
        "/v1/announcements", params={"limit": 1, "cursor": page["next_cursor"]}, headers=h
    )
    assert [x["id"] for x in rest.json()["items"]] == [second.json()["id"]]
    assert (
        await client.delete(f"/v1/announcements/{second.json()['id']}", headers=h)
    ).status_code == 204
    # The touch has gone out; a correction replaces it with one carrying the new words.
    await jobs.announce_due(app.state.db, settings, now=NOW + timedelta(hours=1))
    fixed = await client.patch(
        f"/v1/announcements/{a['id']}", json={"details": "с 7:00 до 22:00"}, headers=h
    )
    assert fixed.status_code == 200 and fixed.json()["revision"] == 2
    t2 = await next_touch(client, h, "r2")
    assert t2["touch_id"] != t["touch_id"] and t2["details"] == "с 7:00 до 22:00"
    assert [m["touch_id"] for m in await messages(app, "touch.cancelled")] == [t["touch_id"]]
    # Withdrawn: its open touch is cancelled.
    assert (await client.delete(f"/v1/announcements/{a['id']}", headers=h)).status_code == 204
    assert (await next_touch(client, h, "r2"))["playbook"] != "announcement"
    assert (await client.get("/v1/announcements", headers=h)).json()["items"] == []
    assert (await client.delete(f"/v1/announcements/{a['id']}", headers=h)).status_code == 404


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
    ).json()["touch"]
    assert before["playbook"] == "lead_nurture" and before["touch_id"] is None
    assert (await next_touch(client, h, "c1"))["playbook"] == "care"


async def test_webhook_event_types_are_checked_against_the_catalogue(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await client.post(
        "/v1/webhooks/endpoints",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["customer.stage_change"]},
        headers=admin,
    )
    assert r.status_code == 422
    assert "customer.stage_changed" in r.text and "touch.cancelled" in r.text
    ok = await client.post(
        "/v1/webhooks/endpoints",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["touch.cancelled"]},
        headers=admin,
    )
    assert ok.status_code == 201, ok.text
