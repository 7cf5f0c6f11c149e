"""Use cases of a customer's rights: erase (DELETE /v1/customers/{id}) and export.

Erasure keeps the customer's row, ledger, orders and derived state under a random pseudonym,
so the pyramid, revenue and ledger totals still add up, and removes everything that names or
reaches the person: the personal profile columns, those fields in every stored profile event,
any of their values found in other stored texts about the customer (touch notes, ledger
reasons, redemption answers, webhook messages and replies), the link to CRM contacts, and every
customer token. The sender's id becomes free: a later event with it starts a new customer.
`customer.erased` goes to the outbox in the same transaction, so CRMs erase too.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.cashback import customer_tokens
from app.core.errors import NotFound
from app.core.outbox import emit
from app.customers import repository as customers
from app.customers.models import Customer
from app.customers.privacy import repository
from app.customers.privacy.rules import (
    ERASED_BODY_HASH,
    PERSONAL_PROFILE_FIELDS,
    Redactor,
    new_pseudonym,
    personal_values,
    rename_in_reason,
)
from app.customers.privacy.schemas import CustomerExport, ErasureOut

ERASED_MESSAGE = "customer.erased"


def personal_columns() -> list[str]:
    """The personal profile columns this schema has."""
    names = set(Customer.__table__.columns.keys())
    return [f for f in PERSONAL_PROFILE_FIELDS if f in names]


async def _lock(session: AsyncSession, customer_id: str) -> tuple[Customer, dict[int, Customer]]:
    """The customer and those referring to its id, locked in id order."""
    found = await customers.by_external_id(session, customer_id)
    if found is None:
        raise NotFound(f"No customer {customer_id!r}.")
    referring = await repository.referencing_customer_pks(session, customer_id)
    locked = await repository.lock_customers(session, {found.id, *referring})
    c = locked.get(found.id)
    if c is None or c.external_id != customer_id:  # erased meanwhile
        raise NotFound(f"No customer {customer_id!r}.")
    return c, locked


async def erase(session: AsyncSession, customer_id: str, now: datetime) -> ErasureOut:
    c, locked = await _lock(session, customer_id)
    pseudonym = new_pseudonym()
    events = await repository.events_of(session, c.id)
    profiles = [{f: getattr(c, f) for f in personal_columns()}]
    profiles += [e.payload for e in events if e.type == "profile"]
    redact = Redactor(personal_values(profiles), customer_id, pseudonym)

    _erase_profile(c, pseudonym, now)
    for e in events:
        e.payload, e.body_hash = redact.event_payload(e.payload), ERASED_BODY_HASH
    await _rename_references(session, customer_id, pseudonym, locked)
    await _redact_owned_rows(session, c.id, redact)
    await _redact_messages(session, customer_id, redact)
    await repository.forget_bitrix_contacts(session, customer_id)
    await customer_tokens.revoke_all(session, customer_id, now)
    message_id = await emit(
        session,
        ERASED_MESSAGE,
        {"customer_id": customer_id, "erased_at": now.isoformat()},
        customer_id,
    )
    await session.flush()
    return ErasureOut(
        customer_id=customer_id,
        erased_at=now,
        events_redacted=len(events),
        message_id=message_id,
    )


def _erase_profile(c: Customer, pseudonym: str, now: datetime) -> None:
    """Personal columns cleared; the row renamed and frozen: no status change, stage review
    or touch is produced for a pseudonym afterwards (no CRM could act on it)."""
    for field in personal_columns():
        setattr(c, field, None)
    c.profile_versions = {
        k: v for k, v in (c.profile_versions or {}).items() if k not in PERSONAL_PROFILE_FIELDS
    }
    c.external_id = pseudonym
    c.erased_at = now
    c.next_status_at = None
    c.stage_review_at = None


async def _rename_references(
    session: AsyncSession, customer_id: str, pseudonym: str, locked: dict[int, Customer]
) -> None:
    """Referrals keep pointing at the erased customer, now by its pseudonym: credits stay
    where they are, and a rebuild credits the same row."""
    for other in locked.values():
        if other.referrer_id == customer_id:
            other.referrer_id = pseudonym
        if other.referral_credited_to == customer_id:
            other.referral_credited_to = pseudonym
    for e in await repository.referral_events_naming(session, customer_id):
        e.payload = {**e.payload, "referrer_id": pseudonym}
    # Ledger keys and reasons that carry the id: the erased customer's welcome bonus, the
    # referrer's bonus for them, and the welcome bonus of those they referred.
    sources = {f"welcome:{customer_id}", f"referral:{customer_id}"}
    sources |= {f"welcome:{o.external_id}" for o in locked.values() if o.external_id != pseudonym}
    for entry in await repository.ledger_by_source(session, sources):
        kind, _, subject = entry.source.partition(":")
        if subject == customer_id:
            entry.source = f"{kind}:{pseudonym}"
        entry.reason = rename_in_reason(entry.reason, customer_id, pseudonym)


async def _redact_owned_rows(session: AsyncSession, customer_pk: int, redact: Redactor) -> None:
    for entry in await repository.ledger_of(session, customer_pk):
        entry.reason = redact.text(entry.reason) or ""
        entry.details = redact.json(entry.details)
    for r in await repository.redemptions_of(session, customer_pk):
        r.response = redact.json(r.response)
    for change in await repository.stage_history_of(session, customer_pk):
        change.reasons = redact.json(change.reasons)
    for t in await repository.touches_of(session, customer_pk):
        if t.status == "planned":
            t.status, t.claimed_by, t.claim_expires_at = "cancelled", None, None
        t.reason = redact.text(t.reason) or ""
        t.script = redact.json(t.script)
        t.offer, t.note = redact.text(t.offer), redact.text(t.note)


async def _redact_messages(session: AsyncSession, customer_id: str, redact: Redactor) -> None:
    """Messages about the customer, sent or not, and what receivers answered to them."""
    messages = await repository.messages_about(session, customer_id)
    for m in messages:
        m.customer_id = redact.text(m.customer_id)
        m.payload = redact.json(m.payload)
    deliveries, attempts = await repository.deliveries_of(session, [m.id for m in messages])
    for d in deliveries:
        d.last_error = redact.text(d.last_error)
    for a in attempts:
        a.error, a.response_excerpt = redact.text(a.error), redact.text(a.response_excerpt)


async def export(session: AsyncSession, customer_id: str, now: datetime) -> CustomerExport:
    c = await customers.by_external_id(session, customer_id)
    if c is None:
        raise NotFound(f"No customer {customer_id!r}.")
    rows = repository.columns_of
    prediction = await repository.prediction_of(session, c.id)
    return CustomerExport(
        customer_id=customer_id,
        exported_at=now,
        customer=rows(c),
        orders=[rows(o) for o in await repository.orders_of(session, c.id)],
        events=[rows(e) for e in await repository.events_of(session, c.id)],
        stage_history=[rows(s) for s in await repository.stage_history_of(session, c.id)],
        prediction=rows(prediction) if prediction else None,
        cashback_entries=[rows(e) for e in await repository.ledger_of(session, c.id)],
        cashback_redemptions=[rows(r) for r in await repository.redemptions_of(session, c.id)],
        touches=[rows(t) for t in await repository.touches_of(session, c.id)],
        messages=[rows(m) for m in await repository.messages_about(session, customer_id)],
        crm_contacts=[rows(b) for b in await repository.bitrix_contacts_of(session, customer_id)],
    )
