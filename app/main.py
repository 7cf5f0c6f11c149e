"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator

from fastapi import FastAPI

from app import __version__
from app.auth.keys import KeyCache
from app.core.db import create_database
from app.core.errors import install_error_handlers
from app.core.middleware import BodyLimit, RateLimit, RequestContext
from app.core.openapi import install_openapi
from app.core.ratelimit import bucket_store
from app.core.settings import Settings, get_settings
from app.wiring import install_routes, install_token_resolvers, worker_jobs
from app.worker.runner import Worker

log = logging.getLogger("touchpoint")

# Set by `touchpoint serve` for the processes it starts: "1" runs the background worker.
RUN_WORKER_ENV = "TOUCHPOINT_SERVE_RUNS_WORKER"

DESCRIPTION = """
Touchpoint is a retention engine: e-commerce backends post purchases and contacts; it answers
where each customer stands on the loyalty ladder, what they are worth, who stopped buying and
whom to contact next. Authenticate with `Authorization: Bearer <key>`. Errors are
`application/problem+json` (RFC 9457). Money is a decimal string; times are RFC 3339 UTC.
"""


def create_app(settings: Settings | None = None, run_worker: bool = False) -> FastAPI:
    settings = settings or get_settings()
    db = create_database(settings)
    install_token_resolvers()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = Worker(db, settings, worker_jobs()) if run_worker else None
        task = asyncio.create_task(worker.run()) if worker else None
        try:
            yield
        finally:
            if worker and task:
                worker.stop()
                await task
            await db.dispose()
            if app.state.rate_limit_store is not None:
                await app.state.rate_limit_store.aclose()

    app = FastAPI(
        title="Touchpoint",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.key_cache = KeyCache(settings.api_key_cache_seconds)
    app.state.rate_limit_store = (
        bucket_store(settings.rate_limit_per_second, settings.rate_limit_burst, settings.redis_url)
        if settings.rate_limit_per_second > 0
        else None
    )
    install_error_handlers(app)
    install_routes(app)
    install_openapi(app)
    # Added last = outermost: the request context sees every answer, even 413 and 429.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RateLimit, store=app.state.rate_limit_store)
    app.add_middleware(RequestContext)
    return app


def served_app() -> FastAPI:
    """The factory each process of `touchpoint serve --workers N` calls."""
    app = create_app(get_settings(), run_worker=os.environ.get(RUN_WORKER_ENV) == "1")
    tune_gc()
    return app


def tune_gc() -> None:
    """For a long-running server process, once the app is built.

    A 1,000-event batch allocates hundreds of thousands of short-lived objects; with the
    default thresholds the cyclic collector runs every 700 allocations and takes a tenth of
    the time. Startup objects are frozen out of its walks, and it runs every 50,000.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
