"""Issuing and checking API keys."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiKey
from app.auth.scopes import Scope

KEY_PREFIX = "tpk_"


def hash_key(raw: str) -> str:
    # Keys carry 256 bits of randomness, so a plain digest is enough: no dictionary to guess from.
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    id: int
    name: str
    scopes: list[str]
    key: str


async def create_key(session: AsyncSession, name: str, scopes: list[Scope]) -> IssuedKey:
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        name=name,
        prefix=raw[:12],
        key_hash=hash_key(raw),
        scopes=sorted(s.value for s in scopes),
    )
    session.add(row)
    await session.flush()
    return IssuedKey(id=row.id, name=row.name, scopes=list(row.scopes), key=raw)


async def find_active_key(session: AsyncSession, raw: str) -> ApiKey | None:
    row = await session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(raw)))
    # The lookup is by digest; compare again in constant time so equality never short-circuits.
    if row is None or row.revoked_at is not None:
        return None
    if not secrets.compare_digest(row.key_hash, hash_key(raw)):
        return None
    return row


@dataclass(frozen=True)
class VerifiedKey:
    id: int
    scopes: frozenset[str]


class KeyCache:
    """Verified API keys by digest for a few seconds: most requests of a shop's backend or
    CRM reuse one key, and looking it up again on every request costs a query each.

    Only keys found active are kept; a revoked key stops working within `ttl_seconds`.
    """

    def __init__(self, ttl_seconds: float, max_keys: int = 10_000) -> None:
        self.ttl, self.max_keys = ttl_seconds, max_keys
        self._keys: dict[str, tuple[VerifiedKey, float]] = {}

    async def find(self, session: AsyncSession, raw: str, now: float) -> VerifiedKey | None:
        digest = hash_key(raw)
        hit = self._keys.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        row = await find_active_key(session, raw)
        if row is None:
            self._keys.pop(digest, None)
            return None
        found = VerifiedKey(row.id, frozenset(row.scopes))
        if self.ttl > 0:
            if len(self._keys) >= self.max_keys:
                self._keys.clear()
            self._keys[digest] = (found, now + self.ttl)
        return found


async def count_keys(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(ApiKey)) or 0)
