"""What one delivery attempt came to, as every sender reports it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class Outcome:
    ok: bool
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None
    excerpt: str | None = None
    gone: bool = False  # 410: the receiver asks us to stop
    # Not an attempt that counts: the endpoint's rate or time budget says "not before then".
    # The delivery waits until then without using up its retry schedule.
    defer_until: datetime | None = None
    # Bitrix24: the calls of the message made so far (kept across retries).
    progress: list[str] | None = None

    @property
    def requested(self) -> bool:
        """Whether a request reached the receiver (or failed on the way)."""
        return self.status_code is not None or self.error is not None
