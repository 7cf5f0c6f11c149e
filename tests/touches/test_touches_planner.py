"""Scenarios in the product's terms, and the guardrails as properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from app.touches.catalogue import Text, catalogue
from app.touches.guardrails import in_quiet_hours, in_working_hours
from app.touches.planner import Announcement, Nothing, Past, Plan, State, plan
from app.touches.playbooks import NOT_HEARD
from app.touches.settings import TouchRules

RULES = TouchRules()
EN = catalogue("en")
T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # a Monday, 10:00 in Moscow
DAY = timedelta(days=1)


def lead(**kw: object) -> State:
    base: dict[str, object] = dict(
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


def the_plan(state: State, history: list[Past], now: datetime, **kw: object) -> Plan:
    p = plan(state, history, kw.get("news", []), RULES, EN, now)  # type: ignore[arg-type]
    assert isinstance(p, Plan), p
    return p


def walk(
    state: State, until: datetime, not_heard_every: int = 0, history: list[Past] | None = None
) -> list[tuple[Plan, str]]:
    """Do every planned touch at its due time until `until`; every n-th is not heard."""
    history = list(history or [])
    done: list[tuple[Plan, str]] = []
    now = state.first_seen_at or T0
    for n in range(1, 100):
        p = the_plan(state, history, now)
        if p.due_at > until:
            break
        outcome = "no_answer" if not_heard_every and n % not_heard_every == 0 else "reached"
        history.append(Past(p.due_at, p.channel, p.playbook, p.reason_key, outcome, step=p.step))
        done.append((p, outcome))
        now = p.due_at
    return done


def days(p: Plan, anchor: datetime = T0) -> float:
    return (p.due_at - anchor).total_seconds() / 86400


def test_a_lead_gets_seven_touches_densest_in_days_21_to_30_then_the_second_cycle() -> None:
    done = walk(lead(), T0 + timedelta(days=61))
    nurture = [p for p, _ in done if p.playbook == "lead_nurture"]
    assert [p.step for p in nurture] == [1, 2, 3, 4, 5, 6, 7]
    assert all(1 <= days(p) <= 30 for p in nurture)
    assert len([p for p in nurture if 21 <= days(p) <= 30]) >= 4
    assert len({p.reason_key for p in nurture}) == 7  # a new reason every time
    assert len({p.channel for p in nurture}) > 1  # several channels
    after = [p for p, _ in done if p.playbook != "lead_nurture"]
    assert after and after[0].playbook == "second_cycle" and after[0].step == 1
    assert days(after[0]) >= 30


def test_not_heard_fills_the_step_but_keeps_the_reason() -> None:
    done = walk(lead(), T0 + timedelta(days=61), not_heard_every=3)
    nurture = [(p, o) for p, o in done if p.playbook == "lead_nurture"]
    assert [p.step for p, _ in nurture] == [1, 2, 3, 4, 5, 6, 7]
    assert len([p for p, _ in nurture if 21 <= days(p) <= 30]) >= 4
    heard: set[str | None] = set()
    for i, (p, outcome) in enumerate(nurture):
        assert p.reason_key not in heard  # never a reason the customer heard
        if outcome in NOT_HEARD:
            assert nurture[i + 1][0].reason_key == p.reason_key if i + 1 < len(nurture) else True
        else:
            heard.add(p.reason_key)
    assert done[len(nurture)][0].playbook == "second_cycle"


def test_calendars_start_where_the_customers_dates_put_them() -> None:
    # Seen 400 days ago: second cycle, at the step of its calendar (days 60, 90 … 390, 420),
    # and not due today: day 390 was ten days ago and has expired.
    old = the_plan(lead(first_seen_at=T0 - timedelta(days=400)), [], T0)
    assert (old.playbook, old.step) == ("second_cycle", 13)
    assert old.due_at == T0 + timedelta(days=20)
    # Seven contacts on days 2–29 (the shop nurtured by hand): the second cycle.
    seen = T0 - timedelta(days=30)
    hand = [Past(seen + timedelta(days=d), "call") for d in (2, 7, 13, 21, 24, 27, 29)]
    p = the_plan(lead(first_seen_at=seen), hand, T0)
    assert (p.playbook, p.step) == ("second_cycle", 1)
    # Without them the last nurture step (day 29, alive until day 32) is due.
    p = the_plan(lead(first_seen_at=seen), [], T0)
    assert (p.playbook, p.step) == ("lead_nurture", 7)


def bought(first: datetime, last: datetime | None = None, **kw: object) -> State:
    fields: dict[str, object] = dict(
        stage="buyer",
        purchase_count=1,
        first_seen_at=first,
        first_purchase_at=first,
        last_purchase_at=last or first,
    )
    fields.update(kw)
    return lead(**fields)


def test_care_only_inside_the_care_window() -> None:
    p = the_plan(bought(T0 - timedelta(days=10)), [], T0)
    assert (p.playbook, p.step, p.reason_key) == ("care", 3, "thanks")
    assert p.due_at == T0 + timedelta(days=4)
    old = the_plan(bought(T0 - timedelta(days=900)), [], T0)
    assert old.playbook == "regular"
    assert old.due_at >= T0 and old.due_at < T0 + timedelta(days=30)
    for age in range(0, 60):
        first = T0 - timedelta(days=age)
        p = the_plan(bought(first), [], T0)
        if p.playbook == "care":
            assert p.due_at - first < timedelta(days=RULES.care_window_days)


def test_a_lost_customer_gets_a_final_win_back_then_the_slow_rhythm() -> None:
    last = T0 - timedelta(days=200)
    s = bought(
        T0 - timedelta(days=400),
        last,
        stage="client",
        purchase_count=3,
        status="lost",
        at_risk_at=T0 - timedelta(days=120),
        lost_at=T0 - DAY,
    )
    final = the_plan(s, [], T0)
    assert final.playbook == "win_back" and final.offer and final.priority == 1
    done = [Past(final.due_at, final.channel, "win_back", final.reason_key, step=final.step)]
    after = the_plan(s, done, final.due_at)
    assert after.playbook == "regular" and after.offer is None
    assert after.due_at - final.due_at >= timedelta(days=RULES.lost_every_days)
    # Lost long ago: the final attempt's day has passed, only the slow rhythm remains.
    long_ago = the_plan(
        bought(
            T0 - timedelta(days=900),
            T0 - timedelta(days=800),
            status="lost",
            at_risk_at=T0 - timedelta(days=700),
            lost_at=T0 - timedelta(days=300),
        ),
        [],
        T0,
    )
    assert long_ago.playbook == "regular"


def test_a_lapsed_regular_gets_a_win_back_with_an_offer() -> None:
    s = bought(
        T0 - timedelta(days=400),
        T0 - timedelta(days=120),
        stage="regular",
        purchase_count=8,
        status="lapsed",
        at_risk_at=T0 - timedelta(days=2),
    )
    p = the_plan(s, [], T0)
    assert (p.playbook, p.step, p.priority) == ("win_back", 1, 1)
    assert p.offer and "bonus" in p.offer


def test_a_plan_stays_put_until_it_expires() -> None:
    s = lead()
    first = the_plan(s, [], T0)
    for hours in range(0, 24 * 3 + 47, 7):
        now = T0 + timedelta(hours=hours)
        p = the_plan(s, [], now)
        if now < first.expires_at:
            assert p.identity == first.identity
        else:
            assert p.step == first.step + 1


def test_business_customers_on_working_days_in_working_hours() -> None:
    # A Friday evening slot in Vladivostok moves to Monday morning there.
    friday_evening = datetime(2026, 3, 6, 9, 30, tzinfo=UTC)  # 19:30 local
    seen = friday_evening - 2 * DAY  # the first nurture step falls on Friday evening
    s = lead(company="ООО Ромашка", timezone="Asia/Vladivostok", first_seen_at=seen)
    p = the_plan(s, [], seen)
    local = p.due_at.astimezone(ZoneInfo("Asia/Vladivostok"))
    assert local.isoweekday() == 1 and local.hour == 9 and local.minute == 0


def test_over_fifty_in_a_company_gets_paper_mail() -> None:
    s = bought(
        T0 - timedelta(days=90),
        T0 - timedelta(days=5),
        stage="client",
        purchase_count=3,
        company="ООО Ромашка",
        birth_date=date(1968, 5, 1),
    )
    assert "paper_mail" in {p.channel for p, _ in walk(s, T0 + timedelta(days=200))}
    young = bought(
        T0 - timedelta(days=90),
        T0 - timedelta(days=5),
        stage="client",
        purchase_count=3,
        company="ООО Ромашка",
        birth_date=date(1995, 5, 1),
    )
    assert "paper_mail" not in {p.channel for p, _ in walk(young, T0 + timedelta(days=200))}


def test_nothing_to_plan_says_why() -> None:
    s = lead(preferred_channels=["sms", "email"], consents={"sms": False})
    assert the_plan(s, [], T0).channel == "email"
    out = plan(s, [Past(T0, "email", None, None, "opted_out")], [], RULES, EN, T0)
    assert isinstance(out, Nothing) and out.why == "no_consent"
    withdrawn = lead(consents={ch: False for ch in ("email", "messenger", "sms", "call", "push")})
    nothing = plan(withdrawn, [], [], RULES, EN, T0)
    assert isinstance(nothing, Nothing) and nothing.why == "no_consent" and nothing.explanation
    complained = the_plan(lead(), [Past(T0 + DAY, "call", None, None, "complaint")], T0 + 2 * DAY)
    assert complained.due_at >= T0 + timedelta(days=31)


def test_when_reasons_run_out_the_touch_says_so() -> None:
    s = bought(T0 - timedelta(days=300), T0 - timedelta(days=40), stage="client", purchase_count=3)
    heard = [
        Past(T0 - timedelta(days=200 - 25 * i), "email", "regular", key, step=1)
        for i, key in enumerate(RULES.playbook_reasons["regular"])
    ]
    p = the_plan(s, heard, T0)
    assert p.needs_new_reason and "operator" in p.reason


def test_announcements_reach_their_audience_with_details() -> None:
    a = Announcement(
        1, "new opening hours", T0 + timedelta(days=20), "from 8:00", 1, frozenset({"coffee"})
    )
    s = bought(
        T0 - timedelta(days=200),
        T0 - timedelta(days=3),
        stage="regular",
        purchase_count=5,
        categories=frozenset({"coffee"}),
    )
    p = the_plan(s, [], T0, news=[a])
    assert (p.playbook, p.reason_key, p.details) == ("announcement", "announce:1", "from 8:00")
    assert timedelta(days=12) <= p.due_at - T0 <= timedelta(days=14)
    assert "new opening hours" in p.script[0] and "from 8:00" in p.script
    books = bought(
        T0 - timedelta(days=200), T0 - timedelta(days=3), stage="regular", purchase_count=5
    )
    assert the_plan(books, [], T0, news=[a]).playbook != "announcement"
    staged = Announcement(2, "x", T0 + timedelta(days=20), stages=frozenset({"lead"}))
    assert the_plan(lead(), [], T0, news=[staged]).playbook == "announcement"


def test_the_catalogue_speaks_russian_by_default_and_takes_the_shops_words() -> None:
    ru = catalogue("ru")
    p = plan(lead(), [], [], RULES, ru, T0)
    assert isinstance(p, Plan) and p.reason == "спасибо за интерес"
    own = catalogue("ru", {"lead_nurture.welcome": Text(text="рады знакомству", script=["…"])})
    p = plan(lead(), [], [], RULES, own, T0)
    assert isinstance(p, Plan) and (p.reason, p.script) == ("рады знакомству", ["…"])
    assert set(catalogue("ru")) == set(catalogue("en"))


zones = st.sampled_from(["Europe/Moscow", "Asia/Vladivostok", "America/New_York", "UTC", None])


@settings(max_examples=300, deadline=None)
@given(
    offsets=st.lists(st.floats(min_value=-60, max_value=0), max_size=25),
    now_shift=st.floats(min_value=0, max_value=400),
    stage=st.sampled_from(["prospect", "lead", "buyer", "client", "regular", "adherent"]),
    status=st.sampled_from(["active", "at_risk", "lapsed", "lost"]),
    purchases=st.integers(0, 5),
    tz=zones,
    complaint=st.booleans(),
    company=st.booleans(),
)
def test_cap_and_hours_are_never_broken(
    offsets: list[float],
    now_shift: float,
    stage: str,
    status: str,
    purchases: int,
    tz: str | None,
    complaint: bool,
    company: bool,
) -> None:
    now = T0 + timedelta(days=now_shift)
    history = [
        Past(now + timedelta(days=o), "email", "regular", f"r{i}", step=1)
        for i, o in enumerate(offsets)
    ]
    if complaint and history:
        history[-1] = Past(history[-1].at, "call", None, None, "complaint")
    s = lead(
        stage=stage,
        status=status,
        purchase_count=purchases,
        timezone=tz,
        company="ООО Ромашка" if company else None,
        first_purchase_at=T0 if purchases else None,
        last_purchase_at=T0 if purchases else None,
        at_risk_at=T0 + DAY if status != "active" else None,
        lost_at=T0 + 2 * DAY if status == "lost" else None,
    )
    p = the_plan(s, history, now)
    assert p.expires_at > now  # never a touch already expired
    window = [h for h in history if p.due_at - timedelta(days=7) < h.at <= p.due_at]
    assert len(window) < RULES.cap_per_week
    if company:
        assert in_working_hours(p.due_at, tz, RULES)
    else:
        assert not in_quiet_hours(p.due_at, tz, RULES)
