"""Use cases of lapse: keeping each customer's schedule and status, and the lapsed list."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.core.money import from_minor
from app.core.outbox import emit
from app.core.pagination import Page, decode_cursor, encode_cursor
from app.customers.models import Customer
from app.lapse import repository
from app.lapse.rhythm import (
    Schedule,
    annual_value_minor,
    schedule,
    statuses_between,
    usual_interval,
)
from app.lapse.schemas import LapsedCustomer, LapsedSort
from app.projection.context import Batch


def stored_schedule(c: Customer) -> Schedule | None:
    if c.usual_interval_days is None or c.at_risk_at is None:
        return None
    assert c.lapse_at is not None and c.lost_at is not None
    return Schedule(c.usual_interval_days, c.at_risk_at, c.lapse_at, c.lost_at)


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


async def on_ingest(ctx: Batch) -> None:
    """Purchases or refunds changed: new rhythm, new schedule; a purchase reactivates."""
    rules = ctx.settings.lapse
    for external_id in ctx.purchases_changed:
        c = ctx.customers[external_id]
        times = [o.occurred_at for o in ctx.orders.get(external_id, []) if o.counts]
        if not times or c.last_purchase_at is None:
            c.usual_interval_days = c.at_risk_at = c.lapse_at = c.lost_at = None
            c.value_at_risk_minor = 0
        else:
            interval = usual_interval(times, ctx.settings.rhythm_days(c.main_category), rules)
            sched = schedule(c.last_purchase_at, interval, rules)
            c.usual_interval_days = interval
            c.at_risk_at, c.lapse_at, c.lost_at = sched.at_risk_at, sched.lapse_at, sched.lost_at
            c.value_at_risk_minor = annual_value_minor(c.avg_check_minor, interval)
        await advance(ctx.session, c, ctx.now)


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
