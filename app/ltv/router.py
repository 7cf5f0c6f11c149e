"""HTTP only: per-customer LTV and the fitted models."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request

from app.auth.principal import Admin, CustomersReader
from app.core.db import Session
from app.core.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, Page
from app.core.types import AsOf
from app.customers.router import CustomerIdPath
from app.ltv import repository, service
from app.ltv.schemas import BacktestIn, BacktestOut, FitIn, LtvOut, ModelOut
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
    per year × horizon) and predicted (the purchase model in use × Gamma-Gamma, discounted),
    with P(alive), expected purchases, the expected next purchase and 90 % intervals of the
    expected purchases and the predicted value. Reads the stored model; never fits."""
    customer = await current_customer(session, request.app.state.settings, customer_id)
    return await service.customer_ltv(
        session, request.app.state.settings, customer, as_of, horizon_days
    )


@router.get("/v1/models/current", response_model=ModelOut)
async def current_model(session: Session, _: CustomersReader) -> ModelOut:
    """The models in use and why: the purchase model (BG/NBD, MBG/NBD or Pareto/NBD: the one
    with the lowest holdout error on the latest back-test unless `TOUCHPOINT_LTV_MODEL` forces
    one), its parameters named as in the papers (r, alpha, a, b or r, alpha, s, beta) and
    Gamma-Gamma's (p, q, gamma), in days."""
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


@router.post("/v1/models/backtest", response_model=BacktestOut, status_code=201)
async def backtest(request: Request, session: Session, _: Admin, body: BacktestIn) -> BacktestOut:
    """Holdout back-test on the shop's own history: BG/NBD, MBG/NBD and Pareto/NBD (and
    Gamma-Gamma for spend) are fitted on the facts up to `calibration_end` and each customer's
    repeat purchases (distinct purchase days) in (`calibration_end`, `holdout_end`] are
    predicted and compared with what happened: in total, per customer (MAE), by number of
    calibration repeat purchases (0 … 7+) and by P(alive). The fallback priors are scored
    too. The report is stored; the next fit deploys the model with the lowest error."""
    row = await service.run_backtest(
        session, request.app.state.settings, body.calibration_end, body.holdout_end
    )
    return service.backtest_out(row)


@router.get("/v1/models/backtests", response_model=Page[BacktestOut])
async def backtests(
    session: Session, _: CustomersReader, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Page[BacktestOut]:
    """Stored back-tests, newest first."""
    return await service.list_backtests(session, limit, cursor)
