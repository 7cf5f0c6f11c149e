"""The ledger inside one transaction: credits (lots) and debits, with the customers locked.

Every credit first repays what the customer still owes (a clawback that found too little to
take); a credit already past its expiry is recorded as expired at once; a debit takes only from
lots that are not past their expiry. The customer's cached balance moves with every entry, so
ledger sum = lots = cached balance holds after each call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.cashback import repository, rules
from app.cashback.models import CashbackEntry
from app.core.money import format_minor
from app.customers.models import Customer

REASON_MAX = 500


def reason_text(text: str) -> str:
    """Reasons quote ids of any length: keep them within the column."""
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 1] + "…"


def lot_view(e: CashbackEntry, key: int | None = None) -> rules.Lot:
    """The rules' view of a lot; `key` tells lots apart (its position, or its id)."""
    return rules.Lot(
        e.id if key is None else key,
        e.remaining_minor or 0,
        e.expires_at or datetime.max,
        e.available_at or e.occurred_at,
        e.order_id,
    )


@dataclass
class Book:
    session: AsyncSession
    now: datetime
    # Clawbacks still owed, oldest first, of the customers loaded with `load_debts`.
    debts: dict[int, list[CashbackEntry]] = field(default_factory=dict)
    # Entries written through this book, not flushed yet (the session does not autoflush, and
    # flushing mid-batch would write every touched customer row one by one): lots by customer,
    # every entry by source.
    _lots: dict[int, list[CashbackEntry]] = field(default_factory=dict)
    _new_lots: dict[int, list[CashbackEntry]] = field(default_factory=dict)
    added: dict[str, CashbackEntry] = field(default_factory=dict)

    def _add(self, entry: CashbackEntry) -> None:
        self.session.add(entry)
        self.added[entry.source] = entry
        if entry.remaining_minor is not None:
            self._new_lots.setdefault(entry.customer_id, []).append(entry)
            if entry.customer_id in self._lots:
                self._lots[entry.customer_id].append(entry)

    async def lots(self, customer_pk: int) -> list[CashbackEntry]:
        """The customer's lots with something left, stored or written through this book."""
        if customer_pk not in self._lots:
            stored = await repository.open_lots(self.session, customer_pk)
            known = {id(e) for e in stored}
            fresh = [e for e in self._new_lots.get(customer_pk, []) if id(e) not in known]
            self._lots[customer_pk] = stored + fresh
        return [e for e in self._lots[customer_pk] if (e.remaining_minor or 0) > 0]

    async def load_debts(self, customer_pks: set[int]) -> None:
        missing = customer_pks - set(self.debts)
        if missing:
            found = await repository.open_debts(self.session, missing)
            for pk in missing:
                self.debts[pk] = found.get(pk, [])

    async def credit(
        self,
        c: Customer,
        kind: str,
        amount: int,
        source: str,
        reason: str,
        *,
        at: datetime,
        available_at: datetime,
        expires_at: datetime,
        order_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> CashbackEntry:
        lot = CashbackEntry(
            customer_id=c.id,
            kind=kind,
            amount_minor=amount,
            remaining_minor=amount,
            available_at=available_at,
            expires_at=expires_at,
            order_id=order_id,
            source=source,
            reason=reason_text(reason),
            details=details or {},
            occurred_at=at,
        )
        self._add(lot)
        c.cashback_balance_minor += amount
        if expires_at <= self.now:
            # History older than the expiry period: what it would have been by now.
            self.expire(c, lot)
        else:
            await self._repay(c, lot)
        return lot

    def expire(self, c: Customer, lot: CashbackEntry) -> None:
        left = lot.remaining_minor or 0
        if left <= 0:
            return
        lot.remaining_minor = 0
        c.cashback_balance_minor -= left
        self._add(
            CashbackEntry(
                customer_id=c.id,
                kind="expire",
                amount_minor=-left,
                order_id=lot.order_id,
                source=rules.source_key("expire", lot.source),
                reason=reason_text(f"expired: what was left of '{lot.reason}' on its expiry date"),
                details={"lot_source": lot.source},
                occurred_at=lot.expires_at or self.now,
            )
        )

    async def _repay(self, c: Customer, lot: CashbackEntry) -> None:
        await self.load_debts({c.id})
        for debt in self.debts[c.id]:
            owed = debt.outstanding_minor or 0
            part = min(owed, lot.remaining_minor or 0)
            if part <= 0:
                continue
            debt.outstanding_minor = owed - part
            lot.remaining_minor = (lot.remaining_minor or 0) - part
            c.cashback_balance_minor -= part
            self._add(
                CashbackEntry(
                    customer_id=c.id,
                    kind="repayment",
                    amount_minor=-part,
                    order_id=debt.order_id,
                    source=rules.source_key("repay", lot.source, debt.source),
                    reason=reason_text(
                        f"repays {format_minor(part)} still owed from '{debt.reason}'"
                    ),
                    details={"lot_source": lot.source, "debt_source": debt.source},
                    occurred_at=lot.occurred_at,
                )
            )
        self.debts[c.id] = [d for d in self.debts[c.id] if (d.outstanding_minor or 0) > 0]

    async def take(
        self,
        c: Customer,
        kind: str,
        amount: int,
        source: str,
        reason: str,
        *,
        at: datetime,
        include_pending: bool,
        first: CashbackEntry | None = None,
        owe_rest: bool = False,
        order_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> tuple[CashbackEntry, int, list[tuple[CashbackEntry, int]]]:
        """Debit `amount`: the lots in `first`, then oldest-expiring first, never a lot past its
        expiry (nor a pending one unless `include_pending`). What cannot be taken is recorded as
        owed when `owe_rest`. Returns (entry, taken, [(lot, part taken)])."""
        lots = await self.lots(c.id)
        # Lots are told apart by position: those written in this batch have no id yet.
        views = [lot_view(e, n) for n, e in enumerate(lots)]
        preferred = tuple(n for n, e in enumerate(lots) if e is first)
        parts = rules.spend(
            views, amount, self.now, include_pending=include_pending, first=preferred
        )
        taken_from = [(lots[n], part) for n, part in parts]
        for lot, part in taken_from:
            lot.remaining_minor = (lot.remaining_minor or 0) - part
        taken = sum(part for _, part in parts)
        short = amount - taken if owe_rest else 0
        entry = CashbackEntry(
            customer_id=c.id,
            kind=kind,
            amount_minor=-taken,
            outstanding_minor=short or None,
            order_id=order_id,
            source=source,
            reason=reason_text(reason),
            details=details or {},
            occurred_at=at,
        )
        self._add(entry)
        c.cashback_balance_minor -= taken
        if short:
            await self.load_debts({c.id})
            self.debts[c.id].append(entry)
        return entry, taken, taken_from


async def balances(
    session: AsyncSession, customer_pk: int, now: datetime
) -> tuple[int, int, list[CashbackEntry]]:
    """(spendable, pending, open lots) at `now`, from the lots themselves: a lot past its expiry
    never counts, whether or not the worker has swept it."""
    await session.flush()  # the session does not autoflush: lots added in this transaction
    lots = await repository.open_lots(session, customer_pk)
    views = [lot_view(e) for e in lots]
    return rules.spendable(views, now), rules.pending(views, now), lots
