"""A customer's rhythm and activity status (pure).

Silence is measured on the customer's own week. From enough history (`week_min_purchases`
purchases over at least two weeks) the weekdays on which the customer practically never buys
are found — a weekday is quiet when it holds at most `quiet_weekday_share` of the purchases of
the customer's busiest weekday — and, when leaving them out makes the gaps between purchases
more regular (their variation drops by more than 0.1), those days do not count: a
Monday–Friday coffee buyer is not missed over the weekend. On that clock:

- the usual interval u is the median of the customer's recent intervals, blended with the
  category's rhythm while the history is short (the category counts as `category_weight`
  observed intervals);
- an irregular but steady buyer is not judged by the median alone: u is raised to
  q / `at_risk_factor`, where q is the `spread_quantile` of the recent intervals, so that the
  customer's own ordinary long gap never makes them at risk;
- the customer is at risk after `at_risk_factor` × u + `grace_days` of silence, lapsed after
  `lapsed_factor` × u + grace, lost after `lost_factor` × u + grace. The grace lets a daily
  buyer skip a day or two; against a furniture rhythm (365 days, at risk after ~18 months)
  it is nothing.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

STATUSES = ("active", "at_risk", "lapsed", "lost")
DAY = 86400.0


class LapseRules(BaseModel):
    """Defaults; override with TOUCHPOINT_LAPSE='{"at_risk_factor": 2}'."""

    recent_intervals: int = Field(
        default=20, ge=2, description="How many of the latest intervals make the rhythm."
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
    grace_days: float = Field(
        default=1.5, ge=0, description="Silence added to every threshold (a skipped day or two)."
    )
    spread_quantile: float = Field(
        default=0.8,
        ge=0.5,
        le=1,
        description="The customer's own long gap (this quantile of the intervals) never makes "
        "them at risk.",
    )
    week_min_purchases: int = Field(
        default=8, ge=3, description="Purchases needed before quiet weekdays are recognised."
    )
    quiet_weekday_share: float = Field(
        default=0.25,
        ge=0,
        lt=1,
        description="A weekday is quiet when it has at most this share of the busiest "
        "weekday's purchases.",
    )
    min_interval_days: float = Field(
        default=0.5, gt=0, description="Floor of the usual interval (same-day repeat buyers)."
    )
    category_map: dict[str, str] = Field(
        default_factory=dict,
        description="The shop's category names → rhythm classes "
        '({"Зерно": "coffee"}); matched case-insensitively, `/` paths by their first part.',
    )
    learn_min_repeat_buyers: int = Field(
        default=30,
        ge=2,
        description="Repeat buyers a category needs before its rhythm is learned from the "
        "shop's data (median interval of its repeat buyers, refreshed with each model fit).",
    )


@dataclass(frozen=True)
class Week:
    """Which weekdays count (Monday = 0) in which time zone."""

    counts: tuple[bool, ...] = (True,) * 7
    zone: str = "UTC"

    @property
    def days_per_week(self) -> int:
        return sum(self.counts)

    @property
    def whole(self) -> bool:
        return all(self.counts)

    def _local(self, at: datetime) -> datetime:
        return at.astimezone(ZoneInfo(self.zone)).replace(tzinfo=None)

    def _utc(self, local: datetime) -> datetime:
        return local.replace(tzinfo=ZoneInfo(self.zone)).astimezone(UTC)

    def elapsed(self, start: datetime, end: datetime) -> float:
        """Days of counting time between two moments."""
        if self.whole or end <= start:
            return max((end - start).total_seconds() / DAY, 0.0)
        a, b = self._local(start), self._local(end)
        # Any seven days hold each weekday once: whole weeks are jumped over.
        whole_weeks = max((b - a).days // 7 - 1, 0)
        total = float(whole_weeks * self.days_per_week)
        a += timedelta(weeks=whole_weeks)
        day = a.replace(hour=0, minute=0, second=0, microsecond=0)
        while day < b:
            nxt = day + timedelta(days=1)
            if self.counts[day.weekday()]:
                total += (min(nxt, b) - max(day, a)).total_seconds() / DAY
            day = nxt
        return total

    def after(self, start: datetime, days: float) -> datetime:
        """The moment `days` of counting time after `start`."""
        if self.whole:
            return start + timedelta(days=days)
        a = self._local(start)
        left = days
        weeks = max(int(left // self.days_per_week) - 1, 0)
        a += timedelta(weeks=weeks)
        left -= weeks * self.days_per_week
        while True:
            day_end = a.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
            if self.counts[a.weekday()]:
                room = (day_end - a).total_seconds() / DAY
                if left <= room:
                    return self._utc(a + timedelta(days=left))
                left -= room
            a = day_end


def week_of(times: list[datetime], rules: LapseRules, zone: str) -> Week:
    """The customer's week: quiet weekdays recognised from enough history, else every day."""
    if len(times) < rules.week_min_purchases or (times[-1] - times[0]) < timedelta(days=14):
        return Week(zone=zone)
    tz = ZoneInfo(zone)
    per_day = [0] * 7
    for at in times:
        per_day[at.astimezone(tz).weekday()] += 1
    busiest = max(per_day)
    week = Week(counts=tuple(n > rules.quiet_weekday_share * busiest for n in per_day), zone=zone)
    if week.whole:
        return week
    # The week is kept only when it explains the gaps (a Monday–Friday buyer's 1, 1, 1, 1, 3
    # become 1, 1, 1, 1, 1); a steady every-1.4-days buyer also skips weekdays, by arithmetic.
    calendar = Week(zone=zone)
    if _variation(times, week) < _variation(times, calendar) - 0.1:
        return week
    return calendar


def _variation(times: list[datetime], week: Week) -> float:
    gaps = [week.elapsed(a, b) for a, b in itertools.pairwise(times)]
    mean = statistics.fmean(gaps)
    return statistics.pstdev(gaps) / mean if mean > 0 else 0.0


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


@dataclass(frozen=True)
class Rhythm:
    """The customer's rhythm on their own week (intervals in days of counting time)."""

    week: Week
    usual: float  # the blended median
    allowance_base: float  # the usual interval raised for an irregular buyer

    @property
    def usual_calendar_days(self) -> float:
        """The usual interval in calendar days (what a person reads)."""
        return self.usual * 7 / self.week.days_per_week


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def rhythm_of(
    purchase_times: Iterable[datetime], category_days: float, rules: LapseRules, zone: str = "UTC"
) -> Rhythm:
    times = sorted(purchase_times)[-(rules.recent_intervals + 1) :]
    week = week_of(times, rules, zone)
    # The category's rhythm is in calendar days; on a five-day week it is 5/7 as much.
    prior = category_days * week.days_per_week / 7
    intervals = [week.elapsed(a, b) for a, b in itertools.pairwise(times)]
    if not intervals:
        base = max(prior, rules.min_interval_days)
        return Rhythm(week, base, base)
    n = len(intervals)
    own = statistics.median(intervals)
    usual = max(
        (n * own + rules.category_weight * prior) / (n + rules.category_weight),
        rules.min_interval_days,
    )
    spread = _quantile(intervals, rules.spread_quantile) if n >= 4 else 0.0
    return Rhythm(week, usual, max(usual, spread / rules.at_risk_factor))


def usual_interval(
    purchase_times: list[datetime], category_days: float, rules: LapseRules, zone: str = "UTC"
) -> float:
    """Calendar days between purchases this customer usually leaves."""
    return rhythm_of(purchase_times, category_days, rules, zone).usual_calendar_days


def schedule_of(last_purchase_at: datetime, rhythm: Rhythm, rules: LapseRules) -> Schedule:
    # The grace is calendar time: on a five-day week, 5/7 of it is counting time.
    base, grace = rhythm.allowance_base, rules.grace_days * rhythm.week.days_per_week / 7
    at = rhythm.week.after
    return Schedule(
        usual_interval_days=rhythm.usual_calendar_days,
        at_risk_at=at(last_purchase_at, rules.at_risk_factor * base + grace),
        lapse_at=at(last_purchase_at, rules.lapsed_factor * base + grace),
        lost_at=at(last_purchase_at, rules.lost_factor * base + grace),
    )


def plan(
    purchase_times: list[datetime], category_days: float, rules: LapseRules, zone: str = "UTC"
) -> Schedule | None:
    """The schedule after the latest of `purchase_times` (None without purchases)."""
    if not purchase_times:
        return None
    rhythm = rhythm_of(purchase_times, category_days, rules, zone)
    return schedule_of(max(purchase_times), rhythm, rules)


def statuses_between(old: str, new: str) -> list[str]:
    """The statuses entered when moving forward from `old` to `new` (in order)."""
    i, j = STATUSES.index(old), STATUSES.index(new)
    return list(STATUSES[i + 1 : j + 1]) if j > i else []
