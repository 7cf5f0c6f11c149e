"""Use cases of touches: keeping each customer's next touch, the CRM queue, reports of touches.

A customer's planned touch is re-planned whenever something about the customer changes and
whenever its plan may change by itself (`replan_at`: expiry, a claim running out, the status
or stage moving with time). The plan is compared with the stored touch by identity (playbook,
step, the step's calendar time, reason): the same plan keeps the stored touch and its id; another
plan ends it (`cancelled`, or `expired` when it was not done in time) and inserts the new one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, NotFound
from app.core.outbox import emit
from app.core.pagination import Page, decode_cursor, encode_cursor
from app.core.settings import Settings
from app.customers.models import Customer
from app.events.schemas import ContactEvent, Direction
from app.events.service import customer_as_of
from app.lapse.service import stored_schedule
from app.projection.context import Batch
from app.stages.rules import evaluate
from app.stages.service import facts_of
from app.touches import planner, repository
from app.touches.catalogue import Text, catalogue
from app.touches.models import Announcement, Touch
from app.touches.schemas import NextTouchOut, Recipient, TouchOut


class TouchClaimed(Conflict):
    slug, title = "touch-claimed", "Another operator holds this touch"


class TouchClosed(Conflict):
    slug, title = "touch-closed", "The touch is no longer open"


def texts(settings: Settings) -> dict[str, Text]:
    return catalogue(settings.locale, settings.touches.texts)


def state_of(
    c: Customer,
    categories: frozenset[str] = frozenset(),
    stage: str | None = None,
    status: str | None = None,
) -> planner.State:
    status = status or c.status
    return planner.State(
        customer_id=c.external_id,
        stage=stage or c.stage,
        status=status,
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
        stage_since=c.stage_since,
        at_risk_at=c.at_risk_at if status != "active" else None,
        lost_at=c.lost_at if status == "lost" else None,
        categories=categories,
    )


def announcements_for_planner(rows: Iterable[Announcement]) -> list[planner.Announcement]:
    return [
        planner.Announcement(
            a.id,
            a.title,
            a.effective_at,
            a.details,
            a.revision,
            frozenset(a.categories or ()),
            frozenset(a.stages or ()),
        )
        for a in rows
    ]


def _held(t: Touch, now: datetime) -> bool:
    return bool(t.claimed_by and t.claim_expires_at and t.claim_expires_at > now)


def _identity(t: Touch) -> tuple[str, int, datetime | None, str | None]:
    return (t.playbook, t.step, t.slot_at, t.reason_key)


def _replan_at(expires_at: datetime, c: Customer, now: datetime) -> datetime:
    """When the plan may change by itself: its expiry, or the customer's status or stage
    moving with time (their workers run before this one in each pass, so a moment already
    past is looked at again once they have moved the customer)."""
    moments = [expires_at, c.next_status_at, c.stage_review_at]
    return min(m for m in moments if m is not None)


def _columns(p: planner.Plan) -> dict[str, Any]:
    return {
        "playbook": p.playbook,
        "step": p.step,
        "slot_at": p.slot_at,
        "reason_key": p.reason_key,
        "reason": p.reason,
        "script": p.script,
        "details": p.details,
        "channel": p.channel,
        "offer": p.offer,
        "priority": p.priority,
        "needs_new_reason": p.needs_new_reason,
        "due_at": p.due_at,
        "expires_at": p.expires_at,
    }


def _new_row(
    customer_pk: int, p: planner.Plan, replan_at: datetime, now: datetime
) -> dict[str, Any]:
    return {
        "customer_id": customer_pk,
        **_columns(p),
        "replan_at": replan_at,
        "status": "planned",
        "claimed_by": None,
        "claim_expires_at": None,
        "outcome": None,
        "note": None,
        "completed_at": None,
        "contact_event_id": None,
        "announced": False,
        "created_at": now,
    }


def _keep(t: Touch, c: Customer, p: planner.Plan, now: datetime) -> None:
    """The same touch: refresh what the customer's profile may have moved (channel, hours)
    unless the CRM has already been told about it."""
    if not t.announced:
        for name, value in _columns(p).items():
            if getattr(t, name) != value:
                setattr(t, name, value)
    if t.claimed_by and not _held(t, now):
        t.claimed_by, t.claim_expires_at = None, None
    t.replan_at = _replan_at(t.expires_at or p.expires_at, c, now)


async def end(session: AsyncSession, t: Touch, customer_id: str, now: datetime, cause: str) -> None:
    """Close a touch that will not be done; a CRM that knows it (told by `touch.due`, or an
    operator claimed it) hears `touch.cancelled` so it can close its to-do."""
    expired = t.expires_at is not None and now >= t.expires_at
    t.status = "expired" if expired else "cancelled"
    t.completed_at, t.replan_at = now, None
    if t.announced or t.claimed_by:
        await emit(
            session,
            "touch.cancelled",
            {
                "touch_id": t.id,
                "customer_id": customer_id,
                "playbook": t.playbook,
                "step": t.step,
                "reason_key": t.reason_key,
                "status": t.status,
                "cause": "expired" if expired else cause,
                "at": now.isoformat(),
            },
            customer_id,
        )


async def replan(
    session: AsyncSession, settings: Settings, customers: Sequence[Customer], now: datetime
) -> None:
    """Bring the planned touch of these customers in line with what should happen now."""
    pks = [c.id for c in customers]
    current = await repository.planned_of_many(session, pks)
    histories = await repository.histories(session, pks)
    news = await repository.announcements(session, now)
    targets = announcements_for_planner(news)
    categories = (
        await repository.categories_of(session, pks) if any(a.categories for a in news) else {}
    )
    words = texts(settings)
    rows = []
    for c in customers:
        t = current.get(c.id)
        returned = t is not None and t.playbook == "win_back" and c.status == "active"
        if t is not None and _held(t, now) and not returned:
            t.replan_at = t.claim_expires_at  # look again when the claim runs out
            continue
        p = planner.plan(
            state_of(c, categories.get(c.id, frozenset())),
            histories.get(c.id, []),
            targets,
            settings.touches,
            words,
            now,
        )
        if t is not None and isinstance(p, planner.Plan) and _identity(t) == p.identity:
            _keep(t, c, p, now)
            continue
        if t is not None:
            cause = "returned" if returned else "obsolete"
            await end(
                session, t, c.external_id, now, cause if isinstance(p, planner.Plan) else p.why
            )
        if isinstance(p, planner.Plan):
            rows.append(_new_row(c.id, p, _replan_at(p.expires_at, c, now), now))
    await session.flush()
    await repository.insert_touches(session, rows)


def _report(
    t: Touch, at: datetime, outcome: str, channel: str | None, event_id: str | None
) -> None:
    t.status, t.completed_at, t.outcome, t.replan_at = "done", at, outcome, None
    if channel:
        t.channel = channel
    t.contact_event_id = event_id


def _answers(e: ContactEvent, t: Touch) -> bool:
    """A contact without a touch id reports the planned touch when it names its reason, or
    when it is outbound and happens at or after the touch's due time."""
    if e.reason_key is not None:
        return e.reason_key == t.reason_key
    if e.reason is not None and e.reason == t.reason:
        return True
    return e.direction == Direction.OUTBOUND and e.occurred_at >= t.due_at


async def report_contacts(
    session: AsyncSession, customers: dict[str, Customer], contacts: list[ContactEvent]
) -> None:
    """Contacts that report a touch make it done (even one re-planned meanwhile, named by id)."""
    if not contacts:
        return
    pks = {customers[e.customer_id].id for e in contacts}
    current = await repository.planned_of_many(session, pks)
    named = await repository.touches_of(session, {e.touch_id for e in contacts if e.touch_id})
    for e in contacts:
        pk = customers[e.customer_id].id
        t: Touch | None
        if e.touch_id is not None:
            t = named.get(e.touch_id)
            if t is None or t.customer_id != pk or t.status == "done":
                continue
        else:
            t = current.get(pk)
            if t is None or t.status != "planned" or not _answers(e, t):
                continue
        outcome = e.outcome.value if e.outcome else "reached"
        _report(t, e.occurred_at, outcome, e.channel.value, e.event_id)
    await session.flush()  # the sessions do not autoflush: re-planning must see these


async def on_ingest(ctx: Batch) -> None:
    """Contacts that report touches close them; then every touched customer is re-planned."""
    contacts = [e for e in ctx.accepted if isinstance(e, ContactEvent)]
    await report_contacts(ctx.session, ctx.customers, contacts)
    await replan(ctx.session, ctx.settings, list(ctx.customers.values()), ctx.now)


PAPER_MAIL = "paper_mail"


def touch_out(t: Touch, customer_id: str, recipient: Recipient | None = None) -> TouchOut:
    return TouchOut(
        touch_id=t.id,
        customer_id=customer_id,
        due_at=t.due_at,
        expires_at=t.expires_at,
        channel=t.channel,
        playbook=t.playbook,
        step=t.step,
        reason=t.reason,
        reason_key=t.reason_key,
        script=list(t.script or []),
        details=t.details,
        offer=t.offer,
        priority=t.priority,
        needs_new_reason=t.needs_new_reason,
        status=t.status,
        claimed_by=t.claimed_by,
        claim_expires_at=t.claim_expires_at,
        recipient=recipient if t.channel == PAPER_MAIL else None,
    )


def _plan_out(p: planner.Plan, customer_id: str) -> TouchOut:
    return TouchOut(
        touch_id=None,
        customer_id=customer_id,
        due_at=p.due_at,
        expires_at=p.expires_at,
        channel=p.channel,
        playbook=p.playbook,
        step=p.step,
        reason=p.reason,
        reason_key=p.reason_key,
        script=p.script,
        details=p.details,
        offer=p.offer,
        priority=p.priority,
        needs_new_reason=p.needs_new_reason,
        status="planned",
    )


async def _plan_now(
    session: AsyncSession, settings: Settings, c: Customer, now: datetime
) -> planner.Plan | planner.Nothing:
    history = (await repository.histories(session, [c.id])).get(c.id, [])
    news = await repository.announcements(session, now)
    categories = (await repository.categories_of(session, [c.id])).get(c.id, frozenset())
    return planner.plan(
        state_of(c, categories),
        history,
        announcements_for_planner(news),
        settings.touches,
        texts(settings),
        now,
    )


async def next_touch(
    session: AsyncSession, settings: Settings, c: Customer, as_of: datetime | None, now: datetime
) -> NextTouchOut:
    if as_of is None:
        t = await repository.planned_of(session, c.id)
        if t is None:
            # Nothing stored: say why, or plan it now (a customer not planned yet).
            p = await _plan_now(session, settings, c, now)
            if isinstance(p, planner.Nothing):
                return NextTouchOut(touch=None, reason=p.why, explanation=p.explanation)
            await replan(session, settings, [c], now)
            t = await repository.planned_of(session, c.id)
            assert t is not None
        recipient = Recipient(name=c.name, postal_address=c.postal_address)
        return NextTouchOut(touch=touch_out(t, c.external_id, recipient))
    past = await customer_as_of(session, c, as_of)
    stage = evaluate(facts_of(past, settings, as_of), settings.stages).stage
    sched = stored_schedule(c)
    status = (
        sched.status_at(as_of)
        if sched and c.last_purchase_at and c.last_purchase_at <= as_of
        else "active"
    )
    history = (await repository.histories(session, [c.id], as_of)).get(c.id, [])
    news = announcements_for_planner(await repository.announcements(session, as_of))
    p = planner.plan(
        state_of(past, frozenset(), stage, status),
        history,
        news,
        settings.touches,
        texts(settings),
        as_of,
    )
    if isinstance(p, planner.Nothing):
        return NextTouchOut(touch=None, reason=p.why, explanation=p.explanation)
    return NextTouchOut(touch=_plan_out(p, c.external_id))


async def due(
    session: AsyncSession,
    before: datetime | None,
    channel: str | None,
    limit: int,
    cursor: str | None,
    now: datetime,
) -> Page[TouchOut]:
    after = None
    if cursor:
        at, pk = decode_cursor(cursor, datetime, int)
        after = (at, pk)
    rows = await repository.due_page(session, before or now, now, channel, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[TouchOut](
        items=[touch_out(t, cid) for t, cid in rows],
        next_cursor=encode_cursor([rows[-1][0].due_at.isoformat(), rows[-1][0].id])
        if more
        else None,
    )


async def _customer_of(session: AsyncSession, t: Touch) -> Customer:
    c = await repository.customer(session, t.customer_id)
    assert c is not None
    return c


async def customer_of_touch(session: AsyncSession, touch_id: int) -> str:
    """The sender's id of the touch's customer (404 for an unknown touch)."""
    t = await repository.touch_for_update(session, touch_id)
    if t is None:
        raise NotFound(f"No touch {touch_id}.")
    return (await _customer_of(session, t)).external_id


async def claim(
    session: AsyncSession, touch_id: int, operator: str, minutes: int, now: datetime
) -> TouchOut:
    t = await repository.touch_for_update(session, touch_id)
    if t is None:
        raise NotFound(f"No touch {touch_id}.")
    if t.status != "planned":
        raise TouchClosed(f"Touch {touch_id} is {t.status}.")
    if _held(t, now) and t.claimed_by != operator:
        assert t.claim_expires_at is not None
        raise TouchClaimed(
            f"{t.claimed_by} holds this touch until {t.claim_expires_at.isoformat()}.",
            claimed_by=t.claimed_by,
        )
    t.claimed_by, t.claim_expires_at = operator, now + timedelta(minutes=minutes)
    # When the claim runs out, the worker plans the touch again.
    t.replan_at = min(t.replan_at or t.claim_expires_at, t.claim_expires_at)
    return touch_out(t, (await _customer_of(session, t)).external_id)


async def record_outcome(
    session: AsyncSession,
    settings: Settings,
    touch_id: int,
    outcome: str,
    note: str | None,
    now: datetime,
) -> TouchOut:
    """Report a touch done; one re-planned meanwhile (cancelled, expired) is done all the same."""
    t = await repository.touch_for_update(session, touch_id)
    if t is None:
        raise NotFound(f"No touch {touch_id}.")
    if t.status == "done":
        raise TouchClosed(f"Touch {touch_id} is already done.")
    _report(t, now, outcome, None, None)
    t.note = note
    await session.flush()
    c = await _customer_of(session, t)
    await replan(session, settings, [c], now)
    return touch_out(t, c.external_id)


async def replan_due(session: AsyncSession, settings: Settings, now: datetime, limit: int) -> int:
    """Re-plan the customers whose planned touch may have changed by itself by `now`."""
    customers = await repository.claim_replan_due(session, now, limit)
    await replan(session, settings, customers, now)
    return len(customers)


async def announce_due(session: AsyncSession, now: datetime, limit: int) -> int:
    """`touch.due` once per touch when its time comes."""
    rows = await repository.due_unannounced(session, now, limit)
    to = await repository.recipients(
        session, {t.customer_id for t, _ in rows if t.channel == PAPER_MAIL}
    )
    for t, cid in rows:
        t.announced = True
        out = touch_out(t, cid, to.get(t.customer_id))
        await emit(session, "touch.due", out.model_dump(mode="json"), cid)
    return len(rows)
