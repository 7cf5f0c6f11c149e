"""Worker job: stages that change by themselves with time (a regular who stopped buying)."""

from __future__ import annotations

from app.core.db import Database, utcnow
from app.core.settings import Settings
from app.lapse import learning
from app.stages import repository, service

BATCH = 500


async def review_due_stages(db: Database, settings: Settings) -> int:
    """Re-evaluate customers whose `stage_review_at` has passed (claimed with SKIP LOCKED)."""
    async with db.sessionmaker() as session, session.begin():
        now = utcnow()
        due = await repository.due_for_review(session, now, BATCH)
        book = await learning.book(session, settings, compute_missing=False) if due else None
        for c in due:
            changed_at = c.stage_review_at or now
            await service.apply_stage(session, settings, c, now, min(changed_at, now), book)
        return len(due)
