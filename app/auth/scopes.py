"""The scopes an API key can carry (see the design's public contract)."""

from enum import StrEnum


class Scope(StrEnum):
    EVENTS_WRITE = "events:write"
    CUSTOMERS_READ = "customers:read"
    TOUCHES_READ = "touches:read"
    TOUCHES_WRITE = "touches:write"
    CASHBACK_READ = "cashback:read"
    CASHBACK_WRITE = "cashback:write"
    WEBHOOKS_MANAGE = "webhooks:manage"
    ADMIN = "admin"


ALL_SCOPES = frozenset(Scope)


def parse_scopes(text: str) -> list[Scope]:
    """Parse "a,b" into scopes, refusing unknown names with a message listing the valid ones."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise ValueError("at least one scope is required")
    unknown = [n for n in names if n not in {s.value for s in Scope}]
    if unknown:
        valid = ", ".join(s.value for s in Scope)
        raise ValueError(f"unknown scope(s): {', '.join(unknown)}; valid scopes: {valid}")
    return sorted({Scope(n) for n in names})
