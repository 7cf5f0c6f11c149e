"""HTTP only: cashback for backends, customer tokens, and the mobile app's /v1/me."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request, Response
from fastapi.responses import JSONResponse

from app.auth.principal import CurrentPrincipal, Principal, require
from app.auth.scopes import Scope
from app.cashback import customer_tokens, service
from app.cashback.schemas import CashbackOut, MeOut, RedemptionIn, RedemptionOut, TokenOut
from app.core.db import Session
from app.core.errors import PROBLEM_JSON, Forbidden
from app.core.money import from_minor, to_minor
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


async def _customer_principal(principal: CurrentPrincipal) -> Principal:
    if principal.kind != "customer" or principal.customer_id is None:
        raise Forbidden("This endpoint is for customer tokens (POST /v1/customers/{id}/tokens).")
    return principal


Me = Annotated[Principal, Depends(_customer_principal)]


@router.get("/v1/customers/{customer_id}/cashback", response_model=CashbackOut)
async def get_cashback(
    request: Request, session: Session, _: CashbackReader, customer_id: CustomerIdPath
) -> CashbackOut:
    """Balance, the part still refundable (pending), what expires soon, and the history:
    every movement with its reason."""
    c = await current_customer(session, request.app.state.settings, customer_id)
    return await service.view(session, request.app.state.settings, c)


@router.post(
    "/v1/customers/{customer_id}/cashback/redemptions",
    response_model=RedemptionOut,
    status_code=201,
    responses={
        409: {
            "description": "Balance too small (the balance is in the body), or the "
            "Idempotency-Key was used for another amount."
        }
    },
)
async def redeem(
    request: Request,
    session: Session,
    _: CashbackWriter,
    customer_id: CustomerIdPath,
    body: RedemptionIn,
    idempotency_key: IdempotencyKey,
) -> JSONResponse:
    """Spend cashback (oldest-expiring first). Never drives the balance below zero."""
    await current_customer(session, request.app.state.settings, customer_id)
    status, payload = await service.redeem(
        session, request.app.state.settings, customer_id, to_minor(body.amount), idempotency_key
    )
    media = PROBLEM_JSON if status >= 400 else "application/json"
    return JSONResponse(payload, status_code=status, media_type=media)


@router.post("/v1/customers/{customer_id}/tokens", response_model=TokenOut, status_code=201)
async def issue_token(
    request: Request, session: Session, _: CashbackWriter, customer_id: CustomerIdPath
) -> TokenOut:
    """A short-lived token for the customer's mobile app: a JWT (`sub` the customer id, `aud`,
    `iat`, `exp`, `jti`) that reads /v1/me and /v1/me/cashback of this customer and nothing
    else. A gateway can verify it with the keys at /.well-known/jwks.json (EdDSA or RS256)."""
    c = await current_customer(session, request.app.state.settings, customer_id)
    issued = await service.issue_token(session, request.app.state.settings, c)
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
async def me(request: Request, session: Session, principal: Me) -> MeOut:
    """The customer the token belongs to."""
    c = await current_customer(session, request.app.state.settings, principal.customer_id or "")
    return MeOut(
        customer_id=c.external_id,
        stage=c.stage,
        cashback_balance=from_minor(c.cashback_balance_minor),
    )


@router.get("/v1/me/cashback", response_model=CashbackOut)
async def my_cashback(request: Request, session: Session, principal: Me) -> CashbackOut:
    """The token's customer's cashback: balance, pending, expiring soon, history."""
    c = await current_customer(session, request.app.state.settings, principal.customer_id or "")
    return await service.view(session, request.app.state.settings, c)
