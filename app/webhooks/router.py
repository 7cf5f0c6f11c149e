"""HTTP only: webhook endpoints, their deliveries and attempts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from app.auth.principal import Principal, require
from app.auth.scopes import Scope
from app.core.db import Session
from app.core.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, Page
from app.webhooks import service
from app.webhooks.schemas import (
    AttemptOut,
    DeliveryOut,
    EndpointCreated,
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    RecoverIn,
    RecoverOut,
    RotateIn,
    RotateOut,
)

router = APIRouter(prefix="/v1/webhooks/endpoints", tags=["webhooks"])
Manager = Annotated[Principal, Depends(require(Scope.WEBHOOKS_MANAGE))]
EndpointId = Annotated[int, Path(ge=1, le=2**62)]
MessageId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^msg_[0-9a-f]+$")]


@router.post("", response_model=EndpointCreated, status_code=201)
async def create(
    request: Request, session: Session, _: Manager, body: EndpointIn
) -> EndpointCreated:
    """Subscribe a URL (Standard Webhooks) or a Bitrix24 portal. The answer carries the
    endpoint's signing secret (`whsec_…`), shown only once."""
    return await service.create(session, request.app.state.settings, body)


@router.get("", response_model=Page[EndpointOut])
async def listing(
    session: Session, _: Manager, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Page[EndpointOut]:
    """Every endpoint."""
    return await service.listing(session, limit, cursor)


@router.get("/{endpoint_id}", response_model=EndpointOut)
async def get(session: Session, _: Manager, endpoint_id: EndpointId) -> EndpointOut:
    """One endpoint (without its secret)."""
    return service.out(await service.get(session, endpoint_id))


@router.patch("/{endpoint_id}", response_model=EndpointOut)
async def patch(
    request: Request, session: Session, _: Manager, endpoint_id: EndpointId, body: EndpointPatch
) -> EndpointOut:
    """Change the URL, the types, the rate limit; enable or disable."""
    return await service.patch(session, request.app.state.settings, endpoint_id, body)


@router.delete("/{endpoint_id}", status_code=204, response_class=Response)
async def delete(session: Session, _: Manager, endpoint_id: EndpointId) -> Response:
    """Remove the endpoint and its delivery log."""
    await service.delete(session, endpoint_id)
    return Response(status_code=204)


@router.post("/{endpoint_id}/rotate-secret", response_model=RotateOut)
async def rotate(
    session: Session, _: Manager, endpoint_id: EndpointId, body: RotateIn | None = None
) -> RotateOut:
    """A new secret; the old one keeps signing too (both signatures sent) for the grace period."""
    return await service.rotate(session, endpoint_id, (body or RotateIn()).grace_seconds)


@router.get("/{endpoint_id}/messages", response_model=Page[DeliveryOut])
async def messages(
    session: Session,
    _: Manager,
    endpoint_id: EndpointId,
    status: Annotated[str | None, Query(pattern="^(pending|delivering|succeeded|failed)$")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Page[DeliveryOut]:
    """Messages for this endpoint, newest first, with their delivery state."""
    return await service.deliveries(session, endpoint_id, status, limit, cursor)


@router.get("/{endpoint_id}/messages/{message_id}/attempts", response_model=list[AttemptOut])
async def attempts(
    session: Session, _: Manager, endpoint_id: EndpointId, message_id: MessageId
) -> list[AttemptOut]:
    """Every attempt to deliver one message: when, the answer, how long it took."""
    return await service.attempts(session, endpoint_id, message_id)


@router.post(
    "/{endpoint_id}/messages/{message_id}/resend", status_code=202, response_class=Response
)
async def resend(
    session: Session, _: Manager, endpoint_id: EndpointId, message_id: MessageId
) -> Response:
    """Send the message again (same webhook-id) with a fresh retry schedule."""
    await service.resend(session, endpoint_id, message_id)
    return Response(status_code=202)


@router.post("/{endpoint_id}/recover", response_model=RecoverOut)
async def recover(
    session: Session, _: Manager, endpoint_id: EndpointId, body: RecoverIn
) -> RecoverOut:
    """Retry every message that failed for good since `since`."""
    return RecoverOut(requeued=await service.recover(session, endpoint_id, body.since))
