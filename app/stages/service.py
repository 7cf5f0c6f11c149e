"""Use cases of the loyalty ladder."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import queue_rows, utcnow
from app.core.money import from_minor
from app.core.outbox import emit
from app.core.settings import Settings
from app.customers import aggregates
from app.customers import repository as customers_repository
from app.customers.aggregates import OrderFacts
from app.customers.models import Customer
from app.events import repository as events_repository
from app.events.schemas import EventIn, PurchaseEvent
from app.events.service import customer_as_of, event_of, replay_at
from app.lapse import learning
from app.lapse import service as lapse_service
from app.lapse.learning import RhythmBook
from app.lapse.rhythm import plan
from app.lapse.service import contact_of
from app.ltv import repository as ltv_repository
from app.projection.context import Batch
from app.stages import repository
from app.stages.models import StageChange
from app.stages.rules import RANK, STAGES, Facts, Verdict, evaluate
from app.stages.schemas import PyramidLevel, PyramidOut, StageOut


def facts_of(
    c: Customer,
    settings: Settings,
    as_of: datetime,
    referrals: int | None = None,
    book: RhythmBook | None = None,
) -> Facts:
    book = book or RhythmBook(settings)
    return Facts(
        as_of=as_of,
        purchase_count=c.purchase_count,
        last_purchase_at=c.last_purchase_at,
        still_buying_until=c.at_risk_at,
        interval_median_days=c.interval_median_days,
        interval_mean_days=c.interval_mean_days,
        interval_stdev_days=c.interval_stdev_days,
        main_category=c.main_category,
        category_rhythm_days=book.configured_days(c.main_category),
        lead_level=c.lead_level,
        exclusive=c.exclusive,
        best_public_rating=c.best_public_rating,
        referrals_converted=c.referrals_converted if referrals is None else referrals,
    )


def _stage_message(
    c: Customer, previous: str | None, verdict: Verdict, at: datetime
) -> dict[str, object]:
    return {
        "customer_id": c.external_id,
        "from": previous,
        "to": verdict.stage,
        "direction": (
            "new" if previous is None else "up" if RANK[verdict.stage] > RANK[previous] else "down"
        ),
        "at": at.isoformat(),
        "reasons": verdict.reasons,
        "contact": contact_of(c),
    }


async def apply_stage(
    session: AsyncSession,
    settings: Settings,
    c: Customer,
    now: datetime,
    changed_at: datetime | Callable[[Verdict], datetime],
    book: RhythmBook | None = None,
) -> Verdict:
    """Re-evaluate one customer; on a change (or the first stage), record history and the
    outbox message. `changed_at` may be a function of the verdict: when the change happened."""
    verdict = evaluate(facts_of(c, settings, now, book=book), settings.stages)
    c.stage_review_at = verdict.review_at
    if verdict.stage != c.stage or c.stage_since is None:
        previous = c.stage if c.stage_since is not None else None
        at = changed_at(verdict) if callable(changed_at) else changed_at
        queue_rows(
            session,
            StageChange,
            [
                {
                    "customer_id": c.id,
                    "from_stage": previous,
                    "to_stage": verdict.stage,
                    "changed_at": at,
                    "recorded_at": now,
                    "reasons": verdict.reasons,
                }
            ],
        )
        await emit(
            session,
            "customer.stage_changed",
            _stage_message(c, previous, verdict, at),
            customer_id=c.external_id,
        )
        c.stage = verdict.stage
        c.stage_since = at
    return verdict


def _stage_at(
    c: Customer,
    orders: list[OrderFacts] | None,
    at: datetime,
    settings: Settings,
    book: RhythmBook,
) -> str:
    """The stage the customer's facts at `at` give (purchases as of then; a lead only once
    shown; other declarations as they are now)."""
    facts = facts_of(c, settings, at, book=book)
    if orders is not None:
        agg = aggregates.compute([o for o in orders if o.occurred_at <= at])
        facts = replace(
            facts,
            purchase_count=agg.purchase_count,
            last_purchase_at=agg.last_purchase_at,
            interval_median_days=agg.interval_median_days,
            interval_mean_days=agg.interval_mean_days,
            interval_stdev_days=agg.interval_stdev_days,
            main_category=agg.main_category,
            category_rhythm_days=book.configured_days(agg.main_category),
        )
    if c.lead_at is not None and c.lead_at > at:
        facts = replace(facts, lead_level=None)
    if facts.last_purchase_at is not None and c.at_risk_at and c.last_purchase_at:
        # The customer's allowance of silence, as their rhythm gives it now.
        allowance = c.at_risk_at - c.last_purchase_at
        facts = replace(facts, still_buying_until=facts.last_purchase_at + allowance)
    return evaluate(facts, settings.stages).stage


def crossing_moment(
    c: Customer,
    verdict: Verdict,
    moments: list[datetime],
    orders: list[OrderFacts] | None,
    settings: Settings,
    book: RhythmBook,
    now: datetime,
) -> datetime:
    """The moment of the event that crossed into the verdict's stage: the earliest of this
    batch's event times from which the stage holds (found by bisection; facts grow with
    time). A stage that no event gives (a regular who fell silent) changed when the rhythm's
    allowance ran out."""
    if not moments:
        return now
    if _stage_at(c, orders, moments[-1], settings, book) != verdict.stage:
        until = c.at_risk_at
        return until if until is not None and moments[-1] <= until <= now else moments[-1]
    lo, hi = 0, len(moments) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if _stage_at(c, orders, moments[mid], settings, book) == verdict.stage:
            hi = mid
        else:
            lo = mid + 1
    return moments[lo]


async def on_ingest(ctx: Batch) -> None:
    """Credit referrers whose referred customers bought, then re-evaluate every touched stage
    (on the rhythm the lapse step keeps, computed here first)."""
    moments: dict[str, set[datetime]] = defaultdict(set)
    for event in ctx.accepted:
        moments[event.customer_id].add(event.occurred_at)
    latest = {customer: max(times) for customer, times in moments.items()}
    await _credit_referrers(ctx, latest)
    book = await lapse_service.reschedule(ctx)
    for external_id, c in list(ctx.customers.items()):
        times = sorted(moments.get(external_id, ()))
        if not times and external_id in latest:
            times = [latest[external_id]]

        def when(
            verdict: Verdict, c: Customer = c, times: list[datetime] = times, e: str = external_id
        ) -> datetime:
            return crossing_moment(
                c, verdict, times, ctx.orders.get(e), ctx.settings, book, ctx.now
            )

        await apply_stage(ctx.session, ctx.settings, c, ctx.now, when, book)


async def _credit_referrers(ctx: Batch, latest: dict[str, datetime]) -> None:
    """A referred customer who bought counts once for whoever referred them (the newest
    referral wins; a refund of every purchase takes the credit back).

    The credit is a column of the referred customer; a referrer's count is recounted from
    those columns whenever the referrer is derived, and a referrer outside the batch whose
    credit moved is marked pending instead of being locked here.
    """
    for c in ctx.customers.values():
        wanted = c.referrer_id if c.purchase_count > 0 else None
        if wanted != c.referral_credited_to:
            moved = {c.referral_credited_to, wanted} - {None}
            ctx.also_pending.update(r for r in moved if r and r not in ctx.customers)
            for r in moved:
                if r in ctx.customers:
                    latest.setdefault(r, latest.get(c.external_id, ctx.now))
            c.referral_credited_to = wanted
    outside = await customers_repository.referrals_credited(
        ctx.session, list(ctx.customers), [c.id for c in ctx.customers.values()]
    )
    inside = Counter(
        c.referral_credited_to for c in ctx.customers.values() if c.referral_credited_to
    )
    for external_id, c in ctx.customers.items():
        c.referrals_converted = outside.get(external_id, 0) + inside.get(external_id, 0)


async def stage_of(
    session: AsyncSession, settings: Settings, c: Customer, as_of: datetime | None
) -> StageOut:
    now = utcnow()
    book = await learning.book(session, settings, compute_missing=False)
    if as_of is None:
        verdict = evaluate(facts_of(c, settings, now, book=book), settings.stages)
        since = c.stage_since
        if verdict.stage != c.stage:
            # Time changed it and the worker has not recorded it yet.
            review = c.stage_review_at
            since = review if review is not None and review <= now else now
        at = now
    else:
        past = await customer_as_of(session, c, as_of)
        times = [t for _, t, _ in await ltv_repository.purchases_as_of(session, as_of, [c.id])]
        sched = plan(times, book.rhythm_days(past.main_category), settings.lapse, settings.timezone)
        past.at_risk_at = sched.at_risk_at if sched else None
        referrals = await repository.referrals_converted_as_of(session, c.external_id, as_of)
        verdict = evaluate(facts_of(past, settings, as_of, referrals, book), settings.stages)
        since = await repository.since_as_of(session, c.id, verdict.stage, as_of)
        at = as_of
    return StageOut(
        customer_id=c.external_id,
        as_of=at,
        stage=verdict.stage,
        since=since,
        reasons=verdict.reasons,
        next_stage=verdict.next_stage,
        next_requirements=verdict.next_requirements,
    )


async def pyramid(session: AsyncSession, as_of: datetime | None) -> PyramidOut:
    rows = (
        await repository.pyramid_now(session)
        if as_of is None
        else await repository.pyramid_as_of(session, as_of)
    )
    by_stage = {stage: (n, revenue, repeat) for stage, n, revenue, repeat in rows}
    total_people = sum(n for n, _, _ in by_stage.values())
    total_revenue = sum(r for _, r, _ in by_stage.values())
    repeat_revenue = sum(rep for _, _, rep in by_stage.values())
    levels: list[PyramidLevel] = []
    reached = total_people
    reached_revenue = total_revenue
    previous: tuple[int, int] | None = None
    for stage in STAGES:
        n, revenue, _ = by_stage.get(stage, (0, 0, 0))
        levels.append(
            PyramidLevel(
                stage=stage,
                customers=n,
                share=round(n / total_people, 6) if total_people else 0.0,
                revenue=from_minor(revenue),
                revenue_share=round(revenue / total_revenue, 6) if total_revenue else 0.0,
                average_revenue=from_minor(round(revenue / n) if n else 0),
                reached=reached,
                reached_revenue=from_minor(reached_revenue),
                conversion=(round(reached / previous[0], 6) if previous and previous[0] else None),
                money_conversion=(
                    round(reached_revenue / previous[1], 6) if previous and previous[1] else None
                ),
            )
        )
        previous = (reached, reached_revenue)
        reached -= n
        reached_revenue -= revenue
    return PyramidOut(
        as_of=as_of or utcnow(),
        customers=total_people,
        revenue=from_minor(total_revenue),
        repeat_revenue_share=round(repeat_revenue / total_revenue, 6) if total_revenue else 0.0,
        levels=levels,
    )


async def stages_at_purchases(ctx: Batch) -> dict[str, str]:
    """The stage each new purchase of the batch was made at, by event id: the customer's own
    history up to that purchase (its events at or before it, and the referral credits of
    customers who had bought by then).

    Earn rates use it, so the cashback of a purchase does not depend on how events were
    batched, on when the projection ran, or on whether history was back-filled later.
    """
    purchases = [e for e in ctx.accepted if isinstance(e, PurchaseEvent)]
    if not purchases:
        return {}
    buyers = {ctx.customers[p.customer_id] for p in purchases}
    history: dict[int, list[EventIn]] = defaultdict(list)
    by_pk = {c.id: c for c in buyers}
    for row in await events_repository.events_of_customers(ctx.session, list(by_pk)):
        history[row.customer_id].append(event_of(row, by_pk[row.customer_id].external_id))
    for events in history.values():
        events.sort(key=lambda e: (e.occurred_at, e.event_id))
    credited: dict[str | None, list[datetime]] = defaultdict(list)
    outside = await customers_repository.credited_referrals(
        ctx.session, [c.external_id for c in buyers], [c.id for c in ctx.customers.values()]
    )
    inside = [
        (c.referral_credited_to, c.external_id, c.first_purchase_at) for c in ctx.customers.values()
    ]
    for referrer, _, first in [*outside, *inside]:
        if referrer is not None and first is not None:
            credited[referrer].append(first)
    stages: dict[str, str] = {}
    moments: dict[str, list[PurchaseEvent]] = defaultdict(list)
    for p in purchases:
        moments[p.customer_id].append(p)
    for external_id, bought in moments.items():
        c = ctx.customers[external_id]
        referrals = sorted(credited[external_id])

        def stage_then(past: Customer, referrals: list[datetime] = referrals) -> str:
            # Visited at the purchase itself: the copy's latest event is the purchase.
            at = past.last_event_at or ctx.now
            credits = sum(1 for t in referrals if t <= at)
            return evaluate(facts_of(past, ctx.settings, at, credits), ctx.settings.stages).stage

        _, found = replay_at(c, history[c.id], {p.event_id for p in bought}, stage_then)
        stages.update(found)
    return stages
