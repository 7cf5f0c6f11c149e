"""Worker jobs and the ingest hook of the LTV domain."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from app.core.db import Database, dialect_name, utcnow
from app.core.settings import Settings
from app.ltv import repository, service
from app.projection.context import Batch

# Any constant: one refit at a time across workers on PostgreSQL.
_REFIT_LOCK = 7_424_001


async def refresh_on_ingest(ctx: Batch) -> None:
    """Purchases or refunds changed: recompute those customers' stored predictions."""
    if ctx.purchases_changed:
        changed = [ctx.customers[c] for c in ctx.purchases_changed]
        # As `repository.purchases_as_of`: a fully refunded order is undone, a zero-amount
        # order (a gift) still counts.
        purchases = [
            (c.id, o.occurred_at, o.net_minor)
            for c in changed
            for o in ctx.orders[c.external_id]
            if o.counts
        ]
        await service.refresh_predictions(
            ctx.session,
            ctx.settings,
            [c.id for c in changed],
            now=ctx.now,
            customers=changed,
            purchases=purchases,
        )


async def daily_refit(db: Database, settings: Settings) -> int:
    """Refit when the current fit is older than `ltv_refit_hours` (or there is none); with
    enough history a back-test runs first, so the refit deploys the model that predicted this
    shop best."""
    async with db.sessionmaker() as session, session.begin():
        latest = await repository.latest_fit(session)
        if latest and utcnow() - latest.fitted_at < timedelta(hours=settings.ltv_refit_hours):
            return 0
        if dialect_name(session) == "postgresql":
            got = await session.scalar(text(f"SELECT pg_try_advisory_xact_lock({_REFIT_LOCK})"))
            if not got:
                return 0
        await service.backtest_if_history_suffices(session, settings)
        await service.fit_models(session, settings, None)
    return 0
