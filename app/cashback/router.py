"""HTTP only: cashback for backends, customer tokens, and the mobile app's /v1/me."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request, Response
from fastapi.responses import JSONResponse

from app.auth.principal import Credentials, CurrentPrincipal, Principal, require
from app.auth.scopes import Scope
from app.cashback import adjustments, customer_tokens, redemptions, service
from app.cashback.redemptions import Answer, AppLimits
from app.cashback.schemas import (
    AdjustmentIn,
    AdjustmentOut,
    CashbackOut,
    MeOut,
    RedemptionIn,
    RedemptionOut,
    ReversalOut,
    TokenOut,
)
from app.core.db import Session, utcnow
from app.core.errors import PROBLEM_JSON, Forbidden
from app.core.money import from_minor, to_minor
from app.core.settings import Settings
from app.customers.router import CustomerIdPath
from app.projection.reads import current_customer

router = APIRouter(tags=["cashback"])

CashbackReader = Annotated[Principal, Depends(require(Scope.CASHBACK_READ))]
CashbackWriter = Annotated[Principal, Depends(require(Scope.CASHBACK_WRITE))]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique string; a retry with the same key gets the first answer.",
    ),
]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _now(request: Request) -> datetime:
    """The clock balances are computed against: the app's injected clock, else the real one."""
    clock: Callable[[], datetime] = getattr(request.app.state, "clock", utcnow)
    return clock()


Config = Annotated[Settings, Depends(_settings)]
Now = Annotated[datetime, Depends(_now)]


async def _customer_principal(principal: CurrentPrincipal) -> Principal:
    if principal.kind != "customer" or principal.customer_id is None:
        raise Forbidden("This endpoint is for customer tokens (POST /v1/customers/{id}/tokens).")
    return principal


Me = Annotated[Principal, Depends(_customer_principal)]
_REFUSALS: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "Balance too small (the spendable balance and the pending amount are in "
        "the body), or the Idempotency-Key was used for another request."
    }
}


def _answer(answer: Answer) -> JSONResponse:
    media = PROBLEM_JSON if answer.status >= 400 else "application/json"
    return JSONResponse(answer.body, status_code=answer.status, media_type=media)


@router.get("/v1/customers/{customer_id}/cashback", response_model=CashbackOut)
async def get_cashback(
    session: Session, settings: Config, now: Now, _: CashbackReader, customer_id: CustomerIdPath
) -> CashbackOut:
    """Spendable balance, pending (inside the hold period), owed, what expires soon, and the
    history: every movement with its reason. A lot past its expiry never counts, whether or not
    the worker has recorded its expiry."""
    c = await current_customer(session, settings, customer_id)
    return await service.view(session, settings, c, now)


@router.post(
    "/v1/customers/{customer_id}/cashback/redemptions",
    response_model=RedemptionOut,
    status_code=201,
    responses=_REFUSALS,
)
async def redeem(
    session: Session,
    settings: Config,
    now: Now,
    _: CashbackWriter,
    customer_id: CustomerIdPath,
    body: RedemptionIn,
    idempotency_key: IdempotencyKey,
) -> JSONResponse:
    """Spend spendable cashback (oldest-expiring first), optionally for an `order_id`. Never
    drives the balance below zero; pending and expired cashback cannot be spent."""
    return _answer(
        await redemptions.redeem(
            session,
            settings,
            customer_id,
            to_minor(body.amount),
            idempotency_key,
            now,
            body.order_id,
        )
    )


@router.post(
    "/v1/cashback/redemptions/{redemption_id}/reversal",
    response_model=ReversalOut,
    responses={404: {"description": "No such redemption (or it was refused)."}},
)
async def reverse_redemption(
    session: Session,
    settings: Config,
    now: Now,
    _: CashbackWriter,
    redemption_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
) -> ReversalOut:
    """Give a redemption back (an order cancelled at the till): each part returns with the
    expiry of the lot it came from, or as a fresh lot when that has passed. Idempotent: a repeat
    answers the first reversal."""
    return await redemptions.reverse(session, settings, redemption_id, now)


@router.post(
    "/v1/customers/{customer_id}/cashback/adjustments",
    response_model=AdjustmentOut,
    status_code=201,
    responses={
        409: {
            "description": "A debit larger than the balance (never below zero), or the "
            "Idempotency-Key was used for another request."
        }
    },
)
async def adjust(
    session: Session,
    settings: Config,
    now: Now,
    _: CashbackWriter,
    customer_id: CustomerIdPath,
    body: AdjustmentIn,
    idempotency_key: IdempotencyKey,
) -> JSONResponse:
    """A manual adjustment: a signed amount with a reason and an optional expiry; `touch_id`
    names the touch whose offer it grants (a win-back bonus). Credits are spendable at once."""
    await current_customer(session, settings, customer_id)  # its pending facts first
    return _answer(
        await adjustments.adjust(session, settings, customer_id, body, idempotency_key, now)
    )


@router.post("/v1/customers/{customer_id}/tokens", response_model=TokenOut, status_code=201)
async def issue_token(
    session: Session, settings: Config, _: CashbackWriter, customer_id: CustomerIdPath
) -> TokenOut:
    """A short-lived token for the customer's mobile app: a JWT (`sub` the customer id, `aud`,
    `iat`, `exp`, `jti`) that reads /v1/me and /v1/me/cashback of this customer and nothing
    else, and redeems through /v1/me/cashback/redemptions. A gateway can verify it with the
    keys at /.well-known/jwks.json (EdDSA or RS256)."""
    c = await current_customer(session, settings, customer_id)
    issued = await service.issue_token(session, settings, c)
    return TokenOut(token=issued.token, expires_at=issued.expires_at, jti=issued.jti)


@router.delete("/v1/customers/{customer_id}/tokens/{jti}", status_code=204, response_class=Response)
async def revoke_token(
    session: Session,
    _: CashbackWriter,
    customer_id: CustomerIdPath,
    jti: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")],
) -> Response:
    """Revoke one customer token by its `jti`: it is refused (401) from now on."""
    await customer_tokens.revoke(session, customer_id, jti)
    return Response(status_code=204)


@router.get("/.well-known/jwks.json", tags=["auth"])
async def jwks(request: Request, session: Session) -> JSONResponse:
    """The public keys customer tokens are signed with (RFC 7517), for gateways that verify
    tokens themselves. Empty with HS256: a shared secret is never published."""
    settings = request.app.state.settings
    published = (
        (await customer_tokens.keys(session, settings)).jwks()
        if settings.customer_token_algorithm != "HS256"
        else {"keys": []}
    )
    return JSONResponse(published, headers={"Cache-Control": "public, max-age=300"})


@router.get("/v1/me", response_model=MeOut)
async def me(session: Session, settings: Config, now: Now, principal: Me) -> MeOut:
    """The customer the token belongs to."""
    c = await current_customer(session, settings, principal.customer_id or "")
    return MeOut(
        customer_id=c.external_id,
        stage=c.stage,
        cashback_balance=from_minor(await service.spendable_balance(session, c, now)),
    )


@router.get("/v1/me/cashback", response_model=CashbackOut)
async def my_cashback(session: Session, settings: Config, now: Now, principal: Me) -> CashbackOut:
    """The token's customer's cashback: spendable, pending, owed, expiring soon, history."""
    c = await current_customer(session, settings, principal.customer_id or "")
    return await service.view(session, settings, c, now)


@router.post(
    "/v1/me/cashback/redemptions",
    response_model=RedemptionOut,
    status_code=201,
    responses={
        409: {
            "description": "Balance too small, above the app's limits (per redemption and per "
            "token per 24 hours: `me_max_redemption_minor`, `me_max_daily_minor`), or the "
            "Idempotency-Key was used for another request."
        }
    },
)
async def redeem_mine(
    session: Session,
    settings: Config,
    now: Now,
    principal: Me,
    credentials: Credentials,
    body: RedemptionIn,
    idempotency_key: IdempotencyKey,
) -> JSONResponse:
    """The mobile app spends the token's customer's cashback: same answers as the shop's
    endpoint, within the app's limits per redemption and per token per day."""
    await current_customer(session, settings, principal.customer_id or "")
    token = credentials.credentials if credentials else ""
    limits = AppLimits(
        token_hash=hashlib.sha256(token.encode()).hexdigest(),
        max_redemption_minor=settings.cashback.me_max_redemption_minor,
        max_daily_minor=settings.cashback.me_max_daily_minor,
    )
    return _answer(
        await redemptions.redeem(
            session,
            settings,
            principal.customer_id or "",
            to_minor(body.amount),
            idempotency_key,
            now,
            body.order_id,
            limits,
        )
    )
