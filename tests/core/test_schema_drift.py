"""The schema exists only through migrations: models and migrations must not drift."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.core.db import create_engine
from app.core.settings import Settings
from app.models import Base


async def test_models_match_migrations(db_url: str) -> None:
    engine = create_engine(Settings(database_url=db_url))

    def _diff(conn: Any) -> list[Any]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, Base.metadata))

    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(_diff)
    finally:
        await engine.dispose()
    assert diff == []
