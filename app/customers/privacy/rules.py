"""What erasure removes and how (pure; no I/O).

Personal data is what names or reaches a person: listed once, here. The rest of the profile
(time zone, channel preferences, consents, the "buys only from us" flag) describes no one and
is kept, because the derived state (stage, next touch) was computed from it and a rebuild from
the redacted events must give the same answers.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

# Every personal profile column, whether this schema has it yet or not (`name` and
# `postal_address` arrive with the richer profile): erasure clears those the model has.
PERSONAL_PROFILE_FIELDS: tuple[str, ...] = (
    "name",
    "email",
    "phone",
    "postal_address",
    "birth_date",
    "company",
)
# Profile fields that identify no one; a new profile field must be added to one list or the
# other (a test holds the two to the profile).
KEPT_PROFILE_FIELDS: tuple[str, ...] = (
    "timezone",
    "preferred_channels",
    "consents",
    "exclusive",
)

PSEUDONYM_PREFIX = "erased-"
REDACTED = "[erased]"


def new_pseudonym() -> str:
    """A random id for the erased customer's row: nothing links it to the sender's id."""
    return PSEUDONYM_PREFIX + secrets.token_hex(12)


# The stored body hash of an erased customer's events: it matches no body (a real one is 64
# hex digits), so a replay of an old event id is refused as a conflict and can never bring the
# erased data back; and no hash of personal data is kept.
ERASED_BODY_HASH = "erased"


def personal_values(profiles: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every personal value found in these profiles (the customer row and each profile
    event's payload, which may hold older values), longest first so that a value containing
    another is redacted whole."""
    found: set[str] = set()
    for profile in profiles:
        for field in PERSONAL_PROFILE_FIELDS:
            value = profile.get(field)
            if value is None:
                continue
            text = value.isoformat() if hasattr(value, "isoformat") else str(value)
            if text.strip():
                found.add(text)
    return sorted(found, key=lambda v: (-len(v), v))


class Redactor:
    """Rewrites stored values about an erased customer: personal values become `[erased]`
    wherever they appear in a text, and the sender's customer id, where a value is exactly
    it, becomes the pseudonym."""

    def __init__(self, personal: Iterable[str], customer_id: str, pseudonym: str) -> None:
        values = [v for v in personal if v]
        self.pattern = (
            re.compile("|".join(re.escape(v) for v in values), re.IGNORECASE) if values else None
        )
        self.customer_id, self.pseudonym = customer_id, pseudonym

    def text(self, value: str | None) -> str | None:
        if value is None:
            return None
        if value == self.customer_id:
            return self.pseudonym
        return self.pattern.sub(REDACTED, value) if self.pattern else value

    def json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        return value

    def event_payload(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """A stored event's payload without its personal fields (a profile event stays a
        valid profile event, so replays and rebuilds still read it) and with the rest
        redacted."""
        kept = {k: v for k, v in payload.items() if k not in PERSONAL_PROFILE_FIELDS}
        return dict(self.json(kept))


def rename_in_reason(reason: str, customer_id: str, pseudonym: str) -> str:
    """The sender's id in a ledger reason ("referred by X", "bonus: X, whom …") becomes the
    pseudonym; only where it stands as a whole word after ': ' or ' ', so an id such as "e"
    leaves the rest of the sentence alone."""
    return re.sub(r"(?<=[: ])" + re.escape(customer_id) + r"(?=,|$)", lambda _: pseudonym, reason)
