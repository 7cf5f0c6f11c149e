"""Who is calling: resolved from `Authorization: Bearer <key>` once per request."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.keys import KEY_PREFIX
from app.auth.scopes import Scope
from app.core.db import Session
from app.core.errors import Forbidden, Unauthenticated

bearer = HTTPBearer(auto_error=False, description="An API key, or a customer token for /v1/me")


@dataclass(frozen=True)
class Principal:
    kind: str  # "key" or "customer"
    key_id: int | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    # For customer tokens: the sender's customer id the token is bound to.
    customer_id: str | None = None

    def has(self, scope: Scope) -> bool:
        return self.kind == "key" and (scope.value in self.scopes or Scope.ADMIN in self.scopes)


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

# Other kinds of bearer token (customer tokens) register a resolver here: prefix (or a tuple
# of prefixes) -> resolver. A resolver answers the principal, None for a token it does not
# know, or raises Unauthenticated with a reason the caller should read.
TokenResolver = Callable[[Request, AsyncSession, str], Awaitable[Principal | None]]
token_resolvers: dict[str | tuple[str, ...], TokenResolver] = {}


async def current_principal(request: Request, session: Session, creds: Credentials) -> Principal:
    if creds is None or not creds.credentials:
        raise Unauthenticated("Send an API key as 'Authorization: Bearer <key>'.")
    raw = creds.credentials
    if raw.startswith(KEY_PREFIX) and len(raw) < 200:
        key = await request.app.state.key_cache.find(session, raw, time.monotonic())
        if key is not None:
            principal = Principal(kind="key", key_id=key.id, scopes=key.scopes)
            request.state.principal = principal
            return principal
    for prefix, resolve in token_resolvers.items():
        if raw.startswith(prefix):
            resolved = await resolve(request, session, raw)
            if resolved is not None:
                request.state.principal = resolved
                return resolved
    raise Unauthenticated("The key or token is unknown, revoked or expired.")


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(scope: Scope) -> Callable[[Principal], Awaitable[Principal]]:
    """Dependency factory: the caller must be an API key carrying `scope` (or `admin`)."""

    async def _check(principal: CurrentPrincipal) -> Principal:
        if not principal.has(scope):
            raise Forbidden(f"This endpoint needs the '{scope.value}' scope.", required=scope.value)
        return principal

    _check.required_scope = scope  # type: ignore[attr-defined]  # read by the route audit
    return _check


EventsWriter = Annotated[Principal, Depends(require(Scope.EVENTS_WRITE))]
CustomersReader = Annotated[Principal, Depends(require(Scope.CUSTOMERS_READ))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
