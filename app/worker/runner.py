"""The worker loop: runs each of its jobs (`app.wiring.worker_jobs`) every poll
(`TOUCHPOINT_WORKER_POLL_SECONDS`) or on its own period.

A job claims its own work (on PostgreSQL with `FOR UPDATE SKIP LOCKED`), so any number of
workers may run against one database. A job returns how many items it handled; a job that
handled a full batch runs again at once instead of waiting for the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.core.db import Database
from app.core.settings import Settings

log = logging.getLogger("touchpoint.worker")

JobFn = Callable[[Database, Settings], Awaitable[int]]


@dataclass(frozen=True)
class Job:
    name: str
    fn: JobFn
    # None: every poll. Otherwise at most once per this many seconds.
    every_seconds: float | None = None


class Worker:
    def __init__(self, db: Database, settings: Settings, jobs: list[Job]) -> None:
        self.db = db
        self.settings = settings
        self.jobs = jobs
        self._stop = asyncio.Event()
        self._last_run: dict[str, float] = {}

    def stop(self) -> None:
        self._stop.set()

    async def run_once(self) -> int:
        """One pass over the due jobs; returns the number of items handled."""
        handled = 0
        now = time.monotonic()
        for job in self.jobs:
            last = self._last_run.get(job.name)
            if (
                job.every_seconds is not None
                and last is not None
                and now - last < job.every_seconds
            ):
                continue
            self._last_run[job.name] = now
            try:
                handled += await job.fn(self.db, self.settings)
            except Exception:  # one failing job must not stop the others
                log.exception("worker job %s failed", job.name)
        return handled

    async def run(self) -> None:
        log.info("worker started with jobs: %s", ", ".join(j.name for j in self.jobs) or "none")
        while not self._stop.is_set():
            handled = await self.run_once()
            if handled:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.settings.worker_poll_seconds)
        log.info("worker stopped")
