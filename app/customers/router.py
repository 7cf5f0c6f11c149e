"""HTTP only: customer profiles and aggregates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from app.auth.principal import CustomersReader
from app.core.db import Session
from app.core.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, Page
from app.core.types import ExternalId
from app.customers import service
from app.customers.schemas import CustomerOut
from app.projection.reads import current_customer

router = APIRouter(prefix="/v1/customers", tags=["customers"])

CustomerIdPath = Annotated[ExternalId, Path(description="The sender's customer id.")]


@router.get("", response_model=Page[CustomerOut])
async def list_customers(
    session: Session, _: CustomersReader, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Page[CustomerOut]:
    """All customers in the order they became known, with keyset pagination."""
    return await service.list_customers(session, limit, cursor)


@router.get("/{customer_id}", response_model=CustomerOut)
async def get_customer(
    request: Request, session: Session, _: CustomersReader, customer_id: CustomerIdPath
) -> CustomerOut:
    """One customer's profile, relationship facts and purchase aggregates."""
    return CustomerOut.of(await current_customer(session, request.app.state.settings, customer_id))
