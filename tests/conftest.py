"""Test fixtures: every test that touches a database gets its own, built by Alembic.

The `db_url` fixture runs each such test twice: on SQLite and on PostgreSQL. PostgreSQL is
found through TOUCHPOINT_TEST_POSTGRES_URL (default: the local server, user postgres); when it
is not reachable the PostgreSQL half is reported as skipped, unless
TOUCHPOINT_TEST_REQUIRE_POSTGRES=1 (as in .ci/run), where it is an error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sqlite3
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
from app.core.middleware import JsonFormatter, setup_logging
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


class LogLines(logging.Handler):
    """Every log line written in this process during the run, as a deployment writes it."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record that cannot be formatted is the logger's problem
            self.handleError(record)


# What the suite logged, and the e-mails and phones its databases held (collected when each
# test's database is dropped); tests/core/test_logs.py checks, last, that none was logged.
LOG_LINES = LogLines()
PERSONAL_DATA: set[str] = set()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "runs_last: run after every other test of the session")
    # The deployment's logging (level INFO, drivers at WARNING), captured instead of printed.
    setup_logging(Settings().log_level, "json")
    logging.getLogger().handlers[:] = [LOG_LINES]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("runs_last") is not None)


@pytest.fixture(autouse=True)
def _log_lines_captured() -> None:
    """Something that reconfigures logging in this process must not end the capture."""
    root = logging.getLogger()
    if LOG_LINES not in root.handlers:
        root.addHandler(LOG_LINES)


def _contacts(emails_phones: list[tuple[Any, Any]], payloads: list[Any]) -> set[str]:
    found = {str(v) for pair in emails_phones for v in pair if v}
    for payload in payloads:
        body = json.loads(payload) if isinstance(payload, str) else payload
        if isinstance(body, dict):
            found |= {str(body[k]) for k in ("email", "phone") if body.get(k)}
    return found


_CONTACTS_SQL = ("SELECT email, phone FROM customers", "SELECT payload FROM events")


def _collect_sqlite(path: Path) -> None:
    try:
        with sqlite3.connect(path) as db:
            pairs = db.execute(_CONTACTS_SQL[0]).fetchall()
            payloads = [p for (p,) in db.execute(_CONTACTS_SQL[1])]
    except sqlite3.Error:
        return
    PERSONAL_DATA.update(_contacts(pairs, payloads))


async def _collect_postgres(url: str) -> None:
    try:
        conn = await asyncpg.connect(_dsn(url), timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return
    try:
        pairs = [tuple(r) for r in await conn.fetch(_CONTACTS_SQL[0])]
        payloads = [r[0] for r in await conn.fetch(_CONTACTS_SQL[1])]
    except asyncpg.PostgresError:
        return
    finally:
        await conn.close()
    PERSONAL_DATA.update(_contacts(pairs, payloads))


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
        _collect_sqlite(path)
        return
    if pg_templates is None:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    name = pg_templates.new_database()
    try:
        yield pg_templates.url(name)
        asyncio.run(_collect_postgres(pg_templates.url(name)))
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
