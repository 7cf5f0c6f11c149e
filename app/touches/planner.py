"""The touch planner (pure): given a customer's state and touch history, the next touch.

Every playbook is a calendar of steps computed from the customer's own dates, so a plan is a
function of the facts: an event that does not change the facts a calendar reads leaves the plan
(and the stored touch with its id) alone, and an imported history puts due today only what the
calendars put due today. Playbooks, in order of precedence:

- announcement: targeted customers (regular and higher unless the announcement names stages
  or categories), `announcement_notice_days` before a change takes effect;
- win_back: at_risk / lapsed, every `win_back_every_days` from the start of the silence, with an
  offer; a lost customer gets one final win-back (with the offer) when lost, then the slow
  regular rhythm (`lost_every_days`);
- lead_nurture: no purchase yet, touches on `nurture_days` after the first contact (7, four of
  them in days 21–30); then second_cycle every `second_cycle_every_days` after the window;
- care: after the first purchase on `care_days`, only inside `care_window_days`;
- referral_ask (adherents) and regular (every `regular_every_days` after the last planned touch
  or purchase), whichever comes first.

A step whose touch was not done within `touch_lifetime_days` of its due time has expired; the
calendar moves on to its next step. Reported contacts fill the step whose time had come (the
history of a shop that contacted its leads by hand); outcomes that mean "not heard" fill their
step but leave the reason for the next attempt. Guardrails then move the due time: no sales
touch during the pause after a complaint, at most `cap_per_week` touches in any 7 days, business
customers on working days in working hours, consumers never in their quiet hours.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from app.touches.catalogue import Text, fill
from app.touches.guardrails import (
    Reach,
    allowed_channels,
    apply_cap,
    contact_hours,
    possible_channels,
    rotate,
)
from app.touches.playbooks import NOT_HEARD, PRIORITY, SALES
from app.touches.settings import TouchRules

STAGE_RANK = {
    s: i
    for i, s in enumerate(
        ("prospect", "lead", "hot_lead", "buyer", "client", "regular", "adherent", "advocate")
    )
}
# How far guardrails can push a due time at most (complaint pause, cap, a long weekend): slots
# older than this plus the lifetime are skipped by arithmetic, without computing guardrails.
_MAX_PUSH = timedelta(days=45)

SlotAt = Callable[[int], datetime | None]


@dataclass(frozen=True)
class Past:
    """A touch done, or a contact the shop reported (playbook None: outside any plan)."""

    at: datetime
    channel: str | None = None
    playbook: str | None = None
    reason_key: str | None = None
    outcome: str | None = None
    inbound: bool = False
    step: int | None = None

    @property
    def heard(self) -> bool:
        return self.outcome not in NOT_HEARD


@dataclass(frozen=True)
class Announcement:
    id: int
    title: str
    effective_at: datetime
    details: str | None = None
    revision: int = 1
    categories: frozenset[str] = frozenset()  # empty: whatever they buy
    stages: frozenset[str] = frozenset()  # empty: regular and higher


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
    stage_since: datetime | None = None
    # When the current silence turned at_risk, and when it turned lost (None while active).
    at_risk_at: datetime | None = None
    lost_at: datetime | None = None
    categories: frozenset[str] = frozenset()

    @property
    def reach(self) -> Reach:
        return Reach(
            self.birth_date,
            self.company,
            self.timezone,
            self.preferred_channels,
            self.consents,
            self.email,
            self.phone,
        )


@dataclass(frozen=True)
class Plan:
    due_at: datetime
    channel: str
    playbook: str
    step: int
    slot_at: datetime  # the calendar's time of this step, before guardrails
    reason_key: str | None
    reason: str
    script: list[str]
    offer: str | None
    priority: int
    expires_at: datetime
    details: str | None = None
    needs_new_reason: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def identity(self) -> tuple[str, int, datetime, str | None]:
        """Two plans with the same identity are the same touch."""
        return (self.playbook, self.step, self.slot_at, self.reason_key)


@dataclass(frozen=True)
class Nothing:
    """Nothing to plan, and why (`no_channel`, `no_consent`)."""

    why: str
    explanation: str


@dataclass(frozen=True)
class _Slot:
    playbook: str
    step: int
    at: datetime
    due: datetime
    expires_at: datetime
    reasons_since: datetime | None = None
    announcement: Announcement | None = None


class _Calendars:
    """The playbooks' calendars for one customer at `now`."""

    def __init__(self, state: State, history: list[Past], rules: TouchRules, now: datetime) -> None:
        self.state, self.history, self.rules, self.now = state, history, rules, now
        # Per playbook, the history's contacts (by index) that stood for a step's touch.
        self.filled: dict[str, set[int]] = {}
        self.lifetime = timedelta(days=rules.touch_lifetime_days)
        self.outbound = [p.at for p in history if not p.inbound]
        complaints = [p.at for p in history if p.outcome == "complaint"]
        self.pause_until = (
            max(complaints) + timedelta(days=rules.complaint_pause_days) if complaints else None
        )

    # -- guardrails -------------------------------------------------------------------------

    def due(self, playbook: str, at: datetime, seen_before: datetime | None = None) -> datetime:
        """The guarded due time of a step, as planned when only the touches before
        `seen_before` were known (all of them by default)."""
        due = at
        if playbook in SALES and self.pause_until and due < self.pause_until:
            due = self.pause_until
        outbound = self.outbound
        if seen_before is not None:
            outbound = [t for t in outbound if t < seen_before]
        for _ in range(10):  # moving into the hours of contact may meet the cap again
            capped = apply_cap(due, outbound, self.rules)
            moved = contact_hours(capped, self.state.reach, self.rules)
            if moved == due:
                break
            due = moved
        return due

    # -- walking a calendar -----------------------------------------------------------------

    def _first_alive(
        self,
        playbook: str,
        slot_at: SlotAt,
        k: int,
        at_time: datetime,
        period: timedelta | None,
        ends: datetime | None,
    ) -> _Slot | None:
        """The first step ≥ k whose touch has not expired by `at_time`."""
        for _ in range(1000):
            at = slot_at(k)
            if at is None or (ends is not None and at >= ends):
                return None
            if period and at + self.lifetime + _MAX_PUSH < at_time:
                k += max(1, int((at_time - at - self.lifetime - _MAX_PUSH) / period))
                continue
            due = self.due(playbook, at, at_time if at_time < self.now else None)
            expires = due + self.lifetime
            if ends is not None:
                if due >= ends:
                    return None
                expires = min(expires, ends)
            if expires > at_time:
                return _Slot(playbook, k, at, due, expires)
            k += 1
        return None

    def walk(
        self,
        playbook: str,
        slot_at: SlotAt,
        since: datetime,
        *,
        period: timedelta | None = None,
        ends: datetime | None = None,
        count_planned: bool = True,
    ) -> _Slot | None:
        """Replay the past on the calendar, then the step alive now.

        Planned touches of this playbook (since `since`) advance it past their step; a contact
        reported outside any plan fills the step whose time had come when it happened.
        """
        k = 1
        filled = self.filled.setdefault(playbook, set())
        for i, p in enumerate(self.history):
            if p.at < since or p.inbound:
                continue
            if p.playbook == playbook and p.step is not None:
                if count_planned:
                    k = max(k, p.step + 1)
            elif p.playbook is None:
                alive = self._first_alive(playbook, slot_at, k, p.at, period, ends)
                if alive is None:
                    break
                # As live: a contact at or after the step's due time is that step's touch.
                if p.at >= alive.due:
                    k = alive.step + 1
                    filled.add(i)
                else:
                    k = alive.step
        return self._first_alive(playbook, slot_at, k, self.now, period, ends)

    def reason_key(self, playbook: str, since: datetime | None) -> str | None:
        """The first reason of the playbook the customer has not heard (since `since`).

        A contact that filled a step of this playbook's calendar carried the reason that step
        would have carried, exactly as the touch it stands for would have.
        """
        keys = self.rules.playbook_reasons.get(playbook, [])
        filled = self.filled.get(playbook, set())
        heard: set[str] = set()
        for i, p in enumerate(self.history):
            if since is not None and p.at < since:
                continue
            key = p.reason_key
            if i in filled and key is None:
                key = next((k for k in keys if k not in heard), None)
            if key and p.heard and (p.playbook in (playbook, None)):
                heard.add(key)
        return next((k for k in keys if k not in heard), None)

    # -- the playbooks ----------------------------------------------------------------------

    def announcement(self, announcements: list[Announcement]) -> _Slot | None:
        s = self.state
        heard = {p.reason_key for p in self.history if p.heard and p.reason_key}
        for a in sorted(announcements, key=lambda a: (a.effective_at, a.id)):
            if a.effective_at <= self.now or f"announce:{a.id}" in heard:
                continue
            if a.stages and s.stage not in a.stages:
                continue
            if not a.stages and STAGE_RANK.get(s.stage, 0) < STAGE_RANK["regular"]:
                continue
            if a.categories and not (a.categories & s.categories):
                continue
            at = a.effective_at - timedelta(days=self.rules.announcement_notice_days)
            due = self.due("announcement", at)
            if due < a.effective_at:
                return _Slot("announcement", a.revision, at, due, a.effective_at, None, a)
        return None

    def win_back(self) -> _Slot | None:
        s, every = self.state, timedelta(days=self.rules.win_back_every_days)
        if s.status in ("at_risk", "lapsed") and s.at_risk_at:
            anchor = s.at_risk_at
            found = self.walk("win_back", lambda k: anchor + every * (k - 1), anchor, period=every)
            return _with_reasons(found, anchor)
        if s.status == "lost" and s.lost_at:
            lost = s.lost_at
            final = self.walk("win_back", lambda k: lost if k == 1 else None, lost)
            return _with_reasons(final, s.at_risk_at or lost)
        return None

    def lead(self) -> _Slot | None:
        s, r = self.state, self.rules
        anchor = s.first_seen_at or self.now
        window = timedelta(days=r.nurture_window_days)
        days = [d for d in r.nurture_days if d <= r.nurture_window_days]
        nurture = self.walk(
            "lead_nurture",
            lambda k: anchor + timedelta(days=days[k - 1]) if k <= len(days) else None,
            anchor,
        )
        if nurture is not None:
            return nurture
        base, every = anchor + window, timedelta(days=r.second_cycle_every_days)
        return self.walk("second_cycle", lambda k: base + every * k, base, period=every)

    def care(self) -> _Slot | None:
        s, r = self.state, self.rules
        if s.first_purchase_at is None:
            return None
        first = s.first_purchase_at
        ends = first + timedelta(days=r.care_window_days)
        if self.now >= ends:
            return None
        days = r.care_days
        return self.walk(
            "care",
            lambda k: first + timedelta(days=days[k - 1]) if k <= len(days) else None,
            first,
            ends=ends,
        )

    def rhythm(self) -> _Slot | None:
        """Regular contact (slow for a lost customer); adherents' referral ask if sooner."""
        s, r = self.state, self.rules
        planned = [p.at for p in self.history if p.playbook and not p.inbound]
        starts = [t for t in (max(planned, default=None), s.last_purchase_at, s.first_seen_at) if t]
        base = max(starts, default=self.now)
        days = r.lost_every_days if s.status == "lost" else r.regular_every_days
        every = timedelta(days=days)
        regular = self.walk(
            "regular", lambda k: base + every * k, base, period=every, count_planned=False
        )
        if s.stage != "adherent":
            return regular
        # Anchored on the first purchase (a fact), not on when the stage was computed.
        anchor = s.first_purchase_at or base
        ask_every = timedelta(days=r.referral_ask_every_days)
        ask = self.walk(
            "referral_ask", lambda k: anchor + ask_every * (k - 1), anchor, period=ask_every
        )
        if ask is None or (regular is not None and regular.due < ask.due):
            return regular
        return ask


def _with_reasons(found: _Slot | None, since: datetime) -> _Slot | None:
    if found is None:
        return None
    return _Slot(found.playbook, found.step, found.at, found.due, found.expires_at, since)


def choose(cal: _Calendars, announcements: list[Announcement]) -> _Slot | None:
    """The playbook and step that applies now, with its guarded due time."""
    state = cal.state
    found = cal.announcement(announcements) or cal.win_back()
    if found is not None:
        return found
    if state.purchase_count == 0:
        return cal.lead()
    return cal.care() or cal.rhythm()


def plan(
    state: State,
    history: list[Past],
    announcements: list[Announcement],
    rules: TouchRules,
    texts: Mapping[str, Text],
    now: datetime,
) -> Plan | Nothing:
    """The next touch, or why there is none."""
    history = sorted(history, key=lambda p: p.at)
    reach = state.reach
    possible = possible_channels(reach, rules, now.date())
    if not possible:
        return Nothing("no_channel", texts["nothing.no_channel"].text)
    opted_out = {p.channel for p in history if p.outcome == "opted_out" and p.channel}
    options = allowed_channels(possible, reach, opted_out)
    if not options:
        return Nothing("no_consent", texts["nothing.no_consent"].text)
    cal = _Calendars(state, history, rules, now)
    slot = choose(cal, announcements)
    if slot is None:  # every calendar ended (a shop's own finite calendars)
        return Nothing("no_channel", texts["nothing.no_channel"].text)
    last_channel = next((p.channel for p in reversed(history) if p.channel and not p.inbound), None)
    channel = rotate(options, last_channel)
    notes = []
    if slot.playbook in SALES and slot.due > slot.at and _paused(history, rules, slot):
        notes.append("sales touches paused after a complaint")
    offer = texts["win_back.offer"].text if slot.playbook == "win_back" else None
    common = dict(
        due_at=slot.due,
        channel=channel,
        playbook=slot.playbook,
        step=slot.step,
        slot_at=slot.at,
        offer=offer,
        priority=PRIORITY.get(slot.playbook, 3),
        expires_at=slot.expires_at,
        notes=notes,
    )
    if slot.announcement is not None:
        a = slot.announcement
        text, script = fill(
            texts["announcement"],
            title=a.title,
            date=f"{a.effective_at:%Y-%m-%d}",
            details=a.details or "",
        )
        return Plan(
            reason_key=f"announce:{a.id}",
            reason=text,
            script=script,
            details=a.details,
            **common,  # type: ignore[arg-type]
        )
    since = slot.reasons_since if slot.playbook == "win_back" else None
    key = cal.reason_key(slot.playbook, since)
    if key is None:
        exhausted = texts["exhausted"]
        return Plan(
            reason_key=None,
            reason=exhausted.text,
            script=list(exhausted.script),
            needs_new_reason=True,
            **common,  # type: ignore[arg-type]
        )
    entry = texts.get(f"{slot.playbook}.{key}") or Text(text=key)
    return Plan(reason_key=key, reason=entry.text, script=list(entry.script), **common)  # type: ignore[arg-type]


def _paused(history: list[Past], rules: TouchRules, slot: _Slot) -> bool:
    complaints = [p.at for p in history if p.outcome == "complaint"]
    return (
        bool(complaints)
        and slot.due >= max(complaints) + timedelta(days=rules.complaint_pause_days) > slot.at
    )
