"""The rules of facts (pure): what an event may say, which orders and refunds are valid, and
how an event folds into a customer's non-purchase facts.

Used by the API's write path, the importer and the projection alike, so an order history
imported in bulk obeys exactly what a live stream does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from app.core.errors import Conflict, Unprocessable
from app.core.settings import Settings
from app.events.schemas import (
    PROFILE_FIELDS,
    ContactEvent,
    EventIn,
    LeadEvent,
    ProfileEvent,
    PurchaseEvent,
    ReferralEvent,
    ReviewEvent,
    occurred_key,
)

LEAD_RANK = {"interest": 1, "desire": 2}


class OrderExists(Conflict):
    slug, title = "order-exists", "Order already recorded"


class UnknownOrder(Unprocessable):
    slug, title = "unknown-order", "Refund for an unknown order"


class RefundTooLarge(Unprocessable):
    slug, title = "refund-exceeds-order", "Refund larger than what is left of the order"


class WrongCurrency(Unprocessable):
    slug, title = "wrong-currency", "Currency not accepted"


class FutureEvent(Unprocessable):
    slug, title = "event-in-future", "Event in the future"


class InvalidEvent(Unprocessable):
    slug, title = "validation", "Invalid event"


def check_event(event: EventIn, settings: Settings, now: datetime) -> None:
    """Checks that need the deployment's settings or the clock, not the database."""
    if event.occurred_at - now > timedelta(seconds=settings.max_future_skew_seconds):
        raise FutureEvent(
            f"occurred_at is more than {settings.max_future_skew_seconds} s in the future"
        )
    if isinstance(event, PurchaseEvent) and event.currency != settings.currency:
        raise WrongCurrency(
            f"This deployment accepts {settings.currency} only, not {event.currency}.",
            accepted_currency=settings.currency,
        )


@dataclass
class OrderState:
    """What the refund rule needs to know of a stored (or just accepted) order."""

    customer_pk: int
    amount_minor: int
    refunded_minor: int


def check_purchase(order_id: str, known: dict[str, OrderState]) -> None:
    """A purchase records a new order; a second purchase of one order id is refused."""
    if order_id in known:
        raise OrderExists(f"Order {order_id!r} was already recorded by another event.")


def apply_refund(
    order_id: str, customer_pk: int, customer_id: str, amount_minor: int, order: OrderState | None
) -> None:
    """A refund names an order of the same customer and takes at most what is left of it;
    on success the order's refunded total grows."""
    if order is None or order.customer_pk != customer_pk:
        raise UnknownOrder(
            f"No order {order_id!r} is recorded for customer {customer_id!r}; "
            "send the purchase first."
        )
    left = order.amount_minor - order.refunded_minor
    if amount_minor > left:
        raise RefundTooLarge(
            f"Order {order_id!r} has {left / 100:.2f} left to refund.",
            refundable=f"{left / 100:.2f}",
        )
    order.refunded_minor += amount_minor


class FactColumns(Protocol):
    """The customer columns `fold` writes (a `Customer`, or a detached copy of one)."""

    first_seen_at: datetime | None
    last_event_at: datetime | None
    contact_count: int
    last_contact_at: datetime | None
    lead_level: str | None
    lead_at: datetime | None
    referrer_id: str | None
    referrer_version: str | None
    review_count: int
    best_public_rating: int | None
    profile_versions: dict[str, str]


def fold(c: FactColumns, ev: EventIn) -> None:
    """Fold one event into the customer's non-purchase facts.

    Every rule is a min, a max, a count or last-writer-wins by (occurred_at, event_id), so
    the result does not depend on the order in which events arrive.
    """
    at = ev.occurred_at
    c.first_seen_at = at if c.first_seen_at is None else min(c.first_seen_at, at)
    c.last_event_at = at if c.last_event_at is None else max(c.last_event_at, at)
    if isinstance(ev, ContactEvent):
        c.contact_count = (c.contact_count or 0) + 1
        c.last_contact_at = at if c.last_contact_at is None else max(c.last_contact_at, at)
    elif isinstance(ev, LeadEvent):
        if c.lead_level is None or LEAD_RANK[ev.level.value] > LEAD_RANK[c.lead_level]:
            c.lead_level = ev.level.value
        c.lead_at = at if c.lead_at is None else min(c.lead_at, at)
    elif isinstance(ev, ReferralEvent):
        version = occurred_key(at, ev.event_id)
        if c.referrer_version is None or version > c.referrer_version:
            c.referrer_id, c.referrer_version = ev.referrer_id, version
    elif isinstance(ev, ReviewEvent):
        c.review_count = (c.review_count or 0) + 1
        if ev.public and (c.best_public_rating or 0) < ev.rating:
            c.best_public_rating = ev.rating
    elif isinstance(ev, ProfileEvent):
        version = occurred_key(at, ev.event_id)
        versions = dict(c.profile_versions or {})
        for name in PROFILE_FIELDS:
            if name not in ev.model_fields_set:
                continue
            if versions.get(name, "") >= version:
                continue
            value = getattr(ev, name)
            if name == "preferred_channels" and value is not None:
                value = [ch.value for ch in value]
            elif name == "consents" and value is not None:
                value = {ch.value: ok for ch, ok in sorted(value.items())}
            setattr(c, name, value)
            versions[name] = version
        c.profile_versions = versions


# Non-purchase fact columns and their values before any event: a customer derived again from
# all of its stored events starts from these.
FACT_DEFAULTS: dict[str, object] = {
    "first_seen_at": None,
    "last_event_at": None,
    "contact_count": 0,
    "last_contact_at": None,
    "lead_level": None,
    "lead_at": None,
    "referrer_id": None,
    "referrer_version": None,
    "review_count": 0,
    "best_public_rating": None,
    "profile_versions": {},
    **dict.fromkeys(PROFILE_FIELDS),
}
