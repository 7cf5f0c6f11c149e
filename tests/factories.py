"""Event bodies as a shop's backend would send them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

_seq = itertools.count(1)
BASE_TIME = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def ts(days: float = 0, base: datetime = BASE_TIME) -> str:
    return (base + timedelta(days=days)).isoformat().replace("+00:00", "Z")


def _common(kind: str, customer: str, days: float, event_id: str | None) -> dict[str, Any]:
    return {
        "event_id": event_id or f"ev-{kind}-{next(_seq)}",
        "type": kind,
        "customer_id": customer,
        "occurred_at": ts(days),
    }


def purchase(
    customer: str,
    days: float = 0,
    amount: str = "1500.00",
    order_id: str | None = None,
    category: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    body = _common("purchase", customer, days, event_id)
    body |= {"order_id": order_id or f"o-{next(_seq)}", "amount": amount, "currency": "RUB"}
    if category:
        body["category"] = category
    return body


def refund(
    customer: str, order_id: str, amount: str, days: float = 1, event_id: str | None = None
) -> dict[str, Any]:
    return _common("refund", customer, days, event_id) | {"order_id": order_id, "amount": amount}


def contact(
    customer: str, days: float = 0, channel: str = "call", event_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    body = _common("contact", customer, days, event_id)
    return body | {"channel": channel, "direction": "outbound"} | extra


def lead(customer: str, level: str = "interest", days: float = 0) -> dict[str, Any]:
    return _common("lead", customer, days, None) | {"level": level}


def referral(customer: str, referrer: str, days: float = 0) -> dict[str, Any]:
    return _common("referral", customer, days, None) | {"referrer_id": referrer}


def review(customer: str, rating: int = 5, public: bool = True, days: float = 0) -> dict[str, Any]:
    return _common("review", customer, days, None) | {"rating": rating, "public": public}


def profile(
    customer: str, days: float = 0, event_id: str | None = None, **fields: Any
) -> dict[str, Any]:
    return _common("profile", customer, days, event_id) | fields


# For tests whose events must be recent (stages, lapse, touches judge against the clock).
NOW = datetime.now(UTC)


def at(body: dict[str, Any], days_ago: float) -> dict[str, Any]:
    """The event as it happened `days_ago` days before the test run."""
    return body | {"occurred_at": (NOW - timedelta(days=days_ago)).isoformat()}


async def send(client: httpx.AsyncClient, headers: dict[str, str], *events: dict[str, Any]) -> None:
    """Post a batch that must be accepted whole, and wait until its customers are derived
    (lists and effects on other customers, such as a referrer's credit, are then current)."""
    r = await client.post(
        "/v1/events/batch?wait=true", json={"events": list(events)}, headers=headers
    )
    assert r.status_code == 200 and r.json()["summary"]["rejected"] == 0, r.text
