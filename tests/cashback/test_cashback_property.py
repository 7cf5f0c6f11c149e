"""Random sequences of purchases, refunds, redemptions and expiries: the balance always equals
the ledger sum, the lots hold exactly the balance, and it never goes below zero."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.auth.scopes import Scope
from app.cashback import service
from tests import factories as f
from tests.cashback.test_cashback_api import ledger_ok
from tests.conftest import KeyMaker

NOW = datetime.now(UTC)

steps = st.lists(
    st.one_of(
        st.tuples(st.just("buy"), st.integers(1, 500_000)),
        st.tuples(st.just("refund"), st.integers(0, 9), st.integers(1, 100)),
        st.tuples(st.just("redeem"), st.integers(1, 30_000)),
        st.tuples(st.just("expire"), st.integers(1, 400)),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=steps)
async def test_balance_is_the_ledger_and_never_negative(
    client: httpx.AsyncClient, make_key: KeyMaker, app: Any, ops: list[tuple[Any, ...]]
) -> None:
    key = await make_key(Scope.EVENTS_WRITE, Scope.CASHBACK_WRITE)
    h = {"Authorization": f"Bearer {key}"}
    cid = f"p-{uuid.uuid4().hex[:10]}"
    orders: list[tuple[str, int, int]] = []  # (order id, amount, refunded)
    day = 380.0
    for n, op in enumerate(ops):
        day -= 1
        when = (NOW - timedelta(days=day)).isoformat()
        if op[0] == "buy":
            order = f"{cid}-o{n}"
            body = f.purchase(cid, order_id=order, amount=f"{op[1] / 100:.2f}") | {
                "occurred_at": when
            }
            assert (await client.post("/v1/events", json=body, headers=h)).status_code == 201
            orders.append((order, op[1], 0))
        elif op[0] == "refund" and orders:
            i = op[1] % len(orders)
            order, amount, refunded = orders[i]
            part = (amount - refunded) * op[2] // 100
            if part > 0:
                body = f.refund(cid, order, f"{part / 100:.2f}") | {"occurred_at": when}
                assert (await client.post("/v1/events", json=body, headers=h)).status_code == 201
                orders[i] = (order, amount, refunded + part)
        elif op[0] == "redeem" and orders:
            r = await client.post(
                f"/v1/customers/{cid}/cashback/redemptions",
                json={"amount": f"{op[1] / 100:.2f}"},
                headers=h | {"Idempotency-Key": f"k{n}"},
            )
            assert r.status_code in (201, 409), r.text
        elif op[0] == "expire":
            async with app.state.db.sessionmaker() as s, s.begin():
                await service.expire_lots(s, NOW + timedelta(days=op[1] - day), 1000)
        if orders:
            await ledger_ok(app, cid)
