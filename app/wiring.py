"""Where the domains plug in: their routers, ingest hooks and worker jobs.

Removing a domain means deleting its folder and its lines here.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from app.analytics.router import router as analytics_router
from app.cashback.router import router as cashback_router
from app.customers.router import router as customers_router
from app.dashboard.router import router as dashboard_router
from app.events.router import router as events_router
from app.health.router import router as health_router
from app.lapse.router import router as lapse_router
from app.ltv.router import router as ltv_router
from app.stages.router import router as stages_router
from app.touches.router import router as touches_router
from app.webhooks.router import router as webhooks_router

# In order: /v1/customers/lapsed comes before /v1/customers/{customer_id}.
ROUTERS: list[APIRouter] = [
    health_router,
    events_router,
    lapse_router,
    customers_router,
    stages_router,
    ltv_router,
    cashback_router,
    touches_router,
    webhooks_router,
    analytics_router,
    dashboard_router,
]


def install_routes(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)


def install_hooks() -> None:
    """Ingest hooks (app.events.hooks) and worker jobs (app.worker.runner), in order."""
    from app.auth.principal import token_resolvers
    from app.cashback import jobs as cashback_jobs
    from app.cashback import service as cashback
    from app.cashback.tokens import PREFIX
    from app.events import hooks
    from app.lapse import jobs as lapse_jobs
    from app.lapse import service as lapse
    from app.ltv import jobs as ltv_jobs
    from app.stages import jobs as stage_jobs
    from app.stages import service as stages
    from app.worker import runner

    hooks.register("stages", stages.on_ingest)
    runner.register(runner.Job("stages.review", stage_jobs.review_due_stages))
    hooks.register("lapse", lapse.on_ingest)
    runner.register(runner.Job("lapse.advance", lapse_jobs.advance_due))
    hooks.register("ltv", ltv_jobs.refresh_on_ingest)
    hooks.register("cashback", cashback.on_ingest)
    runner.register(runner.Job("cashback.announce", cashback_jobs.announce, every_seconds=60))
    runner.register(runner.Job("cashback.expire", cashback_jobs.expire, every_seconds=60))
    token_resolvers[PREFIX] = cashback.resolve_token
    from app.touches import jobs as touch_jobs
    from app.touches import service as touches
    from app.webhooks import delivery

    hooks.register("touches", touches.on_ingest)
    runner.register(runner.Job("touches.announce_due", touch_jobs.announce_due))

    runner.register(runner.Job("webhooks.fan_out", delivery.fan_out))
    runner.register(runner.Job("webhooks.deliver", delivery.deliver_due))
    runner.register(runner.Job("ltv.daily_refit", ltv_jobs.daily_refit, every_seconds=600))
