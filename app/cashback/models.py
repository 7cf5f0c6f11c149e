from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntPK, JSONDoc, UTCDateTime, utcnow


class CashbackEntry(Base):
    """One movement of the ledger. Credits are lots that are spent oldest-expiry first.

    The ledger is append-only: a lot's `remaining_minor` and a debit's `outstanding_minor` are
    the only fields that change after insertion; the ledger sum of `amount_minor` always equals
    the sum of `remaining_minor` over the lots (pending, spendable, or past expiry and not yet
    swept), and that is the customer's cached `cashback_balance_minor`.
    """

    __tablename__ = "cashback_entries"
    __table_args__ = (
        Index("ix_cashback_entries_customer", "customer_id", "id"),
        Index("ix_cashback_entries_open_lots", "expires_at", "remaining_minor"),
        Index("ix_cashback_entries_order", "order_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # Credits (lots): earn, referral_bonus, welcome_bonus, adjustment, reversal.
    # Debits: redeem, expire, clawback, adjustment, repayment.
    kind: Mapped[str] = mapped_column(String(20))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    # Lots only: what is left of this credit, from when it can be spent (the hold period),
    # and when it expires.
    remaining_minor: Mapped[int | None] = mapped_column(BigInteger, default=None)
    available_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Clawbacks only: the part that found nothing left to take (a shortfall), still owed;
    # later credits repay it first.
    outstanding_minor: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # The order the movement belongs to: an earned lot, a bonus's qualifying order, a clawback,
    # a redemption tied to an order.
    order_id: Mapped[str | None] = mapped_column(String(200), default=None)
    # What caused it, unique: a retried cause never moves money twice. Bounded: composite
    # causes are hashed (see `rules.source_key`).
    source: Mapped[str] = mapped_column(String(260), unique=True)
    reason: Mapped[str] = mapped_column(String(500))
    details: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Redemption(Base):
    """A redemption request, kept by its Idempotency-Key so a retry gets the first answer."""

    __tablename__ = "cashback_redemptions"
    __table_args__ = (
        UniqueConstraint("customer_id", "idempotency_key"),
        Index("ix_cashback_redemptions_token", "token_hash", "created_at"),
        Index("ix_cashback_redemptions_entry", "entry_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    succeeded: Mapped[bool] = mapped_column()
    # The answer given the first time (status code and body), replayed on retries.
    status_code: Mapped[int] = mapped_column()
    response: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    # The `redeem` ledger entry (its id is the public redemption id), the order it pays for,
    # and for the mobile app's redemptions the SHA-256 of the customer token (daily limit).
    entry_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    order_id: Mapped[str | None] = mapped_column(String(200), default=None)
    token_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    # Set once reversed, with the answer replayed to every later reversal request.
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    reversal: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Adjustment(Base):
    """A manual adjustment (or a touch offer's grant), kept by its Idempotency-Key."""

    __tablename__ = "cashback_adjustments"
    __table_args__ = (UniqueConstraint("customer_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    # The request as received (a retry must repeat it) and the first answer.
    request: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    status_code: Mapped[int] = mapped_column()
    response: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExpiryNotice(Base):
    """`cashback.expiring` sent for a customer and an expiry date: once per pair."""

    __tablename__ = "cashback_expiry_notices"
    __table_args__ = (UniqueConstraint("customer_id", "expires_on"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    expires_on: Mapped[date] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    notified_at: Mapped[datetime] = mapped_column(UTCDateTime)
