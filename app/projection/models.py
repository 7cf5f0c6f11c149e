from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntPK, UTCDateTime


class PendingMark(Base):
    """A customer whose derived state lags its facts: appended by every write, deleted by the
    projection once folded.

    Append-only on purpose: a write never updates (and so never locks) a customer row nor
    waits on another writer's uncommitted mark. `event_id` names the event to fold (the
    sender's key); a mark without one asks for the customer to be derived again from all of
    its stored facts (a referral credit, `touchpoint rebuild`).
    """

    __tablename__ = "pending_marks"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[str | None] = mapped_column(String(200), default=None)
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when deriving the customer raised: kept for `touchpoint rebuild`, skipped by claims.
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
