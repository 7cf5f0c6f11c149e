"""Guardrails of the planner (pure): reachable channels, the weekly cap, the hours of contact."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.touches.settings import TouchRules

DEFAULT_CHANNEL_ORDER = ("email", "messenger", "sms", "call", "push")
NEEDS_EMAIL = {"email"}
NEEDS_PHONE = {"sms", "call", "messenger"}


@dataclass(frozen=True)
class Reach:
    """What the planner knows about reaching a customer."""

    birth_date: date | None = None
    company: str | None = None
    timezone: str | None = None
    preferred_channels: list[str] | None = None
    consents: dict[str, bool] | None = None
    email: str | None = None
    phone: str | None = None


def age_on(birth: date | None, day: date) -> int | None:
    if birth is None:
        return None
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def possible_channels(reach: Reach, rules: TouchRules, today: date) -> list[str]:
    """Channels the customer has an address for, in the order to try, before consents."""
    preferred = list(reach.preferred_channels or DEFAULT_CHANNEL_ORDER)
    age = age_on(reach.birth_date, today)
    over_50_in_company = reach.company and age is not None and age >= rules.paper_mail_min_age
    if over_50_in_company and "paper_mail" not in preferred:
        # People over 50 in companies want paper: it is always among their channels.
        preferred.insert(0, "paper_mail")
    out = []
    for ch in preferred:
        if ch in NEEDS_EMAIL and not reach.email and reach.preferred_channels is None:
            continue
        if ch in NEEDS_PHONE and not reach.phone and reach.preferred_channels is None:
            continue
        out.append(ch)
    return out


def allowed_channels(possible: list[str], reach: Reach, opted_out: set[str]) -> list[str]:
    consents = reach.consents or {}
    return [ch for ch in possible if consents.get(ch) is not False and ch not in opted_out]


def rotate(options: list[str], last_used: str | None) -> str:
    """The channel after the last one used, so touches travel across channels."""
    if last_used is None or last_used not in options:
        return options[0]
    return options[(options.index(last_used) + 1) % len(options)]


def apply_cap(wanted: datetime, outbound: Sequence[datetime], rules: TouchRules) -> datetime:
    """The earliest time ≥ wanted with fewer than `cap_per_week` touches in the 7 days before."""
    week = timedelta(days=7)
    times = sorted(outbound)
    due = wanted
    for _ in range(len(times) + 1):
        recent = [t for t in times if due - week < t <= due]
        if len(recent) < rules.cap_per_week:
            return due
        # Wait until the oldest of the last `cap` touches leaves the window.
        due = recent[len(recent) - rules.cap_per_week] + week + timedelta(seconds=1)
    return due


def zone(tz_name: str | None, rules: TouchRules) -> ZoneInfo:
    try:
        return ZoneInfo(tz_name or rules.default_timezone)
    except (KeyError, ValueError):
        return ZoneInfo(rules.default_timezone)


def _quiet(t: time, rules: TouchRules) -> bool:
    start, end = rules.quiet_start, rules.quiet_end
    return (t >= start or t < end) if start > end else (start <= t < end)


def out_of_quiet_hours(due: datetime, tz_name: str | None, rules: TouchRules) -> datetime:
    """Move a due time that falls in the customer's night to the next morning, local time."""
    tz = zone(tz_name, rules)
    local = due.astimezone(tz)
    t = local.time()
    if not _quiet(t, rules):
        return due
    end = rules.quiet_end
    day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=tz).astimezone(due.tzinfo)


def into_working_hours(due: datetime, tz_name: str | None, rules: TouchRules) -> datetime:
    """The first moment ≥ due on a working day within working hours, local time."""
    tz = zone(tz_name, rules)
    local = due.astimezone(tz)
    for days in range(8):
        day = local.date() + timedelta(days=days)
        if day.isoweekday() not in rules.work_days:
            continue
        opens = datetime.combine(day, rules.work_start, tzinfo=tz)
        closes = datetime.combine(day, rules.work_end, tzinfo=tz)
        if days == 0 and local >= closes:
            continue
        return max(local, opens).astimezone(due.tzinfo)
    return due  # unreachable with at least one working day


def contact_hours(due: datetime, reach: Reach, rules: TouchRules) -> datetime:
    """Business customers on working days in working hours; consumers outside quiet hours."""
    if reach.company:
        return into_working_hours(due, reach.timezone, rules)
    return out_of_quiet_hours(due, reach.timezone, rules)


def in_quiet_hours(due: datetime, tz_name: str | None, rules: TouchRules) -> bool:
    return out_of_quiet_hours(due, tz_name, rules) != due


def in_working_hours(due: datetime, tz_name: str | None, rules: TouchRules) -> bool:
    return into_working_hours(due, tz_name, rules) == due
