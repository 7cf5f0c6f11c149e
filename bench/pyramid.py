"""The retention pyramid over N customers on PostgreSQL (target: under 200 ms for 100,000).

Fills a fresh database with N customers spread over the ladder (bulk COPY, not the API),
serves it with `touchpoint serve --no-worker`, and times GET /v1/analytics/pyramid (median of
repeats) against a same-run baseline: GET /healthz on the same server (the HTTP floor) and a bare
`SELECT count(*) FROM customers` over asyncpg.

    .venv/bin/python bench/pyramid.py [--customers 100000] [--repeats 30]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import (
    copy_connection,
    copy_customers,
    create_key,
    fresh_database,
    median_ms,
    server,
)

STAGES = ["prospect", "lead", "hot_lead", "buyer", "client", "regular", "adherent", "advocate"]
WEIGHTS = [30, 15, 8, 25, 12, 6, 3, 1]


async def fill(dsn: str, n: int) -> None:
    rnd = random.Random(5)
    datetime.now(UTC)
    rows = []
    for i in range(n):
        stage = rnd.choices(STAGES, WEIGHTS)[0]
        rank = STAGES.index(stage)
        purchases = 0 if rank < 3 else rank - 2 + rnd.randrange(3)
        revenue = purchases * rnd.randrange(50_000, 500_000)
        rows.append(
            {
                "external_id": f"c{i}",
                "purchase_count": purchases,
                "purchase_days": purchases,
                "gross_revenue_minor": revenue,
                "net_revenue_minor": revenue,
                "avg_check_minor": revenue // max(purchases, 1),
                "stage": stage,
            }
        )
    conn = await copy_connection(dsn)
    await copy_customers(conn, rows)
    await conn.execute("ANALYZE customers")
    await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    with fresh_database() as (dsn, url):
        asyncio.run(fill(dsn, args.customers))
        key = create_key(url, "customers:read")
        with (
            server(url) as base,
            httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60
            ) as c,
        ):
            body = c.get("/v1/analytics/pyramid").json()
            assert body["customers"] == args.customers, body
            pyramid = median_ms(
                lambda: c.get("/v1/analytics/pyramid").raise_for_status(), args.repeats
            )
            health = median_ms(lambda: c.get("/healthz").raise_for_status(), args.repeats)

        async def count() -> float:
            conn = await asyncpg.connect(dsn)
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                await conn.fetchval("SELECT count(*) FROM customers")
                times.append((time.perf_counter() - t0) * 1000)
            await conn.close()
            return statistics.median(times)

        bare = asyncio.run(count())
    print(f"customers: {args.customers}")
    print(f"GET /v1/analytics/pyramid   median {pyramid:8.2f} ms (target < 200 ms)")
    print(f"GET /healthz (HTTP floor)   median {health:8.2f} ms")
    print(f"SELECT count(*) (asyncpg)   median {bare:8.2f} ms")
    print(f"ratio pyramid / count(*): {pyramid / bare:.2f}")


if __name__ == "__main__":
    main()
