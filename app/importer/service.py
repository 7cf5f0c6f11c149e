"""Importing order histories in bulk, with the same invariants as the API.

Rows become purchase and refund events with ids derived from their content, so a second import
of the same file changes nothing. Events, customers and orders are written in large chunks;
each chunk marks its customers pending in the same transaction, and the projection derives
them with the same pipeline as live ingestion (cashback included: history older than the
cashback expiry earns nothing spendable).
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from operator import itemgetter
from typing import Any

from sqlalchemy import BindParameter, Select, Update, bindparam, select, update

from app.core.db import Database, execute_tuples, insert_tuples, utcnow
from app.core.errors import AppError
from app.core.money import to_minor
from app.core.settings import Settings
from app.customers import repository as customers_repository
from app.customers.models import Customer, Order
from app.events.models import Event
from app.events.rules import OrderState, apply_refund, check_purchase
from app.importer.parse import Batch, Row, RowError, batches
from app.projection import repository as marks
from app.projection.pipeline import drain

LOOKUP = 2000  # keys per `IN (…)` of the existence checks
ORDER_COLUMNS = (
    "order_id",
    "customer_id",
    "occurred_at",
    "amount_minor",
    "refunded_minor",
    "category",
    "event_id",
)
EVENT_COLUMNS = (
    "event_id",
    "type",
    "customer_id",
    "occurred_at",
    "received_at",
    "body_hash",
    "payload",
)


@dataclass
class Report:
    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    customers: int = 0
    seconds: float = 0.0
    # Of which: reading and writing the rows, then the touched customers' derived state.
    rows_seconds: float = 0.0
    derived_seconds: float = 0.0


async def _customer_ids(session: Any, external_ids: set[str]) -> dict[str, int]:
    """Primary keys of these customers; the ones not seen before are created first."""
    ids = await _pks(session, external_ids)
    missing = external_ids - ids.keys()
    if missing:  # just looked up: no need to look them up again before the INSERT
        await customers_repository.create_customers(session, missing)
        ids.update(await _pks(session, missing))
    return ids


KEYS: BindParameter[Any] = bindparam("keys", expanding=True)


async def _lookup(session: Any, query: Select[*tuple[Any, ...]], keys: Iterable[Any]) -> list[Any]:
    """`query` (filtered by `… IN KEYS`) for keys LOOKUP at a time, the last slice padded.

    Every statement then has the same shape: SQLite keeps its last prepared statements, and
    a differently sized `IN (…)` of tens of thousands of values per chunk would make that
    cache grow with the file.
    """
    keys = list(keys)
    out: list[Any] = []
    for start in range(0, len(keys), LOOKUP):
        part = keys[start : start + LOOKUP]
        part += part[-1:] * (LOOKUP - len(part))
        out.extend((await session.execute(query, {"keys": part})).all())
    return out


_CUSTOMER_PKS = select(Customer.external_id, Customer.id).where(Customer.external_id.in_(KEYS))
_EVENTS_SEEN = select(Event.event_id).where(Event.event_id.in_(KEYS))
_ORDERS_KNOWN = select(
    Order.order_id, Order.id, Order.customer_id, Order.amount_minor, Order.refunded_minor
).where(Order.order_id.in_(KEYS))


def _fill(column: str) -> Update:
    """Set a customer's `column` to `value` only where it is empty (binds pk, value)."""
    target = Customer.__table__.c[column]
    return (
        update(Customer)
        .where(Customer.id == bindparam("pk"), target.is_(None))
        .values({column: bindparam("value")})
    )


_FILL_EMAIL, _FILL_PHONE = _fill("email"), _fill("phone")


async def _pks(session: Any, external_ids: set[str]) -> dict[str, int]:
    return {
        external_id: pk for external_id, pk in await _lookup(session, _CUSTOMER_PKS, external_ids)
    }


async def _chunk(
    db: Database, currency: str, rows: list[Row], report: Report, touched: set[int]
) -> None:
    now = utcnow()
    async with db.sessionmaker() as session, session.begin():
        ids = await _customer_ids(session, {r.customer_id for r in rows})
        seen = {
            event_id
            for (event_id,) in await _lookup(session, _EVENTS_SEEN, {r.event_id for r in rows})
        }
        fresh: list[Row] = []
        for r in rows:
            if r.event_id in seen:
                report.duplicates += len(_lines(r))
                continue
            seen.add(r.event_id)
            fresh.append(r)
        purchases = [r for r in fresh if r.kind == "purchase"]
        refunds = [r for r in fresh if r.kind == "refund"]
        known = {
            o.order_id: OrderState(o.customer_id, o.amount_minor, o.refunded_minor)
            for o in await _lookup(session, _ORDERS_KNOWN, {r.order_id for r in fresh})
        }
        events: list[tuple[Any, ...]] = []
        orders: list[tuple[Any, ...]] = []
        accepted: list[Row] = []
        for r in purchases:
            try:
                check_purchase(r.order_id, known)
            except AppError as exc:
                report.rejected.extend((line, exc.detail) for line in _lines(r))
                continue
            amount = to_minor(r.amount)
            known[r.order_id] = OrderState(ids[r.customer_id], amount, 0)
            orders.append(
                (
                    r.order_id,
                    ids[r.customer_id],
                    r.occurred_at,
                    amount,
                    0,
                    r.category,
                    r.event_id,
                )
            )
            accepted.append(r)
        # In the order of the (customer, time) indexes: each insert lands near the last one.
        orders.sort(key=itemgetter(1, 2))
        await insert_tuples(session, Order, ORDER_COLUMNS, orders)
        refunded: dict[str, int] = {}
        for r in sorted(refunds, key=lambda r: (r.occurred_at, r.line)):
            order = known.get(r.order_id)
            try:
                apply_refund(
                    r.order_id, ids[r.customer_id], r.customer_id, to_minor(r.amount), order
                )
            except AppError as exc:
                report.rejected.extend((line, exc.detail) for line in _lines(r))
                continue
            assert order is not None
            refunded[r.order_id] = order.refunded_minor
            accepted.append(r)
        for order_id, total in sorted(refunded.items()):
            await session.execute(
                update(Order).where(Order.order_id == order_id).values(refunded_minor=total)
            )
        for r in accepted:
            payload: dict[str, Any] = {"order_id": r.order_id, "amount": str(r.amount)}
            if r.kind == "purchase":
                payload |= {"currency": currency, "category": r.category}
            events.append(
                (
                    r.event_id,
                    r.kind,
                    ids[r.customer_id],
                    r.occurred_at,
                    now,
                    r.event_id.removeprefix("import:"),
                    payload,
                )
            )
            touched.add(ids[r.customer_id])
        events.sort(key=itemgetter(2, 3))
        await insert_tuples(session, Event, EVENT_COLUMNS, events)
        # Pending in the same transaction as the facts: whatever happens to the import
        # afterwards, the projection derives every row written.
        await marks.mark(session, [(ids[r.customer_id], r.event_id) for r in accepted], now)
        # History fills a contact the customer lacks; it never replaces one.
        emails = {ids[r.customer_id]: r.email for r in fresh if r.email}
        phones = {ids[r.customer_id]: r.phone for r in fresh if r.phone}
        for statement, given in ((_FILL_EMAIL, emails), (_FILL_PHONE, phones)):
            await execute_tuples(
                session,
                statement,
                ("pk", "value", "updated_at"),
                [(pk, value, now) for pk, value in given.items()],
            )
        report.imported += sum(len(_lines(r)) for r in accepted)


def _lines(r: Row) -> tuple[int, ...]:
    """The file lines a row stands for (an order of several lines is one row): counts and
    reports are per line, so they add up to the lines read."""
    return r.lines or (r.line,)


@contextlib.contextmanager
def _few_collections() -> Iterator[None]:
    """The garbage collector runs every 700 allocations by default; an import allocates
    millions of short-lived objects, and walking them that often costs a tenth of its time."""
    old = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*old)


async def import_rows(
    db: Database,
    settings: Settings,
    source: Iterable[tuple[int, dict[str, str | None] | RowError]],
    chunk: int = 50_000,
) -> Report:
    """Rows read in this process (`read_csv`, `read_jsonl`); see `import_batches`."""
    latest = utcnow() + timedelta(seconds=settings.max_future_skew_seconds)
    return await import_batches(db, settings, batches(source, chunk, latest=latest))


async def import_batches(
    db: Database,
    settings: Settings,
    parsed: Iterable[Batch],
    progress: Callable[[int, int], None] | None = None,
    derived_progress: Callable[[int, int], None] | None = None,
    wait: bool = True,
) -> Report:
    """Writes each batch in one transaction (facts and pending marks), then, with `wait`,
    lets the projection derive the imported customers.

    `progress(rows read, bytes read)` is called after each batch, `derived_progress(done,
    total)` after each group of customers."""
    with _few_collections():
        report = Report()
        started = time.perf_counter()
        touched: set[int] = set()
        for batch in parsed:
            report.rows += batch.read
            report.rejected.extend(batch.rejected)
            if batch.rows:
                await _chunk(db, settings.currency, batch.rows, report, touched)
            if progress:
                progress(report.rows, batch.position)
        report.rejected.sort()
        report.customers = len(touched)
        report.rows_seconds = time.perf_counter() - started
        if wait:
            await drain(db, settings, progress=derived_progress)
        report.seconds = time.perf_counter() - started
        report.derived_seconds = report.seconds - report.rows_seconds
        return report
