"""The Bitrix24 sender: outbox messages become contacts, timeline comments, to-dos and deals.

The endpoint URL is the portal's incoming webhook, `https://<portal>/rest/<user>/<code>/`. Its
address is checked and pinned at every delivery like any other target's. A message is carried
by a few named calls (`bitrix_commands`); the names of the calls made are kept on the delivery,
so a retry after a limit or an error never repeats a comment, a to-do or a deal.
"""

from __future__ import annotations

from typing import Any

import httpx

from app.core.db import Database
from app.core.outbox import OutboxMessage
from app.core.settings import Settings
from app.projection.pipeline import fold_customer
from app.webhooks import bitrix_commands as bc
from app.webhooks import pacing, repository, ssrf
from app.webhooks.bitrix_client import BitrixError, Portal, Throttled
from app.webhooks.models import WebhookEndpoint
from app.webhooks.outcome import Outcome

# Answers that mean the remembered contact is gone from the portal: forget it, find it again.
CONTACT_GONE = {"NOT_FOUND", "OWNER_NOT_FOUND"}


def options(settings: Settings) -> bc.Options:
    return bc.Options(
        currency=settings.currency,
        deal_min_value=settings.bitrix_deal_min_value,
        default_timezone=settings.touches.default_timezone,
        workday_start=settings.bitrix_workday_start,
        workday_end=settings.bitrix_workday_end,
        workdays=frozenset(settings.bitrix_workdays),
        ping_offsets_minutes=tuple(settings.bitrix_ping_offsets_minutes),
    )


def bucket_of(endpoint: WebhookEndpoint, settings: Settings) -> pacing.Bucket:
    plan = endpoint.bitrix_plan or "standard"
    per_second = endpoint.rate_limit_per_second or (
        settings.bitrix_rate_limit_per_second if plan == "standard" else None
    )
    return pacing.bitrix_bucket(plan, per_second)


async def _person(db: Database, settings: Settings, customer_id: str) -> bc.Person:
    """The customer as the portal should see it: folded first if facts about it are pending
    (a profile posted a moment ago has its e-mail already)."""
    async with db.sessionmaker() as session, session.begin():
        customer = await repository.customer(session, customer_id)
        if customer is not None:
            customer = await fold_customer(session, settings, customer)
    if customer is None:
        return bc.Person(customer_id)
    profile: dict[str, Any] = customer.profile()
    name = profile.get("name")
    return bc.Person(
        customer_id,
        name=name if isinstance(name, str) and name.strip() else None,
        email=customer.email,
        phone=customer.phone,
        address=bc.address_text(profile.get("postal_address")),
        timezone=customer.timezone,
    )


async def _remember(db: Database, endpoint_id: int, customer_id: str, contact: int) -> None:
    async with db.sessionmaker() as session, session.begin():
        await repository.remember_contact(session, endpoint_id, customer_id, contact)


async def _contact_id(portal: Portal, person: bc.Person) -> tuple[int, str]:
    """The portal's contact for the customer: remembered, else found by our id, e-mail or
    phone (and completed with what it lacks), else created. Remembered at once."""
    db, endpoint_id = portal.db, portal.endpoint.id
    async with db.sessionmaker() as session:
        known = await repository.bitrix_contact(session, endpoint_id, person.customer_id)
    if known is not None:
        return known, "remembered"
    results, _ = await portal.batch(bc.lookups(person))
    found = bc.found_contact(results)
    if found is None:
        answer = await portal.call(*bc.new_contact(person))
        contact, how = int((answer or {}).get("item", {}).get("id")), "created"
        await _remember(db, endpoint_id, person.customer_id, contact)
        return contact, how
    contact, how = found
    await _remember(db, endpoint_id, person.customer_id, contact)
    if how != "origin":
        item = await portal.call("crm.item.get", {"entityTypeId": bc.CONTACT, "id": contact})
        update = bc.completion(contact, (item or {}).get("item") or {}, person)
        if update is not None:
            await portal.call(*update)
    return contact, f"found by {how}"


async def _run(
    portal: Portal, commands: dict[str, bc.Command], done: list[str]
) -> dict[str, BitrixError]:
    """Make the calls not made yet; add the ones that succeed to `done` (even when a limit
    stops the batch half-way); answer the calls that failed."""
    todo = {name: cmd for name, cmd in commands.items() if name not in done}
    if not todo:
        return {}
    try:
        results, errors = await portal.batch(todo)
    except Throttled as exc:
        results, errors = exc.partial
        done += [n for n in todo if n in results and n not in errors]
        raise
    done += [n for n in todo if n in results and n not in errors]
    return errors


async def deliver(
    db: Database,
    settings: Settings,
    client: httpx.AsyncClient,
    endpoint: WebhookEndpoint,
    message: OutboxMessage,
    progress: list[str] | None = None,
) -> Outcome:
    if not message.customer_id:
        return Outcome(True, 200, excerpt="nothing to do: not about a customer")
    opts = options(settings)
    if not bc.commands_for(message, 0, bc.Person(message.customer_id), opts):
        return Outcome(True, 200, excerpt=f"nothing to do for {message.type}")
    try:
        target = await ssrf.resolve(endpoint.url, settings.webhook_allow_private)
    except ssrf.UnsafeTarget as exc:
        return Outcome(False, error=f"refused target: {exc}")
    portal = Portal(db, client, endpoint, target, bucket_of(endpoint, settings))
    done = list(progress or [])
    try:
        person = await _person(db, settings, message.customer_id)
        contact, how = await _contact_id(portal, person)
        errors = await _run(portal, bc.commands_for(message, contact, person, opts), done)
    except Throttled as exc:
        # Not a failure: the portal's limits say when; the retry schedule is not used up.
        error = str(exc)[:500] if exc.status else None
        return Outcome(False, exc.status, error, defer_until=exc.until, progress=done)
    except BitrixError as exc:
        return Outcome(False, exc.status, str(exc)[:500], progress=done)
    except httpx.HTTPError as exc:
        return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500], progress=done)
    if errors:
        if any(e.code in CONTACT_GONE for e in errors.values()):
            await _forget(db, endpoint.id, message.customer_id)
        name, err = next(iter(errors.items()))
        return Outcome(False, err.status, f"{name}: {err}"[:500], progress=done)
    made = ", ".join(done) or "nothing"
    return Outcome(True, 200, excerpt=f"contact {contact} ({how}); {made}", progress=done)


async def _forget(db: Database, endpoint_id: int, customer_id: str) -> None:
    async with db.sessionmaker() as session, session.begin():
        await repository.forget_contact(session, endpoint_id, customer_id)
