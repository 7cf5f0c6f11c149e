"""One customer up every step of the ladder with the events a shop sends, and back down."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.auth.scopes import Scope
from app.core.outbox import OutboxMessage
from app.customers.models import Customer
from app.stages import jobs
from app.stages.models import StageChange
from app.stages.rules import Facts, StageRules, evaluate
from tests import factories as f
from tests.conftest import KeyMaker
from tests.factories import NOW, at


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat().replace("+00:00", "Z")


class Shop:
    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client, self.h = client, headers

    async def send(self, *events: dict[str, Any]) -> None:
        # wait=true: a referred friend's purchase changes the referrer's stage once derived.
        r = await self.client.post(
            "/v1/events/batch?wait=true", json={"events": list(events)}, headers=self.h
        )
        assert r.status_code == 200 and r.json()["summary"]["rejected"] == 0, r.text

    async def stage(self, customer: str, **params: str) -> dict[str, Any]:
        r = await self.client.get(f"/v1/customers/{customer}/stage", params=params, headers=self.h)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
async def shop(client: httpx.AsyncClient, make_key: KeyMaker) -> Shop:
    key = await make_key(Scope.EVENTS_WRITE, Scope.CUSTOMERS_READ)
    return Shop(client, {"Authorization": f"Bearer {key}"})


async def test_walk_up_and_down_the_ladder(shop: Shop, app: Any) -> None:
    coffee = {"category": "coffee"}
    await shop.send(at(f.contact("anna", channel="email"), 40))
    assert (await shop.stage("anna"))["stage"] == "prospect"
    await shop.send(at(f.lead("anna", "interest"), 35))
    assert (await shop.stage("anna"))["stage"] == "lead"
    await shop.send(at(f.lead("anna", "desire"), 30))
    s = await shop.stage("anna")
    assert s["stage"] == "hot_lead" and s["next_stage"] == "buyer"

    await shop.send(at(f.purchase("anna", order_id="a1", amount="450.00", **coffee), 12))
    s = await shop.stage("anna")
    assert (s["stage"], s["reasons"], s["next_requirements"]) == (
        "buyer",
        ["1 purchase"],
        ["a second purchase"],
    )
    await shop.send(at(f.purchase("anna", order_id="a2", amount="450.00", **coffee), 9))
    s = await shop.stage("anna")
    assert s["stage"] == "client"
    assert s["next_requirements"][0] == "1 more purchase"

    await shop.send(
        at(f.purchase("anna", order_id="a3", amount="450.00", **coffee), 6),
        at(f.purchase("anna", order_id="a4", amount="450.00", **coffee), 3),
    )
    s = await shop.stage("anna")
    assert s["stage"] == "regular"
    assert s["reasons"][0] == "4 purchases, median interval 3 days"
    # Every 3 days does not cover a coffee drinker's whole need (a 2-day rhythm).
    assert "to buy only from us" in s["next_requirements"][0]

    await shop.send(at(f.profile("anna", exclusive=True), 2))
    s = await shop.stage("anna")
    assert s["stage"] == "adherent"
    assert "declared buying only from us" in s["reasons"]

    # A friend she recommended buys: she becomes an advocate.
    await shop.send(
        at(f.referral("boris", "anna"), 2),
        at(f.purchase("boris", order_id="b1", amount="300.00", **coffee), 1),
    )
    s = await shop.stage("anna")
    assert s["stage"] == "advocate"
    assert "recommended us: 1 referred customer bought" in s["reasons"]
    assert s["next_stage"] is None

    # She withdraws the exclusive declaration: down to regular.
    await shop.send(at(f.profile("anna", exclusive=False), 1))
    assert (await shop.stage("anna"))["stage"] == "regular"

    # The friend's only purchase is refunded: the recommendation no longer counts.
    await shop.send(at(f.profile("anna", exclusive=True), 0.5))
    assert (await shop.stage("anna"))["stage"] == "advocate"
    await shop.send(at(f.refund("boris", "b1", "300.00"), 0.4))
    assert (await shop.stage("anna"))["stage"] == "adherent"

    async with app.state.db.sessionmaker() as s:
        history = (
            await s.execute(
                select(StageChange.from_stage, StageChange.to_stage)
                .join(Customer, Customer.id == StageChange.customer_id)
                .where(Customer.external_id == "anna")
                .order_by(StageChange.id)
            )
        ).all()
        messages = (
            await s.scalars(
                select(OutboxMessage.payload)
                .where(OutboxMessage.type == "customer.stage_changed")
                .where(OutboxMessage.customer_id == "anna")
                .order_by(OutboxMessage.id)
            )
        ).all()
    anna = [
        "prospect",
        "lead",
        "hot_lead",
        "buyer",
        "client",
        "regular",
        "adherent",
        "advocate",
        "regular",
        "advocate",
        "adherent",
    ]
    # The first stage is announced too: a CRM hears of a new prospect ("from": null).
    assert [m["to"] for m in messages] == anna
    assert [m["from"] for m in messages] == [None, *anna[:-1]]
    assert messages[0]["direction"] == "new" and messages[-1]["direction"] == "down"
    # The history holds every change, the first one out of no stage at all.
    assert [tuple(h) for h in history] == list(zip([None, *anna[:-1]], anna, strict=True))


async def test_refund_undoes_a_purchase_on_the_ladder(shop: Shop) -> None:
    await shop.send(
        at(f.purchase("c1", order_id="o1", amount="100.00"), 20),
        at(f.purchase("c1", order_id="o2", amount="100.00"), 10),
    )
    assert (await shop.stage("c1"))["stage"] == "client"
    await shop.send(at(f.refund("c1", "o2", "100.00"), 9))
    assert (await shop.stage("c1"))["stage"] == "buyer"


async def test_positive_public_review_makes_an_adherent_an_advocate(shop: Shop) -> None:
    events = [
        at(f.purchase("c1", order_id=f"o{i}", amount="100.00", category="coffee"), 2 * (5 - i))
        for i in range(5)
    ]
    await shop.send(*events)
    s = await shop.stage("c1")
    assert s["stage"] == "adherent"  # every 2 days covers the coffee need
    await shop.send(at(f.review("c1", rating=3, public=True), 0.5))
    assert (await shop.stage("c1"))["stage"] == "adherent"
    await shop.send(at(f.review("c1", rating=5, public=False), 0.4))
    assert (await shop.stage("c1"))["stage"] == "adherent"
    await shop.send(at(f.review("c1", rating=5, public=True), 0.3))
    s = await shop.stage("c1")
    assert s["stage"] == "advocate" and "public review 5/5" in s["reasons"]


async def test_as_of_answers_from_past_events(shop: Shop) -> None:
    await shop.send(
        at(f.purchase("c1", order_id="o1", amount="100.00"), 30),
        at(f.purchase("c1", order_id="o2", amount="100.00"), 20),
    )
    past = await shop.stage("c1", as_of=ago(25))
    assert past["stage"] == "buyer"
    assert (await shop.stage("c1", as_of=ago(15)))["stage"] == "client"
    assert (await shop.stage("c1", as_of=ago(45)))["stage"] == "prospect"


async def test_a_regular_who_stops_buying_steps_down_by_time(
    shop: Shop, app: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await shop.send(
        *[at(f.purchase("c1", order_id=f"o{i}", amount="100.00"), 40 - 10 * i) for i in range(4)]
    )
    assert (await shop.stage("c1"))["stage"] == "regular"
    assert await jobs.review_due_stages(app.state.db, settings) == 0
    later = NOW + timedelta(days=30)
    monkeypatch.setattr(jobs, "utcnow", lambda: later)
    assert await jobs.review_due_stages(app.state.db, settings) == 1
    async with app.state.db.sessionmaker() as s:
        msg = await s.scalar(
            select(OutboxMessage.payload)
            .where(OutboxMessage.type == "customer.stage_changed")
            .order_by(OutboxMessage.id.desc())
        )
    assert msg is not None and (msg["from"], msg["to"]) == ("regular", "client")


def test_rules_thresholds_are_configurable() -> None:
    facts = Facts(
        as_of=NOW,
        purchase_count=3,
        last_purchase_at=NOW - timedelta(days=1),
        interval_median_days=10,
        interval_mean_days=10,
        interval_stdev_days=1,
    )
    assert evaluate(facts, StageRules()).stage == "regular"
    assert evaluate(facts, StageRules(regular_min_purchases=4)).stage == "client"
    lazy = Facts(**{**facts.__dict__, "last_purchase_at": NOW - timedelta(days=25)})
    assert evaluate(lazy, StageRules()).stage == "client"
    assert evaluate(lazy, StageRules(regular_active_factor=3)).stage == "regular"
