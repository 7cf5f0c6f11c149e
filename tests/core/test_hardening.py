from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from app.auth.scopes import Scope
from app.core.middleware import JsonFormatter, request_id_var
from app.core.settings import Settings
from app.main import create_app
from tests import factories as f
from tests.conftest import KeyMaker


async def _client(settings: Settings, **changes: Any) -> tuple[Any, httpx.AsyncClient]:
    app = create_app(settings.model_copy(update=changes))
    return app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_metrics_by_route_template_and_request_ids(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    h = {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}
    await client.post("/v1/events", json=f.purchase("someone-special"), headers=h)
    r = await client.get("/v1/customers/someone-special", headers=h | {"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    generated = (await client.get("/healthz")).headers["x-request-id"]
    assert len(generated) == 32
    bad = (await client.get("/healthz", headers={"X-Request-ID": "no spaces\nallowed"})).headers
    assert bad["x-request-id"] != "no spaces\nallowed"
    text = (await client.get("/metrics", headers=h)).text
    assert 'route="/v1/customers/{customer_id}"' in text
    assert "someone-special" not in text
    assert 'touchpoint_events_total{status="accepted",type="purchase"}' in text
    assert "touchpoint_outbox_backlog" in text and "touchpoint_outbox_oldest_age_seconds" in text


def test_json_log_lines_carry_the_request_id() -> None:
    token = request_id_var.set("rid-42")
    try:
        record = logging.LogRecord(
            "touchpoint.x", logging.INFO, __file__, 1, "hello %s", ("you",), None
        )
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["request_id"] == "rid-42" and line["message"] == "hello you"


async def test_body_limit(settings: Settings, make_key: KeyMaker) -> None:
    app, c = await _client(settings, max_body_bytes=2048)
    try:
        key = await make_key(Scope.ADMIN)
        h = {"Authorization": f"Bearer {key}"}
        big = {"events": [f.contact(f"c{i}") for i in range(40)]}
        r = await c.post("/v1/events/batch", json=big, headers=h)
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"

        async def chunks() -> Any:  # no Content-Length: counted as it streams
            payload = json.dumps(big).encode()
            for i in range(0, len(payload), 500):
                yield payload[i : i + 500]

        r = await c.post(
            "/v1/events/batch", content=chunks(), headers=h | {"content-type": "application/json"}
        )
        assert r.status_code == 413
        ok = await c.post("/v1/events", json=f.contact("c1"), headers=h)
        assert ok.status_code == 201
    finally:
        await c.aclose()
        await app.state.db.dispose()


async def test_rate_limit_per_key(settings: Settings, make_key: KeyMaker) -> None:
    app, c = await _client(settings, rate_limit_per_second=0.5, rate_limit_burst=3)
    try:
        one = {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}
        other = {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}
        codes = [(await c.get("/v1/customers", headers=one)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = await c.get("/v1/customers", headers=one)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert limited.json()["type"].endswith("/rate-limited")
        assert (await c.get("/v1/customers", headers=other)).status_code == 200
    finally:
        await c.aclose()
        await app.state.db.dispose()


_COMMON = b'"event_id": "e", "customer_id": "c", '
_AT = b'"occurred_at": "2026-01-01T00:00:00Z"'


def _purchase(amount: bytes, at: bytes = _AT) -> bytes:
    return (
        b'{"type": "purchase", '
        + _COMMON
        + at
        + b', "order_id": "o", "amount": '
        + amount
        + b', "currency": "RUB"}'
    )


def _review(rating: bytes, public: bytes) -> bytes:
    return (
        b'{"type": "review", '
        + _COMMON
        + _AT
        + b', "rating": '
        + rating
        + b', "public": '
        + public
        + b"}"
    )


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"events": [1, 2',
        b"[]",
        _purchase(b"NaN"),
        _purchase(b"Infinity"),
        _purchase(b"1e309"),
        _purchase(b'"1.00"', b'"occurred_at": "2026-02-30T00:00:00Z"'),
        _review(b"99999999999999999999999", b"true"),
        _review(b'"5"', b'"yes"'),
        b'{"type": "lead", "event_id": "'
        + b"x" * 300
        + b'", "customer_id": "c", '
        + _AT
        + b', "level": "interest"}',
    ],
)
async def test_bad_input_is_a_clear_4xx(
    client: httpx.AsyncClient, make_key: KeyMaker, body: bytes
) -> None:
    h = {
        "Authorization": f"Bearer {await make_key(Scope.ADMIN)}",
        "content-type": "application/json",
    }
    r = await client.post("/v1/events", content=body, headers=h)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"] == "application/problem+json"


async def test_sql_and_html_are_stored_verbatim(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    h = {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}
    nasty = "Robert'); DROP TABLE customers;-- <script>alert(1)</script>"
    r = await client.post("/v1/events", json=f.profile("bobby", company=nasty), headers=h)
    assert r.status_code == 201
    assert (await client.get("/v1/customers/bobby", headers=h)).json()["profile"][
        "company"
    ] == nasty
    assert (await client.get("/v1/customers", headers=h)).status_code == 200
