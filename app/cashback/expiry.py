"""The worker's expiry pass and its notices.

Balances never count a lot past its expiry whatever the worker does (they are computed from
the lots at read and at redemption); the pass only records the expiry in the ledger. It is
set-based: every lot past expiry is swept in one pass, a few statements per 5,000 customers.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.cashback import repository, rules
from app.cashback.ledger import reason_text
from app.core.money import format_minor
from app.core.outbox import emit
from app.core.settings import Settings


async def expire_lots(session: AsyncSession, now: datetime) -> int:
    """Record the expiry of every lot past its date; returns how many lots were expired."""
    due_customers = await repository.customers_with_lots_due(session, now)
    expired = 0
    for start in range(0, len(due_customers), repository.CHUNK):
        pks = due_customers[start : start + repository.CHUNK]
        # The customers' locks first, as every other writer of their lots takes them.
        await repository.lock_customers_by_pk(session, pks)
        lots = await repository.lots_due(session, pks, now)
        if not lots:
            continue
        minus: dict[int, int] = defaultdict(int)
        rows = []
        for _lot_id, customer_pk, left, source, reason, expires_at in lots:
            minus[customer_pk] += left
            rows.append(
                {
                    "customer_id": customer_pk,
                    "kind": "expire",
                    "amount_minor": -left,
                    "remaining_minor": None,
                    "available_at": None,
                    "expires_at": None,
                    "outstanding_minor": None,
                    "order_id": None,
                    "source": rules.source_key("expire", source),
                    "reason": reason_text(
                        f"expired: what was left of '{reason}' on its expiry date"
                    ),
                    "details": {"lot_source": source},
                    "occurred_at": expires_at,
                    "created_at": now,
                }
            )
        await repository.empty_lots(session, [lot[0] for lot in lots])
        await repository.insert_entries(session, rows)
        await repository.lower_balances(session, minus, now)
        expired += len(lots)
    return expired


async def announce_expiring(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """`cashback.expiring` once per customer and expiry date, `expiring_notice_days` before it,
    with the total expiring that day; never for a date already past. Returns messages sent."""
    horizon = now + timedelta(days=settings.cashback.expiring_notice_days)
    lots = [
        rules.ExpiringLot(customer, left, expires_at)
        for customer, left, expires_at in await repository.lots_expiring(session, now, horizon)
    ]
    notices = rules.expiry_notices(lots, now)
    if not notices:
        return 0
    pks = {n.customer_id for n in notices}
    sent = await repository.notices_sent(session, pks, now.date())
    fresh = [n for n in notices if (n.customer_id, n.expires_on) not in sent]
    # Two workers may race for the same notice: the unique pair decides, and only the rows
    # this transaction inserted are announced.
    claimed = await repository.claim_notices(
        session, [(n.customer_id, n.expires_on, n.amount_minor) for n in fresh], now
    )
    fresh = [n for n in fresh if (n.customer_id, n.expires_on) in claimed]
    names = await repository.external_ids(session, {n.customer_id for n in fresh})
    for n in fresh:
        await emit(
            session,
            "cashback.expiring",
            {
                "customer_id": names[n.customer_id],
                "amount": format_minor(n.amount_minor),
                "expires_on": n.expires_on.isoformat(),
                "expires_at": n.first_expires_at.isoformat(),
            },
            names[n.customer_id],
        )
    return len(fresh)
