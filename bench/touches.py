"""The CRM's due-touch queue over 1,000,000 customers on PostgreSQL (target: < 20 ms a page).

Fills a fresh database by COPY (not the API): N customers with one planned touch each, due
times spread over two months around now. Times GET /v1/touches/due (first page, a page 200
deep, one channel) against a same-run baseline, GET /v1/customers/{id} (a primary-key read
through the same stack); medians of repeats.

    .venv/bin/python bench/touches.py [--customers 1000000]
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
from bench.common import (
    copy_connection,
    copy_customers,
    create_key,
    fresh_database,
    server,
    timed_get,
)

TOUCH_COLUMNS = [
    "customer_id",
    "playbook",
    "step",
    "reason_key",
    "reason",
    "script",
    "channel",
    "priority",
    "needs_new_reason",
    "due_at",
    "status",
    "announced",
    "created_at",
]


async def fill(dsn: str, n: int) -> None:
    rnd = random.Random(3)
    now = datetime.now(UTC)
    conn = await copy_connection(dsn)
    await copy_customers(
        conn,
        [
            {"external_id": f"c{i}", "purchase_count": 1, "purchase_days": 1, "stage": "buyer"}
            for i in range(n)
        ],
    )
    ids = [r["id"] for r in await conn.fetch("SELECT id FROM customers ORDER BY id")]
    channels = ["email", "call", "sms", "messenger", "push", "paper_mail"]
    touches = [
        (
            pk,
            "regular",
            1,
            "novelty",
            "a novelty in their favourite category",
            b'\x01["Present it"]',
            rnd.choice(channels),
            3,
            False,
            now + timedelta(minutes=rnd.randint(-43200, 43200)),
            "planned",
            False,
            now,
        )
        for pk in ids
    ]
    await conn.copy_records_to_table("touches", records=touches, columns=TOUCH_COLUMNS)
    await conn.execute("VACUUM ANALYZE")
    await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    with fresh_database() as (dsn, url):
        t0 = time.perf_counter()
        asyncio.run(fill(dsn, args.customers))
        print(f"filled {args.customers} customers and touches in {time.perf_counter() - t0:.1f} s")
        key = create_key(url, "touches:read,customers:read")
        with (
            server(url) as base,
            httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60
            ) as c,
        ):
            first = timed_get(c, "/v1/touches/due", {"limit": "50"}, args.repeats)
            cursor = None
            for _ in range(200):
                params = {"limit": "50", **({"cursor": cursor} if cursor else {})}
                cursor = c.get("/v1/touches/due", params=params).json()["next_cursor"]
            deep = timed_get(
                c, "/v1/touches/due", {"limit": "50", "cursor": cursor or ""}, args.repeats
            )
            by_channel = timed_get(
                c, "/v1/touches/due", {"limit": "50", "channel": "call"}, args.repeats
            )
            pk = timed_get(c, f"/v1/customers/c{args.customers // 2}", {}, args.repeats)
    print(f"due queue, first page (50)   median {first:7.2f} ms (target < 20 ms)")
    print(f"due queue, page 201          median {deep:7.2f} ms")
    print(f"due queue, channel=call      median {by_channel:7.2f} ms")
    print(f"baseline GET /v1/customers/{{id}} median {pk:7.2f} ms; ratio {first / pk:.2f}")


if __name__ == "__main__":
    main()
