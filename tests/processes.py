"""The service as real processes: an API key made by the CLI, `touchpoint serve` on a port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def cli_key(url: str) -> str:
    env = {**os.environ, "TOUCHPOINT_DATABASE_URL": url}
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "keys", "create", "--name", "t", "--scopes", "admin"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def serve(
    url: str, port: int, *extra: str, env_extra: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TOUCHPOINT_DATABASE_URL": url,
        "TOUCHPOINT_LOG_LEVEL": "WARNING",
        "TOUCHPOINT_RATE_LIMIT_PER_SECOND": "0",
        **(env_extra or {}),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")
