from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntPK, JSONDoc, UTCDateTime, utcnow


class StageChange(Base):
    """Every change of a customer's stage, with the reasons at that moment."""

    __tablename__ = "stage_history"
    __table_args__ = (Index("ix_stage_history_customer_at", "customer_id", "changed_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    from_stage: Mapped[str | None] = mapped_column(String(16), default=None)
    to_stage: Mapped[str] = mapped_column(String(16))
    # When it happened in the customer's time line: the latest event that caused it, or the
    # moment the worker found that time had changed it.
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reasons: Mapped[list[str]] = mapped_column(JSONDoc)
