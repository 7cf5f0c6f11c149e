from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.core.types import Instant, ShortText
from app.events.schemas import ContactOutcome


class TouchOut(BaseModel):
    touch_id: int | None = Field(description="Null when computed for a past as_of.")
    customer_id: str
    due_at: datetime
    channel: str
    playbook: str
    reason: str
    reason_key: str | None
    script: list[str]
    offer: str | None
    priority: int = Field(description="1 most urgent.")
    needs_new_reason: bool = Field(description="The playbook ran out of reasons: add one.")
    status: str
    claimed_by: str | None = None
    claim_expires_at: datetime | None = None


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


class AnnouncementOut(BaseModel):
    id: int
    title: str
    details: str | None
    effective_at: datetime
    created_at: datetime
