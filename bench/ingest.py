"""Ingest throughput: 1,000-event batches through the API vs raw asyncpg `executemany`.

Starts `touchpoint serve --no-worker` and one `touchpoint worker` process on a fresh
PostgreSQL database, posts N events in batches of 1,000 from C concurrent clients, and
measures:
- acknowledged events/s (the answers: facts stored, customers marked pending);
- derived events/s: events posted divided by the time from the first post until the
  projection's backlog is empty (the worker runs all along);
- the projection lag while posting at half the acknowledged rate for `--lag-seconds`:
  the age of the oldest pending mark sampled every 0.25 s, its p50, p99 and maximum;
then, in the same run, inserts the same rows with raw asyncpg `executemany` (same C
concurrent connections, same batch size) into a table of the same shape as `events`, and
prints each rate's ratio to it (acknowledged: target >= 0.25, goal 0.5; derived: target >=
0.1, goal 0.25).

    .venv/bin/python bench/ingest.py [--events 100000] [--concurrency 4] [--customers 20000]
                                     [--workers 1] [--lag-seconds 60]

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
from bench.common import create_key, fresh_database, server, worker_process

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


async def backlog(dsn: str) -> tuple[int, float]:
    """(marks pending, age in seconds of the oldest) straight from the database."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT count(*), EXTRACT(EPOCH FROM now() - min(marked_at)) FROM pending_marks"
        )
    finally:
        await conn.close()
    assert row is not None
    return int(row[0]), float(row[1] or 0.0)


async def until_derived(dsn: str, started: float, limit_s: float = 1800) -> float:
    """Seconds from `started` until no mark is pending."""
    while time.perf_counter() - started < limit_s:
        pending, _ = await backlog(dsn)
        if pending == 0:
            return time.perf_counter() - started
        await asyncio.sleep(0.1)
    raise SystemExit(f"backlog not empty after {limit_s:.0f} s")


async def lag_at_rate(
    base: str, key: str, events: list[dict[str, Any]], rate: float, seconds: float, dsn: str
) -> list[float]:
    """Post batches at `rate` events/s for `seconds`, sampling the projection lag."""
    samples: list[float] = []
    interval = BATCH / rate
    batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
    stop = time.perf_counter() + seconds

    async def sample() -> None:
        while time.perf_counter() < stop:
            samples.append((await backlog(dsn))[1])
            await asyncio.sleep(0.25)

    async def post() -> None:
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=300
        ) as c:
            nxt = time.perf_counter()
            for batch in batches:
                if time.perf_counter() >= stop:
                    return
                r = await c.post("/v1/events/batch", json={"events": batch})
                r.raise_for_status()
                nxt += interval
                await asyncio.sleep(max(0.0, nxt - time.perf_counter()))

    await asyncio.gather(sample(), post())
    return samples


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


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
    ap.add_argument("--lag-seconds", type=float, default=60.0)
    args = ap.parse_args()
    events = make_events(args.events, args.customers)
    later = [
        e | {"event_id": f"lag-{e['event_id']}", "order_id": f"lag-{i}"}
        if "order_id" in e
        else e | {"event_id": f"lag-{e['event_id']}"}
        for i, e in enumerate(events)
    ]
    # The per-key rate limit is for shops, not for a benchmark's one key.
    limits = {"TOUCHPOINT_RATE_LIMIT_PER_SECOND": "0"}
    with fresh_database() as (dsn, url):
        key = create_key(url, "events:write")
        with server(url, extra_env=limits, workers=args.workers) as base, worker_process(url):
            started = time.perf_counter()
            api_s = asyncio.run(post_all(base, key, events, args.concurrency))
            derived_s = asyncio.run(until_derived(dsn, started))
            lags = asyncio.run(
                lag_at_rate(base, key, later, len(events) / api_s / 2, args.lag_seconds, dsn)
            )
        raw_s = asyncio.run(raw_executemany(dsn, events, args.concurrency))
    api_rate = len(events) / api_s
    derived_rate = len(events) / derived_s
    raw_rate = len(events) / raw_s
    print(
        f"events: {len(events)}, batch: {BATCH}, concurrency: {args.concurrency}, "
        f"server processes: {args.workers}, worker processes: 1"
    )
    print(f"API acknowledged       : {api_rate:10.0f} events/s ({api_s:.2f} s)")
    print(f"derived (backlog empty): {derived_rate:10.0f} events/s ({derived_s:.2f} s)")
    print(f"raw asyncpg executemany: {raw_rate:10.0f} events/s ({raw_s:.2f} s)")
    print(f"ratio acknowledged / raw: {api_rate / raw_rate:.3f} (target >= 0.25, goal 0.5)")
    print(f"ratio derived / raw     : {derived_rate / raw_rate:.3f} (target >= 0.1, goal 0.25)")
    print(
        f"projection lag at {api_rate / 2:.0f} events/s for {args.lag_seconds:.0f} s: "
        f"p50 {percentile(lags, 0.5):.2f} s, p99 {percentile(lags, 0.99):.2f} s, "
        f"max {max(lags, default=0.0):.2f} s ({len(lags)} samples; target p99 < 2 s)"
    )


if __name__ == "__main__":
    main()
