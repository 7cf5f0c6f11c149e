"""The touch planner (pure): given a customer's state and touch history, the next touch.

Playbooks, in order of precedence: announcements (regular and higher, a few days before a
change takes effect), win-back (at_risk / lapsed, with an offer), lead nurture (about 7 touches
in the 30 days after the first contact, densest in days 21–30), the slower second cycle for
leads who did not buy, care after the first purchase (thanks, first use, something useful),
the referral ask (adherents), and regular contact (clients and up). Guardrails then move the
due time: no sales touch during the pause after a complaint, at most `cap_per_week` touches in
any 7 days, and never in the customer's quiet hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from app.touches.playbooks import DEFAULT_REASONS, SALES, Reason

DEFAULT_CHANNEL_ORDER = ("email", "messenger", "sms", "call", "push")
NEEDS_EMAIL = {"email"}
NEEDS_PHONE = {"sms", "call", "messenger"}
STAGE_RANK = {
    s: i
    for i, s in enumerate(
        ("prospect", "lead", "hot_lead", "buyer", "client", "regular", "adherent", "advocate")
    )
}


class TouchRules(BaseModel):
    """Defaults; override with TOUCHPOINT_TOUCHES='{"cap_per_week": 3}'."""

    nurture_days: list[float] = Field(
        default=[2, 7, 13, 21, 24, 27, 29],
        description="Days after the first contact: 7 touches, 4 of them in days 21–30.",
    )
    nurture_window_days: float = 30
    second_cycle_every_days: float = 30
    care_days: list[float] = Field(default=[1, 3, 14], description="After the first purchase.")
    regular_every_days: float = 30
    win_back_every_days: float = 14
    referral_ask_every_days: float = 90
    announcement_notice_days: float = 7
    cap_per_week: int = Field(default=3, ge=1)
    quiet_start: time = time(21, 0)
    quiet_end: time = time(9, 0)
    default_timezone: str = "Europe/Moscow"
    complaint_pause_days: float = 30
    paper_mail_min_age: int = 50
    win_back_offer: str = "a cashback bonus of 10 % on the next order"
    reasons: dict[str, list[Reason]] = Field(default_factory=lambda: dict(DEFAULT_REASONS))


@dataclass(frozen=True)
class Past:
    """A touch done, or a contact the shop reported."""

    at: datetime
    channel: str | None = None
    playbook: str | None = None
    reason_key: str | None = None
    outcome: str | None = None
    inbound: bool = False


@dataclass(frozen=True)
class Announcement:
    id: int
    title: str
    effective_at: datetime


@dataclass(frozen=True)
class State:
    customer_id: str
    stage: str
    status: str
    purchase_count: int
    first_seen_at: datetime | None
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    birth_date: date | None = None
    company: str | None = None
    timezone: str | None = None
    preferred_channels: list[str] | None = None
    consents: dict[str, bool] | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Plan:
    due_at: datetime
    channel: str
    playbook: str
    reason_key: str | None
    reason: str
    script: list[str]
    offer: str | None
    priority: int
    needs_new_reason: bool = False
    notes: list[str] = field(default_factory=list)


def age_on(birth: date | None, day: date) -> int | None:
    if birth is None:
        return None
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def channels(state: State, history: list[Past], rules: TouchRules, now: datetime) -> list[str]:
    """Where this customer may be reached, in the order to try."""
    preferred = list(state.preferred_channels or DEFAULT_CHANNEL_ORDER)
    age = age_on(state.birth_date, now.date())
    over_50_in_company = state.company and age is not None and age >= rules.paper_mail_min_age
    if over_50_in_company and "paper_mail" not in preferred:
        # People over 50 in companies want paper: it is always among their channels.
        preferred.insert(0, "paper_mail")
    opted_out = {p.channel for p in history if p.outcome == "opted_out" and p.channel}
    consents = state.consents or {}
    out = []
    for ch in preferred:
        if consents.get(ch) is False or ch in opted_out:
            continue
        if ch in NEEDS_EMAIL and not state.email and state.preferred_channels is None:
            continue
        if ch in NEEDS_PHONE and not state.phone and state.preferred_channels is None:
            continue
        out.append(ch)
    return out


def _rotate(options: list[str], history: list[Past]) -> str:
    """The channel after the last one used, so touches travel across channels."""
    used = [p.channel for p in history if p.channel and not p.inbound]
    if not used or used[-1] not in options:
        return options[0]
    return options[(options.index(used[-1]) + 1) % len(options)]


def _reason(playbook: str, history: list[Past], rules: TouchRules) -> tuple[Reason | None, bool]:
    heard = {p.reason_key for p in history if p.playbook == playbook}
    for reason in rules.reasons.get(playbook, []):
        if reason.key not in heard:
            return reason, False
    return None, True


def _choose(
    state: State,
    history: list[Past],
    announcements: list[Announcement],
    rules: TouchRules,
    now: datetime,
) -> tuple[str, datetime, int, str | None] | None:
    """(playbook, wanted time, priority, announcement key) before guardrails."""
    done = [p for p in history if p.playbook]
    last_in = {
        pb: max((p.at for p in done if p.playbook == pb), default=None) for pb in rules.reasons
    }
    rank = STAGE_RANK.get(state.stage, 0)
    if rank >= STAGE_RANK["regular"]:
        heard = {p.reason_key for p in done if p.playbook == "announcement"}
        for a in sorted(announcements, key=lambda a: a.effective_at):
            if f"announce:{a.id}" in heard or a.effective_at <= now:
                continue
            start = a.effective_at - timedelta(days=rules.announcement_notice_days)
            return "announcement", max(start, now), 1, f"announce:{a.id}"
    if state.status in ("at_risk", "lapsed"):
        last = last_in.get("win_back")
        wanted = now if last is None else last + timedelta(days=rules.win_back_every_days)
        return "win_back", wanted, 1, None
    if state.purchase_count == 0:
        anchor = state.first_seen_at or now
        nurtured = [p for p in done if p.playbook == "lead_nurture"]
        if len(nurtured) < len(rules.nurture_days):
            offset = rules.nurture_days[len(nurtured)]
            wanted = anchor + timedelta(days=offset)
            if wanted <= anchor + timedelta(days=rules.nurture_window_days):
                return "lead_nurture", wanted, 2, None
        last = max(
            (p.at for p in done if p.playbook in ("lead_nurture", "second_cycle")), default=anchor
        )
        return "second_cycle", last + timedelta(days=rules.second_cycle_every_days), 4, None
    care = [p for p in done if p.playbook == "care"]
    if state.first_purchase_at and len(care) < len(rules.care_days):
        return "care", state.first_purchase_at + timedelta(days=rules.care_days[len(care)]), 2, None
    if state.stage == "adherent":
        last = last_in.get("referral_ask")
        if last is None or now - last >= timedelta(days=rules.referral_ask_every_days):
            return (
                "referral_ask",
                now if last is None else last + timedelta(days=rules.referral_ask_every_days),
                3,
                None,
            )
    last_touch = max((p.at for p in done), default=None)
    base = max(
        t
        for t in (
            last_touch,
            state.last_purchase_at,
            state.first_seen_at,
            now - timedelta(days=rules.regular_every_days),
        )
        if t is not None
    )
    return "regular", base + timedelta(days=rules.regular_every_days), 3, None


def apply_cap(wanted: datetime, history: list[Past], rules: TouchRules) -> datetime:
    """The earliest time ≥ wanted with fewer than `cap_per_week` touches in the 7 days before."""
    week = timedelta(days=7)
    outbound = sorted(p.at for p in history if not p.inbound)
    due = wanted
    for _ in range(len(outbound) + 1):
        recent = [t for t in outbound if due - week < t <= due]
        if len(recent) < rules.cap_per_week:
            return due
        # Wait until the oldest of the last `cap` touches leaves the window.
        due = sorted(recent)[len(recent) - rules.cap_per_week] + week + timedelta(seconds=1)
    return due


def apply_quiet_hours(due: datetime, tz_name: str | None, rules: TouchRules) -> datetime:
    """Move a due time that falls in the customer's night to the next morning, local time."""
    try:
        tz = ZoneInfo(tz_name or rules.default_timezone)
    except (KeyError, ValueError):
        tz = ZoneInfo(rules.default_timezone)
    local = due.astimezone(tz)
    t = local.timetz().replace(tzinfo=None)
    start, end = rules.quiet_start, rules.quiet_end
    quiet = (t >= start or t < end) if start > end else (start <= t < end)
    if not quiet:
        return due
    day = local.date() if t < end else local.date() + timedelta(days=1)
    morning = datetime.combine(day, end, tzinfo=tz)
    return morning.astimezone(due.tzinfo)


def in_quiet_hours(due: datetime, tz_name: str | None, rules: TouchRules) -> bool:
    return apply_quiet_hours(due, tz_name, rules) != due


def plan(
    state: State,
    history: list[Past],
    announcements: list[Announcement],
    rules: TouchRules,
    now: datetime,
) -> Plan | None:
    """The next touch, or None when the customer can no longer be reached."""
    history = sorted(history, key=lambda p: p.at)
    options = channels(state, history, rules, now)
    if not options:
        return None
    chosen = _choose(state, history, announcements, rules, now)
    if chosen is None:
        return None
    playbook, wanted, priority, key = chosen
    notes: list[str] = []
    if playbook == "announcement":
        a = next(a for a in announcements if f"announce:{a.id}" == key)
        reason: Reason | None = Reason(
            key=key or "",
            text=a.title,
            script=[f"Tell about: {a.title}", f"Takes effect {a.effective_at:%Y-%m-%d}"],
        )
        exhausted = False
    else:
        reason, exhausted = _reason(playbook, history, rules)
    due = max(wanted, now)
    if playbook in SALES:
        complaints = [p.at for p in history if p.outcome == "complaint"]
        if complaints:
            until = max(complaints) + timedelta(days=rules.complaint_pause_days)
            if due < until:
                due = until
                notes.append("sales touches paused after a complaint")
    due = apply_cap(due, history, rules)
    due = apply_quiet_hours(due, state.timezone, rules)
    offer = rules.win_back_offer if playbook == "win_back" else None
    if reason is None:
        return Plan(
            due,
            _rotate(options, history),
            playbook,
            None,
            "no new reason left in this playbook: the operator should add one",
            ["Find a new reason before contacting (catalogue exhausted)"],
            offer,
            priority,
            needs_new_reason=exhausted,
            notes=notes,
        )
    return Plan(
        due,
        _rotate(options, history),
        playbook,
        reason.key,
        reason.text,
        reason.script,
        offer,
        priority,
        notes=notes,
    )
