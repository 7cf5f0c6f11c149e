"""The event body: common fields, then each type's own, as a discriminated union on `type`."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    PlainSerializer,
    PrivateAttr,
    StringConstraints,
    field_validator,
    model_validator,
)

from app.core.inputs import INSTANT_RANGE
from app.core.money import NonNegativeMoney, PositiveMoney
from app.core.types import Channel, CustomerId, ExternalId, Instant, LongText, ShortText

_TIMEZONES = frozenset(available_timezones())
_SURROGATE = re.compile("[\ud800-\udfff]")


class _EventBase(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    event_id: ExternalId = Field(description="The sender's idempotency key for this event.")
    customer_id: CustomerId
    occurred_at: Instant = Field(
        description=f"When it happened (RFC 3339 with offset, {INSTANT_RANGE}; stored in UTC, "
        "so the same instant written with another offset is the same event)."
    )


class PurchaseEvent(_EventBase):
    """An order paid by the customer."""

    type: Literal["purchase"]
    order_id: ExternalId
    amount: NonNegativeMoney = Field(
        description="Zero for a gift or a fully discounted order (it still counts as a purchase)."
    )
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    category: ShortText | None = None


class RefundEvent(_EventBase):
    """Money returned for (part of) an order already recorded."""

    type: Literal["refund"]
    order_id: ExternalId
    amount: PositiveMoney


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class ContactOutcome(StrEnum):
    REACHED = "reached"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    INTERESTED = "interested"
    NOT_INTERESTED = "not_interested"
    COMPLAINT = "complaint"
    OPTED_OUT = "opted_out"
    BOUNCED = "bounced"


class ContactEvent(_EventBase):
    """A touch between the shop and the customer, on any channel, in either direction."""

    type: Literal["contact"]
    channel: Channel
    direction: Direction
    reason: ShortText | None = None
    reason_key: ShortText | None = Field(
        default=None, description="The `reason_key` of the planned touch this contact answers."
    )
    outcome: ContactOutcome | None = None
    touch_id: int | None = Field(
        default=None, ge=1, le=2**62, description="The planned touch this contact answers."
    )


class LeadLevel(StrEnum):
    INTEREST = "interest"
    DESIRE = "desire"


class LeadEvent(_EventBase):
    """Interest (asked, subscribed) or desire (asked for a quote, filled a cart)."""

    type: Literal["lead"]
    level: LeadLevel


class ReferralEvent(_EventBase):
    """This customer came on the recommendation of `referrer_id`."""

    type: Literal["referral"]
    referrer_id: CustomerId

    @field_validator("referrer_id")
    @classmethod
    def _not_self(cls, v: str, info: Any) -> str:
        if v == info.data.get("customer_id"):
            raise ValueError("a customer cannot refer themselves")
        return v


class ReviewEvent(_EventBase):
    """A review the customer left: rating 1–5, public or private."""

    type: Literal["review"]
    rating: int = Field(ge=1, le=5, strict=True)
    public: bool
    text: LongText | None = None


Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()\-]{5,32}$")]


class PostalAddress(BaseModel):
    """Where paper mail goes: free text, structured parts, or both (at least one)."""

    model_config = ConfigDict(extra="forbid")

    text: LongText | None = Field(
        default=None, description="The whole address as one would write it on an envelope."
    )
    postal_code: ShortText | None = None
    country: ShortText | None = None
    region: ShortText | None = None
    city: ShortText | None = None
    street: ShortText | None = None
    building: ShortText | None = None
    apartment: ShortText | None = None
    recipient: ShortText | None = Field(
        default=None, description="Addressee line when it differs from the name (a company)."
    )

    @model_validator(mode="after")
    def _not_empty(self) -> PostalAddress:
        if not self.model_dump(exclude_none=True):
            raise ValueError("postal_address needs text or at least one part")
        return self


def _address_parts(address: PostalAddress) -> dict[str, str]:
    return address.model_dump(exclude_none=True)


# Validated as a PostalAddress, kept as its plain parts (what the customer row stores).
PostalAddressIn = Annotated[
    PostalAddress,
    AfterValidator(_address_parts),
    PlainSerializer(lambda parts: parts, return_type=dict[str, str]),
]


class ProfileEvent(_EventBase):
    """What the shop learned about the customer; only the fields present are changed."""

    type: Literal["profile"]
    name: ShortText | None = Field(default=None, examples=["Ирина Петрова"])
    postal_address: PostalAddressIn | None = None
    email: EmailStr | None = None
    phone: Phone | None = None
    birth_date: date | None = None
    company: ShortText | None = None
    timezone: str | None = Field(default=None, max_length=64, examples=["Europe/Moscow"])
    preferred_channels: list[Channel] | None = Field(default=None, max_length=len(Channel))
    consents: dict[Channel, bool] | None = None
    exclusive: bool | None = Field(
        default=None, description="The customer says they buy only from us."
    )

    @field_validator("consents")
    @classmethod
    def _sorted_consents(cls, v: dict[Channel, bool] | None) -> dict[Channel, bool] | None:
        return dict(sorted(v.items())) if v is not None else None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str | None) -> str | None:
        if v is not None and v not in _TIMEZONES:
            raise ValueError("unknown IANA time zone")
        return v

    @field_validator("birth_date")
    @classmethod
    def _plausible_birth(cls, v: date | None) -> date | None:
        if v is not None and not (date(1900, 1, 1) <= v <= date.today()):
            raise ValueError("birth_date must be between 1900-01-01 and today")
        return v


EventIn = Annotated[
    PurchaseEvent
    | RefundEvent
    | ContactEvent
    | LeadEvent
    | ReferralEvent
    | ReviewEvent
    | ProfileEvent,
    Field(discriminator="type"),
]

PROFILE_FIELDS = (
    "name",
    "postal_address",
    "email",
    "phone",
    "birth_date",
    "company",
    "timezone",
    "preferred_channels",
    "consents",
    "exclusive",
)


class EventStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class EventResult(BaseModel):
    """What happened to one event."""

    event_id: str | None
    status: EventStatus
    customer_id: str | None = None
    type: str | None = None
    received_at: datetime | None = Field(
        default=None, description="When the event was first accepted."
    )
    error: dict[str, Any] | None = Field(
        default=None, description="For rejected events: a problem object (type, title, detail)."
    )
    # The exception behind `error`, so the single-event endpoint can raise it as it is.
    _error_exc: Exception | None = PrivateAttr(default=None)

    @field_validator("event_id", "error", mode="before")
    @classmethod
    def _no_lone_surrogates(cls, v: Any) -> Any:
        """A rejected event's id (or a key named in its errors) may hold a lone surrogate,
        which JSON allows as an escape but no response can carry: it is shown as U+FFFD."""
        return _replace_surrogates(v)

    @property
    def error_exc(self) -> Exception | None:
        return self._error_exc


def _replace_surrogates(v: Any) -> Any:
    if isinstance(v, str):
        return _SURROGATE.sub("\ufffd", v)
    if isinstance(v, dict):
        return {_replace_surrogates(k): _replace_surrogates(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_replace_surrogates(x) for x in v]
    return v


_EVENT_MODELS = {
    "purchase": "PurchaseEvent",
    "refund": "RefundEvent",
    "contact": "ContactEvent",
    "lead": "LeadEvent",
    "referral": "ReferralEvent",
    "review": "ReviewEvent",
    "profile": "ProfileEvent",
}
# Batch items are validated one by one in the service (so one bad event cannot sink the
# batch); the documented schema is still the event union.
_EVENT_ITEMS_SCHEMA: dict[str, Any] = {
    "oneOf": [{"$ref": f"#/components/schemas/{m}"} for m in _EVENT_MODELS.values()],
    "discriminator": {
        "propertyName": "type",
        "mapping": {t: f"#/components/schemas/{m}" for t, m in _EVENT_MODELS.items()},
    },
}


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[Any] = Field(min_length=1)


BATCH_IN_SCHEMA: dict[str, Any] = {
    "title": "BatchIn",
    "type": "object",
    "additionalProperties": False,
    "required": ["events"],
    "properties": {
        "events": {
            "type": "array",
            "minItems": 1,
            "items": _EVENT_ITEMS_SCHEMA,
            "description": "Up to 1,000 events; each is validated on its own and gets its own "
            "result.",
        }
    },
}


class BatchTyped(BaseModel):
    """The fast path: a batch whose events all validate is parsed in one go from JSON."""

    events: list[EventIn] = Field(min_length=1)


class BatchSummary(BaseModel):
    accepted: int
    duplicate: int
    rejected: int


class BatchOut(BaseModel):
    summary: BatchSummary
    results: list[EventResult]


def occurred_key(occurred_at: datetime, event_id: str) -> str:
    """A totally ordered version stamp: later occurrence wins, ties broken by event id.

    The year is always four digits (`isoformat` pads it; `strftime("%Y")` does not), so the
    stamps sort as the times do."""
    utc = occurred_at.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "|" + event_id
