"""Request limits at their bound and one step past it: the page size of every list, the body
size (declared and streamed), both on the middleware alone and through the API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.auth.keys import create_key
from app.auth.scopes import Scope
from app.core.middleware import BodyLimit
from app.core.pagination import MAX_PAGE_SIZE
from app.core.settings import Settings
from app.main import create_app
from tests import factories as f
from tests.conftest import KeyMaker

LISTS = [
    "/v1/customers",
    "/v1/customers/lapsed",
    "/v1/touches/due",
    "/v1/webhooks/endpoints",
]


@pytest.mark.parametrize("path", LISTS)
async def test_page_size_bounds(
    client: httpx.AsyncClient, admin: dict[str, str], path: str
) -> None:
    for limit in (1, MAX_PAGE_SIZE):
        r = await client.get(path, params={"limit": limit}, headers=admin)
        assert r.status_code == 200, (limit, r.text)
        assert r.json() == {"items": [], "next_cursor": None}
    for limit in (0, MAX_PAGE_SIZE + 1, -1):
        r = await client.get(path, params={"limit": limit}, headers=admin)
        assert r.status_code == 422, (limit, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/validation")


async def test_a_page_of_one_and_its_cursor(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await client.post(
        "/v1/events/batch",
        json={"events": [f.contact("a"), f.contact("b"), f.contact("c")]},
        headers=admin,
    )
    seen: list[str] = []
    cursors: list[str | None] = []
    for _ in range(3):
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursors[-1]} if cursors else {})
        page = (await client.get("/v1/customers", params=params, headers=admin)).json()
        assert len(page["items"]) == 1
        seen.append(page["items"][0]["customer_id"])
        cursors.append(page["next_cursor"])
    assert sorted(seen) == ["a", "b", "c"]
    # A page looks one row ahead: the page holding the last customer says it is the last.
    assert cursors[0] is not None and cursors[1] is not None and cursors[2] is None
    whole = (await client.get("/v1/customers", params={"limit": 3}, headers=admin)).json()
    assert [x["customer_id"] for x in whole["items"]] == seen


# Body size ---------------------------------------------------------------------------------

LIMIT = 2048


def _body_of_size(size: int) -> bytes:
    """A valid event padded with JSON whitespace to exactly `size` bytes."""
    raw = json.dumps(f.contact("c1")).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


async def _stream(body: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(body), 500):
        yield body[i : i + 500]


async def _echo_length(scope: Any, receive: Any, send: Any) -> None:
    """An app that reads the whole body and answers with its length."""
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


@pytest.mark.parametrize("streamed", [False, True])
async def test_body_limit_middleware_at_the_bound(streamed: bool) -> None:
    guarded = BodyLimit(_echo_length, max_bytes=LIMIT)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=guarded), base_url="http://test"
    ) as c:
        for size, status in ((LIMIT, 200), (LIMIT + 1, 413), (0, 200)):
            body = b"x" * size
            content: Any = _stream(body) if streamed else body
            r = await c.post("/", content=content)
            assert r.status_code == status, size
            if status == 200:
                assert r.text == str(size)
            else:
                assert r.headers["content-type"] == "application/problem+json"
                assert r.json()["type"].endswith("/payload-too-large")
                assert r.json()["detail"] == f"The body may be at most {LIMIT} bytes."


@pytest.mark.parametrize("streamed", [False, True])
async def test_body_limit_through_the_api(
    settings: Settings, make_key: KeyMaker, streamed: bool
) -> None:
    app = create_app(settings.model_copy(update={"max_body_bytes": LIMIT}))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as c:
            async with app.state.db.sessionmaker() as s, s.begin():
                key = (await create_key(s, "t", [Scope.ADMIN])).key
            h = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
            at_bound = _body_of_size(LIMIT)
            content: Any = _stream(at_bound) if streamed else at_bound
            ok = await c.post("/v1/events", content=content, headers=h)
            assert ok.status_code == 201, ok.text
            over = _body_of_size(LIMIT + 1)
            content = _stream(over) if streamed else over
            r = await c.post("/v1/events", content=content, headers=h)
            assert r.status_code == 413
            assert r.json()["type"].endswith("/payload-too-large")
            customer = await c.get("/v1/customers/c1", headers=h)
            assert customer.json()["relationship"]["contact_count"] == 1
    finally:
        await app.state.db.dispose()
