"""The Standard Webhooks sender: one signed POST per message to the endpoint's URL."""

from __future__ import annotations

import time

import httpx

from app.core.db import Database, utcnow
from app.core.outbox import OutboxMessage
from app.core.settings import Settings
from app.webhooks import pacing, retry, signing, ssrf, throttle
from app.webhooks.models import WebhookEndpoint
from app.webhooks.outcome import Outcome
from app.webhooks.payloads import body_of


async def send(
    db: Database,
    settings: Settings,
    client: httpx.AsyncClient,
    endpoint: WebhookEndpoint,
    message: OutboxMessage,
    progress: list[str] | None = None,
) -> Outcome:
    try:
        target = await ssrf.resolve(endpoint.url, settings.webhook_allow_private)
    except ssrf.UnsafeTarget as exc:
        return Outcome(False, error=f"refused target: {exc}")
    if endpoint.rate_limit_per_second:
        bucket = pacing.spacing_bucket(endpoint.rate_limit_per_second)
        later = await throttle.take(db, endpoint.id, bucket)
        if later is not None:
            return Outcome(False, defer_until=later)
    now = utcnow()
    secrets = [endpoint.secret]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_until
        and endpoint.previous_secret_until > now
    ):
        secrets.append(endpoint.previous_secret)
    body = body_of(message)
    headers = signing.headers(secrets, message.message_id, int(time.time()), body)
    try:
        response = await client.post(
            target.url,
            content=body,
            headers=headers | target.headers,
            extensions=target.extensions,
        )
    except httpx.HTTPError as exc:
        return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500])
    code = response.status_code
    excerpt = response.text[:500]
    if 200 <= code < 300:
        return Outcome(True, code, excerpt=excerpt)
    retry_after = (
        retry.parse_retry_after(response.headers.get("retry-after"), utcnow())
        if code in (429, 503)
        else None
    )
    return Outcome(False, code, f"HTTP {code}", retry_after, excerpt, gone=code == 410)
