"""The pure rules of facts, without a database: the clock-skew bound and the currency, orders
and refunds at their bounds, the body hash that tells a repeat from a conflict, and the fold of
facts into a customer."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.settings import Settings
from app.customers.models import Customer
from app.events.rules import (
    FutureEvent,
    OrderExists,
    OrderState,
    RefundTooLarge,
    UnknownOrder,
    WrongCurrency,
    apply_refund,
    check_event,
    check_purchase,
    fold,
)
from app.events.schemas import occurred_key
from app.events.service import body_hash, event_adapter
from tests import factories as f

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings()


def event(body: dict[str, Any]) -> Any:
    return event_adapter.validate_python(body)


def fresh() -> Customer:
    return Customer(external_id="c1", profile_versions={}, contact_count=0, review_count=0)


def occurring(body: dict[str, Any], when: datetime) -> dict[str, Any]:
    return body | {"occurred_at": when.isoformat()}


# The clock-skew bound -----------------------------------------------------------------------


@pytest.mark.parametrize("skew", [0, 300, 3600])
def test_an_event_exactly_at_the_skew_bound_is_accepted_a_microsecond_later_refused(
    skew: int,
) -> None:
    config = Settings(max_future_skew_seconds=skew)
    bound = NOW + timedelta(seconds=skew)
    check_event(event(occurring(f.contact("c1"), bound)), config, NOW)
    with pytest.raises(FutureEvent) as refused:
        check_event(
            event(occurring(f.contact("c1"), bound + timedelta(microseconds=1))), config, NOW
        )
    assert refused.value.status == 422
    assert refused.value.type_uri.endswith("/event-in-future")
    assert refused.value.detail == f"occurred_at is more than {skew} s in the future"


def test_past_events_are_never_too_early() -> None:
    check_event(event(occurring(f.purchase("c1"), NOW - timedelta(days=3650))), SETTINGS, NOW)


def test_the_bound_holds_whatever_offset_the_time_is_written_in() -> None:
    moscow = timezone(timedelta(hours=3))
    at_bound = (NOW + timedelta(seconds=300)).astimezone(moscow)
    check_event(event(occurring(f.contact("c1"), at_bound)), SETTINGS, NOW)
    with pytest.raises(FutureEvent):
        check_event(
            event(occurring(f.contact("c1"), at_bound + timedelta(seconds=1))), SETTINGS, NOW
        )


def test_only_the_deployment_currency_is_accepted_for_purchases() -> None:
    check_event(event(f.purchase("c1")), SETTINGS, NOW)  # RUB, the default
    with pytest.raises(WrongCurrency) as refused:
        check_event(event(f.purchase("c1") | {"currency": "EUR"}), SETTINGS, NOW)
    assert refused.value.status == 422
    assert refused.value.extra == {"accepted_currency": "RUB"}
    assert refused.value.detail == "This deployment accepts RUB only, not EUR."
    euro_shop = Settings(currency="EUR")
    check_event(event(f.purchase("c1") | {"currency": "EUR"}), euro_shop, NOW)
    with pytest.raises(WrongCurrency):
        check_event(event(f.purchase("c1")), euro_shop, NOW)
    # A refund carries no currency: it is the order's.
    check_event(event(f.refund("c1", "o1", "10.00")), euro_shop, NOW)


# Orders and refunds ------------------------------------------------------------------------


def test_a_second_purchase_of_one_order_is_refused() -> None:
    check_purchase("o2", {"o1": OrderState(1, 100_000, 0)})
    with pytest.raises(OrderExists) as refused:
        check_purchase("o1", {"o1": OrderState(1, 100_000, 0)})
    assert refused.value.status == 409
    assert refused.value.detail == "Order 'o1' was already recorded by another event."


def test_a_refund_of_exactly_what_is_left_and_one_kopeck_more() -> None:
    order = OrderState(customer_pk=7, amount_minor=100_000, refunded_minor=60_000)
    with pytest.raises(RefundTooLarge) as refused:
        apply_refund("o1", 7, "c1", 40_001, order)
    assert refused.value.status == 422
    assert refused.value.extra == {"refundable": "400.00"}
    assert refused.value.detail == "Order 'o1' has 400.00 left to refund."
    assert order.refunded_minor == 60_000  # a refused refund changes nothing
    apply_refund("o1", 7, "c1", 40_000, order)
    assert order.refunded_minor == 100_000
    with pytest.raises(RefundTooLarge) as nothing_left:
        apply_refund("o1", 7, "c1", 1, order)
    assert nothing_left.value.extra == {"refundable": "0.00"}


def test_refunds_add_up_on_the_order() -> None:
    order = OrderState(customer_pk=7, amount_minor=1_000, refunded_minor=0)
    for _ in range(4):
        apply_refund("o1", 7, "c1", 250, order)
    assert order.refunded_minor == 1_000


def test_a_refund_names_an_order_of_the_same_customer() -> None:
    for order in (None, OrderState(customer_pk=8, amount_minor=100_000, refunded_minor=0)):
        with pytest.raises(UnknownOrder) as refused:
            apply_refund("o1", 7, "c1", 100, order)
        assert refused.value.status == 422
        assert refused.value.detail == (
            "No order 'o1' is recorded for customer 'c1'; send the purchase first."
        )


# The body hash ------------------------------------------------------------------------------


def test_equal_bodies_hash_equally_however_they_are_written() -> None:
    body = f.purchase("c1", amount="100.50", order_id="o1", event_id="e1")
    h = body_hash(event(body))
    assert len(h) == 64 and int(h, 16) >= 0
    assert body_hash(event(body | {"amount": 100.5})) == h
    assert body_hash(event(body | {"amount": "100.5"})) == h
    assert body_hash(event(dict(reversed(body.items())))) == h


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "100.51"},
        {"order_id": "o2"},
        {"customer_id": "c2"},
        {"event_id": "e2"},
        {"occurred_at": "2026-01-05T10:00:01Z"},
        {"category": "coffee"},
    ],
)
def test_any_change_of_the_body_changes_the_hash(change: dict[str, Any]) -> None:
    body = f.purchase("c1", amount="100.50", order_id="o1", event_id="e1")
    assert body_hash(event(body | change)) != body_hash(event(body))


# The version stamp --------------------------------------------------------------------------


def test_occurred_key_is_utc_whatever_the_machine_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Vladivostok")
    time.tzset()
    try:
        assert occurred_key(NOW, "e1") == "2026-03-01T12:00:00.000000|e1"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_occurred_key_orders_by_time_in_utc_then_event_id() -> None:
    moscow = timezone(timedelta(hours=3))
    assert occurred_key(NOW, "e1") == "2026-03-01T12:00:00.000000|e1"
    assert occurred_key(NOW.astimezone(moscow), "e1") == occurred_key(NOW, "e1")
    assert occurred_key(NOW, "e1") < occurred_key(NOW, "e2")
    assert occurred_key(NOW, "e9") < occurred_key(NOW + timedelta(microseconds=1), "e1")


# The fold -----------------------------------------------------------------------------------


def test_first_seen_and_last_event_are_the_min_and_max_of_occurrence() -> None:
    c = fresh()
    fold(c, event(occurring(f.contact("c1"), NOW)))
    assert (c.first_seen_at, c.last_event_at) == (NOW, NOW)
    fold(c, event(occurring(f.review("c1"), NOW - timedelta(days=2))))
    fold(c, event(occurring(f.lead("c1"), NOW + timedelta(days=1))))
    fold(c, event(occurring(f.lead("c1"), NOW - timedelta(days=1))))
    assert c.first_seen_at == NOW - timedelta(days=2)
    assert c.last_event_at == NOW + timedelta(days=1)


def test_contacts_are_counted_and_the_latest_kept() -> None:
    c = fresh()
    fold(c, event(occurring(f.contact("c1"), NOW)))
    fold(c, event(occurring(f.contact("c1"), NOW - timedelta(days=1))))
    fold(c, event(occurring(f.review("c1"), NOW + timedelta(days=1))))
    assert c.contact_count == 2
    assert c.last_contact_at == NOW
    blank = Customer(external_id="c2", profile_versions={})  # counters not yet set
    fold(blank, event(occurring(f.contact("c2"), NOW)))
    assert blank.contact_count == 1 and blank.last_contact_at == NOW


def test_a_lead_only_moves_up_and_keeps_its_first_moment() -> None:
    c = fresh()
    fold(c, event(occurring(f.lead("c1", level="interest"), NOW)))
    assert (c.lead_level, c.lead_at) == ("interest", NOW)
    fold(c, event(occurring(f.lead("c1", level="desire"), NOW + timedelta(days=1))))
    assert (c.lead_level, c.lead_at) == ("desire", NOW)
    fold(c, event(occurring(f.lead("c1", level="interest"), NOW - timedelta(days=1))))
    assert (c.lead_level, c.lead_at) == ("desire", NOW - timedelta(days=1))
    fold(c, event(occurring(f.lead("c1", level="desire"), NOW + timedelta(days=2))))
    assert c.lead_level == "desire"
    other = fresh()
    fold(other, event(occurring(f.lead("c1", level="desire"), NOW)))
    fold(other, event(occurring(f.lead("c1", level="interest"), NOW)))
    assert other.lead_level == "desire"


def test_the_latest_referral_wins_ties_broken_by_event_id() -> None:
    c = fresh()
    fold(c, event(occurring(f.referral("c1", "r1") | {"event_id": "b"}, NOW)))
    assert c.referrer_id == "r1" and c.referrer_version == occurred_key(NOW, "b")
    fold(c, event(occurring(f.referral("c1", "r2") | {"event_id": "a"}, NOW)))
    assert c.referrer_id == "r1"  # same moment, smaller event id: older
    fold(c, event(occurring(f.referral("c1", "r3") | {"event_id": "c"}, NOW)))
    assert c.referrer_id == "r3"
    fold(c, event(occurring(f.referral("c1", "r4"), NOW - timedelta(days=1))))
    assert c.referrer_id == "r3"
    fold(c, event(occurring(f.referral("c1", "r5") | {"event_id": "c"}, NOW)))
    assert c.referrer_id == "r3"  # the same version does not replace


def test_reviews_are_counted_and_only_public_ones_rate() -> None:
    c = fresh()
    fold(c, event(f.review("c1", rating=5, public=False)))
    assert (c.review_count, c.best_public_rating) == (1, None)
    fold(c, event(f.review("c1", rating=3, public=True)))
    assert (c.review_count, c.best_public_rating) == (2, 3)
    fold(c, event(f.review("c1", rating=4, public=True)))
    fold(c, event(f.review("c1", rating=2, public=True)))
    assert (c.review_count, c.best_public_rating) == (4, 4)
    blank = Customer(external_id="c2", profile_versions={})
    fold(blank, event(f.review("c2", rating=1, public=True)))
    assert (blank.review_count, blank.best_public_rating) == (1, 1)


def test_profile_fields_are_last_writer_wins_field_by_field() -> None:
    c = fresh()
    fold(
        c,
        event(
            occurring(
                f.profile(
                    "c1",
                    event_id="p1",
                    email="a@example.com",
                    phone="+7 900 000-00-00",
                    preferred_channels=["sms", "email"],
                    consents={"sms": True, "email": False},
                    exclusive=True,
                ),
                NOW,
            )
        ),
    )
    assert c.email == "a@example.com" and c.phone == "+7 900 000-00-00"
    assert c.preferred_channels == ["sms", "email"]
    assert c.consents == {"email": False, "sms": True}
    assert list(c.consents) == ["email", "sms"]
    assert c.exclusive is True
    assert c.profile_versions == {
        name: occurred_key(NOW, "p1")
        for name in ("email", "phone", "preferred_channels", "consents", "exclusive")
    }
    # An older event changes nothing; a newer one only the fields it carries.
    fold(c, event(occurring(f.profile("c1", email="old@example.com"), NOW - timedelta(1))))
    assert c.email == "a@example.com"
    fold(
        c,
        event(
            occurring(
                f.profile("c1", event_id="p2", email="b@example.com", company="Acme"),
                NOW + timedelta(1),
            )
        ),
    )
    assert (c.email, c.company, c.phone) == ("b@example.com", "Acme", "+7 900 000-00-00")
    assert c.profile_versions["email"] == occurred_key(NOW + timedelta(1), "p2")
    assert c.profile_versions["phone"] == occurred_key(NOW, "p1")
    # An explicit null clears a field; the same version does not apply twice.
    fold(c, event(occurring(f.profile("c1", event_id="p3", exclusive=None), NOW + timedelta(2))))
    assert c.exclusive is None
    fold(c, event(occurring(f.profile("c1", event_id="p3", company="Other"), NOW + timedelta(2))))
    assert c.company == "Other"
    fold(c, event(occurring(f.profile("c1", event_id="p3", company="Again"), NOW + timedelta(2))))
    assert c.company == "Other"
    fold(c, event(occurring(f.profile("c1", birth_date="1980-02-03"), NOW)))
    assert c.birth_date == date(1980, 2, 3)
    fold(c, event(occurring(f.profile("c1", preferred_channels=None), NOW + timedelta(3))))
    assert c.preferred_channels is None
    # A field already newer is skipped; the event's other fields still apply.
    fold(
        c,
        event(
            occurring(
                f.profile("c1", email="stale@example.com", timezone="Europe/Moscow"),
                NOW + timedelta(0.5),
            )
        ),
    )
    assert (c.email, c.timezone) == ("b@example.com", "Europe/Moscow")


def test_the_fold_stores_plain_json_values() -> None:
    c = fresh()
    fold(c, event(f.profile("c1", preferred_channels=["sms"], consents={"push": True})))
    assert c.preferred_channels is not None and c.consents is not None
    assert [type(ch) for ch in c.preferred_channels] == [str]
    assert [type(ch) for ch in c.consents] == [str]
    fold(c, event(occurring(f.profile("c1", consents=None), NOW + timedelta(days=3650))))
    assert c.consents is None


_KINDS = st.sampled_from(["contact", "lead", "desire", "referral", "review", "profile"])


def _body(kind: str, i: int, day: int, rating: int) -> dict[str, Any]:
    at = NOW - timedelta(days=day)
    bodies = {
        "contact": f.contact("c1"),
        "lead": f.lead("c1"),
        "desire": f.lead("c1", level="desire"),
        "referral": f.referral("c1", f"r{i}"),
        "review": f.review("c1", rating=rating, public=i % 2 == 0),
        "profile": f.profile("c1", email=f"u{i}@example.com", company=f"co{i % 3}"),
    }
    return occurring(bodies[kind], at) | {"event_id": f"e{i:03d}"}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(_KINDS, st.integers(0, 3), st.integers(1, 5)), min_size=1, max_size=8
    ).flatmap(lambda xs: st.permutations(list(enumerate(xs))).map(lambda p: (xs, p)))
)
def test_the_fold_does_not_depend_on_arrival_order(data: Any) -> None:
    specs, shuffled = data
    in_order, reordered = fresh(), fresh()
    for i, (kind, day, rating) in enumerate(specs):
        fold(in_order, event(_body(kind, i, day, rating)))
    for i, (kind, day, rating) in shuffled:
        fold(reordered, event(_body(kind, i, day, rating)))
    columns = [
        "first_seen_at",
        "last_event_at",
        "contact_count",
        "last_contact_at",
        "lead_level",
        "lead_at",
        "referrer_id",
        "review_count",
        "best_public_rating",
        "email",
        "company",
        "profile_versions",
    ]
    assert [getattr(in_order, n) for n in columns] == [getattr(reordered, n) for n in columns]
