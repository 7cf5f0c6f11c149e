"""Bitrix24 connector: outbox messages become contacts, timeline comments, to-dos and deals.

The endpoint URL is the portal's incoming webhook, `https://<portal>/rest/<user>/<code>/`.
Every request to a portal takes a slot of its leaky bucket (default 2 per second, shared by
all workers); calls are grouped with `batch` (at most 50 commands a request); the portal's
QUERY_LIMIT_EXCEEDED (503) and OPERATION_TIME_LIMIT (429) make the delivery back off and retry.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from app.core.db import Database, utcnow
from app.core.outbox import OutboxMessage
from app.core.settings import Settings
from app.webhooks import repository, retry
from app.webhooks.delivery import Outcome, reserve_slot
from app.webhooks.models import WebhookEndpoint

ORIGINATOR = "touchpoint"
MAX_BATCH = 50
COMMENTED = {
    "customer.stage_changed",
    "customer.at_risk",
    "customer.lapsed",
    "customer.lost",
    "customer.reactivated",
}


class BitrixError(Exception):
    def __init__(
        self, code: str, status: int, description: str = "", retry_after: float | None = None
    ):
        super().__init__(f"{code}: {description}")
        self.code, self.status, self.retry_after = code, status, retry_after


def php_query(params: Any, prefix: str = "") -> list[str]:
    """Bitrix batch commands are query strings with PHP-style nesting (filter[EMAIL]=…)."""
    parts: list[str] = []
    if isinstance(params, dict):
        for key, value in params.items():
            name = f"{prefix}[{key}]" if prefix else str(key)
            parts += php_query(value, name)
    elif isinstance(params, list):
        for i, value in enumerate(params):
            parts += php_query(value, f"{prefix}[{i}]")
    else:
        parts.append(f"{quote(prefix, safe='[]')}={quote(str(params), safe='')}")
    return parts


class Portal:
    def __init__(
        self, db: Database, settings: Settings, client: httpx.AsyncClient, endpoint: WebhookEndpoint
    ) -> None:
        self.db, self.client, self.endpoint = db, client, endpoint
        self.base = endpoint.url if endpoint.url.endswith("/") else endpoint.url + "/"
        self.rate = endpoint.rate_limit_per_second or settings.bitrix_rate_limit_per_second

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        await reserve_slot(self.db, self.endpoint.id, self.rate)
        response = await self.client.post(f"{self.base}{method}.json", json=params)
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400 or "error" in body:
            raise BitrixError(
                str(body.get("error", f"HTTP_{response.status_code}")),
                response.status_code,
                str(body.get("error_description", "")),
                retry.parse_retry_after(response.headers.get("retry-after"), utcnow()),
            )
        return body.get("result")

    async def batch(self, commands: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        """Run up to 50 commands in one request; any command's error fails the whole step."""
        results: dict[str, Any] = {}
        items = list(commands.items())
        for start in range(0, len(items), MAX_BATCH):
            chunk = dict(items[start : start + MAX_BATCH])
            cmd = {name: f"{m}?{'&'.join(php_query(p))}" for name, (m, p) in chunk.items()}
            result = await self.call("batch", {"halt": 0, "cmd": cmd})
            errors = (result or {}).get("result_error") or {}
            if errors:
                name, err = next(iter(errors.items()))
                raise BitrixError(
                    str(err.get("error", "BATCH_ERROR")),
                    400,
                    f"{name}: {err.get('error_description', '')}",
                )
            results.update((result or {}).get("result") or {})
        return results


async def _contact_id(portal: Portal, customer_id: str) -> int:
    """Find the contact by our id (ORIGINATOR_ID/ORIGIN_ID), else by e-mail or phone, else
    create it; remember the answer."""
    db = portal.db
    async with db.sessionmaker() as session:
        known = await repository.bitrix_contact(session, portal.endpoint.id, customer_id)
        customer = await repository.customer(session, customer_id)
    if known is not None:
        return known
    email = customer.email if customer else None
    phone = customer.phone if customer else None
    lookups: dict[str, tuple[str, dict[str, Any]]] = {
        "by_origin": (
            "crm.contact.list",
            {"filter": {"ORIGINATOR_ID": ORIGINATOR, "ORIGIN_ID": customer_id}, "select": ["ID"]},
        )
    }
    if email:
        lookups["by_email"] = ("crm.contact.list", {"filter": {"EMAIL": email}, "select": ["ID"]})
    if phone:
        lookups["by_phone"] = ("crm.contact.list", {"filter": {"PHONE": phone}, "select": ["ID"]})
    found = await portal.batch(lookups)
    contact: int | None = None
    for key in ("by_origin", "by_email", "by_phone"):
        rows = found.get(key) or []
        if rows:
            contact = int(rows[0]["ID"])
            break
    if contact is None:
        fields: dict[str, Any] = {
            "NAME": customer_id,
            "ORIGINATOR_ID": ORIGINATOR,
            "ORIGIN_ID": customer_id,
            "SOURCE_DESCRIPTION": "Touchpoint",
        }
        if email:
            fields["EMAIL"] = [{"VALUE": email, "VALUE_TYPE": "WORK"}]
        if phone:
            fields["PHONE"] = [{"VALUE": phone, "VALUE_TYPE": "WORK"}]
        contact = int(await portal.call("crm.contact.add", {"fields": fields}))
    async with db.sessionmaker() as session, session.begin():
        await repository.remember_contact(session, portal.endpoint.id, customer_id, contact)
    return contact


def _comment(message: OutboxMessage) -> str:
    p = message.payload
    if message.type == "customer.stage_changed":
        reasons = "; ".join(p.get("reasons") or [])
        return f"Stage: {p.get('from')} → {p.get('to')}. {reasons}".strip()
    if message.type == "customer.reactivated":
        return f"Came back: bought again after being {p.get('previous_status')}."
    silent = p.get("days_silent")
    return (
        f"Status: {p.get('status')}. Silent {silent:.0f} days, usual interval "
        f"{(p.get('usual_interval_days') or 0):.0f} days; "
        f"value at risk {p.get('value_at_risk')} a year."
        if isinstance(silent, int | float)
        else f"Status: {p.get('status')}."
    )


def commands_for(
    message: OutboxMessage, contact: int, settings: Settings
) -> dict[str, tuple[str, dict[str, Any]]]:
    """The Bitrix24 calls that carry one message (pure)."""
    p = message.payload
    cmds: dict[str, tuple[str, dict[str, Any]]] = {}
    if message.type in COMMENTED:
        cmds["comment"] = (
            "crm.timeline.comment.add",
            {
                "fields": {
                    "ENTITY_ID": contact,
                    "ENTITY_TYPE": "contact",
                    "COMMENT": _comment(message),
                }
            },
        )
    if message.type == "customer.lapsed":
        try:
            value = float(p.get("value_at_risk") or 0)
        except (TypeError, ValueError):
            value = 0.0
        if value >= settings.bitrix_deal_min_value:
            cmds["deal"] = (
                "crm.deal.add",
                {
                    "fields": {
                        "TITLE": f"Win back {p.get('customer_id')}",
                        "CONTACT_ID": contact,
                        "OPPORTUNITY": f"{value:.2f}",
                        "CURRENCY_ID": settings.currency,
                        "COMMENTS": _comment(message),
                    }
                },
            )
    if message.type == "touch.due":
        script = p.get("script") or ""
        cmds["todo"] = (
            "crm.activity.todo.add",
            {
                "ownerTypeId": 3,  # contact
                "ownerId": contact,
                "deadline": p.get("due_at"),
                # The touch id first, so the shop's automation can report the touch back.
                "title": (f"#{p['touch_id']} " if p.get("touch_id") else "")
                + f"{p.get('channel', 'touch')}: {p.get('reason', '')}".strip(),
                "description": script if isinstance(script, str) else "\n".join(script),
            },
        )
    return cmds


async def deliver(
    db: Database,
    settings: Settings,
    client: httpx.AsyncClient,
    endpoint: WebhookEndpoint,
    message: OutboxMessage,
) -> Outcome:
    if not message.customer_id:
        return Outcome(True, 200, excerpt="nothing to do: not about a customer")
    portal = Portal(db, settings, client, endpoint)
    try:
        if not commands_for(message, 0, settings):
            return Outcome(True, 200, excerpt=f"nothing to do for {message.type}")
        contact = await _contact_id(portal, message.customer_id)
        await portal.batch(commands_for(message, contact, settings))
    except BitrixError as exc:
        return Outcome(False, exc.status, str(exc)[:500], exc.retry_after)
    except httpx.HTTPError as exc:
        return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500])
    return Outcome(True, 200, excerpt=f"contact {contact}")
