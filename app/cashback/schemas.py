from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.core.money import MoneyOut, PositiveMoney


class Movement(BaseModel):
    id: int
    kind: str = Field(
        description="earn, referral_bonus, welcome_bonus, adjustment, redeem, expire, clawback"
    )
    amount: MoneyOut = Field(description="Positive for credits, negative for debits.")
    reason: str
    order_id: str | None
    expires_at: datetime | None
    remaining: MoneyOut | None = Field(description="For credits: what is left of this lot.")
    occurred_at: datetime


class CashbackOut(BaseModel):
    customer_id: str
    currency: str
    balance: MoneyOut
    pending: MoneyOut = Field(
        description="Part of the balance earned within the refund window: a refund may take "
        "it back."
    )
    expiring_soon: MoneyOut = Field(
        description="Part of the balance expiring within the notice window."
    )
    next_expiry_at: datetime | None
    earn_rate: float = Field(description="Share of a purchase earned at the customer's stage.")
    stage: str
    history: list[Movement] = Field(description="The latest movements, newest first.")


class RedemptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: PositiveMoney


class RedemptionOut(BaseModel):
    redemption_id: int
    customer_id: str
    amount: MoneyOut
    balance: MoneyOut = Field(description="Balance after the redemption.")
    created_at: datetime


class TokenOut(BaseModel):
    token: str = Field(description="A JWT (RFC 7519); send it as `Authorization: Bearer …`.")
    expires_at: datetime
    jti: str = Field(description="The token's id: DELETE …/tokens/{jti} revokes it.")


class MeOut(BaseModel):
    customer_id: str
    stage: str
    cashback_balance: MoneyOut
