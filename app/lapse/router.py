"""HTTP only: the lapsed list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.principal import CustomersReader
from app.core.db import Session
from app.core.money import PositiveMoney, to_minor
from app.core.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, Page
from app.core.types import AsOf, ShortText
from app.lapse import repository, service
from app.lapse.schemas import LapsedCustomer, LapsedSort, RiskStatus
from app.stages.rules import STAGES

router = APIRouter(tags=["lapse"])


@router.get("/v1/customers/lapsed", response_model=Page[LapsedCustomer])
async def lapsed(
    session: Session,
    _: CustomersReader,
    as_of: AsOf = None,
    status: RiskStatus | None = None,
    category: Annotated[ShortText | None, Query(description="Main category.")] = None,
    stage: Annotated[str | None, Query(pattern="^(" + "|".join(STAGES) + ")$")] = None,
    min_value: Annotated[
        PositiveMoney | None, Query(description="Only customers worth at least this a year.")
    ] = None,
    sort: LapsedSort = LapsedSort.VALUE_AT_RISK,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Page[LapsedCustomer]:
    """Customers who went silent for longer than their own rhythm allows (every status but
    `active` by default), most value at risk first or most overdue first. Keyset pages stay
    stable while events arrive. `as_of` evaluates the stored schedules at that time."""
    filters = repository.Filters(
        status=status.value if status else None,
        category=category,
        stage=stage,
        min_value_minor=to_minor(min_value) if min_value is not None else None,
    )
    return await service.lapsed_list(session, filters, sort, as_of, limit, cursor)
