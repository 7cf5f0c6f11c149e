"""The ladder's rules (pure): each stage with its exact reasons and next step, and every
threshold at its bound."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from app.stages.rules import Facts, StageRules, Verdict, evaluate

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RULES = StageRules()

# A steady coffee buyer: 4 purchases every 10 days, the last 5 days ago.
REGULAR = Facts(
    as_of=NOW,
    purchase_count=4,
    last_purchase_at=NOW - timedelta(days=5),
    interval_median_days=10.0,
    interval_mean_days=10.0,
    interval_stdev_days=2.0,
    main_category="coffee",
    category_rhythm_days=7.0,
)
REVIEW_AT = NOW - timedelta(days=5) + timedelta(days=20)
STEADY = "steady rhythm (variation 0.20); last purchase 5 days ago"
FOUR = "4 purchases, median interval 10 days"


def test_before_the_first_purchase() -> None:
    assert evaluate(Facts(as_of=NOW), RULES) == Verdict(
        "prospect",
        ["a known contact without purchases yet"],
        "lead",
        ["show interest (a lead event)"],
    )
    assert evaluate(Facts(as_of=NOW, lead_level="interest"), RULES) == Verdict(
        "lead", ["showed interest"], "hot_lead", ["ask for a quote or fill a cart"]
    )
    assert evaluate(Facts(as_of=NOW, lead_level="desire"), RULES) == Verdict(
        "hot_lead",
        ["showed desire: asked for a quote or filled a cart"],
        "buyer",
        ["a first purchase"],
    )


def test_one_purchase_is_a_buyer_whatever_else_is_known() -> None:
    one = Facts(as_of=NOW, purchase_count=1, lead_level="desire", exclusive=True)
    assert evaluate(one, RULES) == Verdict("buyer", ["1 purchase"], "client", ["a second purchase"])


def test_a_client_lacking_purchases() -> None:
    two = replace(REGULAR, purchase_count=2)
    assert evaluate(two, RULES) == Verdict(
        "client",
        ["2 purchases, median interval 10 days"],
        "regular",
        ["1 more purchase"],
        REVIEW_AT,
        {"enough_purchases": False, "steady": True, "active": True},
    )
    few = replace(REGULAR, purchase_count=2)
    assert evaluate(few, StageRules(regular_min_purchases=5)).next_requirements == [
        "3 more purchases"
    ]


def test_exactly_the_minimum_of_purchases_is_enough() -> None:
    rules = StageRules(regular_min_purchases=4)
    assert evaluate(REGULAR, rules).checks["enough_purchases"] is True
    assert evaluate(replace(REGULAR, purchase_count=3), rules).checks["enough_purchases"] is False


def test_an_unsteady_client() -> None:
    jumpy = replace(REGULAR, interval_stdev_days=10.01)
    assert evaluate(jumpy, RULES) == Verdict(
        "client",
        [FOUR],
        "regular",
        ["a steadier rhythm (variation 1.00, at most 1)"],
        REVIEW_AT,
        {"enough_purchases": True, "steady": False, "active": True},
    )
    # At the bound the rhythm still counts as steady.
    assert evaluate(replace(REGULAR, interval_stdev_days=10.0), RULES).checks["steady"] is True
    assert (
        evaluate(
            replace(REGULAR, interval_stdev_days=5.0), StageRules(regular_max_variation=0.5)
        ).checks["steady"]
        is True
    )
    assert (
        evaluate(
            replace(REGULAR, interval_stdev_days=5.01), StageRules(regular_max_variation=0.5)
        ).checks["steady"]
        is False
    )
    # Without a spread (or a mean) the rhythm is steady.
    assert evaluate(replace(REGULAR, interval_stdev_days=None), RULES).checks["steady"] is True
    assert evaluate(replace(REGULAR, interval_mean_days=0.0), RULES).checks["steady"] is True
    assert evaluate(replace(REGULAR, interval_mean_days=None), RULES).checks["steady"] is True


def test_silence_up_to_the_bound_is_still_active() -> None:
    # Allowed silence: 2 × the median interval (10 days) = 20 days; the bound itself is the
    # first moment of silence too long.
    before = replace(REGULAR, last_purchase_at=NOW - timedelta(days=20) + timedelta(seconds=1))
    verdict = evaluate(before, RULES)
    assert verdict.checks["active"] is True
    assert verdict.review_at == NOW + timedelta(seconds=1)
    at_bound = replace(REGULAR, last_purchase_at=NOW - timedelta(days=20))
    assert evaluate(at_bound, RULES) == Verdict(
        "client",
        [FOUR],
        "regular",
        ["a new purchase: silent 20 days, longer than the customer's own rhythm allows"],
        None,
        {"enough_purchases": True, "steady": True, "active": False},
    )


def test_a_tiny_interval_allows_at_least_the_factor_in_days() -> None:
    daily = replace(
        REGULAR, interval_median_days=0.25, interval_mean_days=0.25, interval_stdev_days=0.0
    )
    tick = timedelta(seconds=1)
    ok = replace(daily, last_purchase_at=NOW - timedelta(days=2) + tick)
    assert evaluate(ok, RULES).checks["active"] is True
    assert evaluate(ok, RULES).review_at == NOW + tick
    late = replace(daily, last_purchase_at=NOW - timedelta(days=2))
    assert evaluate(late, RULES).checks["active"] is False
    # No median known: the floor of one day applies too.
    unknown = replace(
        REGULAR, interval_median_days=None, last_purchase_at=NOW - timedelta(days=2) + tick
    )
    assert evaluate(unknown, RULES).checks["active"] is True
    assert evaluate(unknown, RULES).reasons[0] == "4 purchases, median interval 0 days"


def test_a_client_lacking_everything_hears_it_all_in_order() -> None:
    lapsed = replace(
        REGULAR,
        purchase_count=2,
        interval_stdev_days=30.0,
        last_purchase_at=NOW - timedelta(days=31),
        interval_median_days=1.0,
        interval_mean_days=10.0,
    )
    assert evaluate(lapsed, RULES).next_requirements == [
        "1 more purchase",
        "a steadier rhythm (variation 3.00, at most 1)",
        "a new purchase: silent 31 days, longer than the customer's own rhythm allows",
    ]


def test_a_regular_who_does_not_cover_the_need() -> None:
    slow = replace(REGULAR, category_rhythm_days=7.99)  # 10 > 1.25 × 7.99
    assert evaluate(slow, RULES) == Verdict(
        "regular",
        [FOUR, STEADY],
        "adherent",
        [
            "to buy only from us: a declared exclusive relationship, or a rhythm covering the "
            "whole need for coffee (every 8 days or more often)"
        ],
        REVIEW_AT,
        {
            "enough_purchases": True,
            "steady": True,
            "active": True,
            "exclusive": False,
            "covers_need": False,
        },
    )
    unknown = replace(REGULAR, category_rhythm_days=None, main_category=None)
    assert evaluate(unknown, RULES).next_requirements == [
        "to buy only from us: a declared exclusive relationship, or a rhythm covering the "
        "whole need of a known category"
    ]


def test_covering_the_need_at_the_bound_makes_an_adherent() -> None:
    at_bound = replace(REGULAR, category_rhythm_days=8.0)  # 10 == 1.25 × 8
    assert evaluate(at_bound, RULES) == Verdict(
        "adherent",
        [
            FOUR,
            STEADY,
            "buys every 10 days: covers the whole need for coffee (usual rhythm 8 days)",
        ],
        "advocate",
        ["to recommend us: a referred friend who buys, or a public review of 4/5 or more"],
        REVIEW_AT,
        {
            "enough_purchases": True,
            "steady": True,
            "active": True,
            "exclusive": False,
            "covers_need": True,
            "recommends": False,
        },
    )
    assert evaluate(at_bound, StageRules(adherent_coverage_factor=1.2)).stage == "regular"


def test_a_declaration_makes_an_adherent_and_its_withdrawal_outweighs_the_rhythm() -> None:
    declared = replace(REGULAR, category_rhythm_days=None, exclusive=True)
    verdict = evaluate(declared, RULES)
    assert verdict.stage == "adherent"
    assert verdict.reasons == [FOUR, STEADY, "declared buying only from us"]
    assert verdict.checks["exclusive"] is True and verdict.checks["covers_need"] is False
    # The rhythm alone would cover the need.
    withdrawn = replace(REGULAR, exclusive=False, category_rhythm_days=8.0)
    verdict = evaluate(withdrawn, RULES)
    assert verdict.stage == "regular"
    assert verdict.checks["covers_need"] is True  # what the rhythm says, shown as it is


def test_advocates_recommend_by_referral_or_public_review() -> None:
    adherent = replace(REGULAR, exclusive=True)
    one = evaluate(replace(adherent, referrals_converted=1), RULES)
    assert one == Verdict(
        "advocate",
        [
            FOUR,
            STEADY,
            "declared buying only from us",
            "recommended us: 1 referred customer bought",
        ],
        None,
        [],
        REVIEW_AT,
        {
            "enough_purchases": True,
            "steady": True,
            "active": True,
            "exclusive": True,
            "covers_need": False,
            "recommends": True,
        },
    )
    both = evaluate(replace(adherent, referrals_converted=3, best_public_rating=4), RULES)
    assert both.reasons[-2:] == ["recommended us: 3 referred customers bought", "public review 4/5"]
    assert evaluate(replace(adherent, best_public_rating=3), RULES).stage == "adherent"
    strict = StageRules(positive_review_min_rating=5)
    assert evaluate(replace(adherent, best_public_rating=4), strict).stage == "adherent"
    assert evaluate(replace(adherent, best_public_rating=4), strict).next_requirements == [
        "to recommend us: a referred friend who buys, or a public review of 5/5 or more"
    ]
    assert evaluate(replace(adherent, best_public_rating=5), strict).stage == "advocate"


@pytest.mark.parametrize(
    ("days", "text"),
    [(1.0, "1 day"), (1.4, "1 day"), (0.6, "1 day"), (1.6, "2 days"), (0.4, "0 days")],
)
def test_days_are_spelled_in_whole_days(days: float, text: str) -> None:
    facts = replace(REGULAR, interval_median_days=days)
    assert evaluate(facts, RULES).reasons[0] == f"4 purchases, median interval {text}"


def test_edges_of_the_facts() -> None:
    # No spread known: steady, whatever the allowed variation.
    no_spread = replace(REGULAR, interval_stdev_days=None)
    assert evaluate(no_spread, StageRules(regular_max_variation=0.5)).checks["steady"] is True
    # No last purchase known: no silence, and nothing to review later.
    unknown_last = replace(REGULAR, last_purchase_at=None)
    verdict = evaluate(unknown_last, StageRules(regular_active_factor=0.5))
    assert verdict.checks["active"] is True and verdict.review_at is None
    assert verdict.reasons[1] == "steady rhythm (variation 0.20); last purchase 0 days ago"
    # Plurals at two.
    assert evaluate(
        replace(REGULAR, purchase_count=2), StageRules(regular_min_purchases=4)
    ).next_requirements == ["2 more purchases"]
    two_friends = replace(REGULAR, exclusive=True, referrals_converted=2)
    assert evaluate(two_friends, RULES).reasons[-1] == "recommended us: 2 referred customers bought"
    # Without a review no rating threshold is met, not even the lowest.
    lowest = StageRules(positive_review_min_rating=1)
    assert evaluate(replace(REGULAR, exclusive=True), lowest).stage == "adherent"
    # A zero-day category rhythm (same-day buyers) is spelled as such.
    same_day = replace(
        REGULAR,
        interval_median_days=0.0,
        interval_mean_days=0.0,
        interval_stdev_days=0.0,
        category_rhythm_days=0.0,
        last_purchase_at=NOW,
    )
    assert evaluate(same_day, RULES).reasons[-1] == (
        "buys every 0 days: covers the whole need for coffee (usual rhythm 0 days)"
    )
