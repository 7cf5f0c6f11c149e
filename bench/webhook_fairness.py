"""Webhook fairness: a standard endpoint's delivery rate with and without a Bitrix24 endpoint
at its rate limit, measured in one run (target: within 20 %).

The worker loop runs the webhook jobs (`fan_out`, `deliver_due`) against a fresh PostgreSQL
database. The standard endpoint is a loopback receiver that answers at once; the Bitrix24
endpoint is the tests' fake portal (leaky bucket 50 / 2 a second, each answer `--portal-delay`
seconds late), whose bucket is full from the start, so every one of its requests waits for a
slot. Each phase sends `--messages` messages and times how long the standard receiver takes to
get them all; the phases alternate (`--rounds` times each) and their medians are compared, so
a change in the machine's load during the run weighs on both sides.

    .venv/bin/python bench/webhook_fairness.py [--messages 300] [--rounds 3] [--portal-delay 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import asyncpg

from app.core.db import Database, create_database, utcnow
from app.core.migrate import upgrade
from app.core.outbox import emit
from app.core.settings import Settings
from app.webhooks import delivery, signing
from app.webhooks.models import WebhookEndpoint
from app.webhooks.pacing import bitrix_bucket
from app.worker.runner import Job, Worker
from tests.webhooks.servers import FakeBitrix, Receiver

PG_ADMIN = os.environ.get(
    "TOUCHPOINT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A new PostgreSQL database migrated to head (its SQLAlchemy URL), dropped afterwards."""
    name = f"tp_bench_fair_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + name
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


JOBS = [Job("webhooks.fan_out", delivery.fan_out), Job("webhooks.deliver", delivery.deliver_due)]


async def add_endpoint(db: Database, url: str, kind: str) -> int:
    async with db.sessionmaker() as s, s.begin():
        endpoint = WebhookEndpoint(
            url=url,
            kind=kind,
            event_types=[],
            secret=signing.new_secret(),
            bitrix_plan="standard" if kind == "bitrix24" else None,
        )
        s.add(endpoint)
        await s.flush()
        return int(endpoint.id)


async def set_bitrix(db: Database, endpoint_id: int, enabled: bool) -> None:
    """Switch the portal endpoint; switched on, its bucket starts full (at its rate limit)."""
    async with db.sessionmaker() as s, s.begin():
        endpoint = await s.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None
        endpoint.enabled = enabled
        bucket = bitrix_bucket("standard")
        endpoint.next_send_at = utcnow() + timedelta(seconds=bucket.usable / bucket.per_second)


async def phase(
    db: Database, settings: Settings, receiver: Receiver, messages: int, label: str
) -> float:
    reached = threading.Event()
    target = len(receiver.requests) + messages

    def respond(n: int) -> tuple[int, dict[str, str]]:
        if n >= target:
            reached.set()
        return 200, {}

    receiver.respond = respond
    async with db.sessionmaker() as s, s.begin():
        for n in range(messages):
            await emit(
                s, "customer.at_risk", {"customer_id": "c1", "status": "at_risk", "n": n}, "c1"
            )
    worker = Worker(db, settings, JOBS)
    started = time.perf_counter()
    task = asyncio.create_task(worker.run())
    await asyncio.to_thread(reached.wait)
    elapsed = time.perf_counter() - started
    worker.stop()
    await task
    rate = messages / elapsed
    print(
        f"{label}: {messages} deliveries to the standard endpoint in {elapsed:.2f} s = {rate:.1f}/s"
    )
    return rate


async def run(url: str, messages: int, portal_delay: float, rounds: int) -> None:
    settings = Settings(
        database_url=url, env="test", webhook_allow_private=True, worker_poll_seconds=0.05
    )
    db = create_database(settings)
    receiver, portal = Receiver(), FakeBitrix(drain_per_second=2.0, capacity=50.0)
    original = portal.handle

    def slow_handle(path: str, headers: dict[str, str], body: bytes):  # type: ignore[no-untyped-def]
        time.sleep(portal_delay)
        return original(path, headers, body)

    portal.handle = slow_handle  # type: ignore[method-assign]
    receiver.start()
    portal.start()
    try:
        await add_endpoint(db, receiver.url, "standard")
        bitrix_id = await add_endpoint(db, portal.url + "rest/1/bench/", "bitrix24")
        alone, shared = [], []
        for n in range(1, rounds + 1):
            await set_bitrix(db, bitrix_id, enabled=False)
            alone.append(await phase(db, settings, receiver, messages, f"{n}. alone"))
            await set_bitrix(db, bitrix_id, enabled=True)
            shared.append(
                await phase(db, settings, receiver, messages, f"{n}. with Bitrix24 at its limit")
            )
        ratio = statistics.median(shared) / statistics.median(alone)
        print(
            f"medians: alone {statistics.median(alone):.1f}/s, with Bitrix24 "
            f"{statistics.median(shared):.1f}/s; ratio {ratio:.3f} "
            f"(target >= 0.80: {'met' if ratio >= 0.8 else 'NOT met'}); portal: "
            f"{portal.requests} requests, {len(portal.comments)} comments, "
            f"{portal.limit_errors} QUERY_LIMIT_EXCEEDED"
        )
    finally:
        receiver.stop()
        portal.stop()
        await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--portal-delay", type=float, default=0.2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with fresh_database() as url:
        asyncio.run(run(url, args.messages, args.portal_delay, args.rounds))
