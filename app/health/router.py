"""HTTP only: liveness and readiness probes (no auth) and Prometheus metrics (admin key or
the metrics token)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app import __version__
from app.auth.principal import Credentials, current_principal, require
from app.auth.scopes import Scope
from app.core import metrics
from app.core.db import Database, Session
from app.core.errors import problem
from app.projection import service as projection

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str


class Projection(BaseModel):
    pending: int = Field(description="Customers whose facts are not derived yet.")
    lag_seconds: float = Field(description="Age of the oldest fact not derived yet.")
    failed: int = Field(description="Customers set aside because deriving them raised.")


class Ready(Health):
    projection: Projection


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up. Does not touch the database."""
    return Health(status="ok", version=__version__)


async def metrics_reader(request: Request, session: Session, creds: Credentials) -> None:
    """The bearer is the metrics token (`TOUCHPOINT_METRICS_TOKEN`, what Prometheus sends as
    its `authorization` credentials), or an API key with the admin scope."""
    token: str | None = request.app.state.settings.metrics_token
    if token and creds and hmac.compare_digest(creds.credentials.encode(), token.encode()):
        return
    await require(Scope.ADMIN)(await current_principal(request, session, creds))


metrics_reader.required_scope = Scope.ADMIN  # type: ignore[attr-defined]  # read by the route audit
MetricsReader = Annotated[None, Depends(metrics_reader)]


@router.get("/metrics", response_class=Response, include_in_schema=False)
async def prometheus_metrics(session: Session, _: MetricsReader) -> Response:
    """Prometheus metrics: request rate and latency by route, ingest counts, outbox backlog
    and age, webhook delivery failures, projection backlog and lag. Needs the metrics token
    or an admin key."""
    lag = await projection.backlog(session)
    return Response(
        await metrics.render(session, (lag.pending, lag.lag_seconds, lag.failed)),
        media_type=metrics.CONTENT_TYPE,
    )


@router.get(
    "/readyz",
    response_model=Ready,
    responses={503: {"description": "The database does not answer (problem+json)."}},
)
async def readyz(request: Request) -> Ready | JSONResponse:
    """Ready to serve: the database answers a query. The body tells the projection's
    backlog: lists and analytics follow the facts within `lag_seconds`."""
    db: Database = request.app.state.db
    try:
        async with db.sessionmaker() as session:
            lag = await projection.backlog(session)
    except Exception as exc:  # any driver error means "not ready"
        return problem(
            503,
            "not-ready",
            "Not ready",
            f"Database check failed: {type(exc).__name__}",
            headers={"Retry-After": "1"},
        )
    return Ready(
        status="ready",
        version=__version__,
        projection=Projection(
            pending=lag.pending, lag_seconds=round(lag.lag_seconds, 3), failed=lag.failed
        ),
    )
