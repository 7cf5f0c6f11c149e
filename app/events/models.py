from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, literal_column, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntPK, JSONDoc, UTCDateTime, utcnow


class Event(Base):
    """Every accepted event, append-only. `event_id` is the sender's idempotency key."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_customer_occurred", "customer_id", "occurred_at"),
        # Refunds are few: their own partial index serves the "refunds as of" queries, and
        # purchases, most events by far, are not written into it.
        Index(
            "ix_events_refunds_occurred",
            "occurred_at",
            sqlite_where=text("type = 'refund'"),
            postgresql_where=text("type = 'refund'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    type: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # SHA-256 of the canonical body: the same id with another body is a conflict.
    body_hash: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc)


# The partial index's condition as literal SQL: a planner cannot match a bound parameter to it.
IS_REFUND = Event.type == literal_column("'refund'")
