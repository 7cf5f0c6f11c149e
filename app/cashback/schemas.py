from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)

from app.core.money import MoneyOut, PositiveMoney, _parse_amount
from app.core.types import ExternalId


class Movement(BaseModel):
    id: int
    kind: str = Field(
        description="Credits: earn, referral_bonus, welcome_bonus, adjustment, offer_grant, "
        "reversal. Debits: redeem, expire, clawback, adjustment, offer_grant, repayment."
    )
    amount: MoneyOut = Field(description="Positive for credits, negative for debits.")
    reason: str
    order_id: str | None
    available_at: datetime | None = Field(
        description="For credits: when the lot becomes spendable (the end of its hold)."
    )
    expires_at: datetime | None
    remaining: MoneyOut | None = Field(description="For credits: what is left of this lot.")
    owed: MoneyOut | None = Field(
        description="For clawbacks: what found nothing left to take, still owed; later credits "
        "repay it first."
    )
    occurred_at: datetime


class CashbackOut(BaseModel):
    customer_id: str
    currency: str
    balance: MoneyOut = Field(
        description="Spendable now: lots past their hold and not past their expiry."
    )
    pending: MoneyOut = Field(
        description="Earned within the hold period (a refund may still take it back): shown, "
        "not spendable until each lot's available_at."
    )
    owed: MoneyOut = Field(
        description="Clawbacks that found too little to take: repaid from later cashback."
    )
    expiring_soon: MoneyOut = Field(
        description="Part of the balance and pending expiring within the notice window."
    )
    next_expiry_at: datetime | None
    earn_rate: float = Field(description="Share of a purchase earned at the customer's stage.")
    stage: str
    history: list[Movement] = Field(description="The latest movements, newest first.")


class RedemptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: PositiveMoney
    order_id: ExternalId | None = Field(
        default=None, description="The order this redemption pays for (kept with it)."
    )


class RedemptionOut(BaseModel):
    redemption_id: int = Field(
        description="Reverse it with POST /v1/cashback/redemptions/{id}/reversal."
    )
    customer_id: str
    amount: MoneyOut
    balance: MoneyOut = Field(description="Spendable balance after the redemption.")
    order_id: str | None = None
    created_at: datetime


class ReversalOut(BaseModel):
    redemption_id: int
    customer_id: str
    amount: MoneyOut = Field(description="Given back.")
    order_id: str | None
    balance: MoneyOut = Field(description="Spendable balance after the reversal.")
    reversed_at: datetime


def _nonzero(amount: Decimal) -> Decimal:
    if amount == 0:
        raise ValueError("amount must not be zero")
    return amount


SignedMoney = Annotated[
    Decimal,
    BeforeValidator(_parse_amount),
    AfterValidator(_nonzero),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^-?\d{1,12}(\.\d{1,2})?$",
            "examples": ["100.00", "-50.00"],
            "description": "Signed decimal amount: positive credits, negative debits.",
        }
    ),
]


class AdjustmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: SignedMoney
    reason: str = Field(min_length=1, max_length=300, description="Shown in the history.")
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="For credits: when it expires (default: expiry_days from now).",
    )
    touch_id: int | None = Field(
        default=None,
        description="The touch whose offer this grants (e.g. a win-back bonus); it must be "
        "one of this customer's touches.",
    )


class AdjustmentOut(BaseModel):
    adjustment_id: int
    customer_id: str
    amount: MoneyOut
    reason: str
    touch_id: int | None
    expires_at: datetime | None
    balance: MoneyOut = Field(description="Spendable balance after the adjustment.")
    pending: MoneyOut
    created_at: datetime


class TokenOut(BaseModel):
    token: str = Field(description="A JWT (RFC 7519); send it as `Authorization: Bearer …`.")
    expires_at: datetime
    jti: str = Field(description="The token's id: DELETE …/tokens/{jti} revokes it.")


class MeOut(BaseModel):
    customer_id: str
    stage: str
    cashback_balance: MoneyOut = Field(description="Spendable now.")
