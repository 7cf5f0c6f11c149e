"""Use cases of cashback derived from events: earning, bonuses tied to their qualifying order,
clawbacks; and the customer's view of the ledger."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.cashback import customer_tokens, ledger, repository, rules, tokens
from app.cashback.ledger import Book
from app.cashback.models import CashbackEntry
from app.cashback.schemas import CashbackOut, Movement
from app.core.money import format_minor, from_minor, to_minor
from app.core.outbox import emit
from app.core.settings import Settings
from app.customers import repository as customers_repository
from app.customers.aggregates import OrderFacts
from app.customers.models import Customer
from app.events import repository as events_repository
from app.events.schemas import PurchaseEvent, RefundEvent, occurred_key
from app.projection.context import Batch
from app.stages import service as stages

HISTORY = 100
BONUS_KINDS = ("welcome_bonus", "referral_bonus")


async def on_ingest(ctx: Batch) -> None:
    """Earn on new purchases, grant referral bonuses, take back what refunds undo.

    The result depends on the customers' stored facts only, not on how events are batched:
    rates come from the stage at each purchase's time, bonuses from the first qualifying order,
    clawbacks from cumulative refunded shares, and every entry is keyed by its cause.
    """
    book = Book(ctx.session, ctx.now)
    await book.load_debts({c.id for c in ctx.customers.values()})
    purchases = sorted(
        (e for e in ctx.accepted if isinstance(e, PurchaseEvent)),
        key=lambda e: (e.occurred_at, e.event_id),
    )
    refunds = sorted(
        (e for e in ctx.accepted if isinstance(e, RefundEvent)),
        key=lambda e: (e.occurred_at, e.event_id),
    )
    await _earn(ctx, book, purchases)
    await _grant_bonuses(ctx, book)
    await _claw_back(ctx, book, refunds)
    await _take_back_bonuses(ctx, book)


async def _earn(ctx: Batch, book: Book, purchases: list[PurchaseEvent]) -> None:
    cfg = ctx.settings.cashback
    done = await repository.entries_by_source(
        ctx.session, {rules.source_key("earn", p.order_id) for p in purchases}
    )
    fresh = [p for p in purchases if rules.source_key("earn", p.order_id) not in done]
    stage_at = await stages.stages_at_purchases(ctx)
    for p in fresh:
        c = ctx.customers[p.customer_id]
        stage = stage_at.get(p.event_id, c.stage)
        rate = cfg.rate(stage)
        amount = rules.earned_on(to_minor(p.amount), rate)
        if amount <= 0:
            continue
        lot = await book.credit(
            c,
            "earn",
            amount,
            rules.source_key("earn", p.order_id),
            f"{rate:.0%} of order {p.order_id} ({p.amount}) at stage {stage}",
            at=p.occurred_at,
            available_at=p.occurred_at + cfg.hold,
            expires_at=p.occurred_at + cfg.lifetime,
            order_id=p.order_id,
            details={"rate": rate, "stage": stage},
        )
        if (lot.remaining_minor or 0) == 0 and lot.expires_at and lot.expires_at <= ctx.now:
            continue  # back-filled history already past its expiry: nothing to announce
        await emit(
            ctx.session,
            "cashback.earned",
            {
                "customer_id": c.external_id,
                "amount": format_minor(amount),
                "order_id": p.order_id,
                "rate": rate,
                "stage": stage,
                "balance": format_minor(c.cashback_balance_minor),
                "available_at": (p.occurred_at + cfg.hold).isoformat(),
                "expires_at": (p.occurred_at + cfg.lifetime).isoformat(),
            },
            c.external_id,
        )


def qualifying_order(orders: Iterable[OrderFacts], min_order_minor: int) -> OrderFacts | None:
    """A referred customer's first order (by time) large enough for the bonuses, as bought."""
    eligible = [o for o in orders if o.amount_minor >= max(min_order_minor, 1)]
    return min(eligible, key=lambda o: (o.occurred_at, o.order_id), default=None)


async def _orders_of(ctx: Batch, customers: dict[str, int]) -> dict[str, list[OrderFacts]]:
    """Every order of these customers (by sender's id, with their pks): from the batch when it
    has them, else from the database."""
    out = {e: ctx.orders[e] for e in customers if e in ctx.orders}
    missing = {pk: e for e, pk in customers.items() if e not in out}
    for o in await events_repository.orders_of(ctx.session, list(missing)):
        out.setdefault(missing[o.customer_id], []).append(
            OrderFacts(o.order_id, o.occurred_at, o.amount_minor, o.refunded_minor, o.category)
        )
    return out


async def _grant_bonuses(ctx: Batch, book: Book) -> None:
    """A referred customer's qualifying order brings a welcome bonus to them, in their own fold,
    and a referral bonus to the referrer, in the referrer's fold (the stage step marks the
    referrer pending when the credit moves): no step locks a customer outside its batch. Both
    are tied to that order: its refund takes them back."""
    cfg = ctx.settings.cashback
    # Welcome only those referred before their first purchase (a referral sent later is a
    # credit for the referrer, not a reason the customer came), whenever it is derived.
    welcomed = [
        c
        for c in ctx.customers.values()
        if c.referrer_version
        and c.first_purchase_at
        and c.referrer_version.split("|")[0] <= occurred_key(c.first_purchase_at, "").split("|")[0]
    ]
    credited = await customers_repository.credited_referrals(
        ctx.session, list(ctx.customers), [c.id for c in ctx.customers.values()]
    )
    credited += [
        (c.referral_credited_to, c.external_id, c.first_purchase_at)
        for c in ctx.customers.values()
        if c.referral_credited_to in ctx.customers
    ]
    done = await repository.entries_by_source(
        ctx.session,
        {rules.source_key("welcome", c.external_id) for c in welcomed}
        | {rules.source_key("referral", referred) for _, referred, _ in credited},
    )
    welcomed = [c for c in welcomed if rules.source_key("welcome", c.external_id) not in done]
    credited = [
        (referrer, referred, first)
        for referrer, referred, first in credited
        if referrer and rules.source_key("referral", referred) not in done
    ]
    if not welcomed and not credited:
        return
    pks = {c.external_id: c.id for c in welcomed}
    pks |= await customers_repository.pks_of(ctx.session, {r for _, r, _ in credited} - set(pks))
    orders = await _orders_of(ctx, pks)
    # (owner, kind, amount, source, reason, qualifying order)
    grants: list[tuple[Customer, str, int, str, str, OrderFacts]] = []
    for c in welcomed:
        order = qualifying_order(orders.get(c.external_id, []), cfg.bonus_min_order_minor)
        if order is not None:
            # Written even for a zero bonus: it marks the grant as done.
            grants.append(
                (
                    c,
                    "welcome_bonus",
                    cfg.welcome_bonus_minor,
                    rules.source_key("welcome", c.external_id),
                    f"welcome bonus: referred by {c.referrer_id}, order {order.order_id}",
                    order,
                )
            )
    for referrer, referred, _ in sorted(credited, key=lambda r: (r[0] or "", r[1])):
        order = qualifying_order(orders.get(referred, []), cfg.bonus_min_order_minor)
        if order is not None and cfg.referral_bonus_minor:
            grants.append(
                (
                    ctx.customers[referrer or ""],
                    "referral_bonus",
                    cfg.referral_bonus_minor,
                    rules.source_key("referral", referred),
                    f"referral bonus: {referred}, whom you recommended, bought "
                    f"(order {order.order_id})",
                    order,
                )
            )
    for c, kind, amount, source, reason, order in grants:
        await book.credit(
            c,
            kind,
            amount,
            source,
            reason,
            at=order.occurred_at,
            available_at=order.occurred_at + cfg.hold,
            expires_at=order.occurred_at + cfg.lifetime,
            order_id=order.order_id,
        )


async def _take_back_bonuses(ctx: Batch, book: Book) -> None:
    """Bonuses of the batch's customers whose qualifying order no longer qualifies (refunded
    fully, or below `bonus_min_order_minor`) are taken back; a referrer outside the batch whose
    bonus came from an order refunded here is marked pending, to take it back in its own fold."""
    cfg = ctx.settings.cashback
    pks = {c.id: c for c in ctx.customers.values()}
    lots = await repository.bonuses_of_customers(ctx.session, list(pks))
    lots += [e for e in book.added.values() if e.kind in BONUS_KINDS and e.customer_id in pks]
    refunded = {e.order_id for e in ctx.accepted if isinstance(e, RefundEvent)}
    outside = {
        lot.customer_id
        for lot in await repository.bonuses_of_orders(ctx.session, refunded)
        if lot.customer_id not in pks
    }
    if outside:
        ctx.also_pending.update((await repository.external_ids(ctx.session, outside)).values())
    if not lots:
        return
    by_order = await repository.order_states(ctx.session, {lot.order_id or "" for lot in lots})
    clawed = await repository.clawed_by_lot(ctx.session, set(pks), lots)
    expiry_keys = {rules.source_key("expire", lot.source) for lot in lots}
    expired = await repository.entries_by_source(ctx.session, expiry_keys)
    expired |= {s: e for s, e in book.added.items() if s in expiry_keys}
    await book.load_debts(set(pks))
    for lot in sorted(lots, key=lambda e: (e.occurred_at, e.kind, e.source)):
        state = by_order.get(lot.order_id or "")
        if state is None or rules.qualifies(state[0] - state[1], cfg.bonus_min_order_minor):
            continue
        expiry = expired.get(rules.source_key("expire", lot.source))
        gone = -expiry.amount_minor if expiry else 0
        if lot.expires_at and lot.expires_at <= ctx.now and (lot.remaining_minor or 0) > 0:
            gone += lot.remaining_minor or 0
            book.expire(pks[lot.customer_id], lot)
        wanted = rules.bonus_clawback(lot.amount_minor, clawed.get(lot.source, 0), gone)
        if wanted <= 0:
            continue
        entry, taken, _ = await book.take(
            pks[lot.customer_id],
            "clawback",
            wanted,
            rules.source_key("clawback", lot.source, "order-refunded"),
            "",
            at=ctx.now,
            include_pending=True,
            first=lot,
            owe_rest=True,
            order_id=lot.order_id,
            details={"lot_source": lot.source, "wanted_minor": wanted},
        )
        what = lot.kind.replace("_", " ")
        reason = f"refund of order {lot.order_id}: {format_minor(taken)} of the {what} taken back"
        if wanted > taken:
            reason += f"; {format_minor(wanted - taken)} owed, repaid from later cashback"
        entry.reason = ledger.reason_text(reason)


async def _claw_back(ctx: Batch, book: Book, refunds: list[RefundEvent]) -> None:
    """Each refunded order takes back its share of the cashback it earned and, once it no
    longer qualifies, the bonuses it brought: from the lot itself first (a refund inside the
    hold removes the pending amount and nothing else), then from the owner's other live lots;
    what is still missing is owed and repaid by later credits. Never below zero."""
    # One clawback per refund, in refund order, as if each had come alone: the same ledger
    # however the refunds were batched.
    by_order: dict[str, list[RefundEvent]] = defaultdict(list)
    for r in refunds:
        by_order[r.order_id].append(r)
    latest = {order_id: rs[-1] for order_id, rs in by_order.items()}
    if not latest:
        return
    facts = {
        o.order_id: o
        for r in latest.values()
        for o in ctx.orders.get(r.customer_id, [])
        if o.order_id in latest
    }
    # Lots are looked up in the database and among the entries this batch wrote (not flushed).
    sources = {rules.source_key("earn", o) for o in latest}
    earned = await repository.entries_by_source(ctx.session, sources)
    earned |= {s: e for s, e in book.added.items() if s in sources}
    lots = list(earned.values())  # bonuses: see _take_back_bonuses
    clawed = await repository.clawed_by_lot(ctx.session, {lot.customer_id for lot in lots}, lots)
    expiry_keys = {rules.source_key("expire", lot.source) for lot in lots}
    expired = await repository.entries_by_source(
        ctx.session,
        expiry_keys | {f"expire:{lot.id}" for lot in lots if lot.id},  # the keys before 2026-12
    )
    expired |= {s: e for s, e in book.added.items() if s in expiry_keys}
    owners = {c.id: c for c in ctx.customers.values()}
    await book.load_debts(set(owners))
    steps = sorted(
        (
            (r, lot)
            for lot in lots
            if (lot.order_id or "") in facts
            for r in by_order[lot.order_id or ""]
        ),
        key=lambda step: (step[0].occurred_at, step[0].event_id),
    )
    for refund, lot in steps:
        order = facts[lot.order_id or ""]
        key = (refund.occurred_at, refund.event_id)
        # The order's refunded total as it stood right after this refund.
        refunded = order.refunded_minor - sum(
            to_minor(r.amount)
            for r in by_order[order.order_id]
            if (r.occurred_at, r.event_id) > key
        )
        expiry = expired.get(rules.source_key("expire", lot.source)) or expired.get(
            f"expire:{lot.id}"
        )
        gone = -expiry.amount_minor if expiry else 0
        if lot.expires_at and lot.expires_at <= ctx.now and (lot.remaining_minor or 0) > 0:
            # Past its expiry and not yet swept: record the expiry now, as the worker would;
            # what the customer lost that way is not taken again.
            gone += lot.remaining_minor or 0
            book.expire(owners[lot.customer_id], lot)
        wanted = rules.clawback_for(
            lot.amount_minor,
            order.amount_minor,
            refunded,
            clawed.get(lot.source, 0),
            gone,
        )
        if wanted <= 0:
            continue
        clawed[lot.source] = clawed.get(lot.source, 0) + wanted
        entry, taken, _ = await book.take(
            owners[lot.customer_id],
            "clawback",
            wanted,
            rules.source_key("clawback", lot.source, refund.event_id),
            "",
            at=refund.occurred_at,
            include_pending=True,
            first=lot,
            owe_rest=True,
            order_id=order.order_id,
            details={
                "lot_source": lot.source,
                "wanted_minor": wanted,
                "refund_event_id": refund.event_id,
            },
        )
        reason = (
            f"refund of order {order.order_id}: {format_minor(taken)} of its cashback taken back"
        )
        if wanted > taken:
            reason += f"; {format_minor(wanted - taken)} owed, repaid from later cashback"
        entry.reason = ledger.reason_text(reason)


def _movement(e: CashbackEntry) -> Movement:
    return Movement(
        id=e.id,
        kind=e.kind,
        amount=from_minor(e.amount_minor),
        reason=e.reason,
        order_id=e.order_id,
        available_at=e.available_at,
        expires_at=e.expires_at,
        remaining=from_minor(e.remaining_minor) if e.remaining_minor is not None else None,
        owed=from_minor(e.outstanding_minor) if e.outstanding_minor else None,
        occurred_at=e.occurred_at,
    )


async def spendable_balance(session: AsyncSession, c: Customer, now: datetime) -> int:
    spendable, _, _ = await ledger.balances(session, c.id, now)
    return spendable


async def view(
    session: AsyncSession, settings: Settings, c: Customer, now: datetime
) -> CashbackOut:
    cfg = settings.cashback
    spendable, pending, lots = await ledger.balances(session, c.id, now)
    live = [e for e in lots if e.expires_at and e.expires_at > now]
    soon = now + timedelta(days=cfg.expiring_notice_days)
    return CashbackOut(
        customer_id=c.external_id,
        currency=settings.currency,
        balance=from_minor(spendable),
        pending=from_minor(pending),
        owed=from_minor(await repository.owed(session, c.id)),
        expiring_soon=from_minor(
            sum(e.remaining_minor or 0 for e in live if e.expires_at and e.expires_at <= soon)
        ),
        next_expiry_at=min((e.expires_at for e in live if e.expires_at), default=None),
        earn_rate=cfg.rate(c.stage),
        stage=c.stage,
        history=[_movement(e) for e in await repository.history(session, c.id, HISTORY)],
    )


async def issue_token(session: AsyncSession, settings: Settings, c: Customer) -> tokens.Issued:
    return await customer_tokens.issue(session, settings, c.external_id)


async def resolve_token(request: Request, session: AsyncSession, raw: str) -> Principal | None:
    return await customer_tokens.resolve(session, request.app.state.settings, raw)
