"""Small shared field types for request and response schemas."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints

from app.core import inputs

# Identifiers from the sender's systems: printable, no control characters.
ExternalId = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]
# A customer id is also a path segment: one alphabet, checked at the door (`inputs.customer_id`).
CustomerId = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=inputs.CUSTOMER_ID_MAX, pattern=inputs.CUSTOMER_ID_PATTERN
    ),
    AfterValidator(inputs.customer_id),
    Field(description=f"The sender's customer id: {inputs.CUSTOMER_ID_RULE}."),
]
# Every time input: RFC 3339 with an offset, within one range, normalised to UTC.
Instant = Annotated[AwareDatetime, AfterValidator(inputs.instant)]
# The same range where a time without an offset has always been taken as UTC (`POST /models/fit`).
InstantOrNaive = Annotated[datetime, AfterValidator(inputs.instant)]
ShortText = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]+$")
]
LongText = Annotated[
    str, StringConstraints(min_length=1, max_length=4000, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]+$")
]


class Channel(StrEnum):
    EMAIL = "email"
    CALL = "call"
    SMS = "sms"
    MESSENGER = "messenger"
    PUSH = "push"
    PAPER_MAIL = "paper_mail"
    VISIT = "visit"


# Analytical reads take `as_of`: events after it are ignored, so answers can be reproduced.
AsOf = Annotated[
    Instant | None,
    Query(
        description="Answer as of this time, from events at or before it (RFC 3339, "
        f"{inputs.INSTANT_RANGE})."
    ),
]
