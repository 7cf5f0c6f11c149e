from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntPK, JSONDoc, UTCDateTime, utcnow


class ApiKey(Base):
    """A backend's key. Only a SHA-256 digest of the secret is kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    # First characters of the key, shown in listings so a key can be recognised.
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class CustomerToken(Base):
    """A customer token issued to a mobile app, by its JWT id: revoking it refuses the token."""

    __tablename__ = "customer_tokens"
    __table_args__ = (Index("ix_customer_tokens_customer", "customer_id"),)

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The sender's customer id (the token's `sub`).
    customer_id: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class InstanceSecret(Base):
    """Secrets the deployment generates once and keeps (e.g. the customer-token key when
    TOUCHPOINT_TOKEN_SECRET is not set), shared by every replica through the database."""

    __tablename__ = "instance_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
