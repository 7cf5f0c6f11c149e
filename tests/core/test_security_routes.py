"""Every route refuses a missing key (401) and a key without its scope (403); a customer token
reaches nothing but /v1/me. The routes and their scopes are read from the app itself, so a
new endpoint is covered the day it is added."""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from app.auth.scopes import Scope
from app.wiring import ROUTERS
from tests import factories as f
from tests.conftest import KeyMaker

# The dashboard page, its assets and its presentation settings (locale, zone, currency), and
# the public keys a gateway verifies customer tokens with.
PUBLIC = {
    "/healthz",
    "/readyz",
    "/dashboard",
    "/dashboard/config.json",
    "/dashboard/{name}",
    "/.well-known/jwks.json",
}
CUSTOMER_ONLY = {"/v1/me", "/v1/me/cashback"}


def _scope_of(route: APIRoute) -> Scope | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        scope = getattr(dep.call, "required_scope", None)
        if scope is not None:
            return scope  # type: ignore[no-any-return]
        stack.extend(dep.dependencies)
    return None


def routes() -> list[tuple[str, str, Scope | None]]:
    out = []
    for r in (route for router in ROUTERS for route in router.routes):
        if not isinstance(r, APIRoute) or r.path in PUBLIC:
            continue
        for method in sorted(r.methods - {"HEAD", "OPTIONS"}):
            out.append((method, r.path, _scope_of(r)))
    return out


ROUTES = routes()


def test_every_backend_route_declares_a_scope() -> None:
    assert len(ROUTES) > 25
    for method, path, scope in ROUTES:
        assert scope is not None or path in CUSTOMER_ONLY, f"{method} {path} has no scope"


def _concrete(path: str) -> str:
    return re.sub(
        r"\{[^}]+\}",
        lambda m: "1" if m.group(0).endswith("_id}") and "customer" not in m.group(0) else "c1",
        path,
    )


@pytest.mark.parametrize(
    ("method", "path", "scope"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES]
)
async def test_refuses_missing_key_and_missing_scope(
    client: httpx.AsyncClient, make_key: KeyMaker, method: str, path: str, scope: Scope | None
) -> None:
    url = _concrete(path)
    r = await client.request(method, url, json={})
    assert r.status_code == 401, (method, url, r.text)
    assert r.headers["content-type"] == "application/problem+json"
    wrong = next(s for s in Scope if s not in (scope, Scope.ADMIN))
    key = await make_key(wrong)
    r = await client.request(method, url, json={}, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 403, (method, url, r.text)


async def test_a_customer_token_reaches_only_its_own_me(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    admin = {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}
    for c in ("c1", "c2"):
        await client.post("/v1/events", json=f.purchase(c), headers=admin)
    token = (await client.post("/v1/customers/c1/tokens", headers=admin)).json()["token"]
    mine = {"Authorization": f"Bearer {token}"}
    for method, path, _ in ROUTES:
        r = await client.request(
            method, _concrete(path).replace("/c1", "/c2"), json={}, headers=mine
        )
        if path in CUSTOMER_ONLY:
            assert r.status_code == 200 and "c2" not in r.text, path
        else:
            assert r.status_code == 403, (method, path, r.status_code)


async def test_keys_and_secrets_never_reach_logs_or_later_responses(
    client: httpx.AsyncClient, make_key: KeyMaker, caplog: pytest.LogCaptureFixture, settings: Any
) -> None:
    # The service's own loggers at DEBUG, everything else at the production level.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="touchpoint")
    key = await make_key(Scope.ADMIN)
    h = {"Authorization": f"Bearer {key}"}
    created = (
        await client.post("/v1/webhooks/endpoints", json={"url": "http://127.0.0.1:9/x"}, headers=h)
    ).json()
    secret = created["secret"]
    token = (await client.post("/v1/events", json=f.purchase("c1"), headers=h)) and (
        await client.post("/v1/customers/c1/tokens", headers=h)
    ).json()["token"]
    bodies = []
    for path in (
        "/v1/webhooks/endpoints",
        f"/v1/webhooks/endpoints/{created['id']}",
        "/v1/customers/c1",
        "/openapi.json",
    ):
        bodies.append((await client.get(path, headers=h)).text)
    await client.get("/v1/customers/c1", headers={"Authorization": f"Bearer {key}x"})
    logs = caplog.text
    for secret_value in (key, secret, token, secret.removeprefix("whsec_")):
        assert secret_value not in logs
        assert all(secret_value not in b for b in bodies)
