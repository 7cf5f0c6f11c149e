"""Hostile input at the door (issue 19 #5, #6, #8, #9): one range of instants for every time
input (as_of, before, occurred_at, a fit's and a backtest's times, an announcement's), one
alphabet for customer ids, lone surrogates, offsets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from app.core import inputs
from app.core.types import STORED
from app.customers import repository as customers_repository
from app.events.models import Event
from app.events.schemas import occurred_key
from app.events.service import event_adapter
from app.projection import repository as marks
from tests import factories as f
from tests.conftest import KeyMaker

PROBLEM = "application/problem+json"
OUT_OF_RANGE = [
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    "1899-12-31T23:59:59Z",
    "1900-01-01T02:59:59+03:00",  # 1899 in UTC
    "2200-01-01T00:00:00Z",
]
EDGES = ["1900-01-01T00:00:00Z", "1900-01-01T03:00:00+03:00", "2199-12-31T23:59:59.999999Z"]
AS_OF_READS = [
    "/v1/customers/c1/stage?as_of={t}",
    "/v1/customers/c1/ltv?as_of={t}",
    "/v1/customers/c1/next-touch?as_of={t}",
    "/v1/customers/lapsed?as_of={t}",
    "/v1/customers/lapsed?as_of={t}&sort=overdue",
    "/v1/analytics/pyramid?as_of={t}",
    "/v1/analytics/cohorts?as_of={t}",
    "/v1/touches/due?before={t}",
]


async def test_every_as_of_takes_one_range_and_answers_422_outside(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    events = [f.at(f.purchase("c1"), 40), f.at(f.purchase("c1"), 10), f.at(f.purchase("c2"), 5)]
    await f.send(client, admin, *events)
    for path in AS_OF_READS:
        for t in OUT_OF_RANGE:
            r = await client.get(path.format(t=quote(t)), headers=admin)
            assert r.status_code == 422, (path, t, r.text)
            assert r.headers["content-type"].startswith(PROBLEM)
        for t in EDGES:
            r = await client.get(path.format(t=quote(t)), headers=admin)
            assert r.status_code == 200, (path, t, r.text)
    r = await client.post("/v1/models/fit", json={"as_of": OUT_OF_RANGE[0]}, headers=admin)
    assert r.status_code == 422
    for backtest in (
        {"calibration_end": OUT_OF_RANGE[0]},
        {"calibration_end": "2026-01-01T00:00:00Z", "holdout_end": OUT_OF_RANGE[1]},
    ):
        r = await client.post("/v1/models/backtest", json=backtest, headers=admin)
        assert r.status_code == 422, r.text
    body = {"title": "New hours", "effective_at": OUT_OF_RANGE[1]}
    assert (await client.post("/v1/announcements", json=body, headers=admin)).status_code == 422


async def test_occurred_at_outside_the_range_rejects_that_event_alone(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    far_past = f.purchase("c1") | {"occurred_at": "0001-01-01T00:00:00+05:00"}
    far_future = f.purchase("c1") | {"occurred_at": "9999-12-31T23:59:59-05:00"}
    for body in (far_past, far_future):
        r = await client.post("/v1/events", json=body, headers=admin)
        assert r.status_code == 422, r.text
    good = f.purchase("c1")
    r = await client.post(
        "/v1/events/batch", json={"events": [far_past, good, far_future]}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == ["rejected", "accepted", "rejected"]
    oldest = f.purchase("c1") | {"occurred_at": "1900-01-01T00:00:00Z"}
    assert (await client.post("/v1/events", json=oldest, headers=admin)).status_code == 201
    stage = await client.get("/v1/customers/c1/stage", headers=admin)
    assert stage.status_code == 200


async def test_the_same_instant_with_another_offset_is_a_duplicate(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = f.purchase("c1", order_id="o1") | {"occurred_at": "2026-01-05T03:00:00+03:00"}
    assert (await client.post("/v1/events", json=body, headers=admin)).status_code == 201
    utc = body | {"occurred_at": "2026-01-05T00:00:00Z"}
    again = await client.post("/v1/events", json=utc, headers=admin)
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "duplicate"
    later = body | {"occurred_at": "2026-01-05T00:00:01Z"}
    assert (await client.post("/v1/events", json=later, headers=admin)).status_code == 409


async def test_a_lone_surrogate_rejects_only_its_event(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    good = f.purchase("c1")
    bad_category = f.purchase("c2") | {"category": "SURROGATE"}
    bad_id = f.purchase("c3") | {"event_id": "ev-SURROGATE"}
    bad_key = f.purchase("c4") | {"SURROGATE": 1}
    raw = httpx.Request("POST", "/", json={"events": [good, bad_category, bad_id, bad_key]})
    body = raw.content.replace(b"SURROGATE", b"\\ud800")
    r = await client.post(
        "/v1/events/batch",
        content=body,
        headers=admin | {"content-type": "application/json"},
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["accepted", "rejected", "rejected", "rejected"]
    assert results[2]["event_id"] == "ev-\ufffd"
    single = httpx.Request("POST", "/", json=bad_category).content
    one = single.replace(b"SURROGATE", b"\\ud800")
    r = await client.post(
        "/v1/events", content=one, headers=admin | {"content-type": "application/json"}
    )
    assert r.status_code == 422, r.text


@given(
    a=st.datetimes(timezones=st.just(UTC)),
    b=st.datetimes(timezones=st.just(UTC)),
)
def test_occurred_key_sorts_as_the_times_do_for_any_year(a: datetime, b: datetime) -> None:
    if a != b:
        assert (occurred_key(a, "e") < occurred_key(b, "e")) == (a < b)


def test_occurred_key_pads_the_year() -> None:
    early = datetime(999, 1, 1, tzinfo=UTC)
    assert occurred_key(early, "e").startswith("0999-01-01T00:00:00.000000|")
    assert occurred_key(early, "e") < occurred_key(datetime(2026, 1, 1, tzinfo=UTC), "e")
    plus3 = datetime(2026, 1, 5, 3, tzinfo=timezone(timedelta(hours=3)))
    assert occurred_key(plus3, "e") == occurred_key(datetime(2026, 1, 5, tzinfo=UTC), "e")


REFUSED_IDS = ["a/b", "/", ".", "..", "lapsed", "tab\there", "c1\u0085", "x" * 201, ""]
ODD_BUT_FINE = [
    "Иванов И.И.",
    'ООО "Ромашка"',
    "a b",
    " lead",
    "%2F",
    "%41",
    "q?x=1",
    "hash#tag",
    "...",
    ".hidden",
    "back\\slash",
    "a+b@example.com",
    "emoji🙂",
    "x" * 200,
]


@pytest.mark.parametrize("customer_id", REFUSED_IDS)
async def test_customer_ids_outside_the_alphabet_are_refused_at_the_door(
    client: httpx.AsyncClient, admin: dict[str, str], customer_id: str
) -> None:
    r = await client.post("/v1/events", json=f.purchase(customer_id), headers=admin)
    assert r.status_code == 422, r.text
    referral = f.referral("c1", customer_id)
    assert (await client.post("/v1/events", json=referral, headers=admin)).status_code == 422


async def test_every_accepted_customer_id_is_readable_on_every_route(
    client: httpx.AsyncClient, make_key: KeyMaker, admin: dict[str, str]
) -> None:
    events = [f.at(f.purchase(cid), 3) for cid in ODD_BUT_FINE]
    r = await client.post("/v1/events/batch", json={"events": events}, headers=admin)
    assert r.json()["summary"]["accepted"] == len(ODD_BUT_FINE), r.text
    for cid in ODD_BUT_FINE:
        base = f"/v1/customers/{quote(cid, safe='')}"
        for suffix in ("", "/stage", "/ltv", "/next-touch", "/cashback"):
            r = await client.get(base + suffix, headers=admin)
            assert r.status_code == 200, (cid, suffix, r.text)
            body = r.json()
            assert body.get("customer_id", cid) == cid, (cid, suffix)
        token = await client.post(f"{base}/tokens", headers=admin)
        assert token.status_code == 201, (cid, token.text)
        mobile = {"Authorization": f"Bearer {token.json()['token']}"}
        me = await client.get("/v1/me", headers=mobile)
        assert me.json()["customer_id"] == cid


def test_no_fixed_route_under_customers_can_be_a_customer_id(app: Any) -> None:
    """A static path segment after /v1/customers/ would shadow (or be shadowed by) a customer
    of that id: every such segment is a reserved id."""
    segments = {
        path.removeprefix("/v1/customers/").split("/")[0]
        for path in app.openapi()["paths"]
        if path.startswith("/v1/customers/")
    }
    fixed = {s for s in segments if "{" not in s}
    assert "{customer_id}" in segments and fixed and fixed <= inputs.RESERVED_CUSTOMER_IDS


def test_the_range_check_never_overflows() -> None:
    for t in OUT_OF_RANGE:
        with pytest.raises(ValueError, match="out of range"):
            inputs.instant(datetime.fromisoformat(t))
    for t in EDGES:
        assert inputs.instant(datetime.fromisoformat(t)).tzinfo is UTC


async def _store_legacy(app: Any, customer: str, events: list[dict[str, Any]]) -> None:
    """Events as an older version stored them, under rules since tightened, marked pending."""
    async with app.state.db.sessionmaker() as s, s.begin():
        await customers_repository.create_customers(s, [customer])
        pk = (await customers_repository.pks_of(s, [customer]))[customer]
        for e in events:
            s.add(
                Event(
                    event_id=e["event_id"],
                    type=e["type"],
                    customer_id=pk,
                    occurred_at=e["occurred_at"],
                    received_at=e["occurred_at"],
                    body_hash="0" * 64,
                    payload=e["payload"],
                )
            )
        await s.flush()
        await marks.mark(s, [(pk, None)], datetime.now(UTC))


def test_a_stored_event_reads_back_under_the_rules_it_was_stored_with() -> None:
    legacy = {
        "event_id": "old-1",
        "type": "referral",
        "customer_id": "lapsed",
        "occurred_at": datetime(1899, 5, 1, tzinfo=UTC),
        "referrer_id": "a/b",
    }
    with pytest.raises(ValidationError):
        event_adapter.validate_python(legacy)
    event = event_adapter.validate_python(legacy, context=STORED)
    assert (event.customer_id, event.referrer_id) == ("lapsed", "a/b")


async def test_facts_stored_under_older_rules_still_derive(
    client: httpx.AsyncClient, admin: dict[str, str], app: Any
) -> None:
    """A referrer id with "/" (accepted before the alphabet) must not make its customer
    unreadable once the customer is derived again from its stored events."""
    referral = {
        "event_id": "old-ref",
        "type": "referral",
        "occurred_at": datetime(2025, 1, 1, tzinfo=UTC),
        "payload": {"referrer_id": "a/b"},
    }
    await _store_legacy(app, "c-old", [referral])
    r = await client.get("/v1/customers/c-old", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["relationship"]["referrer_id"] == "a/b"
