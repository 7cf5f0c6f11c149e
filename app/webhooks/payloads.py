"""The bytes a Standard Webhooks receiver gets, and what messages about endpoints may say."""

from __future__ import annotations

import json
from typing import Any

from app.core.outbox import OutboxMessage
from app.webhooks import ssrf
from app.webhooks.models import WebhookEndpoint


def body_of(message: OutboxMessage) -> bytes:
    """The exact bytes sent (and signed): {type, timestamp, data}."""
    return json.dumps(
        {
            "type": message.type,
            "timestamp": message.created_at.isoformat(),
            "data": message.payload,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def endpoint_public(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """An endpoint as other receivers may see it: its origin only, never the path or query
    (a Bitrix24 URL carries the webhook code, others a token)."""
    return {
        "endpoint_id": endpoint.id,
        "kind": endpoint.kind,
        "origin": ssrf.origin(endpoint.url),
        "description": endpoint.description,
    }
