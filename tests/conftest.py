"""Test fixtures: every test that touches a database gets its own, built by Alembic.

The `db_url` fixture runs each such test twice: on SQLite and on PostgreSQL. PostgreSQL is
found through TOUCHPOINT_TEST_POSTGRES_URL (default: the local server, user postgres); when it
is not reachable the PostgreSQL half is reported as skipped, unless
TOUCHPOINT_TEST_REQUIRE_POSTGRES=1 (as in .ci/run), where it is an error.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from app.auth.keys import create_key
from app.auth.scopes import Scope
from app.core.migrate import upgrade
from app.core.settings import Settings
from app.main import create_app
from app.projection.pipeline import drain

PG_URL = os.environ.get(
    "TOUCHPOINT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_PG = os.environ.get("TOUCHPOINT_TEST_REQUIRE_POSTGRES") == "1"


def _dsn(url: str, database: str | None = None) -> str:
    u = make_url(url)
    if database is not None:
        u = u.set(database=database)
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(_dsn(PG_URL), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class PostgresTemplates:
    """A migrated template database; each test gets `CREATE DATABASE … TEMPLATE` of it."""

    def __init__(self) -> None:
        self.template = f"tp_tpl_{uuid.uuid4().hex[:10]}"
        self.created: list[str] = []

    def url(self, database: str) -> str:
        return make_url(PG_URL).set(database=database).render_as_string(hide_password=False)

    def setup(self) -> None:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{self.template}"'))
        upgrade(self.url(self.template))

    def new_database(self) -> str:
        name = f"tp_t_{uuid.uuid4().hex[:12]}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        return name

    def drop(self, name: str) -> None:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_templates() -> Iterator[PostgresTemplates | None]:
    try:
        asyncio.run(_pg_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        if REQUIRE_PG:
            raise RuntimeError(f"PostgreSQL required but not reachable at {PG_URL}: {exc}") from exc
        yield None
        return
    templates = PostgresTemplates()
    templates.setup()
    yield templates
    templates.drop(templates.template)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    pg_templates: PostgresTemplates | None,
) -> Iterator[str]:
    """A fresh, migrated database for this test alone."""
    if request.param == "sqlite":
        path = tmp_path / "touchpoint.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    if pg_templates is None:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    name = pg_templates.new_database()
    try:
        yield pg_templates.url(name)
    finally:
        pg_templates.drop(name)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, env="test", webhook_allow_private=True)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    yield application
    await application.state.db.dispose()


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


KeyMaker = Callable[..., Awaitable[str]]


@pytest.fixture
def make_key(app: Any) -> KeyMaker:
    async def _make(*scopes: Scope, name: str = "test") -> str:
        async with app.state.db.sessionmaker() as session, session.begin():
            issued = await create_key(session, name, list(scopes) or [Scope.ADMIN])
        return issued.key

    return _make


@pytest.fixture
async def admin(make_key: KeyMaker) -> dict[str, str]:
    """Authorization headers of an admin key."""
    return {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}


Derive = Callable[[], Awaitable[int]]


@pytest.fixture
def derive(app: Any) -> Derive:
    """Run the projection until nothing is pending, as a worker would (lists and analytics
    follow the facts within the projection lag; per-customer reads need no such call)."""

    async def _derive() -> int:
        return await drain(app.state.db, app.state.settings)

    return _derive
