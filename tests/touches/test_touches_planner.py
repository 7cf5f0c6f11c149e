"""Scenarios in the product's terms, and the guardrails as a property."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from app.touches.planner import Announcement, Past, State, TouchRules, in_quiet_hours, plan

RULES = TouchRules()
T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # 10:00 in Moscow


def lead(**kw: object) -> State:
    base = dict(
        customer_id="c1",
        stage="lead",
        status="active",
        purchase_count=0,
        first_seen_at=T0,
        first_purchase_at=None,
        last_purchase_at=None,
        email="c1@example.com",
        phone="+70000000000",
    )
    base.update(kw)
    return State(**base)  # type: ignore[arg-type]


def walk(
    state: State, until: datetime, history: list[Past] | None = None
) -> list[tuple[object, ...]]:
    """Do every planned touch at its due time until `until`."""
    history = list(history or [])
    done = []
    now = state.first_seen_at or T0
    for _ in range(100):
        p = plan(state, history, [], RULES, now)
        assert p is not None
        if p.due_at > until:
            break
        history.append(Past(p.due_at, p.channel, p.playbook, p.reason_key))
        done.append((p.due_at, p.playbook, p.reason_key, p.channel))
        now = p.due_at
    return done


def test_a_lead_gets_about_seven_touches_densest_in_days_21_to_30() -> None:
    done = walk(lead(), T0 + timedelta(days=30))
    nurture = [d for d in done if d[1] == "lead_nurture"]
    assert len(nurture) == 7
    assert len({d[2] for d in nurture}) == 7  # a new reason every time
    days = [(d[0] - T0).total_seconds() / 86400 for d in nurture]
    late = [x for x in days if 21 <= x <= 30]
    assert len(late) >= 4 and len(late) > len([x for x in days if x < 10])
    assert len({d[3] for d in nurture}) > 1  # several channels


def test_a_lead_who_did_not_buy_moves_to_the_slower_cycle_and_stops_nurture_after_buying() -> None:
    history = [
        Past(T0 + timedelta(days=d), "email", "lead_nurture", f"k{d}") for d in RULES.nurture_days
    ]
    p = plan(lead(), history, [], RULES, T0 + timedelta(days=31))
    assert p is not None and p.playbook == "second_cycle"
    assert p.due_at - history[-1].at >= timedelta(days=29)
    bought = lead(
        stage="buyer",
        purchase_count=1,
        first_purchase_at=T0 + timedelta(days=10),
        last_purchase_at=T0 + timedelta(days=10),
    )
    after = walk(bought, T0 + timedelta(days=40), history[:3])
    assert after and all(d[1] != "lead_nurture" for d in after)
    assert [d[1] for d in after][:3] == ["care", "care", "care"]
    assert [d[2] for d in after][:3] == ["thanks", "first_use", "useful"]


def test_a_lapsed_regular_gets_a_win_back_with_an_offer() -> None:
    s = lead(
        stage="regular",
        status="lapsed",
        purchase_count=8,
        first_purchase_at=T0 - timedelta(days=400),
        last_purchase_at=T0 - timedelta(days=120),
    )
    p = plan(s, [], [], RULES, T0)
    assert p is not None and p.playbook == "win_back"
    assert p.offer and "bonus" in p.offer
    assert p.priority == 1


def test_over_fifty_in_a_company_gets_paper_mail() -> None:
    s = lead(
        stage="client",
        purchase_count=3,
        first_purchase_at=T0 - timedelta(days=90),
        last_purchase_at=T0 - timedelta(days=5),
        company="ООО Ромашка",
        birth_date=date(1968, 5, 1),
    )
    channels_used = {d[3] for d in walk(s, T0 + timedelta(days=200))}
    assert "paper_mail" in channels_used
    young = lead(
        stage="client",
        purchase_count=3,
        first_purchase_at=T0 - timedelta(days=90),
        last_purchase_at=T0 - timedelta(days=5),
        company="ООО Ромашка",
        birth_date=date(1995, 5, 1),
    )
    assert "paper_mail" not in {d[3] for d in walk(young, T0 + timedelta(days=200))}


def test_opt_outs_consents_and_complaints() -> None:
    s = lead(preferred_channels=["sms", "email"], consents={"sms": False})
    p = plan(s, [], [], RULES, T0)
    assert p is not None and p.channel == "email"
    out = plan(s, [Past(T0, "email", None, None, "opted_out")], [], RULES, T0)
    assert out is None  # nothing left to reach them through
    complained = plan(
        lead(),
        [Past(T0 + timedelta(days=1), "call", None, None, "complaint")],
        [],
        RULES,
        T0 + timedelta(days=2),
    )
    assert complained is not None and complained.due_at >= T0 + timedelta(days=31)


def test_when_reasons_run_out_the_touch_says_so() -> None:
    s = lead(
        stage="client",
        purchase_count=3,
        first_purchase_at=T0 - timedelta(days=90),
        last_purchase_at=T0 - timedelta(days=40),
    )
    heard = [
        Past(T0 - timedelta(days=300 - 30 * i), "email", "care", k)
        for i, k in enumerate(["thanks", "first_use", "useful"])
    ]
    heard += [
        Past(T0 - timedelta(days=200 - 30 * i), "email", "regular", r.key)
        for i, r in enumerate(RULES.reasons["regular"])
    ]
    p = plan(s, heard, [], RULES, T0)
    assert p is not None and p.needs_new_reason and "operator" in p.reason


def test_announcement_reaches_regulars_days_before() -> None:
    a = Announcement(1, "the shop moves to a new address", T0 + timedelta(days=20))
    s = lead(
        stage="regular",
        purchase_count=5,
        first_purchase_at=T0 - timedelta(days=200),
        last_purchase_at=T0 - timedelta(days=3),
    )
    p = plan(s, [], [a], RULES, T0)
    assert p is not None and p.playbook == "announcement" and p.reason_key == "announce:1"
    assert timedelta(days=12) <= p.due_at - T0 <= timedelta(days=14)
    assert plan(lead(), [], [a], RULES, T0).playbook == "lead_nurture"  # type: ignore[union-attr]


zones = st.sampled_from(["Europe/Moscow", "Asia/Vladivostok", "America/New_York", "UTC", None])


@settings(max_examples=300, deadline=None)
@given(
    offsets=st.lists(st.floats(min_value=-60, max_value=0), max_size=25),
    now_shift=st.floats(min_value=0, max_value=400),
    stage=st.sampled_from(["prospect", "lead", "buyer", "client", "regular", "adherent"]),
    status=st.sampled_from(["active", "at_risk", "lapsed"]),
    purchases=st.integers(0, 5),
    tz=zones,
    complaint=st.booleans(),
)
def test_cap_and_quiet_hours_are_never_broken(
    offsets: list[float],
    now_shift: float,
    stage: str,
    status: str,
    purchases: int,
    tz: str | None,
    complaint: bool,
) -> None:
    now = T0 + timedelta(days=now_shift)
    history = [
        Past(now + timedelta(days=o), "email", "regular", f"r{i}") for i, o in enumerate(offsets)
    ]
    if complaint and history:
        history[-1] = Past(history[-1].at, "call", None, None, "complaint")
    s = lead(
        stage=stage,
        status=status,
        purchase_count=purchases,
        timezone=tz,
        first_purchase_at=T0 if purchases else None,
        last_purchase_at=T0 if purchases else None,
    )
    p = plan(s, history, [], RULES, now)
    assert p is not None
    assert p.due_at >= now
    window = [h for h in history if p.due_at - timedelta(days=7) < h.at <= p.due_at]
    assert len(window) < RULES.cap_per_week
    assert not in_quiet_hours(p.due_at, tz, RULES)
    local = p.due_at.astimezone(ZoneInfo(tz or RULES.default_timezone)).time()
    assert RULES.quiet_end <= local < RULES.quiet_start
