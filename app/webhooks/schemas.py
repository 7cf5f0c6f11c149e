from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator


class EndpointKind(StrEnum):
    STANDARD = "standard"
    BITRIX24 = "bitrix24"


class BitrixPlan(StrEnum):
    """Whose limits a Bitrix24 portal has: 50 requests and 2 a second, or Enterprise's 250
    and 5."""

    STANDARD = "standard"
    ENTERPRISE = "enterprise"


EventType = str


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(description="Where to POST; for bitrix24 the portal's webhook URL.")
    kind: EndpointKind = EndpointKind.STANDARD
    event_types: list[EventType] = Field(
        default_factory=list, max_length=50, description="Message types wanted; empty: all."
    )
    description: str | None = Field(default=None, max_length=500)
    rate_limit_per_second: float | None = Field(default=None, gt=0, le=1000)
    bitrix_plan: BitrixPlan | None = Field(
        default=None, description="bitrix24 only: the portal's plan (default standard)."
    )
    enabled: bool = True

    @model_validator(mode="after")
    def _plan_only_for_bitrix(self) -> EndpointIn:
        if self.bitrix_plan is not None and self.kind != EndpointKind.BITRIX24:
            raise ValueError("bitrix_plan applies to bitrix24 endpoints only")
        return self


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl | None = None
    event_types: list[EventType] | None = Field(default=None, max_length=50)
    description: str | None = Field(default=None, max_length=500)
    rate_limit_per_second: float | None = Field(default=None, gt=0, le=1000)
    bitrix_plan: BitrixPlan | None = None
    enabled: bool | None = None


class EndpointOut(BaseModel):
    id: int
    url: str
    kind: str
    event_types: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    rate_limit_per_second: float | None
    bitrix_plan: str | None
    failing_since: datetime | None
    created_at: datetime


class EndpointCreated(EndpointOut):
    secret: str = Field(description="whsec_…: verify signatures with it. Shown only here.")


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_seconds: int = Field(default=86400, ge=0, le=30 * 86400)


class RotateOut(BaseModel):
    secret: str
    previous_secret_valid_until: datetime


class DeliveryOut(BaseModel):
    message_id: str
    type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class AttemptOut(BaseModel):
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int
    response_excerpt: str | None


class RecoverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: datetime


class RecoverOut(BaseModel):
    requeued: int
