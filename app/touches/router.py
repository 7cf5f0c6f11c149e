"""HTTP only: the next touch, the CRM's due queue, claims, outcomes, announcements."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from app.auth.principal import Principal, require
from app.auth.scopes import Scope
from app.core.db import Session
from app.core.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, Page
from app.core.types import AsOf, Channel
from app.customers.router import CustomerIdPath
from app.projection.reads import current_customer
from app.touches import service
from app.touches.schemas import AnnouncementIn, AnnouncementOut, ClaimIn, OutcomeIn, TouchOut

router = APIRouter(tags=["touches"])
Reader = Annotated[Principal, Depends(require(Scope.TOUCHES_READ))]
Writer = Annotated[Principal, Depends(require(Scope.TOUCHES_WRITE))]
TouchId = Annotated[int, Path(ge=1, le=2**62)]


@router.get("/v1/customers/{customer_id}/next-touch", response_model=TouchOut)
async def next_touch(
    request: Request, session: Session, _: Reader, customer_id: CustomerIdPath, as_of: AsOf = None
) -> TouchOut:
    """Whom to contact, when, through which channel, about what (reason, script, offer)."""
    c = await current_customer(session, request.app.state.settings, customer_id)
    return await service.next_touch(session, request.app.state.settings, c, as_of)


@router.get("/v1/touches/due", response_model=Page[TouchOut])
async def due(
    session: Session,
    _: Reader,
    before: AsOf = None,
    channel: Annotated[Channel | None, Query()] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Page[TouchOut]:
    """The CRM's work queue: touches due before `before` (default now), oldest first, not held
    by an operator."""
    return await service.due(session, before, channel.value if channel else None, limit, cursor)


@router.post("/v1/touches/{touch_id}/claim", response_model=TouchOut)
async def claim(session: Session, _: Writer, touch_id: TouchId, body: ClaimIn) -> TouchOut:
    """Hold a touch for an operator for some minutes, so two operators don't call the same
    customer (409 while another holds it)."""
    return await service.claim(session, touch_id, body.operator, body.minutes)


@router.post("/v1/touches/{touch_id}/outcome", response_model=TouchOut)
async def outcome(
    request: Request, session: Session, _: Writer, touch_id: TouchId, body: OutcomeIn
) -> TouchOut:
    """Report how the touch went; the customer's next touch is planned at once."""
    return await service.record_outcome(
        session, request.app.state.settings, touch_id, body.outcome.value, body.note
    )


@router.post("/v1/announcements", response_model=AnnouncementOut, status_code=201)
async def announce(
    request: Request, session: Session, _: Writer, body: AnnouncementIn
) -> AnnouncementOut:
    """What changes and when: regular and higher customers get a touch a few days before."""
    return await service.add_announcement(session, request.app.state.settings, body)
