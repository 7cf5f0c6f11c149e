"""Out-of-order delivery, duplicates and replays give exactly the state in-order delivery gives."""

from __future__ import annotations

import random
import uuid
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.auth.scopes import Scope
from tests import factories as f
from tests.conftest import KeyMaker

amounts = st.integers(min_value=1, max_value=500_000)  # kopecks
days = st.floats(min_value=0, max_value=250, allow_nan=False).map(lambda d: round(d, 3))


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Events of one customer (as templates: customer and ids filled in later)."""
    events: list[dict[str, Any]] = []
    for n in range(draw(st.integers(0, 6))):
        amount = draw(amounts)
        order = f"o{n}"
        cat = draw(st.sampled_from([None, "coffee", "tea"]))
        bought = draw(days)
        events.append(
            f.purchase("X", days=bought, amount=f"{amount / 100:.2f}", order_id=order, category=cat)
        )
        left = amount
        for _ in range(draw(st.integers(0, 2))):
            if left == 0:
                break
            part = draw(st.integers(1, left))
            left -= part
            later = draw(st.floats(min_value=0.001, max_value=30))
            events.append(f.refund("X", order, f"{part / 100:.2f}", days=round(bought + later, 3)))
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["contact", "lead", "review", "profile", "referral"]))
        d = draw(days)
        if kind == "contact":
            events.append(f.contact("X", days=d, channel=draw(st.sampled_from(["call", "sms"]))))
        elif kind == "lead":
            events.append(f.lead("X", draw(st.sampled_from(["interest", "desire"])), days=d))
        elif kind == "review":
            events.append(f.review("X", draw(st.integers(1, 5)), draw(st.booleans()), days=d))
        elif kind == "referral":
            events.append(f.referral("X", draw(st.sampled_from(["r1", "r2"])), days=d))
        else:
            events.append(
                f.profile(
                    "X",
                    days=d,
                    email=draw(st.sampled_from(["a@example.com", "b@example.com"])),
                    exclusive=draw(st.booleans()),
                )
            )
    return events


def _instantiate(templates: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    out = []
    for i, t in enumerate(templates):
        e = dict(t)
        e["customer_id"] = f"{prefix}-cust"
        e["event_id"] = f"{prefix}-ev-{i:03d}"
        if "order_id" in e:
            e["order_id"] = f"{prefix}-{e['order_id']}"
        if "referrer_id" in e:
            e["referrer_id"] = f"{prefix}-{e['referrer_id']}"
        out.append(e)
    return out


def _shuffled_with_refunds_after_orders(
    events: list[dict[str, Any]], rnd: random.Random
) -> list[dict[str, Any]]:
    rest = list(events)
    rnd.shuffle(rest)
    placed: list[dict[str, Any]] = []
    waiting: list[dict[str, Any]] = []
    orders_seen: set[str] = set()
    for e in rest:
        if e["type"] == "refund" and e["order_id"] not in orders_seen:
            waiting.append(e)
            continue
        placed.append(e)
        if e["type"] == "purchase":
            orders_seen.add(e["order_id"])
    return placed + waiting


def _state(body: dict[str, Any], prefix: str) -> dict[str, Any]:
    body = {k: v for k, v in body.items() if k not in ("customer_id", "created_at", "updated_at")}
    rel = body["relationship"]
    if rel["referrer_id"]:
        rel["referrer_id"] = rel["referrer_id"].removeprefix(prefix + "-")
    return body


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories(), seed=st.integers(0, 2**32 - 1))
async def test_shuffled_replayed_delivery_equals_in_order(
    client: httpx.AsyncClient, make_key: KeyMaker, history: list[dict[str, Any]], seed: int
) -> None:
    h = {"Authorization": f"Bearer {await make_key(Scope.EVENTS_WRITE, Scope.CUSTOMERS_READ)}"}
    run = uuid.uuid4().hex[:8]
    rnd = random.Random(seed)
    ordered = sorted(_instantiate(history, f"A{run}"), key=lambda e: e["occurred_at"])
    ordered.append(f.contact(f"A{run}-cust", days=0, event_id=f"A{run}-ev-zzz"))
    for e in ordered:
        r = await client.post("/v1/events", json=e, headers=h)
        assert r.status_code == 201, r.text

    messy = _instantiate(history, f"B{run}")
    messy.append(f.contact(f"B{run}-cust", days=0, event_id=f"B{run}-ev-zzz"))
    messy = _shuffled_with_refunds_after_orders(messy, rnd)
    messy += rnd.sample(messy, k=len(messy) // 2)  # replays
    while messy:
        size = rnd.randint(1, 5)
        batch, messy = messy[:size], messy[size:]
        r = await client.post("/v1/events/batch", json={"events": batch}, headers=h)
        assert r.status_code == 200
        assert r.json()["summary"]["rejected"] == 0, r.text

    a = (await client.get(f"/v1/customers/A{run}-cust", headers=h)).json()
    b = (await client.get(f"/v1/customers/B{run}-cust", headers=h)).json()
    assert _state(a, f"A{run}") == _state(b, f"B{run}")
