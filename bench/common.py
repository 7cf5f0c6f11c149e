"""Helpers shared by the benchmarks: throwaway PostgreSQL databases and a server subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from app.customers.repository import new_customer_row

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get(
    "TOUCHPOINT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_database(prefix: str = "tp_bench") -> Iterator[tuple[str, str]]:
    """A new, migrated PostgreSQL database: yields (asyncpg dsn, SQLAlchemy url); dropped after."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    dsn = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        subprocess.run(
            [sys.executable, "-m", "app.cli", "migrate"],
            check=True,
            cwd=ROOT,
            env={**os.environ, "TOUCHPOINT_DATABASE_URL": url},
            capture_output=True,
        )
        yield dsn, url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def create_key(url: str, scopes: str = "admin") -> str:
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "keys", "create", "--name", "bench", "--scopes", scopes],
        check=True,
        cwd=ROOT,
        env={**os.environ, "TOUCHPOINT_DATABASE_URL": url},
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


@contextlib.contextmanager
def server(url: str, extra_env: dict[str, str] | None = None, workers: int = 1) -> Iterator[str]:
    """`touchpoint serve --no-worker [--workers N]` on a free loopback port; yields its URL."""
    port = free_port()
    env = {**os.environ, "TOUCHPOINT_DATABASE_URL": url, "TOUCHPOINT_LOG_LEVEL": "WARNING"}
    env.update(extra_env or {})
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "app.cli", "serve", "--no-worker"),
            *("--port", str(port), "--workers", str(workers)),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}"
                )
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError("server did not become ready in 60 s")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def median_ms(call: Callable[[], object], repeats: int) -> float:
    """Median wall time of `call` in milliseconds, after one warm-up call."""
    call()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def timed_get(client: httpx.Client, path: str, params: dict[str, str], repeats: int) -> float:
    """Median milliseconds of a GET that must succeed."""
    return median_ms(lambda: client.get(path, params=params).raise_for_status(), repeats)


async def copy_connection(dsn: str) -> asyncpg.Connection:
    """A connection for bulk COPY: jsonb values are given as ready binary (b"\\x01{...}")."""
    conn = await asyncpg.connect(dsn)
    await conn.set_type_codec(
        "jsonb", encoder=lambda v: v, decoder=lambda b: b, schema="pg_catalog", format="binary"
    )
    return conn


async def copy_customers(conn: asyncpg.Connection, records: list[dict[str, Any]]) -> None:
    """COPY customers: each record's values over the columns of a brand-new customer."""
    now = datetime.now(UTC)
    base = new_customer_row("", now) | {"profile_versions": b"\x01{}"}
    extra = sorted({key for r in records for key in r} - set(base))
    columns = [*base, *extra]
    rows = [tuple({**base, **r}.get(c) for c in columns) for r in records]
    await conn.copy_records_to_table("customers", records=rows, columns=columns)


@contextlib.contextmanager
def worker_process(url: str) -> Iterator[None]:
    """One `touchpoint worker` process against `url` for the duration of the block."""
    env = {**os.environ, "TOUCHPOINT_DATABASE_URL": url, "TOUCHPOINT_LOG_LEVEL": "WARNING"}
    env["TOUCHPOINT_WORKER_POLL_SECONDS"] = "0.1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
