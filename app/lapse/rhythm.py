"""A customer's rhythm and activity status (pure).

The usual interval is the median of the customer's recent intervals between purchases — robust
to one odd gap, and following a rhythm that changes — blended with the category's rhythm while
the history is short. Status thresholds are multiples of that interval after the last purchase.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

STATUSES = ("active", "at_risk", "lapsed", "lost")


class LapseRules(BaseModel):
    """Defaults; override with TOUCHPOINT_LAPSE='{"at_risk_factor": 2}'."""

    recent_intervals: int = Field(
        default=10, ge=2, description="How many of the latest intervals make the rhythm."
    )
    category_weight: float = Field(
        default=1.0,
        ge=0,
        description="The category's rhythm counts as this many observed intervals.",
    )
    at_risk_factor: float = Field(
        default=1.5, gt=0, description="At risk after this × the usual interval of silence."
    )
    lapsed_factor: float = Field(default=3.0, gt=0, description="Lapsed after this × the interval.")
    lost_factor: float = Field(default=6.0, gt=0, description="Lost after this × the interval.")
    min_interval_days: float = Field(
        default=0.5, gt=0, description="Floor of the usual interval (same-day repeat buyers)."
    )


def usual_interval(
    purchase_times: list[datetime], category_days: float, rules: LapseRules
) -> float:
    """Days between purchases this customer usually leaves."""
    times = sorted(purchase_times)
    intervals = [(b - a).total_seconds() / 86400 for a, b in itertools.pairwise(times)][
        -rules.recent_intervals :
    ]
    if not intervals:
        return max(category_days, rules.min_interval_days)
    own = statistics.median(intervals)
    n = len(intervals)
    blended = (n * own + rules.category_weight * category_days) / (n + rules.category_weight)
    return max(blended, rules.min_interval_days)


@dataclass(frozen=True)
class Schedule:
    usual_interval_days: float
    at_risk_at: datetime
    lapse_at: datetime
    lost_at: datetime

    def status_at(self, when: datetime) -> str:
        if when >= self.lost_at:
            return "lost"
        if when >= self.lapse_at:
            return "lapsed"
        if when >= self.at_risk_at:
            return "at_risk"
        return "active"

    def next_change_after(self, when: datetime) -> datetime | None:
        for moment in (self.at_risk_at, self.lapse_at, self.lost_at):
            if moment > when:
                return moment
        return None


def schedule(last_purchase_at: datetime, interval_days: float, rules: LapseRules) -> Schedule:
    return Schedule(
        usual_interval_days=interval_days,
        at_risk_at=last_purchase_at + timedelta(days=rules.at_risk_factor * interval_days),
        lapse_at=last_purchase_at + timedelta(days=rules.lapsed_factor * interval_days),
        lost_at=last_purchase_at + timedelta(days=rules.lost_factor * interval_days),
    )


def statuses_between(old: str, new: str) -> list[str]:
    """The statuses entered when moving forward from `old` to `new` (in order)."""
    i, j = STATUSES.index(old), STATUSES.index(new)
    return list(STATUSES[i + 1 : j + 1]) if j > i else []


def annual_value_minor(avg_check_minor: int, interval_days: float) -> int:
    """What the customer brings a year at their rhythm: what the shop loses if they are gone."""
    return round(avg_check_minor * 365.0 / interval_days)
