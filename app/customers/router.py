"""HTTP only: customer profiles and aggregates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from app.auth.principal import Admin, CustomersReader
from app.core.db import Session, utcnow
from app.core.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, Page
from app.core.types import ExternalId
from app.customers import service
from app.customers.privacy import service as privacy
from app.customers.privacy.schemas import CustomerExport, ErasureOut
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


@router.delete("/{customer_id}", response_model=ErasureOut)
async def erase_customer(
    request: Request, session: Session, _: Admin, customer_id: CustomerIdPath
) -> ErasureOut:
    """Erase the customer's personal data (152-FZ, GDPR art. 17).

    The profile's personal fields (name, e-mail, phone, address, birth date, company) are
    removed, and so are those fields in every stored event and any of their values in other
    stored texts; every customer token is revoked; orders, the cashback ledger and derived
    state stay under a random pseudonym, so the pyramid and ledger totals do not change. A
    `customer.erased` webhook (`{"customer_id", "erased_at"}`) tells CRMs to erase too. The
    sender's id is free afterwards: a later event with it starts a new customer. An erased
    event's id stays taken (a replay of it is refused as a conflict).
    """
    await current_customer(session, request.app.state.settings, customer_id)
    return await privacy.erase(session, customer_id, utcnow())


@router.get("/{customer_id}/export", response_model=CustomerExport)
async def export_customer(
    request: Request, session: Session, _: Admin, customer_id: CustomerIdPath
) -> CustomerExport:
    """Everything stored about the customer as one JSON document (GDPR art. 15 and 20):
    profile and derived state, orders, events with their payloads, stage history,
    prediction, the cashback ledger and redemptions, touches, webhook messages about them
    and known CRM contacts. Values as stored: money in minor units."""
    await current_customer(session, request.app.state.settings, customer_id)
    return await privacy.export(session, customer_id, utcnow())
