"""Random sequences of purchases, refunds, redemptions, reversals, adjustments and the passing of
time (with the expiry worker), checked step by step against a plain model of the ledger: every
answer (201 or 409, 200) is the one the model says is right, the spendable, pending and owed
amounts are the model's, the balance equals the ledger sum and the lots, never below zero."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from app.auth.scopes import Scope
from app.cashback import expiry
from app.cashback.rules import DEFAULT_EARN_RATES, CashbackRules, clawback_for, earned_on
from app.core.db import utcnow
from app.core.money import format_minor
from app.core.settings import Settings
from tests import factories as f
from tests.cashback.test_cashback_api import ledger_ok
from tests.conftest import KeyMaker

RATE = 0.05  # one rate for every stage: the model needs no ladder
HOLD, LIFETIME, FRESH = timedelta(days=14), timedelta(days=365), timedelta(days=30)


@pytest.fixture
def settings(db_url: str) -> Settings:
    """One earn rate for every stage: the model needs no ladder."""
    return Settings(
        database_url=db_url,
        env="test",
        webhook_allow_private=True,
        cashback=CashbackRules(earn_rates=dict.fromkeys(DEFAULT_EARN_RATES, RATE)),
    )


@dataclass
class Lot:
    id: int
    remaining: int
    available: datetime
    expires: datetime
    earned: int = 0
    expired: int = 0
    wanted: int = 0


@dataclass
class Ledger:
    """The rules as a reader would state them, independent of the implementation."""

    now: datetime
    lots: list[Lot] = field(default_factory=list)
    debts: list[int] = field(default_factory=list)

    def sweep(self) -> None:
        for lot in self.lots:
            if lot.remaining and lot.expires <= self.now:
                lot.expired, lot.remaining = lot.expired + lot.remaining, 0

    def live(self, pending_too: bool) -> list[Lot]:
        self.sweep()
        return sorted(
            (
                lot
                for lot in self.lots
                if lot.remaining and (pending_too or lot.available <= self.now)
            ),
            key=lambda lot: (lot.expires, lot.id),
        )

    def spendable(self) -> int:
        return sum(lot.remaining for lot in self.live(False))

    def pending(self) -> int:
        return sum(lot.remaining for lot in self.live(True)) - self.spendable()

    def credit(self, amount: int, available: datetime, expires: datetime) -> Lot:
        lot = Lot(len(self.lots) + 1, amount, available, expires, earned=amount)
        self.lots.append(lot)
        for i, owed in enumerate(self.debts):
            part = min(owed, lot.remaining)
            self.debts[i] -= part
            lot.remaining -= part
        self.debts = [d for d in self.debts if d]
        return lot

    def take(
        self, amount: int, pending_too: bool, first: Lot | None = None
    ) -> list[tuple[Lot, int]]:
        order = self.live(pending_too)
        if first is not None and first in order:
            order = [first] + [lot for lot in order if lot is not first]
        parts = []
        for lot in order:
            part = min(lot.remaining, amount - sum(p for _, p in parts))
            if part > 0:
                lot.remaining -= part
                parts.append((lot, part))
        return parts


steps = st.lists(
    st.one_of(
        st.tuples(st.just("buy"), st.integers(1, 500_000), st.integers(0, 30)),
        st.tuples(st.just("refund"), st.integers(0, 9), st.integers(1, 100)),
        st.tuples(
            st.just("redeem"), st.sampled_from(["exact", "over", "any"]), st.integers(1, 30_000)
        ),
        st.tuples(st.just("reverse"), st.integers(0, 9)),
        st.tuples(st.just("adjust"), st.integers(-30_000, 30_000).filter(bool)),
        st.tuples(st.just("wait"), st.integers(1, 200)),
    ),
    min_size=1,
    max_size=14,
)


@examples(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=steps)
async def test_every_answer_and_balance_is_the_models(
    client: httpx.AsyncClient, make_key: KeyMaker, app: Any, ops: list[tuple[Any, ...]]
) -> None:
    key = await make_key(Scope.EVENTS_WRITE, Scope.CASHBACK_READ, Scope.CASHBACK_WRITE)
    h = {"Authorization": f"Bearer {key}"}
    cid = f"p-{uuid.uuid4().hex[:10]}"
    model = Ledger(now=utcnow() - timedelta(days=400))
    orders: list[list[Any]] = []  # [order id, amount, refunded, its lot or None]
    redemptions: list[list[Any]] = []  # [redemption id, parts, first reversal answer]
    app.state.clock = lambda: model.now
    with pytest.MonkeyPatch.context() as mp:
        # Ingestion reads the real clock; the model's instant stands in for it.
        mp.setattr("app.events.service.utcnow", lambda: model.now)
        mp.setattr("app.projection.pipeline.utcnow", lambda: model.now)
        for n, op in enumerate(ops):
            await apply(client, h, app, cid, n, op, model, orders, redemptions)
            if orders or n:
                cb = (await client.get(f"/v1/customers/{cid}/cashback", headers=h)).json()
                if orders:
                    assert (cb["balance"], cb["pending"], cb["owed"]) == (
                        format_minor(model.spendable()),
                        format_minor(model.pending()),
                        format_minor(sum(model.debts)),
                    ), (n, op)
                    await ledger_ok(app, cid)


async def apply(
    client: httpx.AsyncClient,
    h: dict[str, str],
    app: Any,
    cid: str,
    n: int,
    op: tuple[Any, ...],
    model: Ledger,
    orders: list[list[Any]],
    redemptions: list[list[Any]],
) -> None:
    kind = op[0]
    if kind == "buy":
        order, amount, back = f"{cid}-o{n}", op[1], timedelta(days=op[2])
        at = model.now - back
        body = f.purchase(cid, order_id=order, amount=f"{amount / 100:.2f}")
        r = await client.post("/v1/events", json=body | {"occurred_at": at.isoformat()}, headers=h)
        assert r.status_code == 201, r.text
        earned = earned_on(amount, RATE)
        lot = model.credit(earned, at + HOLD, at + LIFETIME) if earned > 0 else None
        orders.append([order, amount, 0, lot])
    elif kind == "refund" and orders:
        entry = orders[op[1] % len(orders)]
        order, amount, refunded, lot = entry
        part = (amount - refunded) * op[2] // 100
        if part <= 0:
            return
        body = f.refund(cid, order, f"{part / 100:.2f}") | {"occurred_at": model.now.isoformat()}
        assert (await client.post("/v1/events", json=body, headers=h)).status_code == 201
        entry[2] = refunded + part
        if lot is not None:
            model.sweep()
            wanted = clawback_for(lot.earned, amount, entry[2], lot.wanted, lot.expired)
            lot.wanted += wanted
            taken = sum(p for _, p in model.take(wanted, True, first=lot))
            if wanted > taken:
                model.debts.append(wanted - taken)
    elif kind == "redeem" and orders:
        spendable = model.spendable()
        amount = {"exact": spendable, "over": spendable + 1, "any": op[2]}[op[1]] or 1
        r = await client.post(
            f"/v1/customers/{cid}/cashback/redemptions",
            json={"amount": f"{amount / 100:.2f}"},
            headers=h | {"Idempotency-Key": f"{cid}-k{n}"},
        )
        if amount <= spendable:
            assert r.status_code == 201, (r.text, amount, spendable)
            parts = model.take(amount, False)
            assert r.json()["balance"] == format_minor(model.spendable())
            redemptions.append([r.json()["redemption_id"], parts, None])
        else:
            assert r.status_code == 409, (r.text, amount, spendable)
            assert r.json()["type"].endswith("/insufficient-balance")
            assert r.json()["balance"] == format_minor(spendable)
    elif kind == "reverse" and redemptions:
        entry = redemptions[op[1] % len(redemptions)]
        r = await client.post(f"/v1/cashback/redemptions/{entry[0]}/reversal", headers=h)
        assert r.status_code == 200, r.text
        if entry[2] is not None:
            assert r.json() == entry[2]  # a repeat changes nothing
            return
        for lot, part in entry[1]:
            expires = lot.expires if lot.expires > model.now else model.now + FRESH
            model.credit(part, model.now, expires)
        entry[2] = r.json()
    elif kind == "adjust" and orders:
        amount = op[1]
        r = await client.post(
            f"/v1/customers/{cid}/cashback/adjustments",
            json={"amount": f"{amount / 100:.2f}", "reason": "property"},
            headers=h | {"Idempotency-Key": f"{cid}-a{n}"},
        )
        if amount > 0:
            assert r.status_code == 201, r.text
            model.credit(amount, model.now, model.now + LIFETIME)
        elif -amount <= model.spendable() + model.pending():
            assert r.status_code == 201, r.text
            model.take(-amount, True)
        else:
            assert r.status_code == 409, r.text
    elif kind == "wait":
        model.now += timedelta(days=op[1])
        async with app.state.db.sessionmaker() as s, s.begin():
            await expiry.expire_lots(s, model.now)
