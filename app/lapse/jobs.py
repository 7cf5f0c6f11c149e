"""Worker job: customers whose silence has crossed a threshold."""

from __future__ import annotations

from app.core.db import Database, utcnow
from app.core.settings import Settings
from app.lapse import repository, service

BATCH = 1000


async def advance_due(db: Database, settings: Settings) -> int:
    """Move due customers along (claimed with SKIP LOCKED, so workers never overlap)."""
    async with db.sessionmaker() as session, session.begin():
        now = utcnow()
        due = await repository.due(session, now, BATCH)
        for c in due:
            await service.advance(session, c, now)
        return len(due)
