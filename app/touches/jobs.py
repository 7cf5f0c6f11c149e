"""Worker job: `touch.due` to the outbox once per touch when its time comes."""

from __future__ import annotations

from app.core.db import Database, utcnow
from app.core.settings import Settings
from app.touches import service

BATCH = 500


async def announce_due(db: Database, settings: Settings) -> int:
    async with db.sessionmaker() as session, session.begin():
        return await service.announce_due(session, utcnow(), BATCH)
