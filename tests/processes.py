"""The service as real processes: an API key made by the CLI, `touchpoint serve` on a port."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

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
    url: str,
    port: int,
    *extra: str,
    env_extra: dict[str, str] | None = None,
    logs: bool = False,
) -> subprocess.Popen[bytes]:
    """`touchpoint serve` on `port`, returned once it answers. With `logs`, its log lines are
    readable from `proc.stderr` (see `LogLines`)."""
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
        stderr=subprocess.PIPE if logs else subprocess.DEVNULL,
    )
    wait_ready(proc, f"http://127.0.0.1:{port}")
    return proc


def wait_ready(proc: subprocess.Popen[bytes], base: str, seconds: float = 60) -> None:
    """Return once `base`/healthz answers 200; fail loudly if the server exits or never does."""
    deadline = time.monotonic() + seconds
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before answering")
        try:
            r = httpx.get(base + "/healthz", timeout=1)
            if r.status_code == 200:
                return
            last = f"status {r.status_code}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"the server did not answer /healthz within {seconds} s ({last})")


class LogLines:
    """Collects a process's stderr lines in a thread, so a test can wait for one."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None, "start the process with logs=True"
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc.stderr,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        for raw in stream:
            with self._changed:
                self.lines.append(raw.decode(errors="replace"))
                self._changed.notify_all()
        with self._changed:
            self.lines.append("")  # end of stream
            self._changed.notify_all()

    def wait_for(self, text: str, timeout: float = 60) -> str:
        """The first line containing `text`; raises if the stream ends or time runs out first."""

        def found() -> str | None:
            hit = next((line for line in self.lines if text in line), None)
            if hit is None and self.lines and self.lines[-1] == "":
                raise AssertionError(f"the log ended without {text!r}")
            return hit

        with self._changed:
            line = self._changed.wait_for(found, timeout)
        if line is None:
            raise AssertionError(f"no log line with {text!r} within {timeout} s")
        return line
