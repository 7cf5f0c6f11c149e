"""Faults with real processes: a database restarted under load, a worker killed mid-batch, a
graceful shutdown with a request in flight."""

from __future__ import annotations

import asyncio
import glob
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.processes import LogLines, cli_key, serve
from tests.webhooks.servers import Receiver, free_port

ROOT = Path(__file__).resolve().parents[2]
REQUIRE_PG = os.environ.get("TOUCHPOINT_TEST_REQUIRE_POSTGRES") == "1"
BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def _as_postgres(*cmd: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


class Cluster:
    """A throwaway PostgreSQL on its own port, so stopping it disturbs nobody else."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="tp-pg-")
        os.chmod(self.dir, 0o777)
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.bin = BIN[-1]
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(
            _as_postgres(f"{self.bin}/initdb", "-A", "trust", "-U", "postgres", "-D", self.data),
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        subprocess.run(
            _as_postgres(
                f"{self.bin}/pg_ctl",
                "-D",
                self.data,
                "-w",
                "-l",
                os.path.join(self.dir, "log"),
                "-o",
                f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1",
                "start",
            ),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            _as_postgres(f"{self.bin}/pg_ctl", "-D", self.data, "-w", "-m", "fast", "stop"),
            check=False,
            capture_output=True,
        )

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if not BIN or (shutil.which("runuser") is None and os.geteuid() == 0):
        if REQUIRE_PG:
            raise RuntimeError("PostgreSQL server binaries are needed for the fault tests")
        pytest.skip("PostgreSQL server binaries not installed")
    c = Cluster()
    c.start()
    yield c
    c.cleanup()


def _event(i: int) -> dict[str, object]:
    return {
        "event_id": f"f-{i}",
        "type": "purchase",
        "customer_id": f"c{i % 50}",
        "occurred_at": datetime.now(UTC).isoformat(),
        "order_id": f"fo-{i}",
        "amount": "10.00",
        "currency": "RUB",
    }


async def test_database_restart_under_load_loses_no_acknowledged_event(cluster: Cluster) -> None:
    key = cli_key(cluster.url)
    port = free_port()
    proc = serve(cluster.url, port, "--no-worker")
    acknowledged: set[str] = set()
    statuses: Counter[int] = Counter()
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            timeout=10,
            headers={"Authorization": f"Bearer {key}"},
        ) as c:

            async def load(offset: int) -> None:
                for i in range(offset, offset + 2400, 4):
                    try:
                        r = await c.post("/v1/events", json=_event(i))
                    except httpx.HTTPError:
                        statuses[0] += 1
                        continue
                    statuses[r.status_code] += 1
                    if r.status_code in (200, 201):
                        acknowledged.add(f"f-{i}")
                    if i > offset + 1200 and len(acknowledged) > 200:
                        return

            async def restart() -> None:
                await asyncio.sleep(1.0)
                await asyncio.to_thread(cluster.stop)
                await asyncio.sleep(1.0)
                await asyncio.to_thread(cluster.start)

            await asyncio.gather(load(0), load(1), load(2), load(3), restart())
            # The service recovered by itself: a request after the restart succeeds.
            ok = await c.post("/v1/events", json=_event(99_999))
            assert ok.status_code == 201
            acknowledged.add("f-99999")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    conn = await asyncpg.connect(cluster.url.replace("+asyncpg", ""))
    try:
        stored = Counter(r["event_id"] for r in await conn.fetch("SELECT event_id FROM events"))
    finally:
        await conn.close()
    assert statuses[500] == 0, statuses
    assert acknowledged <= set(stored), "an acknowledged event was lost"
    assert set(stored.values()) == {1}
    assert statuses[503] + statuses[0] > 0, f"the restart was not felt: {statuses}"


async def test_graceful_shutdown_finishes_the_request_in_flight(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"
    key = cli_key(url)
    port = free_port()
    proc = serve(url, port, "--no-worker", env_extra={"TOUCHPOINT_LOG_LEVEL": "INFO"}, logs=True)
    log = LogLines(proc)
    body = json.dumps({"events": [_event(i) for i in range(1000)]}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        # With `Expect: 100-continue` the server says "100 Continue" only when the endpoint
        # starts reading the body: past authentication, the batch is in flight.
        writer.write(
            (
                "POST /v1/events/batch HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\n"
                f"Authorization: Bearer {key}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n"
                "Expect: 100-continue\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
        assert interim.startswith(b"HTTP/1.1 100 "), interim
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(log.wait_for, "Shutting down")
        # Only now does the body leave: the server is shutting down with the batch in flight.
        writer.write(body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 60)  # to the end: the server closes
    finally:
        writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    assert json.loads(payload)["summary"] == {"accepted": 1000, "duplicate": 0, "rejected": 0}
    # uvicorn re-raises SIGTERM once it has shut down cleanly, hence -SIGTERM as exit status.
    assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
    # The batch was answered after shutdown began (the body left only once it had).
    answered = log.wait_for('"route": "/v1/events/batch"')
    assert log.lines.index(log.wait_for("Shutting down")) < log.lines.index(answered)
    conn = sqlite3.connect(tmp_path / "g.db")
    try:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (1000,)
    finally:
        conn.close()


async def test_a_worker_killed_mid_batch_loses_nothing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"
    key = cli_key(url)
    receiver = Receiver(lambda n: (time.sleep(0.05), (200, {}))[1])
    receiver.start()
    port = free_port()
    env = {
        "TOUCHPOINT_WEBHOOK_ALLOW_PRIVATE": "true",
        "TOUCHPOINT_WEBHOOK_LEASE_SECONDS": "2",
        # An endpoint's lane is leased for the messages it claimed (lease + one timeout each):
        # with the receiver answering in 50 ms, a short timeout keeps the killed worker's
        # lease, and the wait below, short.
        "TOUCHPOINT_WEBHOOK_TIMEOUT_SECONDS": "0.5",
        "TOUCHPOINT_WORKER_POLL_SECONDS": "0.1",
    }
    api = serve(url, port, "--no-worker", env_extra=env)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            timeout=30,
            headers={"Authorization": f"Bearer {key}"},
        ) as c:
            r = await c.post(
                "/v1/webhooks/endpoints",
                json={"url": receiver.url, "event_types": ["cashback.earned"]},
            )
            assert r.status_code == 201
            events = [_event(i) | {"amount": "1000.00"} for i in range(120)]
            assert (await c.post("/v1/events/batch", json={"events": events})).status_code == 200
        worker_env = {
            **os.environ,
            "TOUCHPOINT_DATABASE_URL": url,
            "TOUCHPOINT_LOG_LEVEL": "WARNING",
            **env,
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            cwd=ROOT,
            env=worker_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(300):
            if len(receiver.requests) >= 20:
                break
            await asyncio.sleep(0.05)
        worker.kill()  # mid-batch: some deliveries are leased, one may be on the wire
        worker.wait()
        got_before = len(receiver.requests)
        assert 0 < got_before < 120
        worker = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            cwd=ROOT,
            env=worker_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2400):  # bounded: the lease of the killed worker's lane runs out first
            if len({h["webhook-id"] for h, _ in receiver.requests}) >= 120:
                break
            await asyncio.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    finally:
        api.terminate()
        api.wait(timeout=30)
        receiver.stop()
    ids = Counter(h["webhook-id"] for h, _ in receiver.requests)
    assert len(ids) == 120  # nothing lost
    # At-least-once: only what was on the wire when the worker died can arrive twice, and the
    # receiver deduplicates it by webhook-id.
    assert sum(n - 1 for n in ids.values()) <= 1
