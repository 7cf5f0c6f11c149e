"""Revoking every customer token of a sender's customer id at once (on erasure).

Tokens carry their issue time; a token of a revoked id issued in or before the second of the
revocation is refused, so tokens issued afterwards (for a new customer with the same id) work.
"""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.cashback.models import TokenRevocation


async def revoke_customer_tokens(session: AsyncSession, customer_id: str, now: datetime) -> None:
    row = await session.get(TokenRevocation, customer_id)
    if row is None:
        session.add(TokenRevocation(customer_id=customer_id, revoked_before=now))
    else:
        row.revoked_before = max(row.revoked_before, now)


async def is_revoked(session: AsyncSession, customer_id: str, issued_at: int | None) -> bool:
    """Whether a token of `customer_id` issued at `issued_at` (epoch seconds, None: unknown)
    was revoked."""
    row = await session.get(TokenRevocation, customer_id)
    if row is None:
        return False
    return issued_at is None or issued_at <= math.floor(row.revoked_before.timestamp())
