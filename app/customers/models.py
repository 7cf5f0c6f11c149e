from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntPK, JSONDoc, UTCDateTime, utcnow


class Customer(Base):
    """A customer as the shop knows them, with aggregates kept current on every ingest."""

    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_risk_value", "risk_value_minor", "id"),
        Index("ix_customers_risk_since", "risk_since", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    first_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    # Profile: each field keeps the value of the latest profile event that set it.
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    # Free text ("text") and/or structured parts (postal_code, region, city, street, …).
    postal_address: Mapped[dict[str, str] | None] = mapped_column(JSONDoc, default=None)
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    phone: Mapped[str | None] = mapped_column(String(40), default=None)
    birth_date: Mapped[date | None] = mapped_column(Date, default=None)
    company: Mapped[str | None] = mapped_column(String(200), default=None)
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)
    preferred_channels: Mapped[list[str] | None] = mapped_column(JSONDoc, default=None)
    consents: Mapped[dict[str, bool] | None] = mapped_column(JSONDoc, default=None)
    exclusive: Mapped[bool | None] = mapped_column(Boolean, default=None)
    # field -> occurred_at|event_id of the event that set it (last writer wins by event time).
    profile_versions: Mapped[dict[str, str]] = mapped_column(JSONDoc, default=dict)

    # Relationship facts from non-purchase events.
    lead_level: Mapped[str | None] = mapped_column(String(16), default=None)
    lead_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    referrer_id: Mapped[str | None] = mapped_column(String(200), default=None)
    referrer_version: Mapped[str | None] = mapped_column(String(260), default=None)
    contact_count: Mapped[int] = mapped_column(Integer, default=0)
    last_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    review_count: Mapped[int] = mapped_column(Integer, default=0)
    best_public_rating: Mapped[int | None] = mapped_column(Integer, default=None)

    # Place on the loyalty ladder (prospect … advocate) and activity (active … lost); the rules
    # that set them live in their own domains, which keep these columns current on ingest.
    stage: Mapped[str] = mapped_column(String(16), default="prospect", index=True)
    stage_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # When the stage may change by itself (a regular who stops buying); the worker looks here.
    stage_review_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
    # Distinct referred customers who bought; and whom this customer's purchase was credited to.
    referrals_converted: Mapped[int] = mapped_column(Integer, default=0)
    referral_credited_to: Mapped[str | None] = mapped_column(String(200), default=None, index=True)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    status_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The customer's rhythm and when silence turns into at_risk / lapsed / lost.
    usual_interval_days: Mapped[float | None] = mapped_column(Float, default=None)
    at_risk_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    lapse_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    lost_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The worker's work list: the next moment the status changes by itself.
    next_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
    # Highest status announced in the current episode (messages go out once per episode).
    episode_peak: Mapped[str] = mapped_column(String(16), default="active")
    # A year of this customer's purchases at their rhythm; set only while not active, so the
    # lapsed list is an index range scan (keyset on value, id / since, id).
    value_at_risk_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    risk_value_minor: Mapped[int | None] = mapped_column(BigInteger, default=None)
    risk_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    # Set when the customer's personal data was erased: the row then stands for a pseudonym
    # (a new `external_id`), keeps its derived state so totals add up, and is frozen.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    # Cashback balance, the sum of the customer's ledger, kept in the same transaction.
    cashback_balance_minor: Mapped[int] = mapped_column(BigInteger, default=0)

    # Purchase aggregates, recomputed from the customer's orders in the ingest transaction.
    purchase_count: Mapped[int] = mapped_column(Integer, default=0)
    purchase_days: Mapped[int] = mapped_column(Integer, default=0)
    gross_revenue_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    net_revenue_minor: Mapped[int] = mapped_column(BigInteger, default=0, index=True)
    avg_check_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    first_purchase_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_purchase_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    interval_count: Mapped[int] = mapped_column(Integer, default=0)
    interval_mean_days: Mapped[float | None] = mapped_column(Float, default=None)
    interval_median_days: Mapped[float | None] = mapped_column(Float, default=None)
    interval_stdev_days: Mapped[float | None] = mapped_column(Float, default=None)
    main_category: Mapped[str | None] = mapped_column(String(200), default=None)

    def profile(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "postal_address": self.postal_address,
            "email": self.email,
            "phone": self.phone,
            "birth_date": self.birth_date,
            "company": self.company,
            "timezone": self.timezone,
            "preferred_channels": self.preferred_channels,
            "consents": self.consents,
            "exclusive": self.exclusive,
        }


class Order(Base):
    """One purchase; refunds reduce what is left of it."""

    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_customer_occurred", "customer_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(200), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    category: Mapped[str | None] = mapped_column(String(200), default=None)
    event_id: Mapped[str] = mapped_column(String(200))
