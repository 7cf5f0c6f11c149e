"""Requests to one Bitrix24 portal, within its limits.

- Rate: the portal's leaky bucket (50 requests, 2 a second; Enterprise 250 and 5), kept by
  `throttle.take` before every request; a 503 QUERY_LIMIT_EXCEEDED marks the bucket full.
- Time budget: a method whose accumulated run time is over the portal's limit answers 429
  OPERATION_TIME_LIMIT; that method (and only it) is paused until the `operating_reset_at` of
  the answer, or of the last successful answer of the method, as Bitrix24 advises.
- Nothing waits: when a limit says "not yet", `Throttled` carries the moment to try again.
- `batch` carries up to 50 calls; its own request is not counted in the time budget, each
  call inside it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from app.core.db import Database, utcnow
from app.webhooks import throttle
from app.webhooks.models import WebhookEndpoint
from app.webhooks.pacing import Bucket
from app.webhooks.ssrf import Target

MAX_BATCH = 50
QUERY_LIMIT = "QUERY_LIMIT_EXCEEDED"
TIME_LIMIT = "OPERATION_TIME_LIMIT"
# When neither the 429 nor an earlier answer told when the method's budget frees up: the
# budget is counted in one-minute baskets, so a minute frees at least the oldest one.
UNKNOWN_RESET = timedelta(seconds=60)

# (database, endpoint id, method) -> the `operating_reset_at` of the method's latest
# successful answer: where to resume when a 429 does not say.
_last_reset: dict[tuple[str, int, str], float] = {}


class BitrixError(Exception):
    def __init__(self, code: str, status: int, description: str = "") -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code, self.status, self.description = code, status, description


class Throttled(Exception):
    """Not now: the portal's bucket or a method's time budget says wait until `until`."""

    def __init__(self, until: datetime, reason: str, status: int | None = None) -> None:
        super().__init__(f"{reason}; next try at {until.isoformat()}")
        self.until, self.reason, self.status = until, reason, status
        # From `batch`: the results and errors of the calls made before the limit struck.
        self.partial: tuple[dict[str, Any], dict[str, BitrixError]] = ({}, {})


def php_query(params: Any, prefix: str = "") -> list[str]:
    """Bitrix batch commands are query strings with PHP-style nesting (filter[EMAIL]=…)."""
    parts: list[str] = []
    if isinstance(params, dict):
        for key, value in params.items():
            name = f"{prefix}[{key}]" if prefix else str(key)
            parts += php_query(value, name)
    elif isinstance(params, list):
        for i, value in enumerate(params):
            parts += php_query(value, f"{prefix}[{i}]")
    else:
        parts.append(f"{quote(prefix, safe='[]')}={quote(str(params), safe='')}")
    return parts


def _reset_at(time_info: Any) -> float | None:
    if isinstance(time_info, dict):
        value = time_info.get("operating_reset_at")
        if isinstance(value, int | float) and value > 0:
            return float(value)
    return None


Command = tuple[str, dict[str, Any]]


class Portal:
    def __init__(
        self,
        db: Database,
        client: httpx.AsyncClient,
        endpoint: WebhookEndpoint,
        target: Target,
        bucket: Bucket,
    ) -> None:
        self.db, self.client, self.endpoint = db, client, endpoint
        self.target, self.bucket = target, bucket
        self.base = target.url if target.url.endswith("/") else target.url + "/"
        self.paused: dict[str, float] = dict(endpoint.paused_methods or {})
        self.requests = 0
        self.key = db.engine.url.render_as_string(hide_password=True), endpoint.id

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        body = await self._request(method, params, [method])
        self._note_reset(method, body.get("time"))
        return body.get("result")

    async def batch(
        self, commands: dict[str, Command]
    ) -> tuple[dict[str, Any], dict[str, BitrixError]]:
        """Run the commands, 50 a request; answers the results and the errors by name.

        A call out of time budget pauses its method and raises Throttled once the chunk is
        read; the calls that did succeed travel on the exception (`partial`).
        """
        results: dict[str, Any] = {}
        errors: dict[str, BitrixError] = {}
        items = list(commands.items())
        for start in range(0, len(items), MAX_BATCH):
            chunk = dict(items[start : start + MAX_BATCH])
            cmd = {name: f"{m}?{'&'.join(php_query(p))}" for name, (m, p) in chunk.items()}
            try:
                body = await self._request(
                    "batch", {"halt": 0, "cmd": cmd}, {m for m, _ in chunk.values()}
                )
            except Throttled as exc:
                exc.partial = (results, errors)
                raise
            outcome = body.get("result") or {}
            for name, value in (outcome.get("result") or {}).items():
                results[name] = value
            for name, info in (outcome.get("result_time") or {}).items():
                if name in chunk:
                    self._note_reset(chunk[name][0], info)
            for name, err in (outcome.get("result_error") or {}).items():
                err = err if isinstance(err, dict) else {"error": str(err)}
                errors[name] = BitrixError(
                    str(err.get("error", "BATCH_ERROR")), 400, str(err.get("error_description", ""))
                )
            paused = [
                chunk[name][0]
                for name, e in errors.items()
                if e.code == TIME_LIMIT and name in chunk
            ]
            if paused:
                until = await self._pause(paused, None)
                limited = Throttled(until, f"{', '.join(sorted(set(paused)))}: {TIME_LIMIT}", 429)
                limited.partial = (results, errors)
                raise limited
        return results, errors

    async def _request(self, method: str, params: dict[str, Any], methods: Iterable[str]) -> Any:
        await self._admit(methods)
        self.requests += 1
        response = await self.client.post(
            f"{self.base}{method}.json",
            json=params,
            headers=self.target.headers,
            extensions=self.target.extensions,
        )
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {"result": body}
        if response.status_code < 400 and "error" not in body:
            return body
        code = str(body.get("error", f"HTTP_{response.status_code}"))
        if code == QUERY_LIMIT or response.status_code == 503:
            until = await throttle.fill(self.db, self.endpoint.id, self.bucket)
            raise Throttled(until, QUERY_LIMIT, response.status_code)
        if code == TIME_LIMIT:
            until = await self._pause(list(methods), _reset_at(body.get("time")))
            raise Throttled(until, f"{method}: {TIME_LIMIT}", response.status_code)
        raise BitrixError(code, response.status_code, str(body.get("error_description", "")))

    async def _admit(self, methods: Iterable[str]) -> None:
        now = utcnow()
        methods = list(methods)
        paused = throttle.paused_until(self.paused, methods, now)
        if paused is not None:
            raise Throttled(paused, f"{', '.join(sorted(methods))} paused ({TIME_LIMIT})")
        later = await throttle.take(self.db, self.endpoint.id, self.bucket)
        if later is not None:
            raise Throttled(later, "the portal's request bucket is full")

    def _note_reset(self, method: str, time_info: Any) -> None:
        reset = _reset_at(time_info)
        if reset is not None:
            _last_reset[(*self.key, method)] = reset

    async def _pause(self, methods: list[str], reported: float | None) -> datetime:
        now = utcnow()
        latest = now
        for method in set(methods):
            reset = reported or _last_reset.get((*self.key, method))
            until = (
                datetime.fromtimestamp(reset, UTC)
                if reset and reset > now.timestamp()
                else now + UNKNOWN_RESET
            )
            await throttle.pause(self.db, self.endpoint.id, method, until)
            self.paused[method] = until.timestamp()
            latest = max(latest, until)
        return latest
