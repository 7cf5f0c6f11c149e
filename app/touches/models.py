from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntPK, JSONDoc, UTCDateTime, utcnow


class Touch(Base):
    """A touch: `planned` (each customer has at most one, the next), then `done`, `cancelled`
    (made obsolete by a change of plan) or `expired` (not done in time). Its id never changes."""

    __tablename__ = "touches"
    __table_args__ = (
        Index("ix_touches_queue", "status", "due_at", "id"),
        Index("ix_touches_customer", "customer_id", "status"),
        # The worker's list: planned touches whose plan may change by itself (expiry, a claim
        # running out, the customer's status or stage moving with time).
        Index("ix_touches_replan", "status", "replan_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    playbook: Mapped[str] = mapped_column(String(32))
    # The step of the playbook's calendar, and the calendar's time for it (before guardrails).
    step: Mapped[int] = mapped_column(Integer, default=1)
    slot_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    reason_key: Mapped[str | None] = mapped_column(String(80), default=None)
    reason: Mapped[str] = mapped_column(String(300))
    script: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    details: Mapped[str | None] = mapped_column(String(2000), default=None)
    channel: Mapped[str] = mapped_column(String(16))
    offer: Mapped[str | None] = mapped_column(String(300), default=None)
    priority: Mapped[int] = mapped_column(Integer, default=3)
    needs_new_reason: Mapped[bool] = mapped_column(Boolean, default=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    replan_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    status: Mapped[str] = mapped_column(String(12), default="planned")
    claimed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    note: Mapped[str | None] = mapped_column(String(1000), default=None)
    # When it was done, cancelled or expired.
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The sender's event id of the contact that reported it (that contact is this touch).
    contact_event_id: Mapped[str | None] = mapped_column(String(200), default=None)
    announced: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Announcement(Base):
    """A change customers should hear about before it takes effect."""

    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(300))
    details: Mapped[str | None] = mapped_column(String(2000), default=None)
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Who hears it: customers who bought in one of `categories` (empty: whatever they buy) at
    # one of `stages` (empty: regular and higher).
    categories: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    stages: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    # Raised by every correction, so touches carrying the old words are replaced.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
