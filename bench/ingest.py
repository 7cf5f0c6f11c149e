"""Ingest throughput: 1,000-event batches through the API vs raw asyncpg `executemany`.

Starts `touchpoint serve --no-worker` on a fresh PostgreSQL database, posts N events in
batches of 1,000 from C concurrent clients, then, in the same run, inserts the same rows with
raw asyncpg `executemany` (same C concurrent connections, same batch size) into a table of the
same shape as `events`. Prints events/s for both and the ratio (target ≥ 0.35, goal 0.5).

    .venv/bin/python bench/ingest.py [--events 100000] [--concurrency 4] [--customers 20000]
                                     [--workers 1]

`--workers` is the number of server processes (`touchpoint serve --workers N`).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import create_key, fresh_database, server

BATCH = 1000


def make_events(n: int, customers: int, seed: int = 7) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    start = datetime.now(UTC) - timedelta(days=700)
    events = []
    for i in range(n):
        cid = f"c{rnd.randrange(customers)}"
        at = (start + timedelta(seconds=rnd.randrange(600 * 86400))).isoformat()
        kind = rnd.random()
        base = {"event_id": f"bench-{i}", "customer_id": cid, "occurred_at": at}
        if kind < 0.6:
            base |= {
                "type": "purchase",
                "order_id": f"order-{i}",
                "amount": f"{rnd.randrange(100, 500000) / 100:.2f}",
                "currency": "RUB",
                "category": rnd.choice(["coffee", "books", "clothing", "furniture"]),
            }
        elif kind < 0.85:
            base |= {"type": "contact", "channel": "email", "direction": "outbound"}
        elif kind < 0.95:
            base |= {"type": "lead", "level": rnd.choice(["interest", "desire"])}
        else:
            base |= {"type": "profile", "email": f"{cid}@example.com"}
        events.append(base)
    return events


async def post_all(base: str, key: str, events: list[dict[str, Any]], concurrency: int) -> float:
    batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for b in batches:
        queue.put_nowait(b)
    accepted = 0

    async def client() -> None:
        nonlocal accepted
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=300
        ) as c:
            while not queue.empty():
                batch = queue.get_nowait()
                r = await c.post("/v1/events/batch", json={"events": batch})
                r.raise_for_status()
                accepted += r.json()["summary"]["accepted"]

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    if accepted != len(events):
        raise SystemExit(f"only {accepted} of {len(events)} events accepted")
    return elapsed


async def raw_executemany(dsn: str, events: list[dict[str, Any]], concurrency: int) -> float:
    setup = await asyncpg.connect(dsn)
    await setup.execute(
        "CREATE TABLE raw_events (LIKE events INCLUDING DEFAULTS INCLUDING INDEXES)"
    )
    await setup.close()
    rows = []
    now = datetime.now(UTC)
    for i, e in enumerate(events):
        payload = {k: v for k, v in e.items() if k not in ("event_id", "customer_id", "type")}
        body = json.dumps(e, sort_keys=True)
        rows.append(
            (
                e["event_id"],
                e["type"],
                1 + i % 1000,
                datetime.fromisoformat(e["occurred_at"]),
                now,
                hashlib.sha256(body.encode()).hexdigest(),
                json.dumps(payload),
            )
        )
    batches = [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]
    queue: asyncio.Queue[list[tuple[Any, ...]]] = asyncio.Queue()
    for b in batches:
        queue.put_nowait(b)
    sql = (
        "INSERT INTO raw_events (event_id, type, customer_id, occurred_at, received_at,"
        " body_hash, payload) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)"
    )

    async def worker() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            while not queue.empty():
                batch = queue.get_nowait()
                async with conn.transaction():
                    await conn.executemany(sql, batch)
        finally:
            await conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    events = make_events(args.events, args.customers)
    with fresh_database() as (dsn, url):
        key = create_key(url, "events:write")
        with server(url, workers=args.workers) as base:
            api_s = asyncio.run(post_all(base, key, events, args.concurrency))
        raw_s = asyncio.run(raw_executemany(dsn, events, args.concurrency))
    api_rate = len(events) / api_s
    raw_rate = len(events) / raw_s
    print(
        f"events: {len(events)}, batch: {BATCH}, concurrency: {args.concurrency}, "
        f"server processes: {args.workers}"
    )
    print(f"API  /v1/events/batch : {api_rate:10.0f} events/s ({api_s:.2f} s)")
    print(f"raw asyncpg executemany: {raw_rate:10.0f} events/s ({raw_s:.2f} s)")
    print(f"ratio API / raw: {api_rate / raw_rate:.3f} (target >= 0.35, goal 0.5)")


if __name__ == "__main__":
    main()
