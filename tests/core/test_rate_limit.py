"""The rate limit is keyed on the credential, not on how the header is spelled, and with
`TOUCHPOINT_REDIS_URL` every replica shares the same buckets (the local Redis, 127.0.0.1:6379)."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.auth.scopes import Scope
from app.core import metrics
from app.core.ratelimit import KEY_PREFIX, LocalBuckets, credential_key
from app.core.settings import Settings
from app.main import create_app
from tests.conftest import KeyMaker
from tests.webhooks.servers import free_port

REDIS_URL = os.environ.get("TOUCHPOINT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_REDIS = os.environ.get("TOUCHPOINT_TEST_REQUIRE_REDIS") == "1"

# A bucket of three that refills one token in about 17 minutes: nothing refills during a test.
SLOW = {"rate_limit_per_second": 0.001, "rate_limit_burst": 3}


def _auth(*values: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", v.encode()) for v in values]


def test_every_spelling_of_one_credential_is_one_bucket() -> None:
    key = credential_key(_auth("Bearer tpk_secret"))
    assert key is not None
    for spelling in ("bearer tpk_secret", "BEARER tpk_secret", "BeArEr   tpk_secret  "):
        assert credential_key(_auth(spelling)) == key, spelling
    # Authentication reads the first Authorization header; so does the limit.
    assert credential_key(_auth("Bearer tpk_secret", "Bearer fresh-1")) == key
    assert credential_key(_auth("Bearer tpk_other")) != key
    assert credential_key(_auth("Basic dXNlcjpwYXNz")) is None
    assert credential_key(_auth("Bearer ")) is None
    assert credential_key([]) is None


def test_base64_spellings_of_one_token_share_a_bucket() -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"HS256"}').decode().rstrip("=")
    payload = base64.urlsafe_b64encode(b'{"sub":"c1"}').decode().rstrip("=")
    signature = base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")
    # 32 bytes take 43 characters whose last one carries 2 unused bits; a decoder that does
    # not insist on zeros there (most do not) reads other last characters as the same bytes.
    last = signature[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = signature[:-1] + alphabet[alphabet.index(last) + 1]
    assert base64.urlsafe_b64decode(twin + "=") == base64.urlsafe_b64decode(signature + "=")
    canonical = credential_key(_auth(f"Bearer {header}.{payload}.{signature}"))
    for spelling in (f"{header}.{payload}.{twin}", f"{header}.{payload}.{signature}="):
        assert credential_key(_auth(f"Bearer {spelling}")) == canonical
    other = base64.urlsafe_b64encode(bytes(range(1, 33))).decode().rstrip("=")
    assert credential_key(_auth(f"Bearer {header}.{payload}.{other}")) != canonical


async def test_local_bucket_refills_at_its_rate() -> None:
    now = [100.0]
    buckets = LocalBuckets(rate=2.0, burst=2, clock=lambda: now[0])
    assert [await buckets.take("k") for _ in range(2)] == [0.0, 0.0]
    assert await buckets.take("k") == pytest.approx(0.5)
    now[0] += 0.5
    assert await buckets.take("k") == 0.0
    assert await buckets.take("other") == 0.0


async def _client(settings: Settings, **changes: Any) -> tuple[Any, httpx.AsyncClient]:
    app = create_app(settings.model_copy(update=changes))
    return app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def _close(app: Any, client: httpx.AsyncClient) -> None:
    await client.aclose()
    if app.state.rate_limit_store is not None:
        await app.state.rate_limit_store.aclose()
    await app.state.db.dispose()


async def test_header_spellings_do_not_refill_the_bucket(
    settings: Settings, make_key: KeyMaker
) -> None:
    app, c = await _client(settings, **SLOW)
    try:
        key = await make_key(Scope.CUSTOMERS_READ)
        codes = []
        for scheme in ["Bearer", "bearer", "BEARER", "BeArEr", "bEARER"]:
            r = await c.get("/v1/customers", headers={"Authorization": f"{scheme}  {key} "})
            codes.append(r.status_code)
        assert codes == [200, 200, 200, 429, 429]
        # A second Authorization header (read by nobody but a naive limiter) changes nothing.
        twice = await c.get(
            "/v1/customers",
            headers=[("Authorization", f"Bearer {key}"), ("Authorization", "Bearer fresh")],
        )
        assert twice.status_code == 429
        assert twice.json()["type"].endswith("/rate-limited")
        other = await make_key(Scope.CUSTOMERS_READ)
        assert (
            await c.get("/v1/customers", headers={"Authorization": f"Bearer {other}"})
        ).status_code == 200
    finally:
        await _close(app, c)


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        if REQUIRE_REDIS:
            raise RuntimeError(f"Redis required but not reachable at {REDIS_URL}") from exc
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    finally:
        await client.aclose()
    yield REDIS_URL


async def test_replicas_share_buckets_through_redis(
    settings: Settings, make_key: KeyMaker, redis_url: str
) -> None:
    """Two app instances (two replicas) with one Redis: three requests in all, not three each."""
    key = await make_key(Scope.CUSTOMERS_READ)
    h = {"Authorization": f"Bearer {key}"}
    one, c1 = await _client(settings, redis_url=redis_url, **SLOW)
    two, c2 = await _client(settings, redis_url=redis_url, **SLOW)
    lone, c3 = await _client(settings, **SLOW)  # no Redis: a bucket of its own
    try:
        codes = [
            (await c1.get("/v1/customers", headers=h)).status_code,
            (await c2.get("/v1/customers", headers=h)).status_code,
            (await c1.get("/v1/customers", headers=h)).status_code,
            (await c2.get("/v1/customers", headers=h)).status_code,
            (await c1.get("/v1/customers", headers={"Authorization": f"bearer {key}"})).status_code,
        ]
        assert codes == [200, 200, 200, 429, 429]
        limited = await c2.get("/v1/customers", headers=h)
        # The bucket refills a token in 1,000 s: Retry-After says so, from Redis's state.
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 900
        assert (await c3.get("/v1/customers", headers=h)).status_code == 200
    finally:
        digest = credential_key(_auth(f"Bearer {key}"))
        cleanup = Redis.from_url(redis_url)
        await cleanup.delete(f"{KEY_PREFIX}{digest}")
        await cleanup.aclose()
        for app, client in ((one, c1), (two, c2), (lone, c3)):
            await _close(app, client)


async def test_an_unreachable_redis_falls_back_to_the_process_limit(
    settings: Settings, make_key: KeyMaker
) -> None:
    """Nothing listens on the port: the API keeps answering, limited per process, and the
    fallback is counted."""
    before = metrics.RATE_LIMIT_STORE_ERRORS._value.get()
    app, c = await _client(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0", **SLOW)
    try:
        h = {"Authorization": f"Bearer {await make_key(Scope.CUSTOMERS_READ)}"}
        codes = [(await c.get("/v1/customers", headers=h)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert metrics.RATE_LIMIT_STORE_ERRORS._value.get() == before + 1
    finally:
        await _close(app, c)
