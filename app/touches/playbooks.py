"""Playbooks and their catalogue of reasons (configuration with documented defaults)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Reason(BaseModel):
    key: str
    text: str
    script: list[str] = Field(default_factory=list)


def _r(key: str, text: str, *script: str) -> Reason:
    return Reason(key=key, text=text, script=list(script))


DEFAULT_REASONS: dict[str, list[Reason]] = {
    "lead_nurture": [
        _r(
            "welcome",
            "thanks for your interest",
            "Thank them for reaching out",
            "Ask what they need",
        ),
        _r(
            "guide",
            "a short guide to choosing",
            "Send the buying guide",
            "Offer help with the choice",
        ),
        _r("case", "how another customer solved the same need", "Tell one customer story"),
        _r("new_product", "a new product arrived", "Present the novelty", "Tie it to their need"),
        _r("schedule", "the schedule changed", "Share the new opening hours or delivery days"),
        _r("event", "an invitation to a tasting / demo day", "Invite them, give the date"),
        _r("price", "prices change next month", "Lock today's price for them"),
        _r(
            "last_call",
            "the offer we prepared ends this week",
            "Remind of the offer",
            "Ask for a decision",
        ),
        _r("question", "one question about their plans", "Ask when they plan to decide"),
    ],
    "second_cycle": [
        _r("news", "what is new this month", "Share the month's news"),
        _r("seasonal", "the season's selection", "Present the seasonal choice"),
        _r("review", "what customers say", "Share two reviews"),
        _r("check_in", "is the need still there", "Ask if the need is still current"),
        _r("bonus", "a welcome bonus on the first order", "Offer the welcome bonus"),
    ],
    "care": [
        _r("thanks", "thank you for the purchase", "Thank them", "Tell how to reach support"),
        _r(
            "first_use",
            "help with the first use",
            "Ask how the first use went",
            "Offer instructions",
        ),
        _r("useful", "something useful about the purchase", "Share care tips (not a sale)"),
    ],
    "regular": [
        _r("novelty", "a novelty in their favourite category", "Present what is new"),
        _r("tips", "tips for what they bought", "Share a tip"),
        _r("schedule", "the schedule changed", "Tell about the new hours or delivery"),
        _r("survey", "their opinion matters", "Ask two questions about the service"),
        _r("club", "members' news", "Share what regulars get this month"),
        _r("birthday", "a small gift on their birthday", "Congratulate, give the gift"),
    ],
    "win_back": [
        _r("miss_you", "we miss you", "Ask what changed", "Offer the bonus"),
        _r(
            "what_went_wrong",
            "did something go wrong",
            "Ask for honest feedback",
            "Offer the bonus",
        ),
        _r(
            "new_since",
            "what changed since their last visit",
            "Show what is new",
            "Offer the bonus",
        ),
        _r("last_offer", "a personal offer", "Make the offer", "Ask for a date"),
    ],
    "referral_ask": [
        _r("friend_bonus", "a bonus for the friend they recommend", "Explain the referral bonus"),
        _r("share", "share us with a colleague", "Ask who else could benefit"),
    ],
}

# Playbooks that sell; they pause after a complaint. Care and announcements never do.
SALES = frozenset({"lead_nurture", "second_cycle", "regular", "win_back", "referral_ask"})
