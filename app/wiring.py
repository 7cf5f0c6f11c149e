"""Where the domains plug in: their routers and the worker's jobs (the derivation order is
`app/projection/pipeline.py`).

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
from app.worker.runner import Job

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


def worker_jobs() -> list[Job]:
    """The worker's jobs, in the order of one pass: derive pending customers first, so the
    time scans and the senders below see current state."""
    from app.cashback import jobs as cashback_jobs
    from app.lapse import jobs as lapse_jobs
    from app.ltv import jobs as ltv_jobs
    from app.projection import pipeline
    from app.stages import jobs as stage_jobs
    from app.touches import jobs as touch_jobs
    from app.webhooks import delivery

    return [
        Job("projection", pipeline.run_pending),
        Job("stages.review", stage_jobs.review_due_stages),
        Job("lapse.advance", lapse_jobs.advance_due),
        Job("cashback.announce", cashback_jobs.announce, every_seconds=60),
        Job("cashback.expire", cashback_jobs.expire, every_seconds=60),
        Job("touches.announce_due", touch_jobs.announce_due),
        Job("webhooks.fan_out", delivery.fan_out),
        Job("webhooks.deliver", delivery.deliver_due),
        Job("ltv.daily_refit", ltv_jobs.daily_refit, every_seconds=600),
    ]


def install_token_resolvers() -> None:
    """Customer tokens are resolved by the cashback domain that issues them."""
    from app.auth.principal import token_resolvers
    from app.cashback import service as cashback
    from app.cashback.tokens import PREFIX

    token_resolvers[PREFIX] = cashback.resolve_token
