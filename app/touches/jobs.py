"""Worker job: re-plan touches whose plan changed with time, then `touch.due` once per touch
when its time comes."""

from __future__ import annotations

from datetime import datetime

from app.core.db import Database, utcnow
from app.core.settings import Settings
from app.touches import service

BATCH = 500


async def announce_due(db: Database, settings: Settings, now: datetime | None = None) -> int:
    """`now` is the worker's clock (injected by tests); re-planning runs first, so an expired
    touch is replaced before the queue is announced."""
    now = now or utcnow()
    async with db.sessionmaker() as session, session.begin():
        replanned = await service.replan_due(session, settings, now, BATCH)
    async with db.sessionmaker() as session, session.begin():
        return replanned + await service.announce_due(session, now, BATCH)
