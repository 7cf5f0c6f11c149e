"""`touchpoint serve --workers 2`: two processes answer on one port, over one database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.webhooks.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def test_two_server_processes_share_the_work(db_url: str) -> None:
    env = {
        **os.environ,
        "TOUCHPOINT_DATABASE_URL": db_url,
        "TOUCHPOINT_LOG_LEVEL": "WARNING",
        "TOUCHPOINT_RATE_LIMIT_PER_SECOND": "0",
    }
    key = subprocess.run(
        [sys.executable, "-m", "app.cli", "keys", "create", "--name", "t", "--scopes", "admin"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()[-1]
    port = free_port()
    command = [sys.executable, "-m", "app.cli", "serve", "--no-worker", "--workers", "2"]
    proc = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        # uvicorn's supervisor has two server processes under it (and a resource tracker).
        servers = [p for p in _children(proc.pid) if b"spawn_main" in _cmdline(p)]
        assert len(servers) == 2, [_cmdline(p) for p in _children(proc.pid)]
        h = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base, headers=h, timeout=60) as c:
            for b in range(4):
                events = [
                    {
                        "event_id": f"w-{b}-{i}",
                        "type": "purchase",
                        "customer_id": f"c{i % 10}",
                        "occurred_at": f"2026-01-0{b + 1}T10:00:{i:02d}Z",
                        "order_id": f"o-{b}-{i}",
                        "amount": "10.00",
                        "currency": "RUB",
                    }
                    for i in range(50)
                ]
                r = c.post("/v1/events/batch", json={"events": events})
                assert r.status_code == 200 and r.json()["summary"]["accepted"] == 50, r.text
            body = c.get("/v1/customers/c3").json()
        assert body["purchases"]["purchase_count"] == 20
        assert body["purchases"]["net_revenue"] == "200.00"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
