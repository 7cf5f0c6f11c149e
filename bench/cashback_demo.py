"""`touchpoint demo`, then one pass of the worker's cashback jobs (announce, then expire).

Prints how many lots past their expiry still held value before and after the pass (none of it
is ever spendable: balances are computed from the lots at read), the time each job took, and
the `cashback.expiring` messages the pass wrote, checking that every one is for a future date.

    .venv/bin/python bench/cashback_demo.py [--postgres] [--customers 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app.cashback import expiry, ledger
from app.cashback.models import CashbackEntry
from app.core.db import create_database, utcnow
from app.core.outbox import OutboxMessage
from app.core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get(
    "TOUCHPOINT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_database(prefix: str) -> Iterator[tuple[str, str]]:
    """A new PostgreSQL database (migrated by the demo command itself), dropped after."""
    name = f"{prefix}_{os.getpid()}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    dsn = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        yield dsn, dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def database(postgres: bool) -> Iterator[str]:
    if postgres:
        with fresh_database("tp_bench_cashback") as (_, url):
            yield url
        return
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite+aiosqlite:///{tmp}/demo.db"


async def past_expiry(settings: Settings, now: datetime) -> tuple[int, int, int]:
    """(lots past expiry still holding value, their total, spendable kopecks among them)."""
    db = create_database(settings)
    async with db.sessionmaker() as s:
        count, total = (
            await s.execute(
                select(
                    func.count(), func.coalesce(func.sum(CashbackEntry.remaining_minor), 0)
                ).where(CashbackEntry.remaining_minor > 0, CashbackEntry.expires_at <= now)
            )
        ).one()
        lots = list(
            await s.scalars(
                select(CashbackEntry).where(
                    CashbackEntry.remaining_minor > 0, CashbackEntry.expires_at <= now
                )
            )
        )
        spendable = sum(
            lot.remaining_minor or 0 for lot in lots if ledger.lot_view(lot).spendable(now)
        )
    await db.dispose()
    return int(count), int(total), spendable


async def one_pass(settings: Settings) -> None:
    db = create_database(settings)
    now = utcnow()
    before = await past_expiry(settings, now)
    print(
        f"before the pass: {before[0]} lots past expiry hold {before[1] / 100:,.2f} (recorded "
        f"as expired by the pass); spendable among them: {before[2] / 100:,.2f}"
    )
    async with db.sessionmaker() as s:
        first_id = await s.scalar(select(func.coalesce(func.max(OutboxMessage.id), 0)))
    started = time.perf_counter()
    async with db.sessionmaker() as s, s.begin():
        announced = await expiry.announce_expiring(s, settings, now)
    announce_s = time.perf_counter() - started
    started = time.perf_counter()
    async with db.sessionmaker() as s, s.begin():
        expired = await expiry.expire_lots(s, now)
    expire_s = time.perf_counter() - started
    after = await past_expiry(settings, now)
    async with db.sessionmaker() as s:
        messages = list(
            await s.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.id > first_id, OutboxMessage.type == "cashback.expiring"
                )
            )
        )
    past = [m for m in messages if datetime.fromisoformat(m.payload["expires_at"]) <= now]
    pairs = {(m.customer_id, m.payload["expires_on"]) for m in messages}
    print(
        f"announce: {announced} cashback.expiring messages in {announce_s:.2f} s "
        f"({len(pairs)} distinct customer/date pairs, {len(past)} for a past date)"
    )
    print(f"expire: {expired} lots recorded as expired in {expire_s:.2f} s (one pass)")
    print(f"after the pass: {after[0]} lots past expiry hold {after[1] / 100:,.2f}")
    # A backlog: the same pass as if the worker had been stopped for half a year.
    later = now + timedelta(days=183)
    backlog = await past_expiry(settings, later)
    started = time.perf_counter()
    async with db.sessionmaker() as s, s.begin():
        swept = await expiry.expire_lots(s, later)
    backlog_s = time.perf_counter() - started
    left = await past_expiry(settings, later)
    print(
        f"backlog of half a year: {backlog[0]} lots ({backlog[1] / 100:,.2f}) swept: {swept} "
        f"in {backlog_s:.2f} s, one pass; {left[0]} left"
    )
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--customers", type=int, default=2000)
    args = parser.parse_args()
    with database(args.postgres) as url:
        env = {**os.environ, "TOUCHPOINT_DATABASE_URL": url}
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "app.cli", "demo", "--customers", str(args.customers)],
            check=True,
            cwd=ROOT,
            env=env,
            capture_output=True,
        )
        print(f"touchpoint demo: {time.perf_counter() - started:.1f} s")
        asyncio.run(one_pass(Settings(database_url=url)))


if __name__ == "__main__":
    main()
