from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntPK, JSONDoc, UTCDateTime, utcnow


class Touch(Base):
    """A planned or done touch. Each customer has at most one `planned` touch: the next one."""

    __tablename__ = "touches"
    __table_args__ = (
        Index("ix_touches_queue", "status", "due_at", "id"),
        Index("ix_touches_customer", "customer_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    playbook: Mapped[str] = mapped_column(String(32))
    reason_key: Mapped[str | None] = mapped_column(String(80), default=None)
    reason: Mapped[str] = mapped_column(String(300))
    script: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    channel: Mapped[str] = mapped_column(String(16))
    offer: Mapped[str | None] = mapped_column(String(300), default=None)
    priority: Mapped[int] = mapped_column(Integer, default=3)
    needs_new_reason: Mapped[bool] = mapped_column(Boolean, default=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(12), default="planned")  # planned | done | cancelled
    claimed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    note: Mapped[str | None] = mapped_column(String(1000), default=None)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    announced: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Announcement(Base):
    """A change customers should hear about before it takes effect."""

    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(300))
    details: Mapped[str | None] = mapped_column(String(2000), default=None)
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
