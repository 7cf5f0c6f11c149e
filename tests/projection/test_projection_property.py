"""Derived state does not depend on how facts were batched or when the projection ran.

Random histories of all seven event types are delivered twice into one database, under two
prefixes: one event per request with the projection run after each, and in random batches
with the projection run after some of them (or only at the end). Every customer's derived
state (aggregates, stage, status, stored prediction, cashback lots and balance, planned
touch) must be the same in both copies.

Events arrive in the order they happened, as a shop's backend sends them. Refunds are
partial here: a full refund takes a referral credit back, and the earn rate of a referrer's
purchase made meanwhile depends on whether the projection had seen the credit (that case
has its own test in tests/stages).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.auth.scopes import Scope
from app.projection.pipeline import drain
from tests.conftest import KeyMaker
from tests.projection.snapshots import derived_state, differences

NOW = datetime.now(UTC).replace(microsecond=0)
CUSTOMERS = 3

op = st.one_of(
    st.tuples(st.just("purchase"), st.integers(0, 2), st.integers(100, 500_000)),
    st.tuples(st.just("refund"), st.integers(0, 2), st.integers(0, 9), st.integers(1, 45)),
    st.tuples(st.just("contact"), st.integers(0, 2), st.sampled_from(["call", "email", "sms"])),
    st.tuples(st.just("lead"), st.integers(0, 2), st.sampled_from(["interest", "desire"])),
    st.tuples(st.just("referral"), st.integers(0, 2), st.integers(1, 2)),
    st.tuples(st.just("review"), st.integers(0, 2), st.integers(1, 5), st.booleans()),
    st.tuples(st.just("profile"), st.integers(0, 2), st.sampled_from([True, False, None])),
)
history = st.lists(st.tuples(op, st.integers(1, 40)), min_size=1, max_size=14)
cuts = st.lists(st.booleans(), min_size=14, max_size=14)


def events_of(ops: list[tuple[tuple[Any, ...], int]], prefix: str) -> list[dict[str, Any]]:
    """The history as event bodies under `prefix`, oldest first."""
    day = float(sum(gap for _, gap in ops) + 1)
    orders: dict[int, list[tuple[str, int, int]]] = {k: [] for k in range(CUSTOMERS)}
    referred: set[int] = set()
    out: list[dict[str, Any]] = []
    for n, (o, gap) in enumerate(ops):
        day -= gap
        who = o[1]
        body: dict[str, Any] = {
            "event_id": f"{prefix}e{n}",
            "type": o[0],
            "customer_id": f"{prefix}c{who}",
            "occurred_at": (NOW - timedelta(days=day)).isoformat(),
        }
        if o[0] == "purchase":
            order = f"{prefix}o{n}"
            orders[who].append((order, o[2], 0))
            body |= {"order_id": order, "amount": f"{o[2] / 100:.2f}", "currency": "RUB"}
        elif o[0] == "refund":
            if not orders[who]:
                continue
            i = o[2] % len(orders[who])
            order, amount, refunded = orders[who][i]
            part = min(amount * o[3] // 100, amount * 9 // 10 - refunded)
            if part <= 0:
                continue
            orders[who][i] = (order, amount, refunded + part)
            body |= {"order_id": order, "amount": f"{part / 100:.2f}"}
        elif o[0] == "contact":
            body |= {"channel": o[2], "direction": "outbound"}
        elif o[0] == "lead":
            body |= {"level": o[2]}
        elif o[0] == "referral":
            if who in referred:
                continue
            referred.add(who)
            body |= {"referrer_id": f"{prefix}c{(who + o[2]) % CUSTOMERS}"}
        elif o[0] == "review":
            body |= {"rating": o[2], "public": o[3]}
        else:
            body |= {"exclusive": o[2], "email": f"c{who}-{n}@example.com"}
        out.append(body)
    return out


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=history, batch_ends=cuts, derive_after=cuts)
async def test_batching_and_projection_timing_do_not_change_derived_state(
    client: httpx.AsyncClient,
    make_key: KeyMaker,
    app: Any,
    ops: list[tuple[tuple[Any, ...], int]],
    batch_ends: list[bool],
    derive_after: list[bool],
) -> None:
    assume(events_of(ops, ""))
    h = {"Authorization": f"Bearer {await make_key(Scope.EVENTS_WRITE)}"}
    db, cfg = app.state.db, app.state.settings
    tag = uuid.uuid4().hex[:8]
    one, batched = f"a{tag}-", f"b{tag}-"

    for body in events_of(ops, one):
        r = await client.post("/v1/events", json=body, headers=h)
        assert r.status_code == 201, r.text
        await drain(db, cfg, now=NOW)

    batch: list[dict[str, Any]] = []
    events = events_of(ops, batched)
    for i, body in enumerate(events):
        batch.append(body)
        if batch_ends[i] or i == len(events) - 1:
            r = await client.post("/v1/events/batch", json={"events": batch}, headers=h)
            assert r.json()["summary"]["accepted"] == len(batch), r.text
            batch = []
            if derive_after[i]:
                await drain(db, cfg, now=NOW)
    await drain(db, cfg, now=NOW)

    expected = await derived_state(app, one)
    found = differences(await derived_state(app, batched), expected)
    assert not found, "\n".join(found)
