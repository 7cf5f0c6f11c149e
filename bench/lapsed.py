"""The lapsed list over 1,000,000 customers on PostgreSQL, and the worker's lapse pass.

Fills a fresh database by COPY (not the API): N customers, a quarter of them not active. Times
GET /v1/customers/lapsed (first page and pages deep in the list, sorted by value at risk; median
of repeats) against a same-run baseline, GET /v1/customers/{id} (a primary-key read through the
same stack). Then makes 10,000 active customers due at once and times the worker until they are
all lapsed (one message each). Targets: a page under 20 ms; the pass under 10 s.

    .venv/bin/python bench/lapsed.py [--customers 1000000] [--due 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app.core.db import create_database
from app.core.settings import Settings
from app.lapse import jobs
from bench.common import (
    copy_connection,
    copy_customers,
    create_key,
    fresh_database,
    server,
    timed_get,
)


async def fill(dsn: str, n: int, due: int) -> None:
    rnd = random.Random(11)
    now = datetime.now(UTC)
    rows = []
    for i in range(n):
        interval = rnd.choice([2.0, 7.0, 30.0, 90.0, 365.0])
        check = rnd.randrange(30_000, 3_000_000)
        value = round(check * 365 / interval)
        if i < due:  # active today, due for the lapsed status now
            silent = interval * 3.5
            status, peak = "active", "active"
        else:
            silent = interval * rnd.choice([0.5, 0.8, 1.0, 2.0, 4.0, 8.0])
            status = (
                "active"
                if silent < 1.5 * interval
                else (
                    "at_risk"
                    if silent < 3 * interval
                    else ("lapsed" if silent < 6 * interval else "lost")
                )
            )
            peak = status
        last = now - timedelta(days=silent)
        at_risk = last + timedelta(days=1.5 * interval)
        lapse = last + timedelta(days=3 * interval)
        lost = last + timedelta(days=6 * interval)
        next_at = next((m for m in (at_risk, lapse, lost) if m > now), None)
        if i < due:
            next_at = lapse
        active = status == "active"
        rows.append(
            {
                "external_id": f"c{i}",
                "purchase_count": 4,
                "purchase_days": 4,
                "gross_revenue_minor": check * 4,
                "net_revenue_minor": check * 4,
                "avg_check_minor": check,
                "interval_count": 3,
                "stage": rnd.choice(["buyer", "client", "regular"]),
                "status": status,
                "episode_peak": peak,
                "value_at_risk_minor": value,
                "risk_value_minor": None if active else value,
                "risk_since": None if active else at_risk,
                "usual_interval_days": interval,
                "last_purchase_at": last,
                "at_risk_at": at_risk,
                "lapse_at": lapse,
                "lost_at": lost,
                "next_status_at": next_at,
                "main_category": rnd.choice(["coffee", "books", "furniture"]),
            }
        )
    conn = await copy_connection(dsn)
    await copy_customers(conn, rows)
    await conn.execute("VACUUM ANALYZE customers")
    await conn.close()


async def worker_pass(url: str) -> tuple[float, int]:
    settings = Settings(database_url=url)
    db = create_database(settings)
    t0 = time.perf_counter()
    total = 0
    while (handled := await jobs.advance_due(db, settings)) > 0:
        total += handled
    elapsed = time.perf_counter() - t0
    await db.dispose()
    return elapsed, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--due", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    with fresh_database() as (dsn, url):
        t0 = time.perf_counter()
        asyncio.run(fill(dsn, args.customers, args.due))
        print(f"filled {args.customers} customers in {time.perf_counter() - t0:.1f} s")
        key = create_key(url, "customers:read")
        with (
            server(url) as base,
            httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60
            ) as c,
        ):
            first = timed_get(c, "/v1/customers/lapsed", {"limit": "50"}, args.repeats)
            cursor = None
            for _ in range(200):  # walk 10,000 rows deep
                page = c.get(
                    "/v1/customers/lapsed",
                    params={"limit": "50", **({"cursor": cursor} if cursor else {})},
                ).json()
                cursor = page["next_cursor"]
            deep = timed_get(
                c, "/v1/customers/lapsed", {"limit": "50", "cursor": cursor or ""}, args.repeats
            )
            overdue = timed_get(
                c, "/v1/customers/lapsed", {"limit": "50", "sort": "overdue"}, args.repeats
            )
            status = timed_get(
                c, "/v1/customers/lapsed", {"limit": "50", "status": "lapsed"}, args.repeats
            )
            pk = timed_get(c, f"/v1/customers/c{args.customers // 2}", {}, args.repeats)
        elapsed, moved = asyncio.run(worker_pass(url))
    print(f"lapsed list, first page (50)      median {first:7.2f} ms (target < 20 ms)")
    print(f"lapsed list, page 201             median {deep:7.2f} ms")
    print(f"lapsed list, sort=overdue         median {overdue:7.2f} ms")
    print(f"lapsed list, status=lapsed        median {status:7.2f} ms")
    print(
        f"baseline GET /v1/customers/{{id}}   median {pk:7.2f} ms; "
        f"ratio first page / baseline {first / pk:.2f}"
    )
    print(f"worker: {moved} customers moved in {elapsed:.2f} s (target: {args.due} under 10 s)")


if __name__ == "__main__":
    main()
