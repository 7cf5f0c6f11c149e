from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntPK, JSONDoc, UTCDateTime, utcnow


class CashbackEntry(Base):
    """One movement of the ledger. Credits are lots that are spent oldest-expiry first.

    The ledger is append-only: a lot's `remaining_minor` is the only field that changes after
    insertion (as debits consume it); the balance is the sum of `amount_minor`, which always
    equals the sum of `remaining_minor` over the lots.
    """

    __tablename__ = "cashback_entries"
    __table_args__ = (
        Index("ix_cashback_entries_customer", "customer_id", "id"),
        Index("ix_cashback_entries_open_lots", "expires_at", "remaining_minor"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # earn, referral_bonus, welcome_bonus, adjustment (credits); redeem, expire, clawback.
    kind: Mapped[str] = mapped_column(String(20))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    # Lots only: what is left of this credit, and when it expires.
    remaining_minor: Mapped[int | None] = mapped_column(BigInteger, default=None)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    expiring_notified: Mapped[bool] = mapped_column(Boolean, default=False)
    order_id: Mapped[str | None] = mapped_column(String(200), default=None)
    # What caused it, unique: a retried cause never moves money twice.
    source: Mapped[str] = mapped_column(String(260), unique=True)
    reason: Mapped[str] = mapped_column(String(500))
    details: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Redemption(Base):
    """A redemption request, kept by its Idempotency-Key so a retry gets the first answer."""

    __tablename__ = "cashback_redemptions"
    __table_args__ = (UniqueConstraint("customer_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    # The answer given the first time (status code and body), replayed on retries.
    status_code: Mapped[int] = mapped_column()
    response: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
