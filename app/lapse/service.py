"""Use cases of lapse: keeping each customer's schedule and status, and the lapsed list."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.core.money import from_minor
from app.core.outbox import emit
from app.core.pagination import Page, decode_cursor, encode_cursor
from app.core.settings import Settings
from app.customers.aggregates import OrderFacts
from app.customers.models import Customer
from app.lapse import learning, repository, value
from app.lapse.learning import RhythmBook
from app.lapse.rhythm import Schedule, plan, statuses_between
from app.lapse.schemas import LapsedCustomer, LapsedSort
from app.ltv import repository as ltv_repository
from app.projection.context import Batch


def stored_schedule(c: Customer) -> Schedule | None:
    if c.usual_interval_days is None or c.at_risk_at is None:
        return None
    assert c.lapse_at is not None and c.lost_at is not None
    return Schedule(c.usual_interval_days, c.at_risk_at, c.lapse_at, c.lost_at)


def contact_of(c: Customer) -> dict[str, object]:
    """Who the customer is, for a CRM that creates or updates its contact from a message."""
    return {
        "name": c.name,
        "email": c.email,
        "phone": c.phone,
        "company": c.company,
        "postal_address": c.postal_address,
    }


def _payload(c: Customer, status: str, now: datetime) -> dict[str, object]:
    silent = (now - c.last_purchase_at).total_seconds() / 86400 if c.last_purchase_at else None
    return {
        "customer_id": c.external_id,
        "status": status,
        "stage": c.stage,
        "last_purchase_at": c.last_purchase_at.isoformat() if c.last_purchase_at else None,
        "usual_interval_days": c.usual_interval_days,
        "days_silent": round(silent, 3) if silent is not None else None,
        "value_at_risk": f"{c.value_at_risk_minor / 100:.2f}",
        "at": now.isoformat(),
        "contact": contact_of(c),
    }


def _began(c: Customer, sched: Schedule | None) -> datetime | None:
    if sched is None or c.status == "active":
        return c.last_purchase_at
    return {"at_risk": sched.at_risk_at, "lapsed": sched.lapse_at, "lost": sched.lost_at}[c.status]


async def advance(session: AsyncSession, c: Customer, now: datetime) -> None:
    """Bring the status to what the schedule says at `now`, announcing each new step once."""
    sched = stored_schedule(c)
    new = "active" if sched is None else sched.status_at(now)
    if new == "active":
        if c.status != "active":
            await emit(
                session,
                "customer.reactivated",
                {**_payload(c, "active", now), "previous_status": c.status},
                customer_id=c.external_id,
            )
        c.status, c.episode_peak = "active", "active"
    else:
        for entered in statuses_between(c.episode_peak or "active", new):
            await emit(session, f"customer.{entered}", _payload(c, entered, now), c.external_id)
            c.episode_peak = entered
        c.status = new
    # When the status began by the schedule, not when a pass noticed it: the same history
    # gives the same answer however and whenever it was derived.
    c.status_since = _began(c, sched)
    c.next_status_at = sched.next_change_after(now) if sched else None
    active = c.status == "active"
    c.risk_value_minor = None if active else c.value_at_risk_minor
    c.risk_since = None if active or sched is None else sched.at_risk_at


def counted_times(orders: Iterable[OrderFacts]) -> list[datetime]:
    return sorted(o.occurred_at for o in orders if o.counts)


async def reschedule(ctx: Batch, book: RhythmBook | None = None) -> RhythmBook:
    """New rhythm and schedule of the customers whose purchases changed (idempotent: the
    stage step calls it first, so that a regular is judged on the same rhythm)."""
    book = book or await learning.book(
        ctx.session, ctx.settings, {ctx.customers[e].main_category for e in ctx.purchases_changed}
    )
    rules, zone = ctx.settings.lapse, ctx.settings.timezone
    for external_id in ctx.purchases_changed:
        c = ctx.customers[external_id]
        sched = plan(
            counted_times(ctx.orders.get(external_id, [])),
            book.rhythm_days(c.main_category),
            rules,
            zone,
        )
        if sched is None:
            c.usual_interval_days = c.at_risk_at = c.lapse_at = c.lost_at = None
        else:
            c.usual_interval_days = sched.usual_interval_days
            c.at_risk_at, c.lapse_at, c.lost_at = sched.at_risk_at, sched.lapse_at, sched.lost_at
    return book


async def refresh_values(
    session: AsyncSession,
    book: RhythmBook,
    customers: list[Customer],
    purchases: dict[int, list[tuple[datetime, int]]],
    now: datetime,
) -> None:
    """Value at risk of these customers from the current models (see app/lapse/value.py)."""
    models = await value.current_models(session)
    subjects = [
        value.Subject(
            purchases=purchases.get(c.id, []),
            avg_check_minor=c.avg_check_minor,
            usual_interval_days=c.usual_interval_days,
            category_yearly_minor=book.yearly_spend_minor(c.main_category),
        )
        for c in customers
    ]
    for c, v in zip(customers, value.values_minor(models, subjects, now), strict=True):
        c.value_at_risk_minor = v if c.purchase_count else 0
        if c.risk_value_minor is not None:
            c.risk_value_minor = c.value_at_risk_minor


async def on_ingest(ctx: Batch) -> None:
    """Purchases or refunds changed: new rhythm, schedule and value; a purchase reactivates."""
    if not ctx.purchases_changed:
        return
    book = await reschedule(ctx)
    changed = [ctx.customers[e] for e in sorted(ctx.purchases_changed)]
    purchases = {
        c.id: [(o.occurred_at, o.net_minor) for o in ctx.orders.get(c.external_id, []) if o.counts]
        for c in changed
    }
    await refresh_values(ctx.session, book, changed, purchases, ctx.now)
    for c in changed:
        # New purchase facts start a new episode, judged on the whole new schedule: what a
        # pass saw in between (a status the next purchase made moot) leaves no trace, so the
        # result does not depend on when the projection ran.
        c.episode_peak = "active"
        await advance(ctx.session, c, ctx.now)


async def after_fit(session: AsyncSession, settings: Settings, now: datetime) -> None:
    """With a new fit: learn the categories again and re-value the customers on the lapsed
    list (the others are re-valued when they next buy or fall silent)."""
    await learning.learn(session, now)
    book = await learning.book(session, settings)
    customers = await repository.not_active_customers(session)
    by_pk: dict[int, list[tuple[datetime, int]]] = {c.id: [] for c in customers}
    for pk, at, net in await ltv_repository.purchases_as_of(session, now, list(by_pk)):
        by_pk[pk].append((at, net))
    await refresh_values(session, book, customers, by_pk, now)


async def lapsed_list(
    session: AsyncSession,
    filters: repository.Filters,
    sort: LapsedSort,
    as_of: datetime | None,
    limit: int,
    cursor: str | None,
) -> Page[LapsedCustomer]:
    after: tuple[Any, int] | None = None
    if cursor:
        first, pk = decode_cursor(
            cursor, int if sort == LapsedSort.VALUE_AT_RISK else datetime, int
        )
        after = (first, pk)
    with_p_alive = await repository.fitted(session)
    rows = await repository.lapsed_page(
        session, filters, sort, as_of, after, limit + 1, with_p_alive
    )
    now = as_of or utcnow()
    items = []
    for c, status, p_alive in rows[:limit]:
        silent = (now - c.last_purchase_at).total_seconds() / 86400 if c.last_purchase_at else None
        overdue = (now - c.at_risk_at).total_seconds() / 86400 if c.at_risk_at else None
        items.append(
            LapsedCustomer(
                customer_id=c.external_id,
                stage=c.stage,
                status=status,
                main_category=c.main_category,
                last_purchase_at=c.last_purchase_at,
                usual_interval_days=(
                    round(c.usual_interval_days, 4) if c.usual_interval_days else None
                ),
                days_silent=round(silent, 4) if silent is not None else None,
                overdue_days=round(overdue, 4) if overdue is not None else None,
                p_alive=round(p_alive, 6) if p_alive is not None else None,
                value_at_risk=from_minor(c.value_at_risk_minor),
                next_touch=f"/v1/customers/{quote(c.external_id, safe='')}/next-touch",
            )
        )
    next_cursor = None
    if len(rows) > limit and items:
        last = rows[limit - 1][0]
        key_value: Any = (
            (last.risk_value_minor if as_of is None else last.value_at_risk_minor)
            if sort == LapsedSort.VALUE_AT_RISK
            else ((last.risk_since if as_of is None else last.at_risk_at) or now).isoformat()
        )
        next_cursor = encode_cursor([key_value, last.id])
    return Page[LapsedCustomer](items=items, next_cursor=next_cursor)
