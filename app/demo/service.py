"""Filling a database with the demo shop through the normal ingest path."""

from __future__ import annotations

from collections.abc import Callable

from app.core.db import Database, utcnow
from app.core.settings import Settings
from app.demo.generator import events
from app.events.service import ingest
from app.lapse.jobs import advance_due
from app.ltv.service import fit_models
from app.projection.pipeline import drain


async def fill(
    db: Database,
    settings: Settings,
    customers: int,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
    derived_progress: Callable[[int, int], None] | None = None,
    wait: bool = True,
) -> dict[str, int]:
    now = utcnow()
    all_events = events(now, customers, seed)
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for start in range(0, len(all_events), 500):
        async with db.sessionmaker() as session, session.begin():
            for r in (await ingest(session, settings, all_events[start : start + 500])).results:
                counts[r.status.value] += 1
        if progress:
            progress(min(start + 500, len(all_events)), len(all_events))
    if not wait:
        return counts
    await drain(db, settings, progress=derived_progress)
    async with db.sessionmaker() as session, session.begin():
        await fit_models(session, settings, None)
    while await advance_due(db, settings):
        pass
    return counts
