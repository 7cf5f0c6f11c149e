"""Playbooks: their reasons (keys, in the order they are used) and what kind of touch each is.

The words of each reason (text and script, in Russian and English) live in
`app/touches/catalogue.py`; a shop may reorder, drop or add keys here by configuration
(`TOUCHPOINT_TOUCHES='{"playbook_reasons": {...}}'`) and give new keys their words there.
"""

from __future__ import annotations

DEFAULT_PLAYBOOK_REASONS: dict[str, list[str]] = {
    "lead_nurture": [
        "welcome",
        "guide",
        "case",
        "new_product",
        "schedule",
        "event",
        "price",
        "last_call",
        "question",
    ],
    "second_cycle": ["news", "seasonal", "review", "check_in", "bonus"],
    "care": ["thanks", "first_use", "useful"],
    "regular": ["novelty", "tips", "schedule", "survey", "club", "birthday"],
    "win_back": ["miss_you", "what_went_wrong", "new_since", "last_offer"],
    "referral_ask": ["friend_bonus", "share"],
}

# Playbooks that sell; they pause after a complaint. Care and announcements never do.
SALES = frozenset({"lead_nurture", "second_cycle", "regular", "win_back", "referral_ask"})

# Outcomes meaning the customer did not hear the touch: an attempt (it counts towards the caps
# and fills its step of the calendar), but the reason is not used up.
NOT_HEARD = frozenset({"no_answer", "busy", "bounced"})

# The priority of each playbook's touches (1 most urgent).
PRIORITY = {
    "announcement": 1,
    "win_back": 1,
    "lead_nurture": 2,
    "care": 2,
    "referral_ask": 3,
    "regular": 3,
    "second_cycle": 4,
}
