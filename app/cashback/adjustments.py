"""Manual adjustments of a customer's cashback, and grants of a touch's offer (a win-back bonus)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.cashback import ledger, repository, rules
from app.cashback.ledger import Book
from app.cashback.models import Adjustment
from app.cashback.redemptions import Answer, InsufficientBalance, problem_body
from app.cashback.schemas import AdjustmentIn, AdjustmentOut
from app.core.errors import IdempotencyConflict, NotFound, Unprocessable
from app.core.money import format_minor, from_minor, to_minor
from app.core.outbox import emit
from app.core.settings import Settings
from app.touches.models import Touch


class UnknownTouch(Unprocessable):
    slug, title = "unknown-touch", "No such touch for this customer"


class PastExpiry(Unprocessable):
    slug, title = "expiry-in-past", "Expiry must be in the future"


async def adjust(
    session: AsyncSession,
    settings: Settings,
    customer_id: str,
    body: AdjustmentIn,
    key: str,
    now: datetime,
) -> Answer:
    """A signed amount with its reason. A credit is spendable at once (no order can be refunded
    from under it) and expires when asked or after `expiry_days`; a debit takes from live lots
    (pending ones too) and never below zero: a larger one is refused with the balance."""
    c = await repository.lock_customer(session, customer_id)
    if c is None:
        raise NotFound(f"No customer {customer_id!r}.")
    request: dict[str, Any] = body.model_dump(mode="json")
    previous = await repository.adjustment(session, c.id, key)
    if previous is not None:
        if previous.request != request:
            raise IdempotencyConflict("This Idempotency-Key was used for another adjustment.")
        return Answer(previous.status_code, previous.response)
    if body.touch_id is not None:
        touch = await session.get(Touch, body.touch_id)
        if touch is None or touch.customer_id != c.id:
            raise UnknownTouch(f"Customer {customer_id!r} has no touch {body.touch_id}.")
    if body.expires_at is not None and body.expires_at <= now:
        raise PastExpiry("expires_at must be later than now.")

    def remember(answer: Answer) -> Answer:
        session.add(
            Adjustment(
                customer_id=c.id,
                idempotency_key=key,
                request=request,
                status_code=answer.status,
                response=answer.body,
                created_at=now,
            )
        )
        return answer

    amount = to_minor(body.amount)
    book = Book(session, now)
    source = rules.source_key("adjust", c.id, key)
    kind = "offer_grant" if body.touch_id is not None else "adjustment"
    reason = body.reason + (f" (touch {body.touch_id})" if body.touch_id is not None else "")
    details = {"idempotency_key": key, "touch_id": body.touch_id}
    if amount > 0:
        expires = body.expires_at or now + settings.cashback.lifetime
        entry = await book.credit(
            c,
            kind,
            amount,
            source,
            reason,
            at=now,
            available_at=now,
            expires_at=expires,
            details=details,
        )
    else:
        spendable, pending, _ = await ledger.balances(session, c.id, now)
        if -amount > spendable + pending:
            error = InsufficientBalance(
                f"The balance is {format_minor(spendable + pending)} (pending included): an "
                "adjustment never takes it below zero.",
                balance=format_minor(spendable),
                pending=format_minor(pending),
                requested=format_minor(-amount),
            )
            return remember(Answer(409, problem_body(error)))
        entry, _, _ = await book.take(
            c, kind, -amount, source, reason, at=now, include_pending=True, details=details
        )
    await session.flush()
    spendable, pending, _ = await ledger.balances(session, c.id, now)
    out = AdjustmentOut(
        adjustment_id=entry.id,
        customer_id=c.external_id,
        amount=body.amount,
        reason=body.reason,
        touch_id=body.touch_id,
        expires_at=entry.expires_at,
        balance=from_minor(spendable),
        pending=from_minor(pending),
        created_at=now,
    ).model_dump(mode="json")
    await emit(session, "cashback.adjusted", out, c.external_id)
    return remember(Answer(201, out))
