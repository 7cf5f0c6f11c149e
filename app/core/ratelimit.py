"""Token buckets for the rate limit, keyed on the credential: in this process, or shared by
every replica through Redis when `TOUCHPOINT_REDIS_URL` is set.

Both stores run the same bucket (sustained `rate` a second, at most `burst` at once), so a
deployment behaves the same with one replica and a local store as with any number of replicas
and Redis.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Protocol

from fastapi.security.utils import get_authorization_scheme_param
from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from app.core import metrics

log = logging.getLogger("touchpoint.ratelimit")


def credential_key(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The bucket of a request: a digest of its bearer credential, or None without one.

    The credential is read exactly as authentication reads it (the first Authorization header,
    the scheme in any case, blanks around the credential ignored), so no spelling of the header
    that authenticates gets a bucket of its own. Each dot-separated base64url part is put in
    canonical form first: a JWT's signature decodes the same with other trailing bits or with
    padding, and those spellings share the bucket too.
    """
    header = next((value for name, value in headers if name.lower() == b"authorization"), None)
    if header is None:
        return None
    scheme, credential = get_authorization_scheme_param(header.decode("latin-1"))
    if scheme.lower() != "bearer" or not credential:
        return None
    canonical = ".".join(_canonical_b64(part) for part in credential.split("."))
    return hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()


def _canonical_b64(part: str) -> str:
    bare = part.rstrip("=")
    try:
        raw = base64.b64decode(bare + "=" * (-len(bare) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return part
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class BucketStore(Protocol):
    async def take(self, key: str) -> float:
        """Take one token: 0 if there was one, else the seconds until there is."""
        ...

    async def aclose(self) -> None: ...


class LocalBuckets:
    """Buckets of this process, the least recently used dropped beyond `max_keys`."""

    def __init__(
        self,
        rate: float,
        burst: int,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate, self.burst, self.max_keys, self.clock = rate, burst, max_keys, clock
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def take(self, key: str) -> float:
        now = self.clock()
        tokens, last = self.buckets.pop(key, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1:
            self.buckets[key] = (tokens - 1, now)
            wait = 0.0
        else:
            self.buckets[key] = (tokens, now)
            wait = (1 - tokens) / self.rate
        while len(self.buckets) > self.max_keys:
            self.buckets.popitem(last=False)
        return wait

    async def aclose(self) -> None:
        return None


# The same bucket as LocalBuckets, run atomically inside Redis on Redis's own clock (replicas'
# clocks may disagree). The key expires once a full bucket would have refilled: an absent key
# is a full bucket, so nothing is lost and idle credentials cost no memory.
_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = redis.call('TIME')
local state = redis.call('HMGET', KEYS[1], 'tokens', 's', 'us')
local tokens = burst
if state[1] then
  local elapsed = (tonumber(now[1]) - tonumber(state[2]))
    + (tonumber(now[2]) - tonumber(state[3])) / 1000000
  tokens = math.min(burst, tonumber(state[1]) + math.max(elapsed, 0) * rate)
end
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 's', now[1], 'us', now[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return string.format('%.6f', wait)
"""

KEY_PREFIX = "touchpoint:rate:"


class RedisBuckets:
    """Buckets shared by every replica through Redis (redis-py; the bucket is a Lua script).

    If Redis does not answer, the limit falls back to this process's buckets for
    `fallback_seconds` (the API keeps serving, limited per replica as without Redis), counted
    in `touchpoint_rate_limit_store_errors_total`; then Redis is tried again.
    """

    def __init__(
        self,
        url: str,
        rate: float,
        burst: int,
        timeout_seconds: float = 0.5,
        fallback_seconds: float = 5.0,
    ) -> None:
        self.rate, self.burst = rate, burst
        self.client: Redis = Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 0),
        )
        self.script = self.client.register_script(_TAKE)
        self.local = LocalBuckets(rate, burst)
        self.fallback_seconds = fallback_seconds
        self.fallback_until = 0.0

    async def take(self, key: str) -> float:
        if time.monotonic() < self.fallback_until:
            return await self.local.take(key)
        try:
            answer = await self.script(keys=[KEY_PREFIX + key], args=[self.rate, self.burst])
        except (RedisError, OSError) as exc:
            metrics.RATE_LIMIT_STORE_ERRORS.inc()
            log.warning(
                "rate limit store unavailable, limiting per process for %.0f s: %s",
                self.fallback_seconds,
                type(exc).__name__,
            )
            self.fallback_until = time.monotonic() + self.fallback_seconds
            return await self.local.take(key)
        return float(answer)

    async def aclose(self) -> None:
        await self.client.aclose()


def bucket_store(rate: float, burst: int, redis_url: str | None) -> BucketStore:
    return RedisBuckets(redis_url, rate, burst) if redis_url else LocalBuckets(rate, burst)
