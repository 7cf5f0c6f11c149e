"""The projection: every customer's derived state, computed from its facts in batches.

The write path only stores facts and marks customers pending (`pending_marks`). A batch of
pending customers, locked, goes through these steps in this order; each step reads what
the steps above it wrote, which is why the order is fixed here and nowhere else:

1. facts       reads the batch's new events (all of them for a customer derived again);
               writes the non-purchase facts (profile, counters, lead, referrer).
2. aggregates  reads the orders of customers whose purchases or refunds changed;
               writes the purchase aggregates (counts, revenue, intervals).
3. stage       reads aggregates and facts, and the referral credits other customers hold;
               writes referral credits, the stage, `stage_changes`, `customer.stage_changed`.
4. lapse       reads the orders and aggregates; writes rhythm, lapse schedule and status.
5. ltv         reads the orders; writes the stored prediction.
6. cashback    reads the stage (its rate) and the new purchases and refunds; writes lots,
               clawbacks, referral and welcome bonuses, the cached balance.
7. next touch  reads all of the above and the new contacts; writes the planned touch.

Outbox messages are written by the step whose change they announce, in the same
transaction, so a change and its message commit together or not at all. A step never locks
a customer outside its batch: a referrer whose credit moved is marked pending and derives
its own side in its own fold.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.cashback import service as cashback
from app.core.db import Database, utcnow
from app.core.settings import Settings
from app.customers import aggregates
from app.customers import repository as customers_repository
from app.customers.models import Customer
from app.events import repository as events_repository
from app.events.rules import FACT_DEFAULTS, fold
from app.events.schemas import PurchaseEvent, RefundEvent
from app.events.service import event_of
from app.lapse import service as lapse
from app.ltv import jobs as ltv
from app.projection import repository
from app.projection.context import Batch
from app.stages import service as stages
from app.touches import service as touches

log = logging.getLogger("touchpoint.projection")


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[Batch], Awaitable[None]]


async def _aggregates(batch: Batch) -> None:
    """Purchase aggregates of the customers whose orders changed, from all their orders."""
    changed = [batch.customers[e] for e in sorted(batch.purchases_changed)]
    facts: dict[int, list[aggregates.OrderFacts]] = defaultdict(list)
    for o in await events_repository.orders_of(batch.session, [c.id for c in changed]):
        facts[o.customer_id].append(
            aggregates.OrderFacts(
                o.order_id, o.occurred_at, o.amount_minor, o.refunded_minor, o.category
            )
        )
    for c in changed:
        batch.orders[c.external_id] = facts[c.id]
        for name, value in aggregates.compute(facts[c.id]).as_columns().items():
            setattr(c, name, value)


# Step 1 (facts) needs the marks, so `fold_batch` runs it before these.
STEPS: tuple[Step, ...] = (
    Step("aggregates", _aggregates),
    Step("stage", stages.on_ingest),
    Step("lapse", lapse.on_ingest),
    Step("ltv", ltv.refresh_on_ingest),
    Step("cashback", cashback.on_ingest),
    Step("next touch", touches.on_ingest),
)


async def _fold_facts(
    session: AsyncSession, batch: Batch, marks: list[tuple[int, int, str | None]]
) -> None:
    """Step 1: the new events into the customers' non-purchase facts.

    A mark without an event asks for the customer to be derived again from every stored
    event (facts reset, then replayed); its events marked in this pass are still the
    batch's new events for the steps that act once per event (cashback, touches).
    """
    by_pk = {c.id: c for c in batch.customers.values()}
    again = {pk for _, pk, event_id in marks if event_id is None}
    rows = await events_repository.events_by_id(
        session, {event_id for _, _, event_id in marks if event_id is not None}
    )
    events = sorted(
        (event_of(r, by_pk[r.customer_id].external_id) for r in rows if r.customer_id in by_pk),
        key=lambda e: (e.occurred_at, e.event_id),
    )
    for pk in sorted(again):
        c = by_pk[pk]
        for name, value in FACT_DEFAULTS.items():
            setattr(c, name, value)
        batch.purchases_changed.add(c.external_id)
    for r in await events_repository.events_of_customers(session, again):
        fold(by_pk[r.customer_id], event_of(r, by_pk[r.customer_id].external_id))
    for e in events:
        c = batch.customers[e.customer_id]
        if c.id not in again:
            fold(c, e)
        if isinstance(e, PurchaseEvent | RefundEvent):
            batch.purchases_changed.add(e.customer_id)
    batch.accepted = events


async def fold_batch(
    session: AsyncSession, settings: Settings, locked: list[Customer], now: datetime | None = None
) -> int:
    """Derive these locked customers from their pending marks; returns the marks folded."""
    marks = await repository.marks_of(session, [c.id for c in locked])
    if not marks:
        return 0
    # Erased customers are frozen (their marks are dropped, nothing is derived again).
    pending = {pk for _, pk, _ in marks} - {c.id for c in locked if c.erased_at is not None}
    batch = Batch(
        session=session,
        settings=settings,
        now=now or utcnow(),
        customers={c.external_id: c for c in locked if c.id in pending},
    )
    await _fold_facts(session, batch, marks)
    for step in STEPS:
        await step.run(batch)
    await customers_repository.save_customers(session, batch.customers.values())
    await repository.clear(session, [mark_id for mark_id, _, _ in marks])
    if batch.also_pending:
        others = await customers_repository.pks_of(session, batch.also_pending)
        await repository.mark(session, [(pk, None) for pk in others.values()], batch.now)
    await session.flush()
    return len(marks)


async def fold_customer(session: AsyncSession, settings: Settings, customer: Customer) -> Customer:
    """Read-your-writes: a pending customer is derived in the caller's transaction before
    anything about it is answered (waiting for a worker that holds it, if one does)."""
    if not await repository.is_pending(session, customer.id):
        return customer
    return await fold_now(session, settings, customer.id)


async def fold_now(session: AsyncSession, settings: Settings, pk: int) -> Customer:
    """Lock this customer and derive it from its pending marks, in the caller's transaction."""
    locked = await customers_repository.lock(session, [pk])
    await fold_batch(session, settings, locked)
    return locked[0]


async def fold_pending(session: AsyncSession, settings: Settings, pks: set[int]) -> None:
    """Derive these customers now, in the caller's transaction (`?wait=true`)."""
    locked = await customers_repository.lock(session, pks)
    await fold_batch(session, settings, locked)


async def run_pending(
    db: Database, settings: Settings, limit: int | None = None, now: datetime | None = None
) -> int:
    """One pass of the worker: claim a batch of pending customers and derive them.

    A batch that raises is retried customer by customer, each in its own transaction, and
    a customer that still raises is set aside (logged without its data), so one bad
    history never holds back the others.
    """
    limit = limit or settings.projection_batch_customers
    pks: list[int] = []
    try:
        async with db.sessionmaker() as session, session.begin():
            claimed = await repository.claim(session, limit)
            if not claimed:
                return 0
            pks = [c.id for c in claimed]
            await fold_batch(session, settings, claimed, now)
            return len(claimed)
    except Exception:
        log.exception("projection batch of %d customers failed; retrying one by one", limit)
    done = 0
    for pk in pks:
        try:
            async with db.sessionmaker() as session, session.begin():
                locked = await customers_repository.lock(session, [pk], skip_locked=True)
                await fold_batch(session, settings, locked, now)
                done += 1
        except Exception:
            log.exception("deriving customer pk=%d failed; set aside", pk)
            async with db.sessionmaker() as session, session.begin():
                await repository.fail(session, [pk], utcnow())
    return done


async def drain(
    db: Database,
    settings: Settings,
    progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None,
) -> int:
    """Run the projection until nothing is pending (the commands that write facts wait for
    their derivation with this); `progress(done, total)` after each batch."""
    async with db.sessionmaker() as session:
        total, _, _ = await repository.backlog(session)
    done = 0
    while handled := await run_pending(db, settings, now=now):
        done += handled
        if progress:
            progress(min(done, total), max(total, done))
    return done
