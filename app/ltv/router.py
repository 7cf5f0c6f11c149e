"""HTTP only: per-customer LTV and the fitted models."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request

from app.auth.principal import Admin, CustomersReader
from app.core.db import Session
from app.core.types import AsOf
from app.customers.router import CustomerIdPath
from app.ltv import repository, service
from app.ltv.schemas import FitIn, LtvOut, ModelOut
from app.projection.reads import current_customer

router = APIRouter(tags=["ltv"])


@router.get("/v1/customers/{customer_id}/ltv", response_model=LtvOut)
async def customer_ltv(
    request: Request,
    session: Session,
    _: CustomersReader,
    customer_id: CustomerIdPath,
    as_of: AsOf = None,
    horizon_days: Annotated[int, Query(ge=1, le=3650)] = 365,
) -> LtvOut:
    """What the customer is worth: historic (net revenue), simple (average check × purchases
    per year × horizon) and predicted (BG/NBD × Gamma-Gamma, discounted), with P(alive),
    expected purchases and the expected next purchase. Reads the stored model; never fits."""
    customer = await current_customer(session, request.app.state.settings, customer_id)
    return await service.customer_ltv(
        session, request.app.state.settings, customer, as_of, horizon_days
    )


@router.get("/v1/models/current", response_model=ModelOut)
async def current_model(session: Session, _: CustomersReader) -> ModelOut:
    """The parameters in use, named as in the papers (r, alpha, a, b; p, q, gamma), in days."""
    return service.model_out(await repository.latest_fit(session))


@router.post("/v1/models/fit", response_model=ModelOut, status_code=201)
async def fit_models(
    request: Request, session: Session, _: Admin, body: Annotated[FitIn | None, Body()] = None
) -> ModelOut:
    """Fit the models now on events at or before `as_of` (default now) and refresh every
    customer's prediction. Falls back to the documented priors when too few customers repeat."""
    fit = await service.fit_models(
        session, request.app.state.settings, body.as_of if body else None
    )
    return service.model_out(fit)
