"""Secrets a deployment generates once and keeps in its database, shared by every replica.

Used where an operator may leave a secret unset (the customer-token key): a random value is
made on first use, stored, and read back by every process from then on, so no deployment
ever runs on a value written in the source.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import InstanceSecret
from app.core.db import insert_ignoring_conflicts, utcnow

# Per database: the value never changes once stored, so one read per process is enough.
_cache: dict[tuple[str, str], str] = {}


def _database_key(session: AsyncSession) -> str:
    return session.get_bind().engine.url.render_as_string(hide_password=True)


async def instance_secret(session: AsyncSession, name: str) -> str:
    """The deployment's secret `name`, generated (256 random bits) the first time it is asked.

    Two processes asking at once both insert-or-ignore, then read the one row that won.
    """
    key = (_database_key(session), name)
    if key in _cache:
        return _cache[key]
    stored = select(InstanceSecret.value).where(InstanceSecret.name == name)
    value = await session.scalar(stored)
    if value is not None:
        _cache[key] = value
        return value
    # Inserted in the caller's transaction: not cached until read back committed, so a
    # rolled-back first use leaves no secret in memory that the database does not have.
    await session.execute(
        insert_ignoring_conflicts(session, InstanceSecret, "name").values(
            name=name, value=secrets.token_urlsafe(48), created_at=utcnow()
        )
    )
    value = await session.scalar(stored)
    assert value is not None
    return value
