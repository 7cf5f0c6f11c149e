"""Use cases of customer tokens: issue (and remember by jti), resolve, revoke, publish keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.instance_secrets import instance_secret
from app.auth.models import CustomerToken
from app.auth.principal import Principal
from app.cashback import tokens
from app.core.db import utcnow
from app.core.errors import NotFound, Unauthenticated
from app.core.settings import Settings

SECRET_NAME = "customer_token_hs256"


class RetiredTokenFormat(Unauthenticated):
    slug, title = "customer-token-format-retired", "Customer token format retired"


class InvalidCustomerToken(Unauthenticated):
    slug, title = "invalid-customer-token", "Invalid customer token"


async def keys(session: AsyncSession, settings: Settings) -> tokens.TokenKeys:
    """The signing keys: the configured key pair, the configured secret, or the secret this
    deployment generated once and keeps in its database."""
    if settings.customer_token_algorithm != "HS256":
        return tokens.configured_keys(
            settings.customer_token_algorithm,
            settings.customer_token_private_key,
            settings.customer_token_private_key_file,
        )
    secret = settings.token_secret or await instance_secret(session, SECRET_NAME)
    return tokens.hs256_keys(secret)


async def issue(session: AsyncSession, settings: Settings, customer_id: str) -> tokens.Issued:
    issued = tokens.issue(
        await keys(session, settings),
        customer_id,
        settings.customer_token_ttl_seconds,
        utcnow(),
        settings.customer_token_audience,
        settings.customer_token_issuer,
    )
    session.add(
        CustomerToken(
            jti=issued.jti,
            customer_id=customer_id,
            issued_at=issued.issued_at,
            expires_at=issued.expires_at,
        )
    )
    await session.flush()
    return issued


async def resolve(session: AsyncSession, settings: Settings, raw: str) -> Principal:
    """The customer a bearer token stands for; 401 with the reason otherwise."""
    try:
        claims = tokens.verify(
            await keys(session, settings),
            raw,
            settings.customer_token_audience,
            settings.customer_token_issuer,
        )
    except tokens.RetiredToken as exc:
        raise RetiredTokenFormat(
            "This customer token is in a format no longer accepted (tpc_…). "
            "Request a new token: POST /v1/customers/{customer_id}/tokens."
        ) from exc
    except tokens.InvalidToken as exc:
        raise InvalidCustomerToken(
            "The customer token is invalid, expired or not for this API; request a new one."
        ) from exc
    row = await session.get(CustomerToken, claims.jti)
    if row is None or row.revoked_at is not None or row.customer_id != claims.customer_id:
        raise InvalidCustomerToken("The customer token was revoked; request a new one.")
    return Principal(kind="customer", customer_id=claims.customer_id)


async def revoke(session: AsyncSession, customer_id: str, jti: str) -> None:
    row = await session.get(CustomerToken, jti, with_for_update=True)
    if row is None or row.customer_id != customer_id:
        raise NotFound(f"No token {jti!r} of customer {customer_id!r}.")
    row.revoked_at = row.revoked_at or utcnow()


async def revoke_all(session: AsyncSession, customer_id: str, now: datetime | None = None) -> int:
    """Revoke every token of a customer (erasure, a lost phone); answers how many."""
    result = await session.execute(
        update(CustomerToken)
        .where(CustomerToken.customer_id == customer_id, CustomerToken.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)
