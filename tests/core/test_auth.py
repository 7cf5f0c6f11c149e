from __future__ import annotations

import httpx
import pytest

from app.auth.scopes import Scope, parse_scopes
from tests import factories as f
from tests.conftest import KeyMaker

# With the right scope: the event is stored (201), the batch answered (200), the empty list
# listed (200), and the customer nobody posted is not found (404), not forbidden.
PROTECTED = [
    ("POST", "/v1/events", Scope.EVENTS_WRITE, 201),
    ("POST", "/v1/events/batch", Scope.EVENTS_WRITE, 200),
    ("GET", "/v1/customers", Scope.CUSTOMERS_READ, 200),
    ("GET", "/v1/customers/c1", Scope.CUSTOMERS_READ, 404),
]


@pytest.mark.parametrize(("method", "path", "scope", "allowed"), PROTECTED)
async def test_no_key_401_wrong_scope_403(
    client: httpx.AsyncClient,
    make_key: KeyMaker,
    method: str,
    path: str,
    scope: Scope,
    allowed: int,
) -> None:
    body = {"events": [f.contact("c1")]} if path.endswith("batch") else f.contact("c1")
    kwargs = {"json": body} if method == "POST" else {}
    r = await client.request(method, path, **kwargs)
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"] == "Bearer"
    bad = await client.request(method, path, headers={"Authorization": "Bearer tpk_nope"}, **kwargs)
    assert bad.status_code == 401
    other = next(s for s in Scope if s not in (scope, Scope.ADMIN))
    key = await make_key(other)
    r = await client.request(method, path, headers={"Authorization": f"Bearer {key}"}, **kwargs)
    assert r.status_code == 403
    assert r.json()["type"].endswith("/forbidden")
    assert r.json()["required"] == scope.value
    good = await make_key(scope)
    r = await client.request(method, path, headers={"Authorization": f"Bearer {good}"}, **kwargs)
    assert r.status_code == allowed, r.text


async def test_keys_are_stored_only_as_hashes(app: object, make_key: KeyMaker) -> None:
    from sqlalchemy import select

    from app.auth.models import ApiKey

    key = await make_key(Scope.ADMIN)
    async with app.state.db.sessionmaker() as s:  # type: ignore[attr-defined]
        rows = (await s.scalars(select(ApiKey))).all()
    assert rows
    for row in rows:
        assert key not in (row.key_hash, row.prefix, row.name)
        assert len(row.key_hash) == 64


def test_parse_scopes() -> None:
    assert parse_scopes("events:write, admin") == [Scope.ADMIN, Scope.EVENTS_WRITE]
    with pytest.raises(ValueError, match="unknown scope"):
        parse_scopes("events:write,root")
    with pytest.raises(ValueError):
        parse_scopes(" , ")


async def test_health_needs_no_key(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json()["status"] == "ok"
    assert (await client.get("/readyz")).json()["status"] == "ready"
    missing = await client.get("/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
