"""Any cursor the API did not issue is a 400, on every paginated list (issue 19 #7)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.core.errors import InvalidCursor
from app.core.pagination import decode_cursor, encode_cursor
from tests import factories as f

NOW = datetime.now(UTC)


def _raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# The shapes an adversarial pass tried, and more: wrong types, wrong arity, absurd values.
TAMPERED = [
    _raw(k)
    for k in (
        '["abc"]',
        "[null]",
        "[[1]]",
        '[{"a":1}]',
        "[Infinity]",
        "[NaN]",
        "[true]",
        "[1e30]",
        "[1.5]",
        "[9223372036854775808]",
        '"x"',
        "{}",
        "[]",
        '["9999-12-31T23:59:59-05:00", 1]',
        '["0001-01-01T00:00:00+05:00", 1]',
        '["2026-01-01T00:00:00", "1"]',
        '[1, "2026-01-01T00:00:00"]',
        "[1, 2, 3]",
        '["2026-01-01T00:00:00+00:00"]',
        "[1, null]",
        "[1, true]",
        '["' + "9" * 100 + '", 1]',
    )
] + ["garbage!", "%%%", "AAAA", _raw("\ud800".encode("utf-8", "surrogatepass").decode("latin-1"))]


def test_decode_checks_every_value() -> None:
    at = datetime(2026, 1, 5, tzinfo=UTC)
    assert decode_cursor(encode_cursor([at.isoformat(), 7]), datetime, int) == [at, 7]
    assert decode_cursor(encode_cursor([-(2**63)]), int) == [-(2**63)]
    for cursor in TAMPERED:
        for kinds in ((int,), (datetime, int), (int, int)):
            with pytest.raises(InvalidCursor):
                decode_cursor(cursor, *kinds)


async def _pages(
    client: httpx.AsyncClient, h: dict[str, str], path: str, **params: Any
) -> list[Any]:
    """Every item of a list, following its genuine cursors with a page size of 1."""
    items, cursor = [], None
    while True:
        query = {"limit": 1, **params} | ({"cursor": cursor} if cursor else {})
        r = await client.get(path, params=query, headers=h)
        assert r.status_code == 200, (path, r.text)
        items += r.json()["items"]
        if not (cursor := r.json()["next_cursor"]):
            return items


async def test_every_list_takes_its_own_cursors_and_refuses_any_other(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    h = admin
    events = []
    for i in range(3):  # monthly buyers, silent for months: lapsed, with touches due
        for k in range(4):
            events.append(f.at(f.purchase(f"c{i}", amount=f"{100 * (i + 1)}.00"), 200 + 30 * k))
        events.append(f.at(f.profile(f"c{i}", email=f"c{i}@example.com"), 200))
    await f.send(client, h, *events)  # derived before the lists are read
    for n in range(2):
        body = {"url": f"http://127.0.0.1:9/hook-{n}"}
        assert (await client.post("/v1/webhooks/endpoints", json=body, headers=h)).is_success
    endpoint = (await client.get("/v1/webhooks/endpoints", headers=h)).json()["items"][0]["id"]
    later = (NOW + timedelta(days=400)).isoformat()
    lists: list[tuple[str, dict[str, Any], int]] = [
        ("/v1/customers", {}, 3),
        ("/v1/customers/lapsed", {}, 3),
        ("/v1/customers/lapsed", {"sort": "overdue"}, 3),
        ("/v1/touches/due", {"before": later}, 3),
        ("/v1/webhooks/endpoints", {}, 2),
        (f"/v1/webhooks/endpoints/{endpoint}/messages", {}, 0),
        ("/v1/models/backtests", {}, 0),
    ]
    for path, params, count in lists:
        if count:
            assert len(await _pages(client, h, path, **params)) == count, path
        for cursor in TAMPERED:
            r = await client.get(path, params={**params, "cursor": cursor}, headers=h)
            assert r.status_code == 400, (path, json.dumps(cursor), r.text)
            assert r.json()["type"].endswith("/invalid-cursor"), r.text
