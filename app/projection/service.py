"""Use cases around the projection: rebuilds and the backlog it reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Database, utcnow
from app.core.settings import Settings
from app.customers import repository as customers_repository
from app.projection import repository
from app.projection.pipeline import drain


@dataclass(frozen=True)
class Backlog:
    pending: int  # customers with facts not derived yet
    lag_seconds: float  # age of the oldest pending mark
    failed: int  # customers set aside because deriving them raised


async def backlog(session: AsyncSession, now: datetime | None = None) -> Backlog:
    pending, oldest, failed = await repository.backlog(session)
    lag = ((now or utcnow()) - oldest).total_seconds() if oldest else 0.0
    return Backlog(pending, max(lag, 0.0), failed)


async def rebuild(
    db: Database,
    settings: Settings,
    external_ids: list[str] | None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Mark every customer (or these) to be derived again from all their facts, then derive
    them; returns (customers marked, customers derived)."""
    async with db.sessionmaker() as session, session.begin():
        pks = None
        if external_ids is not None:
            found = await customers_repository.pks_of(session, external_ids)
            unknown = sorted(set(external_ids) - set(found))
            if unknown:
                raise LookupError(f"unknown customer(s): {', '.join(unknown)}")
            pks = list(found.values())
        marked = await repository.mark_all(session, utcnow(), pks)
    return marked, await drain(db, settings, progress)
