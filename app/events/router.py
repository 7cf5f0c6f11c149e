"""HTTP only: posting events."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.auth.principal import EventsWriter
from app.core.db import Session
from app.core.errors import PayloadTooLarge
from app.events import service
from app.events.schemas import BatchIn, BatchOut, BatchSummary, EventIn, EventResult, EventStatus

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.post(
    "",
    response_model=EventResult,
    status_code=201,
    responses={
        200: {"model": EventResult, "description": "Duplicate: the original result."},
        409: {"description": "Same event_id with a different body, or the order exists."},
        422: {"description": "Invalid event (problem+json)."},
    },
)
async def post_event(
    event: EventIn, request: Request, response: Response, session: Session, _: EventsWriter
) -> EventResult:
    """Ingest one event. Re-sending the same `event_id` and body returns the original result."""
    (result,) = await service.ingest(session, request.app.state.settings, [event])
    if result.error_exc is not None:
        raise result.error_exc
    if result.status == EventStatus.DUPLICATE:
        response.status_code = 200
    return result


@router.post(
    "/batch",
    response_model=BatchOut,
    responses={413: {"description": "More events than the batch limit."}},
)
async def post_batch(
    batch: BatchIn, request: Request, session: Session, _: EventsWriter
) -> BatchOut:
    """Ingest up to 1,000 events; each one gets its own result (accepted, duplicate, rejected).

    A rejected event changes nothing; the others are applied."""
    limit = request.app.state.settings.max_batch_events
    if len(batch.events) > limit:
        raise PayloadTooLarge(f"A batch holds at most {limit} events.", max_events=limit)
    results = await service.ingest(session, request.app.state.settings, batch.events)
    counts = {s: sum(1 for r in results if r.status == s) for s in EventStatus}
    return BatchOut(
        summary=BatchSummary(
            accepted=counts[EventStatus.ACCEPTED],
            duplicate=counts[EventStatus.DUPLICATE],
            rejected=counts[EventStatus.REJECTED],
        ),
        results=results,
    )
