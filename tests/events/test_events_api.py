from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.auth.scopes import Scope
from tests import factories as f
from tests.conftest import KeyMaker

PROBLEM = "application/problem+json"


async def _writer(make_key: KeyMaker) -> dict[str, str]:
    key = await make_key(Scope.EVENTS_WRITE, Scope.CUSTOMERS_READ)
    return {"Authorization": f"Bearer {key}"}


async def _customer(client: httpx.AsyncClient, h: dict[str, str], cid: str) -> dict[str, Any]:
    r = await client.get(f"/v1/customers/{cid}", headers=h)
    assert r.status_code == 200, r.text
    return r.json()


async def test_purchase_is_accepted_then_duplicate(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    h = await _writer(make_key)
    body = f.purchase("c1", amount="1500.00", order_id="o1")
    first = await client.post("/v1/events", json=body, headers=h)
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "accepted"
    again = await client.post("/v1/events", json=body, headers=h)
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert again.json()["received_at"] == first.json()["received_at"]
    c = await _customer(client, h, "c1")
    assert c["purchases"]["purchase_count"] == 1
    assert c["purchases"]["net_revenue"] == "1500.00"


async def test_same_event_id_other_body_is_409(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    h = await _writer(make_key)
    body = f.purchase("c1", amount="100.00", order_id="o1", event_id="e1")
    assert (await client.post("/v1/events", json=body, headers=h)).status_code == 201
    r = await client.post("/v1/events", json=body | {"amount": "200.00"}, headers=h)
    assert r.status_code == 409
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["type"].endswith("/idempotency-conflict")
    c = await _customer(client, h, "c1")
    assert c["purchases"]["net_revenue"] == "100.00"


async def test_amount_written_as_number_or_string_is_the_same_body(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    h = await _writer(make_key)
    body = f.purchase("c1", amount="100.50", order_id="o1", event_id="e1")
    assert (await client.post("/v1/events", json=body, headers=h)).status_code == 201
    r = await client.post("/v1/events", json=body | {"amount": 100.5}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "duplicate"


@pytest.mark.parametrize(
    ("change", "slug"),
    [
        ({"currency": "USD"}, "wrong-currency"),
        ({"occurred_at": "2100-01-01T00:00:00Z"}, "event-in-future"),
        ({"amount": "-5"}, "validation"),
        ({"amount": "1.005"}, "validation"),
        ({"amount": "NaN"}, "validation"),
        ({"amount": "1e400"}, "validation"),
        ({"occurred_at": "2026-01-05T10:00:00"}, "validation"),
        ({"occurred_at": "yesterday"}, "validation"),
        ({"unexpected": 1}, "validation"),
        ({"type": "teleport"}, "validation"),
    ],
)
async def test_bad_purchase_is_422(
    client: httpx.AsyncClient, make_key: KeyMaker, change: dict[str, Any], slug: str
) -> None:
    h = await _writer(make_key)
    r = await client.post("/v1/events", json=f.purchase("c1") | change, headers=h)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["type"].endswith("/" + slug)
    assert (await client.get("/v1/customers/c1", headers=h)).status_code == 404


async def test_refund_rules(client: httpx.AsyncClient, make_key: KeyMaker) -> None:
    h = await _writer(make_key)
    assert (
        await client.post("/v1/events", json=f.refund("c1", "nope", "1.00"), headers=h)
    ).status_code == 422
    await client.post(
        "/v1/events", json=f.purchase("c1", order_id="o1", amount="1000.00"), headers=h
    )
    await client.post(
        "/v1/events", json=f.purchase("c2", order_id="o2", amount="1000.00"), headers=h
    )
    # Somebody else's order is as unknown as a missing one.
    r = await client.post("/v1/events", json=f.refund("c1", "o2", "1.00"), headers=h)
    assert r.status_code == 422 and r.json()["type"].endswith("/unknown-order")
    ok = await client.post("/v1/events", json=f.refund("c1", "o1", "600.00"), headers=h)
    assert ok.status_code == 201
    too_much = await client.post("/v1/events", json=f.refund("c1", "o1", "400.01"), headers=h)
    assert too_much.status_code == 422
    assert too_much.json()["type"].endswith("/refund-exceeds-order")
    assert too_much.json()["refundable"] == "400.00"
    c = await _customer(client, h, "c1")
    assert c["purchases"]["net_revenue"] == "400.00"
    assert c["purchases"]["purchase_count"] == 1
    rest = await client.post("/v1/events", json=f.refund("c1", "o1", "400.00"), headers=h)
    assert rest.status_code == 201
    c = await _customer(client, h, "c1")
    # A fully refunded order no longer counts as a purchase.
    assert c["purchases"]["purchase_count"] == 0
    assert c["purchases"]["gross_revenue"] == "1000.00"
    assert c["purchases"]["net_revenue"] == "0.00"


async def test_second_purchase_with_same_order_id_is_409(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    h = await _writer(make_key)
    await client.post("/v1/events", json=f.purchase("c1", order_id="o1"), headers=h)
    r = await client.post("/v1/events", json=f.purchase("c1", order_id="o1"), headers=h)
    assert r.status_code == 409 and r.json()["type"].endswith("/order-exists")


async def test_batch_reports_each_event(client: httpx.AsyncClient, make_key: KeyMaker) -> None:
    h = await _writer(make_key)
    good = f.purchase("c1", order_id="o1", amount="100.00", days=0)
    events = [
        good,
        f.refund("c1", "o1", "30.00", days=2),  # its order is in the same batch
        f.purchase("c1") | {"currency": "EUR"},
        {"type": "purchase", "garbage": True},
        good,  # repeated inside the batch
        f.contact("c1", days=3),
        "not an object",
    ]
    r = await client.post("/v1/events/batch", json={"events": events}, headers=h)
    assert r.status_code == 200, r.text
    statuses = [x["status"] for x in r.json()["results"]]
    assert statuses == [
        "accepted",
        "accepted",
        "rejected",
        "rejected",
        "duplicate",
        "accepted",
        "rejected",
    ]
    assert r.json()["summary"] == {"accepted": 3, "duplicate": 1, "rejected": 3}
    assert r.json()["results"][2]["error"]["type"].endswith("/wrong-currency")
    c = await _customer(client, h, "c1")
    assert c["purchases"]["net_revenue"] == "70.00"
    assert c["relationship"]["contact_count"] == 1
    again = await client.post("/v1/events/batch", json={"events": events}, headers=h)
    assert [x["status"] for x in again.json()["results"]][:2] == ["duplicate", "duplicate"]
    assert await _customer(client, h, "c1") == c


async def test_batch_limit(client: httpx.AsyncClient, make_key: KeyMaker) -> None:
    h = await _writer(make_key)
    over = [f.contact(f"c{i}") for i in range(1001)]
    r = await client.post("/v1/events/batch", json={"events": over}, headers=h)
    assert r.status_code == 413
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["type"].endswith("/payload-too-large")
    assert r.json()["max_events"] == 1000
    assert r.json()["detail"] == "A batch holds at most 1000 events."
    assert (await client.get("/v1/customers/c0", headers=h)).status_code == 404
    at_limit = await client.post("/v1/events/batch", json={"events": over[:1000]}, headers=h)
    assert at_limit.status_code == 200, at_limit.text
    assert at_limit.json()["summary"] == {"accepted": 1000, "duplicate": 0, "rejected": 0}
    assert [x["event_id"] for x in at_limit.json()["results"]] == [
        e["event_id"] for e in over[:1000]
    ]
    assert (await client.get("/v1/customers/c999", headers=h)).status_code == 200
    empty = await client.post("/v1/events/batch", json={"events": []}, headers=h)
    assert empty.status_code == 422
    assert empty.json()["type"].endswith("/validation")


async def test_same_event_id_other_body_inside_one_batch_is_rejected(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    h = await _writer(make_key)
    original = f.purchase("c1", amount="100.00", order_id="o1", event_id="e1")
    other = original | {"amount": "200.00"}
    r = await client.post(
        "/v1/events/batch", json={"events": [original, other, original]}, headers=h
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["accepted", "rejected", "duplicate"]
    assert r.json()["summary"] == {"accepted": 1, "duplicate": 1, "rejected": 1}
    error = results[1]["error"]
    assert error["type"].endswith("/idempotency-conflict") and error["status"] == 409
    assert results[1]["event_id"] == "e1" and results[1]["received_at"] is None
    assert results[2]["received_at"] == results[0]["received_at"]
    c = await _customer(client, h, "c1")
    assert c["purchases"]["net_revenue"] == "100.00"
    assert c["purchases"]["purchase_count"] == 1
    # The same conflict sent on its own later is refused the same way.
    alone = await client.post("/v1/events", json=other, headers=h)
    assert alone.status_code == 409 and alone.json()["type"].endswith("/idempotency-conflict")


async def test_in_batch_conflict_whatever_became_of_the_first(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    h = await _writer(make_key)
    stored = f.contact("c1", event_id="e-stored", reason="hello")
    assert (await client.post("/v1/events", json=stored, headers=h)).status_code == 201
    await client.post("/v1/events", json=f.purchase("c1", order_id="o1", amount="10.00"), headers=h)
    refused = f.refund("c1", "o1", "10.01", event_id="e-refund")
    r = await client.post(
        "/v1/events/batch",
        json={
            "events": [
                stored,  # a duplicate of a stored event …
                stored | {"reason": "changed"},  # … then a different body under its id
                refused,  # rejected: more than the order …
                refused | {"amount": "5.00"},  # … then a different body under its id
                refused,  # the same body as the first: the same answer
            ]
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [
        "duplicate",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
    ]
    kinds = [x["error"]["type"].rsplit("/", 1)[1] if x["error"] else None for x in results]
    assert kinds == [
        None,
        "idempotency-conflict",
        "refund-exceeds-order",
        "idempotency-conflict",
        "refund-exceeds-order",
    ]
    c = await _customer(client, h, "c1")
    assert c["purchases"]["net_revenue"] == "10.00"
    assert c["relationship"]["contact_count"] == 1


async def test_profile_last_writer_wins_by_event_time(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    h = await _writer(make_key)
    newer = f.profile("c1", days=5, email="new@example.com", timezone="Europe/Moscow")
    older = f.profile("c1", days=1, email="old@example.com", company="ACME", exclusive=True)
    for body in (newer, older):
        assert (await client.post("/v1/events", json=body, headers=h)).status_code == 201
    p = (await _customer(client, h, "c1"))["profile"]
    assert p["email"] == "new@example.com"
    assert p["company"] == "ACME"
    assert p["timezone"] == "Europe/Moscow"
    assert p["exclusive"] is True


async def test_all_seven_types(client: httpx.AsyncClient, make_key: KeyMaker) -> None:
    h = await _writer(make_key)
    events = [
        f.lead("c1", "interest", days=0),
        f.lead("c1", "desire", days=1),
        f.contact("c1", days=2, channel="email", reason="new collection", outcome="reached"),
        f.purchase("c1", days=3, order_id="o1", amount="1500.00", category="coffee"),
        f.refund("c1", "o1", "500.00", days=4),
        f.referral("c1", "friend-1", days=0),
        f.review("c1", rating=5, public=True, days=6),
        f.profile(
            "c1",
            days=0,
            phone="+7 900 000-00-00",
            birth_date="1970-05-01",
            preferred_channels=["call", "paper_mail"],
            consents={"sms": False},
        ),
    ]
    r = await client.post("/v1/events/batch", json={"events": events}, headers=h)
    assert r.json()["summary"] == {"accepted": 8, "duplicate": 0, "rejected": 0}, r.text
    c = await _customer(client, h, "c1")
    assert c["relationship"]["lead_level"] == "desire"
    assert c["relationship"]["referrer_id"] == "friend-1"
    assert c["relationship"]["best_public_rating"] == 5
    assert c["profile"]["preferred_channels"] == ["call", "paper_mail"]
    assert c["profile"]["consents"] == {"sms": False}
    assert c["purchases"]["main_category"] == "coffee"
    assert c["purchases"]["net_revenue"] == "1000.00"


async def test_self_referral_and_bad_profile_are_refused(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    h = await _writer(make_key)
    for body in (
        f.referral("c1", "c1"),
        f.profile("c1", timezone="Mars/Olympus"),
        f.profile("c1", email="not-an-email"),
        f.review("c1", rating=6),
        f.contact("c1", channel="pigeon"),
    ):
        r = await client.post("/v1/events", json=body, headers=h)
        assert r.status_code == 422, body
