"""Mixed load from a second process against a server on PostgreSQL, on loopback.

Starts `touchpoint serve --no-worker` on a fresh PostgreSQL database, seeds customers, then:
1. the bare endpoint (GET /healthz: FastAPI and the same middleware, no database) alone;
2. customer reads (GET /v1/customers/{id}) alone — target ≥ 0.5 of the bare throughput;
3. a mixed load: ingest batches, customer reads, next-touch and lapsed pages together.
Prints throughput and p50/p99 per route, counts 5xx, and afterwards counts the events stored:
every acknowledged event exactly once.

    .venv/bin/python bench/load.py [--seconds 10] [--concurrency 16] [--customers 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import create_key, fresh_database, server


class Stats:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.server_errors = 0
        self.accepted: set[str] = set()

    def report(self, seconds: float) -> dict[str, float]:
        rates = {}
        for route, lat in sorted(self.latency.items()):
            lat.sort()
            p50 = statistics.median(lat) * 1000
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
            rates[route] = len(lat) / seconds
            errors = f"  errors {self.errors[route]}" if self.errors[route] else ""
            print(
                f"  {route:32s} {len(lat) / seconds:8.1f} req/s  "
                f"p50 {p50:7.2f} ms  p99 {p99:7.2f} ms{errors}"
            )
        return rates


async def run(
    base: str,
    key: str,
    seconds: float,
    concurrency: int,
    picks: list[str],
    customers: int,
    stats: Stats,
    seq: list[int],
) -> None:
    deadline = time.monotonic() + seconds
    rnd = random.Random(len(picks))
    now = datetime.now(UTC)

    async def one(c: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            kind = rnd.choice(picks)
            cid = f"c{rnd.randrange(customers)}"
            t0 = time.perf_counter()
            if kind == "bare":
                r = await c.get("/healthz")
            elif kind == "read":
                r = await c.get(f"/v1/customers/{cid}")
            elif kind == "next-touch":
                r = await c.get(f"/v1/customers/{cid}/next-touch")
            elif kind == "lapsed":
                r = await c.get("/v1/customers/lapsed", params={"limit": 50})
            else:
                events = []
                for _ in range(100):
                    seq[0] += 1
                    events.append(
                        {
                            "event_id": f"load-{seq[0]}",
                            "type": "purchase",
                            "customer_id": f"c{rnd.randrange(customers)}",
                            "occurred_at": (now - timedelta(days=rnd.randrange(300))).isoformat(),
                            "order_id": f"lo-{seq[0]}",
                            "amount": "990.00",
                            "currency": "RUB",
                            "category": "coffee",
                        }
                    )
                r = await c.post("/v1/events/batch", json={"events": events})
                if r.status_code == 200:
                    stats.accepted.update(
                        x["event_id"] for x in r.json()["results"] if x["status"] == "accepted"
                    )
            stats.latency[kind].append(time.perf_counter() - t0)
            if r.status_code >= 500:
                stats.server_errors += 1
                stats.errors[kind] += 1
            elif r.status_code >= 400 and r.status_code != 404:
                stats.errors[kind] += 1

    async with httpx.AsyncClient(
        base_url=base,
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
        limits=httpx.Limits(max_connections=concurrency),
    ) as c:
        await asyncio.gather(*(one(c) for _ in range(concurrency)))


async def seed(base: str, key: str, customers: int) -> None:
    now = datetime.now(UTC)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120
    ) as c:
        for start in range(0, customers, 500):
            events = [
                {
                    "event_id": f"seed-{i}",
                    "type": "purchase",
                    "customer_id": f"c{i}",
                    "occurred_at": (now - timedelta(days=40 + i % 200)).isoformat(),
                    "order_id": f"so-{i}",
                    "amount": "1500.00",
                    "currency": "RUB",
                    "category": "coffee",
                }
                for i in range(start, min(start + 500, customers))
            ]
            (await c.post("/v1/events/batch", json={"events": events})).raise_for_status()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--customers", type=int, default=2000)
    args = ap.parse_args()
    seq = [0]
    with fresh_database() as (dsn, url):
        key = create_key(url, "admin")
        env = {"TOUCHPOINT_RATE_LIMIT_PER_SECOND": "0", "TOUCHPOINT_DB_POOL_SIZE": "20"}
        with server(url, env) as base:
            asyncio.run(seed(base, key, args.customers))
            phases = {}
            for name, picks in (
                ("bare endpoint", ["bare"]),
                ("customer reads", ["read"]),
                ("mixed", ["ingest", "read", "read", "read", "next-touch", "lapsed"]),
            ):
                stats = Stats()
                asyncio.run(
                    run(
                        base, key, args.seconds, args.concurrency, picks, args.customers, stats, seq
                    )
                )
                print(f"{name}:")
                phases[name] = (stats.report(args.seconds), stats)

        async def stored() -> int:
            conn = await asyncpg.connect(dsn)
            try:
                return int(
                    await conn.fetchval("SELECT count(*) FROM events WHERE event_id LIKE 'load-%'")
                )
            finally:
                await conn.close()

        in_db = asyncio.run(stored())
    mixed = phases["mixed"][1]
    bare = phases["bare endpoint"][0]["bare"]
    reads = phases["customer reads"][0]["read"]
    print(f"customer reads / bare endpoint: {reads / bare:.2f} (target >= 0.5)")
    print(f"5xx: {sum(p[1].server_errors for p in phases.values())}")
    print(
        f"events acknowledged: {len(mixed.accepted)}, stored: {in_db} "
        f"({'none lost or doubled' if in_db == len(mixed.accepted) else 'MISMATCH'})"
    )


if __name__ == "__main__":
    main()
