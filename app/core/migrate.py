"""Apply Alembic migrations programmatically (CLI, server start-up, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str | None = None) -> Config:
    ini = ROOT / "alembic.ini"
    if not ini.exists():  # installed elsewhere: use the working directory's copy
        ini = Path.cwd() / "alembic.ini"
    cfg = Config(str(ini))
    cfg.set_main_option("script_location", str(ini.parent / "migrations"))
    cfg.attributes["configure_logger"] = False
    if database_url:
        cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(database_url: str, revision: str = "heads") -> None:
    """Bring the database to the newest schema. Call outside a running event loop."""
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(engine: AsyncEngine, revision: str = "heads") -> None:
    """Same, from inside an event loop, on an engine the caller owns."""
    cfg = alembic_config()

    def _run(connection: object) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_run)
