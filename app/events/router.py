"""HTTP only: posting events."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from app.auth.principal import EventsWriter
from app.core.db import Session
from app.core.errors import PayloadTooLarge
from app.core.metrics import EVENTS
from app.core.openapi import document_schema
from app.events import service
from app.events.schemas import (
    BATCH_IN_SCHEMA,
    BatchIn,
    BatchOut,
    BatchSummary,
    BatchTyped,
    EventIn,
    EventResult,
    EventStatus,
)
from app.projection.pipeline import fold_pending

router = APIRouter(prefix="/v1/events", tags=["events"])

Wait = Annotated[
    bool,
    Query(description="Answer only after the customers of these events are derived."),
]


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
    event: EventIn,
    request: Request,
    response: Response,
    session: Session,
    _: EventsWriter,
    wait: Wait = False,
) -> EventResult:
    """Ingest one event. Re-sending the same `event_id` and body returns the original result.

    The answer comes once the event is stored; the customer's derived state follows within
    the projection lag (reads about this customer always see it). `wait=true` answers only
    after the customer is derived."""
    settings = request.app.state.settings
    ingested = await service.ingest(session, settings, [event])
    if wait:
        await fold_pending(session, settings, ingested.customer_pks)
    (result,) = ingested.results
    EVENTS.labels(event.type, result.status.value).inc()
    if result.error_exc is not None:
        raise result.error_exc
    if result.status == EventStatus.DUPLICATE:
        response.status_code = 200
    return result


document_schema("BatchIn", BATCH_IN_SCHEMA)
_typed_batch: TypeAdapter[BatchTyped] = TypeAdapter(BatchTyped)
_loose_batch: TypeAdapter[BatchIn] = TypeAdapter(BatchIn)
_batch_out: TypeAdapter[BatchOut] = TypeAdapter(BatchOut)


def _parse_batch(body: bytes) -> list[Any]:
    """Parse in one pass when every event is valid; else item by item, so that each bad event
    is reported on its own and the good ones still go in."""
    try:
        return list(_typed_batch.validate_json(body).events)
    except ValidationError:
        pass
    try:
        return _loose_batch.validate_json(body).events
    except ValidationError as exc:
        # JSON lets a string hold a lone surrogate (`"\\ud800"`), which the fast parser
        # refuses for the whole body; the standard parser reads it, and the event holding it
        # is then rejected alone by its own validation.
        try:
            return _loose_batch.validate_python(json.loads(body)).events
        except (ValueError, ValidationError):
            raise RequestValidationError(exc.errors(include_url=False)) from exc


@router.post(
    "/batch",
    response_model=BatchOut,
    responses={413: {"description": "More events than the batch limit."}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchIn"}}},
        }
    },
)
async def post_batch(
    request: Request, session: Session, _: EventsWriter, wait: Wait = False
) -> Response:
    """Ingest up to 1,000 events; each one gets its own result (accepted, duplicate, rejected).

    A rejected event changes nothing; the others are stored. The answer comes once they are
    durable; `wait=true` answers only after the batch's customers are derived."""
    settings = request.app.state.settings
    events = _parse_batch(await request.body())
    if len(events) > settings.max_batch_events:
        raise PayloadTooLarge(
            f"A batch holds at most {settings.max_batch_events} events.",
            max_events=settings.max_batch_events,
        )
    ingested = await service.ingest(session, settings, events)
    if wait:
        await fold_pending(session, settings, ingested.customer_pks)
    results = ingested.results
    counts = {s: sum(1 for r in results if r.status == s) for s in EventStatus}
    for r in results:
        EVENTS.labels(r.type or "invalid", r.status.value).inc()
    out = BatchOut(
        summary=BatchSummary(
            accepted=counts[EventStatus.ACCEPTED],
            duplicate=counts[EventStatus.DUPLICATE],
            rejected=counts[EventStatus.REJECTED],
        ),
        results=results,
    )
    return Response(_batch_out.dump_json(out), media_type="application/json")
