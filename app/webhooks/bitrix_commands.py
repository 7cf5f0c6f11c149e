"""What the Bitrix24 connector asks of a portal, on the universal `crm.item.*` methods (pure).

Contacts are `crm.item` of `entityTypeId` 3, deals of 2; contacts are looked up by our id
(`originatorId`/`originId`) and by e-mail or phone (`crm.duplicate.findbycomm`); a to-do is
`crm.activity.todo.add` and a comment `crm.timeline.comment.add` (lower-case `fields`, as
CRM 23.100 requires). The deprecated `crm.contact.*` and `crm.deal.*` are never used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from app.core.outbox import OutboxMessage

ORIGINATOR = "touchpoint"
CONTACT, DEAL = 3, 2
COMMENTED = {
    "customer.stage_changed",
    "customer.at_risk",
    "customer.lapsed",
    "customer.lost",
    "customer.reactivated",
}

Command = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Person:
    """What the connector knows of a customer to find or create the contact."""

    customer_id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class Options:
    currency: str
    deal_min_value: float
    default_timezone: str
    workday_start: time
    workday_end: time
    workdays: frozenset[int]  # ISO weekdays, Monday = 1
    ping_offsets_minutes: tuple[int, ...]


def address_text(value: Any) -> str | None:
    """A postal address as one line, whether kept as text or as structured parts."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, dict):
        if isinstance(value.get("text"), str) and value["text"].strip():
            return str(value["text"]).strip()
        parts = [str(v).strip() for k, v in value.items() if k != "text" and v]
        return ", ".join(p for p in parts if p) or None
    return None


def multifields(person: Person) -> list[dict[str, str]]:
    """E-mail and phone in Bitrix24's multi-field shape (`fm`)."""
    fm = []
    if person.email:
        fm.append({"typeId": "EMAIL", "valueType": "WORK", "value": person.email})
    if person.phone:
        fm.append({"typeId": "PHONE", "valueType": "WORK", "value": person.phone})
    return fm


def lookups(person: Person) -> dict[str, Command]:
    """One batch that finds an existing contact: by our id, by e-mail, by phone."""
    found: dict[str, Command] = {
        "by_origin": (
            "crm.item.list",
            {
                "entityTypeId": CONTACT,
                "filter": {"=originatorId": ORIGINATOR, "=originId": person.customer_id},
                "select": ["id"],
            },
        )
    }
    for key, kind, value in (
        ("by_email", "EMAIL", person.email),
        ("by_phone", "PHONE", person.phone),
    ):
        if value:
            found[key] = (
                "crm.duplicate.findbycomm",
                {"entity_type": "CONTACT", "type": kind, "values": [value]},
            )
    return found


def found_contact(results: dict[str, Any]) -> tuple[int, str] | None:
    """The contact the lookups found and how: ("origin" | "email" | "phone")."""
    items = (
        (results.get("by_origin") or {}).get("items")
        if isinstance(results.get("by_origin"), dict)
        else None
    )
    if items:
        return int(items[0]["id"]), "origin"
    for key, how in (("by_email", "email"), ("by_phone", "phone")):
        answer = results.get(key)
        ids = answer.get("CONTACT") if isinstance(answer, dict) else None
        if ids:
            return int(min(int(i) for i in ids)), how
    return None


def new_contact(person: Person) -> Command:
    fields: dict[str, Any] = {
        "name": person.name or person.customer_id,
        "originatorId": ORIGINATOR,
        "originId": person.customer_id,
        "sourceDescription": "Touchpoint",
    }
    fm = multifields(person)
    if fm:
        fields["fm"] = fm
    if person.address:
        # crm.item keeps no address on a contact (addresses live in requisites): the postal
        # address goes where a manager reads it.
        fields["comments"] = f"Postal address: {person.address}"
    return "crm.item.add", {"entityTypeId": CONTACT, "fields": fields}


def completion(contact_id: int, item: dict[str, Any], person: Person) -> Command | None:
    """An update that adds to a contact found by e-mail or phone what it lacks of ours: the
    other channel, the name, our id. `crm.item.update` only adds multi-fields."""
    have = {
        (str(f.get("typeId")), str(f.get("value")).strip().lower())
        for f in item.get("fm") or []
        if isinstance(f, dict)
    }
    fields: dict[str, Any] = {}
    missing = [f for f in multifields(person) if (f["typeId"], f["value"].lower()) not in have]
    if missing:
        fields["fm"] = missing
    if person.name and not item.get("name"):
        fields["name"] = person.name
    if not item.get("originId"):
        fields["originatorId"], fields["originId"] = ORIGINATOR, person.customer_id
    if not fields:
        return None
    return "crm.item.update", {"entityTypeId": CONTACT, "id": contact_id, "fields": fields}


def in_working_hours(due: datetime, tz: ZoneInfo, opts: Options) -> datetime:
    """The first moment at or after `due` inside the working hours of the customer's zone."""
    local = due.astimezone(tz)
    for _ in range(8):
        if local.isoweekday() in opts.workdays:
            t = local.time().replace(tzinfo=None)
            if t < opts.workday_start:
                return _at(local.date(), opts.workday_start, tz)
            if t < opts.workday_end:
                return local
        local = _at(local.date() + timedelta(days=1), opts.workday_start, tz)
    return local


def _at(day: date, moment: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, moment, tzinfo=tz)


def _zone(name: str | None, default: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or default)
    except (KeyError, ValueError):
        return ZoneInfo(default)


def _comment(message: OutboxMessage) -> str:
    p = message.payload
    if message.type == "customer.stage_changed":
        reasons = "; ".join(p.get("reasons") or [])
        return f"Stage: {p.get('from')} → {p.get('to')}. {reasons}".strip()
    if message.type == "customer.reactivated":
        return f"Came back: bought again after being {p.get('previous_status')}."
    if message.type == "touch.due":
        return (
            f"Touch #{p.get('touch_id')} due: {p.get('channel', 'touch')}, "
            f"{p.get('reason', '')}".strip()
        )
    silent = p.get("days_silent")
    return (
        f"Status: {p.get('status')}. Silent {silent:.0f} days, usual interval "
        f"{(p.get('usual_interval_days') or 0):.0f} days; "
        f"value at risk {p.get('value_at_risk')} a year."
        if isinstance(silent, int | float)
        else f"Status: {p.get('status')}."
    )


def _money(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value or 0))
    except InvalidOperation:
        return Decimal(0)
    return amount if amount.is_finite() else Decimal(0)


def _timeline(contact: int, text: str) -> Command:
    return (
        "crm.timeline.comment.add",
        {"fields": {"ENTITY_ID": contact, "ENTITY_TYPE": "contact", "COMMENT": text}},
    )


def commands_for(
    message: OutboxMessage, contact: int, person: Person, opts: Options
) -> dict[str, Command]:
    """The Bitrix24 calls that carry one message, by name (names make retries resumable)."""
    p = message.payload
    cmds: dict[str, Command] = {}
    if message.type in COMMENTED:
        cmds["comment"] = _timeline(contact, _comment(message))
    if message.type == "customer.lapsed":
        value = _money(p.get("value_at_risk"))
        if value >= Decimal(str(opts.deal_min_value)) and value > 0:
            cmds["deal"] = (
                "crm.item.add",
                {
                    "entityTypeId": DEAL,
                    "fields": {
                        "title": f"Win back {person.name or person.customer_id}",
                        "contactIds": [contact],
                        "opportunity": float(value.quantize(Decimal("0.01"))),
                        "isManualOpportunity": "Y",
                        "currencyId": opts.currency,
                        "comments": _comment(message),
                        "originatorId": ORIGINATOR,
                        "originId": message.message_id,
                    },
                },
            )
    if message.type == "touch.due":
        cmds["touch_comment"] = _timeline(contact, _comment(message))
        cmds["todo"] = (
            "crm.activity.todo.add",
            _todo(p, contact, person, opts, message.created_at),
        )
    return cmds


def _todo(
    p: dict[str, Any], contact: int, person: Person, opts: Options, sent_at: datetime
) -> dict[str, Any]:
    tz = _zone(person.timezone, opts.default_timezone)
    try:
        due = datetime.fromisoformat(str(p.get("due_at")).replace("Z", "+00:00"))
        if due.tzinfo is None:
            raise ValueError
    except ValueError:
        due = sent_at
    deadline = in_working_hours(due, tz, opts)
    script = p.get("script") or ""
    lines = [script] if isinstance(script, str) else [str(s) for s in script]
    if p.get("offer"):
        lines.append(f"Offer: {p['offer']}")
    lines.append(f"Touchpoint touch #{p.get('touch_id')}")
    return {
        "ownerTypeId": CONTACT,
        "ownerId": contact,
        "deadline": deadline.isoformat(timespec="seconds"),
        "title": f"{p.get('channel', 'touch')}: {p.get('reason', '')}".strip(),
        "description": "\n".join(line for line in lines if line),
        "pingOffsets": list(opts.ping_offsets_minutes),
    }
