from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from app.auth.scopes import Scope
from app.cli import _issue_key, cli
from app.core.settings import Settings, get_settings
from app.main import create_app


@pytest.fixture
def sqlite_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("TOUCHPOINT_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_keys_create_prints_the_key_alone_on_the_last_line(sqlite_env: str) -> None:
    result = CliRunner().invoke(
        cli, ["keys", "create", "--name", "shop", "--scopes", "events:write"]
    )
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("tpk_") and " " not in key

    async def _use() -> int:
        app = create_app(Settings(database_url=sqlite_env))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            r = await c.get("/v1/customers", headers={"Authorization": f"Bearer {key}"})
        await app.state.db.dispose()
        return r.status_code

    assert asyncio.run(_use()) == 403  # a real key, without customers:read


def test_keys_create_refuses_unknown_scopes(sqlite_env: str) -> None:
    result = CliRunner().invoke(cli, ["keys", "create", "--name", "x", "--scopes", "root"])
    assert result.exit_code == 2
    assert "unknown scope" in result.output


def test_first_start_admin_key_is_created_once(sqlite_env: str) -> None:
    assert CliRunner().invoke(cli, ["migrate"]).exit_code == 0
    settings = Settings(database_url=sqlite_env)
    first = asyncio.run(_issue_key(settings, "admin", [Scope.ADMIN], True))
    second = asyncio.run(_issue_key(settings, "admin", [Scope.ADMIN], True))
    assert first is not None and first.key.startswith("tpk_")
    assert second is None
