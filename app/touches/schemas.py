from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.types import Instant, ShortText
from app.events.schemas import ContactOutcome

StageName = Literal[
    "prospect", "lead", "hot_lead", "buyer", "client", "regular", "adherent", "advocate"
]
Category = Annotated[str, Field(min_length=1, max_length=200)]


class Recipient(BaseModel):
    """Where a paper-mail touch goes: the profile's name and postal address."""

    name: str | None
    postal_address: dict[str, str] | None


class TouchOut(BaseModel):
    touch_id: int | None = Field(description="Null when computed for a past as_of.")
    customer_id: str
    due_at: datetime
    expires_at: datetime | None = Field(
        default=None, description="Not done by then, the touch expires and the plan moves on."
    )
    channel: str
    playbook: str
    step: int = Field(description="The step of the playbook's calendar (1 first).")
    reason: str
    reason_key: str | None = Field(
        description="Report the touch with it (a `contact` event's `reason_key`) when the "
        "touch id is not at hand."
    )
    script: list[str]
    details: str | None = Field(default=None, description="An announcement's details.")
    offer: str | None
    priority: int = Field(description="1 most urgent.")
    needs_new_reason: bool = Field(description="The playbook ran out of reasons: add one.")
    status: str = Field(description="planned, done, cancelled or expired.")
    claimed_by: str | None = None
    claim_expires_at: datetime | None = None
    recipient: Recipient | None = Field(
        default=None, description="For paper mail: the name and postal address to write to."
    )


class NextTouchOut(BaseModel):
    touch: TouchOut | None = Field(description="Null when there is nothing to plan.")
    reason: Literal["no_channel", "no_consent"] | None = Field(
        default=None, description="Why there is nothing to plan (with `touch` null)."
    )
    explanation: str | None = Field(default=None, description="The same, in words.")


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operator: ShortText
    minutes: int = Field(default=30, ge=1, le=24 * 60)


class OutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: ContactOutcome
    note: str | None = Field(default=None, max_length=1000)


class AnnouncementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: ShortText = Field(description="What changes, in the customer's words.")
    details: str | None = Field(default=None, max_length=2000)
    effective_at: Instant
    categories: list[Category] = Field(
        default_factory=list,
        max_length=50,
        description="Only customers who bought in one of these; empty: whatever they buy.",
    )
    stages: list[StageName] = Field(
        default_factory=list, max_length=8, description="Only these stages; empty: regular and up."
    )


class AnnouncementPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: ShortText | None = None
    details: str | None = Field(default=None, max_length=2000)
    effective_at: Instant | None = None
    categories: list[Category] | None = Field(default=None, max_length=50)
    stages: list[StageName] | None = Field(default=None, max_length=8)


class AnnouncementOut(BaseModel):
    id: int
    title: str
    details: str | None
    effective_at: datetime
    categories: list[str]
    stages: list[str]
    revision: int = Field(description="Raised by every correction.")
    created_at: datetime
    updated_at: datetime | None
