"""`touchpoint serve --workers 2`: two processes answer on one port, over one database."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.processes import cli_key, serve
from tests.webhooks.servers import free_port


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
    key = cli_key(db_url)
    port = free_port()
    proc = serve(db_url, port, "--no-worker", "--workers", "2")
    base = f"http://127.0.0.1:{port}"
    try:
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
