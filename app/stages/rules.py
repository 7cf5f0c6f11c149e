"""Stage rules (pure): from a customer's facts to a stage, the reasons and the next step.

prospect → lead → hot_lead → buyer → client → regular → adherent → advocate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

STAGES = ("prospect", "lead", "hot_lead", "buyer", "client", "regular", "adherent", "advocate")
RANK = {s: i for i, s in enumerate(STAGES)}


class StageRules(BaseModel):
    """Thresholds of the ladder (env: TOUCHPOINT_STAGES='{"regular_min_purchases": 4}')."""

    regular_min_purchases: int = Field(
        default=3, ge=2, description="Purchases before a client can count as a regular."
    )
    regular_max_variation: float = Field(
        default=1.0,
        gt=0,
        description="Steady rhythm: standard deviation / mean of the intervals at most this.",
    )
    regular_active_factor: float = Field(
        default=2.0,
        gt=0,
        description="Still buying, when the customer's rhythm has no lapse schedule yet: the "
        "last purchase no longer ago than this × the median interval. With a schedule, a "
        "regular stays one until the moment their own rhythm makes them at risk.",
    )
    adherent_coverage_factor: float = Field(
        default=1.25,
        gt=0,
        description="Whole need covered: usual interval at most this × the category's rhythm.",
    )
    positive_review_min_rating: int = Field(default=4, ge=1, le=5)


@dataclass(frozen=True)
class Facts:
    as_of: datetime
    purchase_count: int = 0
    last_purchase_at: datetime | None = None
    # When silence makes the customer at risk by their own rhythm (app/lapse/rhythm.py, which
    # knows their week); None: judged by regular_active_factor × the median interval.
    still_buying_until: datetime | None = None
    interval_median_days: float | None = None
    interval_mean_days: float | None = None
    interval_stdev_days: float | None = None
    main_category: str | None = None
    # The configured rhythm of the main category; None when the category is unknown, and then
    # only a declaration can make an adherent.
    category_rhythm_days: float | None = None
    lead_level: str | None = None
    exclusive: bool | None = None
    best_public_rating: int | None = None
    referrals_converted: int = 0


@dataclass(frozen=True)
class Verdict:
    stage: str
    reasons: list[str]
    next_stage: str | None
    next_requirements: list[str]
    # When the answer changes by itself (a regular who stops buying), if it can.
    review_at: datetime | None = None
    checks: dict[str, bool] = field(default_factory=dict)


def _days(value: float) -> str:
    return f"{value:.0f} day" + ("" if round(value) == 1 else "s")


def evaluate(f: Facts, rules: StageRules) -> Verdict:
    reasons: list[str] = []
    if f.purchase_count == 0:
        if f.lead_level == "desire":
            return Verdict(
                "hot_lead",
                ["showed desire: asked for a quote or filled a cart"],
                "buyer",
                ["a first purchase"],
            )
        if f.lead_level == "interest":
            return Verdict(
                "lead", ["showed interest"], "hot_lead", ["ask for a quote or fill a cart"]
            )
        return Verdict(
            "prospect",
            ["a known contact without purchases yet"],
            "lead",
            ["show interest (a lead event)"],
        )
    if f.purchase_count == 1:
        return Verdict("buyer", ["1 purchase"], "client", ["a second purchase"])

    interval = f.interval_median_days or 0.0
    reasons.append(f"{f.purchase_count} purchases, median interval {_days(interval)}")
    variation = (
        f.interval_stdev_days / f.interval_mean_days
        if f.interval_stdev_days is not None and f.interval_mean_days
        else 0.0
    )
    enough = f.purchase_count >= rules.regular_min_purchases
    steady = variation <= rules.regular_max_variation
    silent = (f.as_of - f.last_purchase_at).total_seconds() / 86400 if f.last_purchase_at else 0.0
    if f.still_buying_until is not None:
        until: datetime | None = f.still_buying_until
    elif f.last_purchase_at is not None:
        allowed = rules.regular_active_factor * max(interval, 1.0)
        until = f.last_purchase_at + timedelta(days=allowed)
    else:
        until = None
    active = until is None or f.as_of < until
    review_at = until if active else None
    checks = {"enough_purchases": enough, "steady": steady, "active": active}
    if not (enough and steady and active):
        missing = []
        if not enough:
            more = rules.regular_min_purchases - f.purchase_count
            missing.append(f"{more} more purchase{'s' if more > 1 else ''}")
        if not steady:
            missing.append(
                f"a steadier rhythm (variation {variation:.2f}, at most "
                f"{rules.regular_max_variation:g})"
            )
        if not active:
            missing.append(
                f"a new purchase: silent {_days(silent)}, longer than the customer's own "
                "rhythm allows"
            )
        return Verdict("client", reasons, "regular", missing, review_at, checks)

    reasons.append(f"steady rhythm (variation {variation:.2f}); last purchase {_days(silent)} ago")
    rhythm = f.category_rhythm_days
    covers = rhythm is not None and interval <= rules.adherent_coverage_factor * rhythm
    checks["exclusive"] = bool(f.exclusive)
    checks["covers_need"] = covers
    if f.exclusive is False:
        # A withdrawn declaration outweighs the rhythm: the customer told us they shop elsewhere.
        covers = False
    if not (f.exclusive or covers):
        need = (
            f"a rhythm covering the whole need for {f.main_category} (every "
            f"{_days(rhythm)} or more often)"
            if rhythm is not None
            else "a rhythm covering the whole need of a known category"
        )
        return Verdict(
            "regular",
            reasons,
            "adherent",
            [f"to buy only from us: a declared exclusive relationship, or {need}"],
            review_at,
            checks,
        )
    if f.exclusive:
        reasons.append("declared buying only from us")
    else:
        reasons.append(
            f"buys every {_days(interval)}: covers the whole need for {f.main_category} "
            f"(usual rhythm {_days(rhythm or 0)})"
        )
    recommends = []
    if f.referrals_converted > 0:
        n = f.referrals_converted
        recommends.append(f"recommended us: {n} referred customer{'s' if n > 1 else ''} bought")
    if (f.best_public_rating or 0) >= rules.positive_review_min_rating:
        recommends.append(f"public review {f.best_public_rating}/5")
    checks["recommends"] = bool(recommends)
    if not recommends:
        return Verdict(
            "adherent",
            reasons,
            "advocate",
            [
                "to recommend us: a referred friend who buys, or a public review of "
                f"{rules.positive_review_min_rating}/5 or more"
            ],
            review_at,
            checks,
        )
    return Verdict("advocate", reasons + recommends, None, [], review_at, checks)
