"""Short-lived customer tokens for mobile apps: `tpc_<payload>.<HMAC-SHA256 signature>`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

PREFIX = "tpc_"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


def issue(secret: str, customer_id: str, ttl_seconds: int, now: datetime) -> tuple[str, datetime]:
    expires = (now + timedelta(seconds=ttl_seconds)).replace(microsecond=0)
    claims = {"c": customer_id, "iat": int(now.timestamp()), "exp": int(expires.timestamp())}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{PREFIX}{payload}.{_sign(secret, payload)}", expires


def verify(secret: str, token: str, now: datetime) -> str | None:
    """The customer id the token was issued for, or None if forged, malformed or expired."""
    verified = verify_claims(secret, token, now)
    return verified[0] if verified else None


def verify_claims(secret: str, token: str, now: datetime) -> tuple[str, int | None] | None:
    """(customer id, issued-at epoch or None for tokens issued before it was recorded), or
    None if forged, malformed or expired."""
    if not token.startswith(PREFIX) or len(token) > 1024:
        return None
    body = token[len(PREFIX) :]
    payload, _, signature = body.partition(".")
    if not payload or not signature:
        return None
    if not hmac.compare_digest(_sign(secret, payload), signature):
        return None
    try:
        claims = json.loads(_unb64(payload))
        customer_id, expires = claims["c"], int(claims["exp"])
        issued = int(claims["iat"]) if "iat" in claims else None
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(customer_id, str) or expires <= now.timestamp():
        return None
    return customer_id, issued


def expiry_of(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
