"""The product's examples: a coffee drinker is flagged within days, a furniture buyer after ~18
months; rhythms that change; one odd gap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.settings import Settings
from app.lapse.rhythm import LapseRules, Schedule, plan, statuses_between, usual_interval

RULES = LapseRules()
CONFIG = Settings()
T0 = datetime(2025, 1, 1, 9, tzinfo=UTC)


def status_after(times: list[datetime], category: str, silence_days: float) -> str:
    sched = plan(times, CONFIG.rhythm_days(category), RULES)
    assert sched is not None
    return sched.status_at(max(times) + timedelta(days=silence_days))


def test_coffee_five_times_a_week_is_flagged_within_three_to_five_days() -> None:
    times = [T0 + timedelta(days=1.4 * i) for i in range(30)]  # 5 a week, evenly
    assert status_after(times, "coffee", 3.0) == "active"
    assert status_after(times, "coffee", 5.0) == "at_risk"
    assert status_after(times, "coffee", 6.0) == "lapsed"


def test_monday_to_friday_buyer_is_not_missed_over_the_weekend() -> None:
    monday = datetime(2025, 1, 6, 9, tzinfo=UTC)
    times = [monday + timedelta(days=7 * week + day) for week in range(4) for day in range(5)]
    friday = times[-1]
    assert friday.weekday() == 4
    assert status_after(times, "Кофе", 2.9) == "active"  # Sunday night
    sched = plan(times, CONFIG.rhythm_days("Кофе"), RULES)
    assert sched is not None
    assert sched.at_risk_at < friday + timedelta(days=5)  # by Wednesday 09:00
    # Weekdays are the customer's own: the usual interval reads ~7/5 days, not 1.
    assert 1.3 < sched.usual_interval_days < 1.5


def test_a_saturday_buyer_may_miss_one_saturday() -> None:
    saturday = datetime(2025, 1, 4, 10, tzinfo=UTC)
    times = [saturday + timedelta(weeks=w) for w in range(10)]
    assert status_after(times, "groceries", 8) == "active"
    assert status_after(times, "groceries", 15) == "at_risk"


def test_irregular_but_steady_buyer_is_judged_by_their_own_long_gaps() -> None:
    gaps = [2, 9, 4, 12, 3, 8, 5, 11, 2, 10]
    times = [T0]
    for g in gaps:
        times.append(times[-1] + timedelta(days=g))
    assert status_after(times, "", 11.0) == "active"  # a gap the customer often leaves
    assert status_after(times, "", 16.0) == "at_risk"


def test_furniture_is_due_after_about_eighteen_months_not_before() -> None:
    times = [T0]
    assert status_after(times, "furniture", 30 * 17) == "active"
    assert status_after(times, "furniture", 30 * 19) == "at_risk"
    sched = plan(times, CONFIG.rhythm_days("Мебель/Диваны"), RULES)
    assert sched is not None
    due = sched.at_risk_at
    assert 17.5 <= (due - T0).days / 30.44 <= 18.5


def test_rhythm_speeding_up_and_slowing_down() -> None:
    monthly = [T0 + timedelta(days=30 * i) for i in range(6)]
    weekly = [monthly[-1] + timedelta(days=7 * (i + 1)) for i in range(12)]
    faster = usual_interval(monthly + weekly, 30, RULES)
    assert 7 <= faster < 10  # the recent weekly rhythm, not the old monthly one
    slower = usual_interval(
        weekly + [weekly[-1] + timedelta(days=30 * (i + 1)) for i in range(12)], 30, RULES
    )
    assert slower >= 28


def test_one_odd_gap_does_not_move_the_rhythm() -> None:
    gaps = [7, 7, 7, 90, 7, 7, 7]
    times = [T0]
    for g in gaps:
        times.append(times[-1] + timedelta(days=g))
    assert 7 <= usual_interval(times, 7, RULES) < 7.5


def test_category_fallback_while_history_is_short() -> None:
    assert usual_interval([T0], 365, RULES) == 365
    two = usual_interval([T0, T0 + timedelta(days=10)], 30, RULES)
    assert two == (10 + 30) / 2  # one own interval weighs like the category's rhythm


@settings(max_examples=100, deadline=None)
@given(
    gaps=st.lists(st.floats(0.01, 400), min_size=0, max_size=30),
    category_days=st.floats(0.5, 800),
    silence=st.floats(0, 5000),
)
def test_status_only_moves_forward_with_silence(
    gaps: list[float], category_days: float, silence: float
) -> None:
    times = [T0]
    for g in gaps:
        times.append(times[-1] + timedelta(days=g))
    interval = usual_interval(times, category_days, RULES)
    assert interval >= RULES.min_interval_days
    sched = plan(times, category_days, RULES, "Europe/Moscow")
    assert sched is not None and sched.at_risk_at <= sched.lapse_at <= sched.lost_at
    order = ["active", "at_risk", "lapsed", "lost"]
    now = times[-1] + timedelta(days=silence)
    later = now + timedelta(days=1)
    assert order.index(sched.status_at(later)) >= order.index(sched.status_at(now))


def test_statuses_entered_in_order() -> None:
    assert statuses_between("active", "lapsed") == ["at_risk", "lapsed"]
    assert statuses_between("lapsed", "at_risk") == []


TEN_DAYS = Schedule(
    usual_interval_days=10.0,
    at_risk_at=T0 + timedelta(days=15),
    lapse_at=T0 + timedelta(days=30),
    lost_at=T0 + timedelta(days=60),
)


def test_each_status_begins_exactly_at_its_moment() -> None:
    sched = TEN_DAYS
    tick = timedelta(microseconds=1)
    for moment, before, status in (
        (sched.at_risk_at, "active", "at_risk"),
        (sched.lapse_at, "at_risk", "lapsed"),
        (sched.lost_at, "lapsed", "lost"),
    ):
        assert sched.status_at(moment - tick) == before
        assert sched.status_at(moment) == status


def test_the_next_change_is_the_first_moment_strictly_after() -> None:
    sched = TEN_DAYS
    assert sched.next_change_after(T0) == sched.at_risk_at
    assert sched.next_change_after(sched.at_risk_at) == sched.lapse_at
    assert sched.next_change_after(sched.lapse_at - timedelta(microseconds=1)) == sched.lapse_at
    assert sched.next_change_after(sched.lapse_at) == sched.lost_at
    assert sched.next_change_after(sched.lost_at) is None


def test_the_interval_is_the_median_of_the_recent_ones_blended_and_floored() -> None:
    gaps = [100, 1, 2, 3, 4]
    times = [T0]
    for g in gaps:
        times.append(times[-1] + timedelta(days=g))
    # All five intervals: median 3, blended with the category (weight 1): (5 × 3 + 9) / 6.
    assert usual_interval(times, 9, RULES) == (5 * 3 + 9) / 6
    # The latest two only: median 3.5, (2 × 3.5 + 9) / 3.
    assert usual_interval(times, 9, LapseRules(recent_intervals=2)) == (2 * 3.5 + 9) / 3
    assert usual_interval(times, 9, LapseRules(category_weight=0)) == 3
    assert usual_interval(list(reversed(times)), 9, LapseRules(category_weight=0)) == 3
    same_day = [T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2)]
    assert usual_interval(same_day, 0.1, RULES) == RULES.min_interval_days
    assert usual_interval([T0], 0.1, RULES) == RULES.min_interval_days
    assert usual_interval([T0], 0.7, RULES) == 0.7


def test_statuses_between_every_pair() -> None:
    assert statuses_between("active", "active") == []
    assert statuses_between("active", "at_risk") == ["at_risk"]
    assert statuses_between("at_risk", "lost") == ["lapsed", "lost"]
    assert statuses_between("active", "lost") == ["at_risk", "lapsed", "lost"]
    assert statuses_between("lost", "active") == []
