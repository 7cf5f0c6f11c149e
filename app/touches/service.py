"""Use cases of touches: keeping each customer's next touch, the CRM queue, outcomes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.core.errors import Conflict, NotFound
from app.core.outbox import emit
from app.core.pagination import Page, decode_cursor, encode_cursor
from app.core.settings import Settings
from app.customers.models import Customer
from app.events.schemas import ContactEvent
from app.events.service import customer_as_of
from app.lapse.service import stored_schedule
from app.projection.context import Batch
from app.stages.rules import evaluate
from app.stages.service import facts_of
from app.touches import planner, repository
from app.touches.models import Announcement, Touch
from app.touches.schemas import AnnouncementIn, AnnouncementOut, TouchOut


class TouchClaimed(Conflict):
    slug, title = "touch-claimed", "Another operator holds this touch"


class TouchClosed(Conflict):
    slug, title = "touch-closed", "The touch is no longer open"


def state_of(c: Customer, stage: str | None = None, status: str | None = None) -> planner.State:
    return planner.State(
        customer_id=c.external_id,
        stage=stage or c.stage,
        status=status or c.status,
        purchase_count=c.purchase_count,
        first_seen_at=c.first_seen_at,
        first_purchase_at=c.first_purchase_at,
        last_purchase_at=c.last_purchase_at,
        birth_date=c.birth_date,
        company=c.company,
        timezone=c.timezone,
        preferred_channels=c.preferred_channels,
        consents=c.consents,
        email=c.email,
        phone=c.phone,
    )


def _announcements(rows: Iterable[Announcement]) -> list[planner.Announcement]:
    return [planner.Announcement(a.id, a.title, a.effective_at) for a in rows]


async def replan(
    session: AsyncSession, settings: Settings, customers: list[Customer], now: datetime
) -> None:
    """Replace the planned touch of these customers (unless an operator holds it)."""
    pks = [c.id for c in customers]
    held = await repository.drop_planned(session, pks, now)
    histories = await repository.histories(session, pks)
    news = _announcements(await repository.announcements(session, now))
    rows = []
    for c in customers:
        if c.id in held:
            continue
        p = planner.plan(state_of(c), histories.get(c.id, []), news, settings.touches, now)
        if p is None:
            continue
        rows.append(
            {
                "customer_id": c.id,
                "playbook": p.playbook,
                "reason_key": p.reason_key,
                "reason": p.reason,
                "script": p.script,
                "channel": p.channel,
                "offer": p.offer,
                "priority": p.priority,
                "needs_new_reason": p.needs_new_reason,
                "due_at": p.due_at,
                "status": "planned",
                "announced": False,
                "created_at": now,
                "claimed_by": None,
                "claim_expires_at": None,
                "outcome": None,
                "note": None,
                "completed_at": None,
            }
        )
    await repository.insert_touches(session, rows)


async def on_ingest(ctx: Batch) -> None:
    """Contacts that answer a touch close it; then every touched customer gets a fresh plan."""
    for event in ctx.accepted:
        if isinstance(event, ContactEvent) and event.touch_id:
            await repository.close_planned(
                ctx.session,
                event.touch_id,
                ctx.customers[event.customer_id].id,
                event.occurred_at,
                event.outcome.value if event.outcome else "reached",
                event.channel.value,
            )
    await replan(ctx.session, ctx.settings, list(ctx.customers.values()), ctx.now)


def _out(t: Touch, customer_id: str) -> TouchOut:
    return TouchOut(
        touch_id=t.id,
        customer_id=customer_id,
        due_at=t.due_at,
        channel=t.channel,
        playbook=t.playbook,
        reason=t.reason,
        reason_key=t.reason_key,
        script=list(t.script or []),
        offer=t.offer,
        priority=t.priority,
        needs_new_reason=t.needs_new_reason,
        status=t.status,
        claimed_by=t.claimed_by,
        claim_expires_at=t.claim_expires_at,
    )


async def next_touch(
    session: AsyncSession, settings: Settings, c: Customer, as_of: datetime | None
) -> TouchOut:
    if as_of is None:
        t = await repository.planned_of(session, c.id)
        if t is None:
            raise NotFound(
                f"Customer {c.external_id!r} has no touch to plan (every channel closed)."
            )
        return _out(t, c.external_id)
    past = await customer_as_of(session, c, as_of)
    stage = evaluate(facts_of(past, settings, as_of), settings.stages).stage
    sched = stored_schedule(c)
    status = (
        sched.status_at(as_of)
        if sched and c.last_purchase_at and c.last_purchase_at <= as_of
        else "active"
    )
    history = (await repository.histories(session, [c.id], as_of)).get(c.id, [])
    news = _announcements(await repository.announcements(session, as_of))
    p = planner.plan(state_of(past, stage, status), history, news, settings.touches, as_of)
    if p is None:
        raise NotFound(f"Customer {c.external_id!r} had no touch to plan at {as_of.isoformat()}.")
    return TouchOut(
        touch_id=None,
        customer_id=c.external_id,
        due_at=p.due_at,
        channel=p.channel,
        playbook=p.playbook,
        reason=p.reason,
        reason_key=p.reason_key,
        script=p.script,
        offer=p.offer,
        priority=p.priority,
        needs_new_reason=p.needs_new_reason,
        status="planned",
    )


async def due(
    session: AsyncSession,
    before: datetime | None,
    channel: str | None,
    limit: int,
    cursor: str | None,
) -> Page[TouchOut]:
    now = utcnow()
    after = None
    if cursor:
        at, pk = decode_cursor(cursor, datetime, int)
        after = (at, pk)
    rows = await repository.due_page(session, before or now, now, channel, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[TouchOut](
        items=[_out(t, cid) for t, cid in rows],
        next_cursor=encode_cursor([rows[-1][0].due_at.isoformat(), rows[-1][0].id])
        if more
        else None,
    )


async def claim(session: AsyncSession, touch_id: int, operator: str, minutes: int) -> TouchOut:
    t = await repository.touch_for_update(session, touch_id)
    if t is None:
        raise NotFound(f"No touch {touch_id}.")
    if t.status != "planned":
        raise TouchClosed(f"Touch {touch_id} is {t.status}.")
    now = utcnow()
    if (
        t.claimed_by
        and t.claimed_by != operator
        and t.claim_expires_at
        and t.claim_expires_at > now
    ):
        raise TouchClaimed(
            f"{t.claimed_by} holds this touch until {t.claim_expires_at.isoformat()}.",
            claimed_by=t.claimed_by,
        )
    t.claimed_by, t.claim_expires_at = operator, now + timedelta(minutes=minutes)
    c = await session.get(Customer, t.customer_id)
    assert c is not None
    return _out(t, c.external_id)


async def record_outcome(
    session: AsyncSession, settings: Settings, touch_id: int, outcome: str, note: str | None
) -> TouchOut:
    t = await repository.touch_for_update(session, touch_id)
    if t is None:
        raise NotFound(f"No touch {touch_id}.")
    if t.status != "planned":
        raise TouchClosed(f"Touch {touch_id} is {t.status}.")
    now = utcnow()
    t.status, t.outcome, t.note, t.completed_at = "done", outcome, note, now
    await session.flush()
    c = await session.get(Customer, t.customer_id)
    assert c is not None
    await replan(session, settings, [c], now)
    return _out(t, c.external_id)


async def announce_due(session: AsyncSession, now: datetime, limit: int) -> int:
    rows = await repository.due_unannounced(session, now, limit)
    for t, cid in rows:
        t.announced = True
        await emit(session, "touch.due", _out(t, cid).model_dump(mode="json"), cid)
    return len(rows)


async def add_announcement(
    session: AsyncSession, settings: Settings, body: AnnouncementIn
) -> AnnouncementOut:
    a = Announcement(title=body.title, details=body.details, effective_at=body.effective_at)
    session.add(a)
    await session.flush()
    # Customers who should hear it get a new plan now (regular and higher).
    await replan(session, settings, await repository.regulars_and_up(session), utcnow())
    return AnnouncementOut(
        id=a.id,
        title=a.title,
        details=a.details,
        effective_at=a.effective_at,
        created_at=a.created_at,
    )
