"""A customer's right to be erased, and to an export of what is stored about them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import JSON as SA_JSON
from sqlalchemy import String, Text, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook

from app.auth.scopes import Scope
from app.cashback.models import CashbackEntry
from app.core.db import Base
from app.core.outbox import OutboxMessage
from app.customers.models import Customer
from app.customers.privacy.rules import KEPT_PROFILE_FIELDS, PERSONAL_PROFILE_FIELDS
from app.events.schemas import PROFILE_FIELDS, ProfileEvent
from app.webhooks import delivery
from tests import factories as f
from tests.conftest import KeyMaker
from tests.webhooks.servers import Receiver

EMAIL = "Alisa.Erasable@Example.org"
OLD_EMAIL = "alisa.before@example.net"
PHONE = "+7 (999) 123-45-67"
NAME = "Alisa Ivanovna Erasova"
COMPANY = "Erasova Trading"


def test_every_profile_field_is_classified() -> None:
    """A new profile field must be declared personal (erased) or not (kept)."""
    assert not set(PERSONAL_PROFILE_FIELDS) & set(KEPT_PROFILE_FIELDS)
    classified = set(PERSONAL_PROFILE_FIELDS) | set(KEPT_PROFILE_FIELDS)
    assert set(PROFILE_FIELDS) <= classified
    assert set(Customer().profile()) <= classified


def _profile(customer: str, days_ago: float, **fields: Any) -> dict[str, Any]:
    if "name" in ProfileEvent.model_fields:  # the richer profile: the name is erased too
        fields.setdefault("name", NAME)
    return f.at(f.profile(customer, **fields), days_ago)


async def _texts_containing(session: AsyncSession, needle: str) -> list[str]:
    """Every text or JSON column of every table, searched for `needle` (any case)."""
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if not isinstance(column.type, String | Text | SA_JSON):
                continue
            as_text = func.lower(cast(column, Text))
            n = await session.scalar(
                select(func.count()).where(as_text.contains(needle.lower(), autoescape=True))
            )
            if n:
                found.append(f"{table.name}.{column.name}")
    return found


async def _texts_equal(session: AsyncSession, value: str) -> list[str]:
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, String | Text):
                n = await session.scalar(select(func.count()).where(column == value))
                if n:
                    found.append(f"{table.name}.{column.name}")
    return found


async def _worker_until(app: Any, settings: Any, done: Callable[[], bool]) -> None:
    for _ in range(200):
        await delivery.fan_out(app.state.db, settings)
        await delivery.deliver_due(app.state.db, settings)
        if done():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the worker did not deliver in time")


async def _totals(client: httpx.AsyncClient, app: Any, h: dict[str, str]) -> dict[str, Any]:
    pyramid = (await client.get("/v1/analytics/pyramid", headers=h)).json()
    pyramid.pop("as_of")
    async with app.state.db.sessionmaker() as s:
        ledger = (
            await s.execute(
                select(
                    func.count(),
                    func.sum(CashbackEntry.amount_minor),
                    func.sum(CashbackEntry.remaining_minor),
                )
            )
        ).one()
        customers = (
            await s.execute(
                select(
                    func.count(),
                    func.sum(Customer.cashback_balance_minor),
                    func.sum(Customer.net_revenue_minor),
                    func.sum(Customer.referrals_converted),
                )
            )
        ).one()
    return {"pyramid": pyramid, "ledger": tuple(ledger), "customers": tuple(customers)}


async def test_erasure_removes_personal_data_and_keeps_the_totals(
    client: httpx.AsyncClient, app: Any, settings: Any, make_key: KeyMaker
) -> None:
    admin = {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}
    receiver = Receiver()
    receiver.start()
    try:
        ep = (
            await client.post("/v1/webhooks/endpoints", json={"url": receiver.url}, headers=admin)
        ).json()
        history = [
            _profile("alisa", 40, email=OLD_EMAIL, phone=PHONE),
            _profile("alisa", 30, email=EMAIL, company=COMPANY, timezone="Europe/Moscow"),
            f.at(f.purchase("alisa", amount="1200.00"), 20),
            f.at(f.purchase("alisa", amount="800.00"), 10),
            f.at(f.referral("boris", "alisa"), 9),
            f.at(f.purchase("boris", amount="500.00"), 8),
            f.at(f.purchase("vera", amount="300.00"), 5),
        ]
        for event in history:
            r = await client.post("/v1/events?wait=true", json=event, headers=admin)
            assert r.status_code == 201, r.text
        old_purchase = history[2]

        # Personal data also reaches free texts: an operator's note, a redemption.
        touch = (await client.get("/v1/customers/alisa/next-touch", headers=admin)).json()
        note = f"Called {PHONE}, asked to write to {EMAIL}"
        r = await client.post(
            f"/v1/touches/{touch['touch_id']}/outcome",
            json={"outcome": "reached", "note": note},
            headers=admin,
        )
        assert r.status_code == 200, r.text
        r = await client.post(
            "/v1/customers/alisa/cashback/redemptions",
            json={"amount": "10.00"},
            headers=admin | {"Idempotency-Key": "till-1"},
        )
        assert r.status_code == 201, r.text
        token = (await client.post("/v1/customers/alisa/tokens", headers=admin)).json()["token"]
        mobile = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/v1/me", headers=mobile)).status_code == 200

        async with app.state.db.sessionmaker() as s:
            assert await _texts_containing(s, EMAIL)  # the scan finds what is there
            assert await _texts_containing(s, PHONE)
        await _worker_until(app, settings, lambda: len(receiver.requests) >= 5)
        before = await _totals(client, app, admin)

        r = await client.delete("/v1/customers/alisa", headers=admin)
        assert r.status_code == 200, r.text
        erased = r.json()
        assert erased["customer_id"] == "alisa" and erased["events_redacted"] == 4

        assert await _totals(client, app, admin) == before
        async with app.state.db.sessionmaker() as s:
            for value in (EMAIL, OLD_EMAIL, PHONE, NAME, COMPANY):
                assert await _texts_containing(s, value) == [], value
            # The sender's id survives only where it must: the erasure message (for the
            # CRMs) and the revocation of its tokens. Referrals, ledger keys, messages and
            # events name the pseudonym.
            assert sorted(await _texts_equal(s, "alisa")) == [
                "customer_tokens.customer_id",
                "outbox_messages.customer_id",
            ]
            assert await _texts_containing(s, '"alisa"') == ["outbox_messages.payload"]
            about = select(OutboxMessage.type).where(OutboxMessage.customer_id == "alisa")
            assert list(await s.scalars(about)) == ["customer.erased"]
            quoted = func.lower(cast(OutboxMessage.payload, Text)).contains('"alisa"')
            assert list(await s.scalars(select(OutboxMessage.type).where(quoted))) == [
                "customer.erased"
            ]
            assert await _texts_containing(s, ":alisa") == []
            assert await _texts_containing(s, "by alisa") == []
        assert (await client.get("/v1/customers/alisa", headers=admin)).status_code == 404
        assert (await client.get("/v1/me", headers=mobile)).status_code == 401
        assert (await client.delete("/v1/customers/alisa", headers=admin)).status_code == 404

        # Boris's referrer is the pseudonym now; his credit still counts for that row.
        boris = (await client.get("/v1/customers/boris", headers=admin)).json()
        assert boris["relationship"]["referrer_id"].startswith("erased-")

        # CRMs hear of it through a signed webhook, like every other message.
        await _worker_until(
            app, settings, lambda: any(b"customer.erased" in body for _, body in receiver.requests)
        )
        ((headers, body),) = [(h, b) for h, b in receiver.requests if b"customer.erased" in b]
        message = Webhook(ep["secret"]).verify(body, headers)  # raises on a bad signature
        assert headers["webhook-id"] == erased["message_id"]
        assert message["type"] == "customer.erased"
        assert message["data"]["customer_id"] == "alisa"
        at = datetime.fromisoformat(message["data"]["erased_at"])
        assert at == datetime.fromisoformat(erased["erased_at"])
        assert EMAIL.encode() not in body and PHONE.encode() not in body

        # The id is free: a later event starts a new customer, who knows nothing of the old.
        r = await client.post(
            "/v1/events?wait=true", json=f.at(f.contact("alisa"), 1), headers=admin
        )
        assert r.status_code == 201
        fresh = (await client.get("/v1/customers/alisa", headers=admin)).json()
        assert fresh["purchases"]["purchase_count"] == 0
        assert fresh["profile"]["email"] is None and fresh["relationship"]["referrer_id"] is None
        assert (await client.get("/v1/me", headers=mobile)).status_code == 401
        # A replay of an erased event cannot bring the data back.
        replay = await client.post("/v1/events", json=old_purchase, headers=admin)
        assert replay.status_code == 409
    finally:
        receiver.stop()


async def test_export_is_everything_stored_about_the_customer(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    admin = {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}
    for event in (
        _profile("gleb", 3, email=EMAIL, phone=PHONE),
        f.at(f.purchase("gleb", amount="1500.00", order_id="g-1"), 2),
    ):
        assert (
            await client.post("/v1/events?wait=true", json=event, headers=admin)
        ).status_code == 201
    reader = {"Authorization": f"Bearer {await make_key(Scope.CUSTOMERS_READ)}"}
    assert (await client.get("/v1/customers/gleb/export", headers=reader)).status_code == 403

    r = await client.get("/v1/customers/gleb/export", headers=admin)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["customer_id"] == "gleb"
    assert doc["customer"]["email"].lower() == EMAIL.lower() and doc["customer"]["phone"] == PHONE
    assert [o["order_id"] for o in doc["orders"]] == ["g-1"]
    assert {e["type"] for e in doc["events"]} == {"profile", "purchase"}
    profile = next(e for e in doc["events"] if e["type"] == "profile")
    assert profile["payload"]["phone"] == PHONE
    assert [e["kind"] for e in doc["cashback_entries"]] == ["earn"]
    assert {m["type"] for m in doc["messages"]} >= {"cashback.earned"}
    assert doc["stage_history"] and doc["prediction"] is not None

    assert (await client.delete("/v1/customers/gleb", headers=admin)).status_code == 200
    assert (await client.get("/v1/customers/gleb/export", headers=admin)).status_code == 404
