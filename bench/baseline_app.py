"""The plainest read the API's per-customer endpoints are measured against (bench/load.py).

Plain FastAPI + async SQLAlchemy with the engine the server builds (`app.core.db.create_engine`,
same pool settings from the same environment), one route: the customer row by external id,
returned through a Pydantic model. No authentication, no middleware, no projection.
Served by uvicorn with the server's settings (uvloop, httptools, no access log, `tune_gc`):

    TOUCHPOINT_DATABASE_URL=... .venv/bin/python bench/baseline_app.py --port 8001 [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app.core.db import create_engine
from app.core.settings import Settings
from app.customers.models import Customer


class CustomerRow(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    external_id: str
    created_at: datetime
    updated_at: datetime
    first_seen_at: datetime | None
    last_event_at: datetime | None
    name: str | None
    email: str | None
    phone: str | None
    birth_date: date | None
    company: str | None
    timezone: str | None
    stage: str
    stage_since: datetime | None
    status: str
    status_since: datetime | None
    usual_interval_days: float | None
    cashback_balance_minor: int
    purchase_count: int
    net_revenue_minor: int
    avg_check_minor: int
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    main_category: str | None


def create() -> FastAPI:
    engine = create_engine(Settings())
    sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/customers/{external_id}", response_model=CustomerRow)
    async def customer(external_id: str) -> CustomerRow:
        session: AsyncSession
        async with sessions() as session, session.begin():
            row = await session.scalar(select(Customer).where(Customer.external_id == external_id))
            if row is None:
                raise HTTPException(404)
            return CustomerRow.model_validate(row)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def served() -> FastAPI:
    """The factory each process of `--workers N` calls (as `app.main.served_app` does)."""
    from app.main import tune_gc

    app = create()
    tune_gc()
    return app


def main() -> None:
    import uvicorn

    from app.main import tune_gc

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8001)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    if args.workers == 1:
        target: FastAPI | str = create()
        tune_gc()
    else:
        target = "bench.baseline_app:served"
    uvicorn.run(
        target,
        factory=args.workers > 1,
        workers=args.workers,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        timeout_worker_healthcheck=60,
    )


if __name__ == "__main__":
    main()
