"""A customer's first stage is announced ("from": null) at a real webhook receiver, and a stage
is dated by the event that crossed into it, not by the latest event of the batch."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from app.auth.scopes import Scope
from app.webhooks import delivery
from tests import factories as f
from tests.conftest import KeyMaker
from tests.factories import send
from tests.webhooks.servers import Receiver


@pytest.fixture
async def h(make_key: KeyMaker) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}


async def test_first_stage_reaches_a_webhook_receiver(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any
) -> None:
    receiver = Receiver()
    receiver.start()
    try:
        r = await client.post(
            "/v1/webhooks/endpoints",
            json={"url": receiver.url, "event_types": ["customer.stage_changed"]},
            headers=h,
        )
        assert r.status_code == 201, r.text
        secret = r.json()["secret"]
        await send(
            client,
            h,
            f.profile("new-lead", days=0, name="Ирина Петрова"),
            f.lead("new-lead", days=1),
            f.purchase("new-buyer", days=2),
        )
        await delivery.fan_out(app.state.db, settings)
        await delivery.deliver_due(app.state.db, settings)
        verifier = Webhook(secret)
        got = [verifier.verify(body, headers) for headers, body in receiver.requests]
        data = {(m["data"]["customer_id"], m["data"]["to"]): m["data"] for m in got}
        assert all(m["type"] == "customer.stage_changed" for m in got)
        assert sorted(data) == [("new-buyer", "buyer"), ("new-lead", "lead")]
        # A new lead: from null, dated by the lead event (not the profile before it).
        first = data[("new-lead", "lead")]
        assert first["from"] is None and first["direction"] == "new"
        assert first["at"] == f.ts(1).replace("Z", "+00:00")
        assert first["contact"]["name"] == "Ирина Петрова"
        # A buyer straight away: one message, from null to buyer.
        buyer = data[("new-buyer", "buyer")]
        assert buyer["from"] is None and buyer["at"] == f.ts(2).replace("Z", "+00:00")
        assert json.dumps(buyer)  # plain JSON the CRM reads
    finally:
        receiver.stop()


async def test_stage_since_is_the_event_that_crossed_the_threshold(
    client: httpx.AsyncClient, h: dict[str, str]
) -> None:
    # One batch: two purchases, then a profile change and a contact later on.
    await send(
        client,
        h,
        f.purchase("dated", days=0),
        f.purchase("dated", days=5),
        f.profile("dated", days=6, email="a@example.com"),
        f.contact("dated", days=7),
    )
    s = (await client.get("/v1/customers/dated/stage", headers=h)).json()
    assert s["stage"] == "client"
    assert datetime.fromisoformat(s["since"]) == datetime.fromisoformat(f.ts(5))
