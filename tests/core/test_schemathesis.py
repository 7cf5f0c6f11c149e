"""Property-based API tests from the committed OpenAPI document: no 5xx, responses conform to
the schema, errors are problem+json. A bounded number of examples per operation."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.auth.keys import create_key
from app.auth.scopes import Scope
from app.core.db import create_database
from app.core.openapi import OPENAPI_PATH
from app.core.settings import Settings
from app.main import create_app

EXAMPLES = 30
# What the service promises: no 5xx; every response (errors included) matches the document
# in status code, content type and body. Business rules (another currency, an unknown order)
# may refuse schema-valid requests with 4xx, so "positive data acceptance" is not among them.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[tuple[Any, str]]:
    path = tmp_path_factory.mktemp("schemathesis") / "api.db"
    shutil.copy(sqlite_template, path)
    cfg = Settings(
        database_url=f"sqlite+aiosqlite:///{path}",
        env="test",
        rate_limit_per_second=0,
        webhook_allow_private=False,
    )

    async def _key() -> str:
        db = create_database(cfg)
        try:
            async with db.sessionmaker() as s, s.begin():
                return (await create_key(s, "schemathesis", [Scope.ADMIN])).key
        finally:
            await db.dispose()

    key = asyncio.run(_key())
    yield create_app(cfg), key


def test_every_operation_conforms(api: tuple[Any, str]) -> None:
    app, key = api
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    assert OPENAPI_PATH.exists()
    checked = 0
    for result in loaded.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {key}"})
            assert response.status_code < 500, (case.method, case.path, response.text)
            if response.status_code >= 400:
                ctype = response.headers.get("content-type", [""])
                ctype = ctype[0] if isinstance(ctype, list) else ctype
                assert ctype.startswith("application/problem+json"), (
                    case.method,
                    case.path,
                    response.status_code,
                    ctype,
                )
            case.validate_response(response, checks=CHECKS)

        check()
        checked += 1
    assert checked > 25
