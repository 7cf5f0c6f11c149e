from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from app.core.money import MoneyOut, from_minor
from app.customers.models import Customer


class PostalAddressOut(BaseModel):
    text: str | None = None
    postal_code: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    street: str | None = None
    building: str | None = None
    apartment: str | None = None
    recipient: str | None = None


class Profile(BaseModel):
    name: str | None = None
    postal_address: PostalAddressOut | None = None
    email: str | None = None
    phone: str | None = None
    birth_date: date | None = None
    company: str | None = None
    timezone: str | None = None
    preferred_channels: list[str] | None = None
    consents: dict[str, bool] | None = None
    exclusive: bool | None = None


class PurchaseStats(BaseModel):
    purchase_count: int = Field(description="Orders that still count (not fully refunded).")
    purchase_days: int = Field(description="Distinct days with a purchase.")
    gross_revenue: MoneyOut
    refunded: MoneyOut
    net_revenue: MoneyOut = Field(description="Revenue after refunds.")
    average_check: MoneyOut
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    interval_count: int
    interval_mean_days: float | None
    interval_median_days: float | None
    interval_stdev_days: float | None
    main_category: str | None


class Relationship(BaseModel):
    first_seen_at: datetime | None
    last_event_at: datetime | None
    lead_level: str | None
    lead_at: datetime | None
    referrer_id: str | None
    contact_count: int
    last_contact_at: datetime | None
    review_count: int
    best_public_rating: int | None


class CustomerOut(BaseModel):
    customer_id: str
    created_at: datetime
    updated_at: datetime
    profile: Profile
    relationship: Relationship
    purchases: PurchaseStats

    @classmethod
    def of(cls, c: Customer) -> CustomerOut:
        return cls(
            customer_id=c.external_id,
            created_at=c.created_at,
            updated_at=c.updated_at,
            profile=Profile(**c.profile()),
            relationship=Relationship(
                first_seen_at=c.first_seen_at,
                last_event_at=c.last_event_at,
                lead_level=c.lead_level,
                lead_at=c.lead_at,
                referrer_id=c.referrer_id,
                contact_count=c.contact_count,
                last_contact_at=c.last_contact_at,
                review_count=c.review_count,
                best_public_rating=c.best_public_rating,
            ),
            purchases=PurchaseStats(
                purchase_count=c.purchase_count,
                purchase_days=c.purchase_days,
                gross_revenue=from_minor(c.gross_revenue_minor),
                refunded=from_minor(c.refunded_minor),
                net_revenue=from_minor(c.net_revenue_minor),
                average_check=from_minor(c.avg_check_minor),
                first_purchase_at=c.first_purchase_at,
                last_purchase_at=c.last_purchase_at,
                interval_count=c.interval_count,
                interval_mean_days=c.interval_mean_days,
                interval_median_days=c.interval_median_days,
                interval_stdev_days=c.interval_stdev_days,
                main_category=c.main_category,
            ),
        )
