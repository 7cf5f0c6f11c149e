"""Small shared field types for request and response schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Query
from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints, ValidationInfo

from app.core import inputs

# Identifiers from the sender's systems: printable, no control characters.
ExternalId = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]
# Validation context for facts read back from the database (a stored event replayed): the
# door's rules below are not applied again, so a fact stored under older rules (a customer
# "a/b", a date in year 9999) still reads back and derives, never crashing the projection.
STORED: dict[str, Any] = {"stored": True}


def _stored(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("stored"))


def _door_customer_id(value: str, info: ValidationInfo) -> str:
    return value if _stored(info) else inputs.customer_id(value)


def _door_instant(value: datetime, info: ValidationInfo) -> datetime:
    return value.astimezone(UTC) if _stored(info) else inputs.instant(value)


# A customer id is also a path segment: one alphabet, checked at the door (`inputs.customer_id`).
CustomerId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=inputs.CUSTOMER_ID_MAX),
    AfterValidator(_door_customer_id),
    Field(
        description=f"The sender's customer id: {inputs.CUSTOMER_ID_RULE}.",
        json_schema_extra={"pattern": inputs.CUSTOMER_ID_PATTERN},
    ),
]
# Every time input: RFC 3339 with an offset, within one range, normalised to UTC.
Instant = Annotated[AwareDatetime, AfterValidator(_door_instant)]
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
