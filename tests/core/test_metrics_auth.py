"""/metrics answers an admin key or the metrics token (what Prometheus sends), nobody else."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.auth.scopes import Scope
from app.core.settings import Settings
from app.main import create_app
from tests import factories as f
from tests.conftest import KeyMaker

TOKEN = "prometheus-scrapes-with-this-token-0123456789"


async def test_metrics_need_an_admin_key_or_the_metrics_token(
    settings: Settings, make_key: KeyMaker
) -> None:
    app: Any = create_app(settings.model_copy(update={"metrics_token": TOKEN}))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            admin = {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}
            reader = {"Authorization": f"Bearer {await make_key(Scope.CUSTOMERS_READ)}"}
            await c.post("/v1/events", json=f.purchase("m1"), headers=admin)
            token = (await c.post("/v1/customers/m1/tokens", headers=admin)).json()["token"]

            anonymous = await c.get("/metrics")
            assert anonymous.status_code == 401
            assert anonymous.headers["content-type"] == "application/problem+json"
            assert "touchpoint_" not in anonymous.text
            assert (await c.get("/metrics", headers=reader)).status_code == 403
            customer = {"Authorization": f"Bearer {token}"}
            assert (await c.get("/metrics", headers=customer)).status_code == 403
            wrong = {"Authorization": f"Bearer {TOKEN}x"}
            assert (await c.get("/metrics", headers=wrong)).status_code == 401

            for h in (admin, {"Authorization": f"Bearer {TOKEN}"}):
                r = await c.get("/metrics", headers=h)
                assert r.status_code == 200 and "touchpoint_http_requests_total" in r.text
            # The metrics token opens /metrics and nothing else.
            scraper = {"Authorization": f"Bearer {TOKEN}"}
            assert (await c.get("/v1/customers", headers=scraper)).status_code == 401
    finally:
        await app.state.db.dispose()


async def test_without_a_metrics_token_only_admin_keys_read_metrics(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    admin = {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}
    assert (await client.get("/metrics", headers=admin)).status_code == 200
    assert (await client.get("/metrics", headers={"Authorization": "Bearer "})).status_code == 401
    assert (await client.get("/metrics")).status_code == 401


def test_a_short_metrics_token_is_refused_in_production() -> None:
    with pytest.raises(ValueError, match="METRICS_TOKEN"):
        Settings(env="production", token_secret="s" * 40, metrics_token="only-twenty-chars-x")
