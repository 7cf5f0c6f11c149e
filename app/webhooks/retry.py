"""When to try again (pure)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

DEFAULT_SCHEDULE = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


def next_delay(
    attempt: int,
    schedule: list[float] | tuple[float, ...],
    retry_after: float | None,
    rnd: random.Random | None = None,
) -> float | None:
    """Seconds until attempt number `attempt + 1` (attempts count from 1), None when the
    schedule is exhausted. ±10 % jitter spreads retries; Retry-After is honoured as a floor."""
    if attempt >= len(schedule):
        return None
    base = schedule[attempt]
    jitter = (rnd or random).uniform(0.9, 1.1)
    delay = base * jitter
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), 86400))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)
