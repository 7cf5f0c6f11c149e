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


async def count_keys(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(ApiKey)) or 0)
