"""HTTP only: the next touch, the CRM's due queue, claims, outcomes, announcements."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal, require
from app.auth.scopes import Scope
from app.core.db import Session, utcnow
from app.core.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, Page
from app.core.settings import Settings
from app.core.types import AsOf, Channel
from app.customers.router import CustomerIdPath
from app.projection.reads import current_customer
from app.touches import announcements, service
from app.touches.schemas import (
    AnnouncementIn,
    AnnouncementOut,
    AnnouncementPatch,
    ClaimIn,
    NextTouchOut,
    OutcomeIn,
    TouchOut,
)

router = APIRouter(tags=["touches"])
Reader = Annotated[Principal, Depends(require(Scope.TOUCHES_READ))]
Writer = Annotated[Principal, Depends(require(Scope.TOUCHES_WRITE))]
TouchId = Annotated[int, Path(ge=1, le=2**62)]
AnnouncementId = Annotated[int, Path(ge=1, le=2**62)]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _now(request: Request) -> datetime:
    """The application's clock: `app.state.clock` when one is injected (tests), else UTC now."""
    clock = getattr(request.app.state, "clock", None)
    return clock() if clock is not None else utcnow()


AppSettings = Annotated[Settings, Depends(_settings)]
Now = Annotated[datetime, Depends(_now)]


async def _fold_customer_of(session: AsyncSession, settings: Settings, touch_id: int) -> None:
    """Read-your-writes: the touch's customer is derived first if facts about it are pending."""
    await current_customer(session, settings, await service.customer_of_touch(session, touch_id))


@router.get("/v1/customers/{customer_id}/next-touch", response_model=NextTouchOut)
async def next_touch(
    session: Session,
    settings: AppSettings,
    now: Now,
    _: Reader,
    customer_id: CustomerIdPath,
    as_of: AsOf = None,
) -> NextTouchOut:
    """Whom to contact, when, through which channel, about what (reason, script, offer); with
    nothing to plan, `touch` is null and `reason` says why (no channel, no consent). 404 only
    for an unknown customer."""
    c = await current_customer(session, settings, customer_id)
    return await service.next_touch(session, settings, c, as_of, now)


@router.get("/v1/touches/due", response_model=Page[TouchOut])
async def due(
    session: Session,
    now: Now,
    _: Reader,
    before: AsOf = None,
    channel: Annotated[Channel | None, Query()] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Page[TouchOut]:
    """The CRM's work queue: touches due before `before` (default now), oldest first, not held
    by an operator."""
    value = channel.value if channel else None
    return await service.due(session, before, value, limit, cursor, now)


@router.post("/v1/touches/{touch_id}/claim", response_model=TouchOut)
async def claim(
    session: Session, settings: AppSettings, now: Now, _: Writer, touch_id: TouchId, body: ClaimIn
) -> TouchOut:
    """Hold a touch for an operator for some minutes, so two operators don't call the same
    customer (409 while another holds it). When the claim runs out, the touch is planned again."""
    await _fold_customer_of(session, settings, touch_id)
    return await service.claim(session, touch_id, body.operator, body.minutes, now)


@router.post("/v1/touches/{touch_id}/outcome", response_model=TouchOut)
async def outcome(
    session: Session,
    settings: AppSettings,
    now: Now,
    _: Writer,
    touch_id: TouchId,
    body: OutcomeIn,
) -> TouchOut:
    """Report how the touch went (also a touch re-planned meanwhile); the customer's next touch
    is planned at once. `no_answer`, `busy` and `bounced` count as an attempt but keep the
    reason for the next one. 409 when it was already reported."""
    await _fold_customer_of(session, settings, touch_id)
    return await service.record_outcome(
        session, settings, touch_id, body.outcome.value, body.note, now
    )


@router.post("/v1/announcements", response_model=AnnouncementOut, status_code=201)
async def announce(
    session: Session, settings: AppSettings, now: Now, _: Writer, body: AnnouncementIn
) -> AnnouncementOut:
    """What changes and when: the customers it concerns (regular and higher, or the stages and
    categories given) get a touch a few days before, carrying the details."""
    return await announcements.add(session, settings, body, now)


@router.get("/v1/announcements", response_model=Page[AnnouncementOut])
async def list_announcements(
    session: Session, _: Reader, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Page[AnnouncementOut]:
    """Announcements, oldest first (keyset pages)."""
    return await announcements.page(session, limit, cursor)


@router.patch("/v1/announcements/{announcement_id}", response_model=AnnouncementOut)
async def correct_announcement(
    session: Session,
    settings: AppSettings,
    now: Now,
    _: Writer,
    announcement_id: AnnouncementId,
    body: AnnouncementPatch,
) -> AnnouncementOut:
    """Correct an announcement; touches carrying the old words are replaced."""
    return await announcements.correct(session, settings, announcement_id, body, now)


@router.delete("/v1/announcements/{announcement_id}", status_code=204)
async def cancel_announcement(
    session: Session, settings: AppSettings, now: Now, _: Writer, announcement_id: AnnouncementId
) -> Response:
    """Withdraw an announcement: its open touches are cancelled (`touch.cancelled`)."""
    await announcements.cancel(session, settings, announcement_id, now)
    return Response(status_code=204)
