"""Use cases of cashback: earning on ingest, clawbacks, referral bonuses, redemptions, expiry."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.cashback import customer_tokens, repository, rules, tokens
from app.cashback.models import CashbackEntry, Redemption
from app.cashback.schemas import CashbackOut, Movement, RedemptionOut
from app.core.db import utcnow
from app.core.errors import Conflict, IdempotencyConflict, NotFound
from app.core.money import format_minor, from_minor, to_minor
from app.core.outbox import emit
from app.core.settings import Settings
from app.customers import repository as customers_repository
from app.customers.models import Customer
from app.events.schemas import PurchaseEvent, RefundEvent, occurred_key
from app.projection.context import Batch
from app.stages import service as stages

HISTORY = 100


class InsufficientBalance(Conflict):
    slug, title = "insufficient-balance", "Redemption larger than the balance"


def _lot(
    c: Customer,
    kind: str,
    amount: int,
    source: str,
    reason: str,
    at: datetime,
    expiry_days: int,
    order_id: str | None = None,
) -> CashbackEntry:
    return CashbackEntry(
        customer_id=c.id,
        kind=kind,
        amount_minor=amount,
        remaining_minor=amount,
        expires_at=at + timedelta(days=expiry_days),
        expiring_notified=False,
        order_id=order_id,
        source=source,
        reason=reason,
        details={},
        occurred_at=at,
    )


def _debit(lots: list[CashbackEntry], amount: int, prefer_order: str | None = None) -> int:
    """Consume lots (the order's own lot first, then oldest expiry); returns what was taken."""
    views = [
        rules.Lot(i, lot.remaining_minor or 0, lot.expires_at or datetime.max, lot.order_id)
        for i, lot in enumerate(lots)
    ]
    taken = rules.spend(views, amount, prefer_order)
    for index, part in taken:
        lots[index].remaining_minor = (lots[index].remaining_minor or 0) - part
    return sum(part for _, part in taken)


async def on_ingest(ctx: Batch) -> None:
    cfg = ctx.settings.cashback
    session = ctx.session
    purchases = [e for e in ctx.accepted if isinstance(e, PurchaseEvent)]
    refunds = [e for e in ctx.accepted if isinstance(e, RefundEvent)]
    new_lots: dict[int, list[CashbackEntry]] = defaultdict(list)

    def add_lot(c: Customer, entry: CashbackEntry) -> None:
        session.add(entry)
        new_lots[c.id].append(entry)
        c.cashback_balance_minor += entry.amount_minor

    stage_at = await stages.stages_at_purchases(ctx)
    for p in purchases:
        c = ctx.customers[p.customer_id]
        stage = stage_at[p.event_id]
        rate = cfg.rate(stage)
        amount = rules.earned_on(to_minor(p.amount), rate)
        if amount <= 0:
            continue
        add_lot(
            c,
            _lot(
                c,
                "earn",
                amount,
                f"earn:{p.order_id}",
                f"{rate:.0%} of order {p.order_id} ({p.amount}) at stage {stage}",
                p.occurred_at,
                cfg.expiry_days,
                p.order_id,
            ),
        )
        await emit(
            session,
            "cashback.earned",
            {
                "customer_id": c.external_id,
                "amount": format_minor(amount),
                "order_id": p.order_id,
                "rate": rate,
                "balance": format_minor(c.cashback_balance_minor),
                "expires_at": (p.occurred_at + timedelta(days=cfg.expiry_days)).isoformat(),
            },
            c.external_id,
        )

    await _referral_bonuses(ctx, add_lot)

    by_order: dict[tuple[str, str], RefundEvent] = {}
    for r in sorted(refunds, key=lambda r: (r.occurred_at, r.event_id)):
        by_order[(r.customer_id, r.order_id)] = r  # the latest refund of each order names it
    if by_order:
        earned = await repository.entries_by_source(session, {f"earn:{o}" for _, o in by_order})
        for (customer_id, order_id), last in by_order.items():
            c = ctx.customers[customer_id]
            lot = earned.get(f"earn:{order_id}") or next(
                (e for e in new_lots[c.id] if e.source == f"earn:{order_id}"), None
            )
            order = next(o for o in ctx.orders[customer_id] if o.order_id == order_id)
            if lot is None:
                continue
            wanted = rules.clawback_for(
                lot.amount_minor,
                order.amount_minor,
                order.refunded_minor,
                await repository.clawed_for_order(session, c.id, order_id),
            )
            if wanted <= 0:
                continue
            lots = await repository.open_lots(session, c.id) + new_lots[c.id]
            taken = _debit([x for x in lots if (x.remaining_minor or 0) > 0], wanted, order_id)
            short = wanted - taken
            reason = (
                f"refund of order {order_id}: {format_minor(wanted)} of its cashback taken back"
            )
            if short:
                reason += f" ({format_minor(short)} had already been spent)"
            session.add(
                CashbackEntry(
                    customer_id=c.id,
                    kind="clawback",
                    amount_minor=-taken,
                    order_id=order_id,
                    source=f"clawback:{order_id}:{last.event_id}",
                    reason=reason,
                    details={"wanted_minor": wanted, "short_minor": short},
                    occurred_at=last.occurred_at,
                )
            )
            c.cashback_balance_minor -= taken


async def _referral_bonuses(ctx: Batch, add_lot: Any) -> None:
    """A referred customer's first purchase: a welcome bonus to them, in their own fold, and
    a bonus to the referrer, in the referrer's fold (the stage step marks the referrer
    pending when the credit moves), so no step ever locks a customer outside its batch."""
    cfg = ctx.settings.cashback
    # Welcome only those referred before their first purchase (a referral sent later is a
    # credit for the referrer, not a reason the customer came), whenever it is derived.
    candidates = [
        c
        for c in ctx.customers.values()
        if c.referrer_version
        and c.first_purchase_at
        and c.referrer_version.split("|")[0] <= occurred_key(c.first_purchase_at, "").split("|")[0]
    ]
    done = await repository.entries_by_source(
        ctx.session, {f"welcome:{c.external_id}" for c in candidates}
    )
    for c in candidates:
        if cfg.welcome_bonus_minor and f"welcome:{c.external_id}" not in done:
            add_lot(
                c,
                _lot(
                    c,
                    "welcome_bonus",
                    cfg.welcome_bonus_minor,
                    f"welcome:{c.external_id}",
                    f"welcome bonus: referred by {c.referrer_id}",
                    c.first_purchase_at or ctx.now,
                    cfg.expiry_days,
                ),
            )
    if not cfg.referral_bonus_minor:
        return
    credited = await customers_repository.credited_referrals(
        ctx.session, list(ctx.customers), [c.id for c in ctx.customers.values()]
    )
    credited += [
        (c.referral_credited_to, c.external_id, c.first_purchase_at)
        for c in ctx.customers.values()
        if c.referral_credited_to in ctx.customers
    ]
    granted = await repository.entries_by_source(
        ctx.session, {f"referral:{referred}" for _, referred, _ in credited}
    )
    for referrer_id, referred, first_purchase_at in sorted(credited):
        if f"referral:{referred}" in granted:
            continue
        referrer = ctx.customers[referrer_id or ""]
        add_lot(
            referrer,
            _lot(
                referrer,
                "referral_bonus",
                cfg.referral_bonus_minor,
                f"referral:{referred}",
                f"referral bonus: {referred}, whom you recommended, made a first purchase",
                first_purchase_at or ctx.now,
                cfg.expiry_days,
            ),
        )


def _movement(e: CashbackEntry) -> Movement:
    return Movement(
        id=e.id,
        kind=e.kind,
        amount=from_minor(e.amount_minor),
        reason=e.reason,
        order_id=e.order_id,
        expires_at=e.expires_at,
        remaining=from_minor(e.remaining_minor) if e.remaining_minor is not None else None,
        occurred_at=e.occurred_at,
    )


async def view(session: AsyncSession, settings: Settings, c: Customer) -> CashbackOut:
    cfg = settings.cashback
    now = utcnow()
    _, soon, next_expiry, pending = await repository.sums(
        session,
        c.id,
        now,
        now + timedelta(days=cfg.expiring_notice_days),
        now - timedelta(days=cfg.refund_window_days),
    )
    return CashbackOut(
        customer_id=c.external_id,
        currency=settings.currency,
        balance=from_minor(c.cashback_balance_minor),
        pending=from_minor(pending),
        expiring_soon=from_minor(soon),
        next_expiry_at=next_expiry,
        earn_rate=cfg.rate(c.stage),
        stage=c.stage,
        history=[_movement(e) for e in await repository.history(session, c.id, HISTORY)],
    )


def _remember(
    session: AsyncSession,
    c: Customer,
    key: str,
    amount_minor: int,
    status: int,
    body: dict[str, Any],
    now: datetime,
) -> tuple[int, dict[str, Any]]:
    """Keep the answer under its Idempotency-Key, so a retry gets exactly this."""
    session.add(
        Redemption(
            customer_id=c.id,
            idempotency_key=key,
            amount_minor=amount_minor,
            succeeded=status < 400,
            status_code=status,
            response=body,
            created_at=now,
        )
    )
    return status, body


async def redeem(
    session: AsyncSession, settings: Settings, customer_id: str, amount_minor: int, key: str
) -> tuple[int, dict[str, Any]]:
    """(status code, body). Retries with the same key get the first answer, even a refusal."""
    c = await repository.lock_customer(session, customer_id)
    if c is None:
        raise NotFound(f"No customer {customer_id!r}.")
    previous = await repository.redemption(session, c.id, key)
    if previous is not None:
        if previous.amount_minor != amount_minor:
            raise IdempotencyConflict("This Idempotency-Key was used for another amount.")
        return previous.status_code, previous.response
    now = utcnow()
    if amount_minor > c.cashback_balance_minor:
        error = InsufficientBalance(
            f"The balance is {format_minor(c.cashback_balance_minor)}.",
            balance=format_minor(c.cashback_balance_minor),
            requested=format_minor(amount_minor),
        )
        body = {
            "type": error.type_uri,
            "title": error.title,
            "status": 409,
            "detail": error.detail,
            **error.extra,
        }
        return _remember(session, c, key, amount_minor, 409, body, now)
    taken = _debit(await repository.open_lots(session, c.id), amount_minor)
    assert taken == amount_minor, "cached balance and lots disagree"
    c.cashback_balance_minor -= amount_minor
    entry = CashbackEntry(
        customer_id=c.id,
        kind="redeem",
        amount_minor=-amount_minor,
        source=f"redeem:{c.id}:{key}",
        reason="redeemed",
        details={"idempotency_key": key},
        occurred_at=now,
    )
    session.add(entry)
    await session.flush()
    out = RedemptionOut(
        redemption_id=entry.id,
        customer_id=c.external_id,
        amount=from_minor(amount_minor),
        balance=from_minor(c.cashback_balance_minor),
        created_at=now,
    )
    body = out.model_dump(mode="json")
    await emit(session, "cashback.redeemed", body, c.external_id)
    return _remember(session, c, key, amount_minor, 201, body, now)


async def expire_lots(session: AsyncSession, now: datetime, limit: int) -> int:
    """Expire what is left of lots past their date (customers locked first, then lots)."""
    candidates = await repository.lots_due(session, now, None, limit)
    customers = await repository.lock_customers_by_pk(
        session, {lot.customer_id for lot in candidates}
    )
    expired = 0
    for lot in candidates:
        c = customers[lot.customer_id]
        await session.refresh(lot)
        left = lot.remaining_minor or 0
        if left <= 0:
            continue
        lot.remaining_minor = 0
        c.cashback_balance_minor -= left
        session.add(
            CashbackEntry(
                customer_id=c.id,
                kind="expire",
                amount_minor=-left,
                source=f"expire:{lot.id}",
                reason=f"expired: what was left of '{lot.reason}' after its expiry date",
                details={"lot_id": lot.id},
                occurred_at=lot.expires_at or now,
            )
        )
        expired += 1
    return expired


async def announce_expiring(
    session: AsyncSession, settings: Settings, now: datetime, limit: int
) -> int:
    """cashback.expiring, once per lot, `expiring_notice_days` before it expires."""
    horizon = now + timedelta(days=settings.cashback.expiring_notice_days)
    lots = await repository.lots_due(session, horizon, False, limit)
    for lot in lots:
        lot.expiring_notified = True
        customer = await session.get(Customer, lot.customer_id)
        assert customer is not None
        await emit(
            session,
            "cashback.expiring",
            {
                "customer_id": customer.external_id,
                "amount": format_minor(lot.remaining_minor or 0),
                "expires_at": lot.expires_at.isoformat() if lot.expires_at else None,
                "reason": lot.reason,
            },
            customer.external_id,
        )
    return len(lots)


async def issue_token(session: AsyncSession, settings: Settings, c: Customer) -> tokens.Issued:
    return await customer_tokens.issue(session, settings, c.external_id)


async def resolve_token(request: Request, session: AsyncSession, raw: str) -> Principal | None:
    return await customer_tokens.resolve(session, request.app.state.settings, raw)
