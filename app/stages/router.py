"""HTTP only: a customer's stage and the retention pyramid."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.auth.principal import CustomersReader
from app.core.db import Session
from app.core.types import AsOf
from app.customers.router import CustomerIdPath
from app.projection.reads import current_customer
from app.stages import service
from app.stages.schemas import PyramidOut, StageOut

router = APIRouter(tags=["stages"])


@router.get("/v1/customers/{customer_id}/stage", response_model=StageOut)
async def customer_stage(
    request: Request,
    session: Session,
    _: CustomersReader,
    customer_id: CustomerIdPath,
    as_of: AsOf = None,
) -> StageOut:
    """Where the customer stands on the ladder (prospect, lead, hot_lead, buyer, client,
    regular, adherent, advocate), since when, why, and what it takes to climb one step."""
    customer = await current_customer(session, request.app.state.settings, customer_id)
    return await service.stage_of(session, request.app.state.settings, customer, as_of)


@router.get("/v1/analytics/pyramid", response_model=PyramidOut)
async def pyramid(session: Session, _: CustomersReader, as_of: AsOf = None) -> PyramidOut:
    """Customers and revenue per stage, with conversion from the previous stage in people and
    in money (the ladder narrows in people and widens in money), and the share of revenue from
    repeat customers. Without `as_of` it reads the per-customer aggregates only."""
    return await service.pyramid(session, as_of)
