"""Spending cashback: redemptions (by the shop or the customer's own app) and their reversal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.cashback import ledger, repository, rules
from app.cashback.ledger import Book
from app.cashback.models import CashbackEntry, Redemption
from app.cashback.schemas import RedemptionOut, ReversalOut
from app.core.errors import AppError, Conflict, IdempotencyConflict, NotFound
from app.core.money import format_minor, from_minor
from app.core.outbox import emit
from app.core.settings import Settings


class InsufficientBalance(Conflict):
    slug, title = "insufficient-balance", "Redemption larger than the balance"


class RedemptionLimit(Conflict):
    slug, title = "redemption-limit", "Above the mobile app's redemption limit"


class LedgerMismatch(Conflict):
    """The lots could not cover what the balance promised: refused, never half-applied."""

    slug, title = "ledger-mismatch", "The balance changed; retry"


@dataclass(frozen=True)
class Answer:
    """What the endpoint answers (kept under the Idempotency-Key and replayed)."""

    status: int
    body: dict[str, Any]


def problem_body(error: AppError) -> dict[str, Any]:
    return {
        "type": error.type_uri,
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        **error.extra,
    }


@dataclass(frozen=True)
class AppLimits:
    """The customer token redeeming, and what it may still redeem."""

    token_hash: str
    max_redemption_minor: int
    max_daily_minor: int


async def redeem(
    session: AsyncSession,
    settings: Settings,
    customer_id: str,
    amount_minor: int,
    key: str,
    now: datetime,
    order_id: str | None = None,
    app: AppLimits | None = None,
) -> Answer:
    """Spend spendable cashback (oldest-expiring first); retries with the same key get the first
    answer, even a refusal. Pending and expired lots are never spent."""
    c = await repository.lock_customer(session, customer_id)
    if c is None:
        raise NotFound(f"No customer {customer_id!r}.")
    previous = await repository.redemption(session, c.id, key)
    if previous is not None:
        if previous.amount_minor != amount_minor or previous.order_id != order_id:
            raise IdempotencyConflict("This Idempotency-Key was used for another request.")
        return Answer(previous.status_code, previous.response)

    def remember(answer: Answer, entry_id: int | None = None) -> Answer:
        session.add(
            Redemption(
                customer_id=c.id,
                idempotency_key=key,
                amount_minor=amount_minor,
                succeeded=answer.status < 400,
                status_code=answer.status,
                response=answer.body,
                entry_id=entry_id,
                order_id=order_id,
                token_hash=app.token_hash if app else None,
                created_at=now,
            )
        )
        return Answer(answer.status, answer.body)

    if app is not None:
        refusal = await _over_app_limit(session, app, amount_minor, now)
        if refusal is not None:
            return remember(Answer(refusal.status, problem_body(refusal)))
    spendable, pending, _ = await ledger.balances(session, c.id, now)
    if not rules.covers(spendable, amount_minor):
        error = InsufficientBalance(
            f"The spendable balance is {format_minor(spendable)}"
            + (f" ({format_minor(pending)} more is pending)." if pending else "."),
            balance=format_minor(spendable),
            pending=format_minor(pending),
            requested=format_minor(amount_minor),
        )
        return remember(Answer(409, problem_body(error)))
    book = Book(session, now)
    entry, taken, parts = await book.take(
        c,
        "redeem",
        amount_minor,
        rules.source_key("redeem", c.id, key),
        f"redeemed for order {order_id}" if order_id else "redeemed",
        at=now,
        include_pending=False,
        order_id=order_id,
    )
    # Which lots paid, so a reversal gives each part back with its own expiry.
    entry.details = {
        "idempotency_key": key,
        "lots": [{"source": lot.source, "taken_minor": part} for lot, part in parts],
    }
    if taken != amount_minor:
        # Cannot happen while the balance is computed from the same lots under the same lock;
        # if it ever does, the transaction is refused whole rather than answered with a 500.
        raise LedgerMismatch(f"Only {format_minor(taken)} could be taken; nothing was spent.")
    await session.flush()
    body = RedemptionOut(
        redemption_id=entry.id,
        customer_id=c.external_id,
        amount=from_minor(amount_minor),
        balance=from_minor(spendable - amount_minor),
        order_id=order_id,
        created_at=now,
    ).model_dump(mode="json")
    await emit(session, "cashback.redeemed", body, c.external_id)
    return remember(Answer(201, body), entry.id)


async def _over_app_limit(
    session: AsyncSession, app: AppLimits, amount_minor: int, now: datetime
) -> RedemptionLimit | None:
    if amount_minor > app.max_redemption_minor:
        return RedemptionLimit(
            f"The app may redeem at most {format_minor(app.max_redemption_minor)} at once.",
            limit=format_minor(app.max_redemption_minor),
            requested=format_minor(amount_minor),
        )
    spent = await repository.redeemed_with_token(session, app.token_hash, now - timedelta(days=1))
    left = max(app.max_daily_minor - spent, 0)
    if amount_minor > left:
        return RedemptionLimit(
            f"This token may redeem {format_minor(left)} more in the next 24 hours.",
            limit=format_minor(app.max_daily_minor),
            left=format_minor(left),
            requested=format_minor(amount_minor),
        )
    return None


async def reverse(
    session: AsyncSession, settings: Settings, redemption_id: int, now: datetime
) -> ReversalOut:
    """Give a redemption back, each part with the expiry of the lot it came from (a fresh lot
    when that has passed, as `reversal_fresh_days` says). Idempotent: a repeat answers the
    first reversal."""
    cfg = settings.cashback
    found = await repository.redemption_by_entry(session, redemption_id)
    if found is None:
        raise NotFound(f"No redemption {redemption_id}.")
    c = await repository.lock_customer_by_pk(session, found.customer_id)
    if c is None:
        raise NotFound(f"No redemption {redemption_id}.")
    r = await session.get(Redemption, found.id, populate_existing=True)  # under the lock
    if r is None:
        raise NotFound(f"No redemption {redemption_id}.")
    if r.reversed_at is not None and r.reversal is not None:
        return ReversalOut.model_validate(r.reversal)
    entry = await session.get(CashbackEntry, redemption_id)
    if entry is None:
        raise NotFound(f"No redemption {redemption_id}.")
    book = Book(session, now)
    # Redemptions recorded before lots were kept come back whole, as a fresh lot.
    parts = entry.details.get("lots") or [{"source": "", "taken_minor": -entry.amount_minor}]
    lots = await repository.entries_by_source(session, [part["source"] for part in parts])
    returned = 0
    for n, part in enumerate(parts):
        amount = int(part["taken_minor"])
        origin = lots.get(part["source"])
        expires = origin.expires_at if origin and origin.expires_at else now
        if expires <= now and cfg.reversal_fresh_days:
            expires = now + timedelta(days=cfg.reversal_fresh_days)
        await book.credit(
            c,
            "reversal",
            amount,
            rules.source_key("reversal", redemption_id, n),
            f"redemption {redemption_id} reversed"
            + (f" (order {entry.order_id})" if entry.order_id else ""),
            at=now,
            available_at=now,
            expires_at=expires,
            order_id=entry.order_id,
            details={"redemption_id": redemption_id, "lot_source": part["source"]},
        )
        returned += amount
    spendable, _, _ = await ledger.balances(session, c.id, now)
    out = ReversalOut(
        redemption_id=redemption_id,
        customer_id=c.external_id,
        amount=from_minor(returned),
        order_id=entry.order_id,
        balance=from_minor(spendable),
        reversed_at=now,
    )
    r.reversed_at = now
    r.reversal = out.model_dump(mode="json")
    await emit(session, "cashback.reversed", r.reversal, c.external_id)
    return out
