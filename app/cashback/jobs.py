"""Worker jobs: expiring cashback is announced once per customer and date, then expired."""

from __future__ import annotations

from app.cashback import expiry
from app.core.db import Database, utcnow
from app.core.settings import Settings


async def expire(db: Database, settings: Settings) -> int:
    async with db.sessionmaker() as session, session.begin():
        return await expiry.expire_lots(session, utcnow())


async def announce(db: Database, settings: Settings) -> int:
    async with db.sessionmaker() as session, session.begin():
        return await expiry.announce_expiring(session, settings, utcnow())
