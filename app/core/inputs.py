"""What the API accepts at the door, as plain functions (no web, no database).

The request schemas and the importer both apply these, so a value the one accepts the other
accepts too, and everything accepted can be stored, computed on and read back.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

# Every time input (an event's occurred_at, as_of and `before` on the analytical reads) lies in
# [EARLIEST, LATEST). The lower bound is the one birth dates already had; the upper one leaves
# centuries of headroom for the date arithmetic done on stored facts (due dates, horizons),
# which would overflow near year 9999.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
INSTANT_RANGE = "from 1900-01-01T00:00:00Z up to, not including, 2200-01-01T00:00:00Z"

# Customer ids appear in paths (/v1/customers/{customer_id}/…), so every accepted id must be
# readable back there: no "/" (a path separator even when sent as %2F), not "." or ".." (which
# clients fold away as dot segments), no control characters, and not the name of a fixed route
# under /v1/customers/.
CUSTOMER_ID_MAX = 200
CUSTOMER_ID_PATTERN = r"^[^\x00-\x1f\x7f-\x9f/]+$"
RESERVED_CUSTOMER_IDS = frozenset({"lapsed"})
CUSTOMER_ID_RULE = (
    f"1 to {CUSTOMER_ID_MAX} characters; no control characters and no '/'; "
    f"not '.', '..' or {', '.join(repr(r) for r in sorted(RESERVED_CUSTOMER_IDS))}"
)
# One pass over the value (the importer checks a million of them): lone surrogates, which JSON
# escapes can carry but no text encoding stores, are refused with the rest.
_CUSTOMER_ID = re.compile(rf"[^\x00-\x1f\x7f-\x9f/\ud800-\udfff]{{1,{CUSTOMER_ID_MAX}}}")

# Other sender ids (event ids, order ids) never appear in paths: printable, 1 to 200 characters.
EXTERNAL_ID_MAX = 200
_EXTERNAL_ID = re.compile(rf"[^\x00-\x1f\x7f\ud800-\udfff]{{1,{EXTERNAL_ID_MAX}}}")


def instant(value: datetime) -> datetime:
    """`value` in UTC; ValueError when it lies outside the accepted range.

    Naive values are taken as UTC. The comparison itself cannot overflow, whatever the offset
    (0001-01-01T00:00:00+05:00 is before year 1 in UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"time out of range: accepted {INSTANT_RANGE}")
    return value.astimezone(UTC)


def customer_id(value: str) -> str:
    """`value` unchanged when it is a valid customer id; ValueError (saying why) otherwise."""
    if not _plain(value, CUSTOMER_ID_MAX, "/") and not _CUSTOMER_ID.fullmatch(value):
        if not value or len(value) > CUSTOMER_ID_MAX:
            raise ValueError(f"a customer id has 1 to {CUSTOMER_ID_MAX} characters")
        raise ValueError("a customer id has no control characters and no '/'")
    if value in RESERVED_CUSTOMER_IDS or value in (".", ".."):
        raise ValueError(f"{value!r} cannot be a customer id: a path could not name it")
    return value


def external_id(value: str) -> str:
    """An event or order id: `value` unchanged, or ValueError."""
    if not _plain(value, EXTERNAL_ID_MAX, "") and not _EXTERNAL_ID.fullmatch(value):
        if not value or len(value) > EXTERNAL_ID_MAX:
            raise ValueError(f"an id has 1 to {EXTERNAL_ID_MAX} characters")
        raise ValueError("an id has no control characters")
    return value


def _plain(value: str, longest: int, banned: str) -> bool:
    """The common case, several times faster than the pattern: printable ASCII."""
    return (
        0 < len(value) <= longest
        and value.isascii()
        and value.isprintable()
        and not (banned and banned in value)
    )
