"""Worker jobs: expiring lots are announced once, then expired."""

from __future__ import annotations

from app.cashback import service
from app.core.db import Database, utcnow
from app.core.settings import Settings

BATCH = 500


async def expire(db: Database, settings: Settings) -> int:
    async with db.sessionmaker() as session, session.begin():
        return await service.expire_lots(session, utcnow(), BATCH)


async def announce(db: Database, settings: Settings) -> int:
    async with db.sessionmaker() as session, session.begin():
        return await service.announce_expiring(session, settings, utcnow(), BATCH)
