from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class ErasureOut(BaseModel):
    customer_id: str = Field(description="The sender's id that was erased; it is free again.")
    erased_at: datetime
    events_redacted: int = Field(description="Stored events whose payload was rewritten.")
    message_id: str = Field(description="The `customer.erased` message (its `webhook-id`).")


Row = dict[str, Any]


class CustomerExport(BaseModel):
    """Everything stored about one customer, as stored (money in minor units)."""

    customer_id: str
    exported_at: datetime
    customer: Row = Field(description="The customer row: profile, facts, derived state.")
    orders: list[Row]
    events: list[Row] = Field(description="Every stored event with its payload.")
    stage_history: list[Row]
    prediction: Row | None
    cashback_entries: list[Row] = Field(description="The cashback ledger.")
    cashback_redemptions: list[Row]
    touches: list[Row]
    messages: list[Row] = Field(description="Webhook messages about the customer (the outbox).")
    crm_contacts: list[Row] = Field(description="Bitrix24 contacts known to stand for them.")
