"""`touchpoint serve --workers 2`: two processes answer on one port, over one database."""

from __future__ import annotations

import http.client
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
    try:
        # uvicorn's supervisor has two server processes under it (and a resource tracker).
        servers = [p for p in _children(proc.pid) if b"spawn_main" in _cmdline(p)]
        assert len(servers) == 2, [_cmdline(p) for p in _children(proc.pid)]
        # Batches on fresh connections until each process has answered at least one; which
        # process answered is the one holding the server end of the connection.
        answered_by: list[int] = []
        for b in range(300):  # until the second process has started too
            events = [
                {
                    "event_id": f"w-{b}-{i}",
                    "type": "purchase",
                    "customer_id": f"c{i % 10}",
                    "occurred_at": (START + timedelta(hours=b, seconds=i)).isoformat(),
                    "order_id": f"o-{b}-{i}",
                    "amount": "10.00",
                    "currency": "RUB",
                }
                for i in range(20)
            ]
            status, body, pid = _post(port, key, "/v1/events/batch", {"events": events}, servers)
            assert status == 200 and body["summary"]["accepted"] == 20, body
            answered_by.append(pid)
            if set(answered_by) == set(servers):
                break
        assert set(answered_by) == set(servers), answered_by
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            customer = c.get("/v1/customers/c3", headers={"Authorization": f"Bearer {key}"})
        # Both processes wrote to the one database: every batch counts.
        assert customer.json()["purchases"]["purchase_count"] == 2 * len(answered_by)
        assert customer.json()["purchases"]["net_revenue"] == f"{20 * len(answered_by)}.00"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


START = datetime(2026, 1, 1, 10, tzinfo=UTC)


def _post(port: int, key: str, path: str, body: Any, servers: list[int]) -> tuple[int, Any, int]:
    """POST on a new connection; (status, JSON body, pid of the server process that holds
    the connection's server end), found through /proc before the connection closes."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(
            "POST",
            path,
            body=json.dumps(body),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        payload = json.loads(response.read())
        assert conn.sock is not None
        pid = _server_end_owner(port, conn.sock.getsockname()[1], servers)
        return response.status, payload, pid
    finally:
        conn.close()


def _server_end_owner(server_port: int, client_port: int, servers: list[int]) -> int:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if (
                int(local.rsplit(":", 1)[1], 16) == server_port
                and int(remote.rsplit(":", 1)[1], 16) == client_port
            ):
                inodes.add(f"socket:[{inode}]")
    assert len(inodes) == 1, inodes
    owners = [
        pid
        for pid in servers
        for fd in Path(f"/proc/{pid}/fd").iterdir()
        if _readlink(fd) in inodes
    ]
    assert len(owners) == 1, owners
    return owners[0]


def _readlink(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
