"""The transactional outbox: a domain message is committed together with the change behind it.

Delivery (fan-out to webhook endpoints) is the worker's job; writers only call `emit`.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntPK, JSONDoc, UTCDateTime, queue_rows, utcnow


def new_message_id() -> str:
    return "msg_" + secrets.token_hex(12)


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_undispatched", "dispatched_at", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    # Stable public id: becomes `webhook-id`, the same across every retry.
    message_id: Mapped[str] = mapped_column(String(40), unique=True, default=new_message_id)
    type: Mapped[str] = mapped_column(String(80), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(200), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set once the message has been fanned out to the endpoints subscribed at that time.
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


async def emit(
    session: AsyncSession,
    type_: str,
    payload: dict[str, Any],
    customer_id: str | None = None,
) -> str:
    """Record a message in the caller's transaction; it is sent only if that transaction commits.

    Returns the message id (the `webhook-id` every delivery of it carries).
    """
    message_id = new_message_id()
    queue_rows(
        session,
        OutboxMessage,
        [
            {
                "message_id": message_id,
                "type": type_,
                "customer_id": customer_id,
                "payload": payload,
                "created_at": utcnow(),
                "dispatched_at": None,
            }
        ],
    )
    return message_id
