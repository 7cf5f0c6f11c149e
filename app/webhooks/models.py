from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntPK, JSONDoc, UTCDateTime, utcnow


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(2000))
    kind: Mapped[str] = mapped_column(String(16), default="standard")  # standard | bitrix24
    event_types: Mapped[list[str]] = mapped_column(JSONDoc, default=list)  # empty: all
    description: Mapped[str | None] = mapped_column(String(500), default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    secret: Mapped[str] = mapped_column(String(100))
    # During a rotation the old secret signs too, until `previous_secret_until`.
    previous_secret: Mapped[str | None] = mapped_column(String(100), default=None)
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    rate_limit_per_second: Mapped[float | None] = mapped_column(Float, default=None)
    # Bitrix24 only: the portal's plan, whose limits the requests keep to (standard | enterprise).
    bitrix_plan: Mapped[str | None] = mapped_column(String(16), default=None)
    # The leaky bucket of requests to this endpoint, as the moment it would be empty again
    # (shared by every worker; see app/webhooks/pacing.py).
    next_send_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Bitrix24 methods out of time budget (OPERATION_TIME_LIMIT): method -> epoch seconds of
    # `operating_reset_at`, before which the method is not called.
    paused_methods: Mapped[dict[str, float] | None] = mapped_column(JSONDoc, default=None)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # One worker at a time delivers to an endpoint (in order, and no two workers creating the
    # same Bitrix24 contact at once): the lease of the worker doing so runs until then.
    lane_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Delivery(Base):
    """One outbox message for one endpoint, until it succeeds or the schedule runs out."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "message_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        # Claims go endpoint by endpoint (one slow or throttled endpoint holds no one back).
        Index("ix_webhook_deliveries_endpoint_due", "endpoint_id", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox_messages.id", ondelete="CASCADE"))
    # pending → delivering (leased) → succeeded | pending (retry) | failed (schedule exhausted)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # For pending: when to try; for delivering: when the lease runs out.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    # Bitrix24: the calls of this message already made, so a retry does not repeat them.
    progress: Mapped[list[str] | None] = mapped_column(JSONDoc, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Attempt(Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(String(500), default=None)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    response_excerpt: Mapped[str | None] = mapped_column(Text, default=None)


class BitrixContact(Base):
    """Which Bitrix24 contact stands for which of our customers, per portal."""

    __tablename__ = "bitrix_contacts"
    __table_args__ = (UniqueConstraint("endpoint_id", "customer_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(String(200))
    contact_id: Mapped[int] = mapped_column(Integer)
