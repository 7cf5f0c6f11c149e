"""Reading order histories (pure): 1C dates and numbers, checked rows, orders of many lines.

The file itself (encodings, delimiters, header, CSV records) is read by `app.importer.files`,
whose names are re-exported here. A row is checked against the same rules as the API (ids,
the range of times, the length of what is stored), so the writing side only ever meets values
it can store. Rows of one order (one line per order line, as 1C writes them) become one order
whose amount is their sum.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from app.core import inputs
from app.importer.files import (
    FIELDS,
    GUESSES,
    REQUIRED,
    RowError,
    guess_mapping,
    open_text,
    read_csv,
    read_jsonl,
    sniff_delimiter,
)

__all__ = [
    "FIELDS",
    "GUESSES",
    "REQUIRED",
    "Batch",
    "Row",
    "RowError",
    "batches",
    "guess_mapping",
    "make_row",
    "open_text",
    "order_of",
    "parse_amount",
    "parse_date",
    "read_csv",
    "read_jsonl",
    "sniff_delimiter",
]

REFUND_WORDS = {"refund", "return", "возврат", "возврат товаров от покупателя"}
DATE_FORMATS = ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%d.%m.%y", "%d/%m/%Y")
# The common 1C shape, read without strptime (several times faster on a million rows).
DAY_FIRST = re.compile(r"(\d\d)\.(\d\d)\.(\d{4})(?: (\d\d):(\d\d)(?::(\d\d))?)?")


CENT = Decimal("0.01")
MAX_AMOUNT = Decimal(10) ** 12  # as the API's money
UNREADABLE = "\ufffd"  # what a byte the encoding cannot read becomes
# The widths of the customer columns these fill (tests check them against the model).
EMAIL_MAX, PHONE_MAX, CATEGORY_MAX = 320, 40, 200
# As `max_future_skew_seconds` by default; the import passes the deployment's own.
DEFAULT_FUTURE_SKEW = timedelta(seconds=300)


def parse_amount(text: str) -> Decimal:
    """1C style: "1 500,00" (spaces or no-break spaces between thousands, comma decimals)."""
    cleaned = text.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    if "," in cleaned and "." in cleaned:
        cleaned = (
            cleaned.replace(".", "").replace(",", ".")
            if cleaned.rfind(",") > cleaned.rfind(".")
            else cleaned.replace(",", "")
        )
    else:
        cleaned = cleaned.replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:
        raise RowError(f"not an amount: {text!r}") from exc
    if not value.is_finite() or abs(value) >= MAX_AMOUNT:
        raise RowError(f"not a usable amount: {text!r}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and value != value.quantize(CENT):
        raise RowError(f"more than two decimals: {text!r}")
    return value.quantize(CENT)


def parse_date(text: str) -> datetime:
    """Day-first as 1C writes it (31.12.2024 14:05:00), or ISO 8601; naive times are UTC."""
    text = text.strip()
    m = DAY_FIRST.fullmatch(text)
    if m:
        day, month, year, hour, minute, second = m.groups()
        try:
            return datetime(
                int(year),
                int(month),
                int(day),
                int(hour or 0),
                int(minute or 0),
                int(second or 0),
                tzinfo=UTC,
            )
        except ValueError as exc:
            raise RowError(f"not a date: {text!r}") from exc
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise RowError(f"not a date: {text!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Row(NamedTuple):
    line: int
    customer_id: str
    order_id: str
    occurred_at: datetime
    amount: Decimal  # positive; refunds have kind "refund"
    kind: str
    category: str | None
    email: str | None
    phone: str | None
    # Stable per row content: importing the same file again changes nothing.
    event_id: str
    # Every line of the file this row stands for: an order of several lines is one row.
    lines: tuple[int, ...] = ()


def event_id_of(
    kind: str,
    customer_id: str,
    order_id: str,
    occurred_at: datetime,
    amount: Decimal,
    parts: Iterable[Decimal] = (),
) -> str:
    """An id from the content; an order of several lines names its lines' amounts too, so
    another set of lines for the same order is another event, never a silent duplicate."""
    key = "|".join((kind, customer_id, order_id, occurred_at.isoformat(), str(amount)))
    if parts:
        key += "|lines:" + ",".join(sorted(str(p) for p in parts))
    return "import:" + hashlib.sha256(key.encode()).hexdigest()[:32]


def _customer_id(value: str) -> str:
    try:
        return inputs.customer_id(value.strip())
    except ValueError as exc:
        # Not echoed: in 1C exports the customer is often a person's name.
        raise RowError(f"bad customer id: {exc}") from None


def _order_id(value: str) -> str:
    try:
        return inputs.external_id(value.strip())
    except ValueError as exc:
        raise RowError(f"bad order id {value.strip()[:50]!r}: {exc}") from None


def _contact(value: str | None, what: str, limit: int) -> str | None:
    """A contact that fits its column, or the row's rejection (without the value itself)."""
    value = (value or "").strip()
    if len(value) > limit:
        raise RowError(
            f"{what} is {len(value)} characters, longer than the {limit} a profile keeps; "
            f"put one {what} in the cell"
        )
    return value or None


def _in_range(at: datetime, latest: datetime) -> datetime:
    if not inputs.EARLIEST <= at <= latest:
        if at > latest:
            raise RowError(f"date in the future: {at.isoformat()}")
        raise RowError(f"date before {inputs.EARLIEST.date()}: {at.isoformat()}")
    return at if at.tzinfo is UTC else at.astimezone(UTC)


def make_row(line: int, get: dict[str, str | None], latest: datetime | None = None) -> Row:
    """One checked row; `latest` is the latest time accepted (now + the allowed skew)."""
    if any(UNREADABLE in value for value in get.values() if value):
        raise RowError("bytes that are not text in the file's encoding")
    amount = parse_amount(get["amount"] or "")
    kind_text = (get.get("kind") or "").strip().lower()
    kind = "refund" if amount < 0 or kind_text in REFUND_WORDS else "purchase"
    if amount == 0 and kind == "refund":
        raise RowError("a refund of zero")  # a zero purchase is a gift, as the API takes it
    amount = abs(amount)
    category = (get.get("category") or "").strip() or None
    customer_id = _customer_id(get["customer_id"] or "")
    order_id = _order_id(get["order_id"] or "")
    occurred_at = _in_range(
        parse_date(get["occurred_at"] or ""),
        latest or datetime.now(UTC) + DEFAULT_FUTURE_SKEW,
    )
    return Row(
        line=line,
        customer_id=customer_id,
        order_id=order_id,
        occurred_at=occurred_at,
        amount=amount,
        kind=kind,
        category=category[:CATEGORY_MAX] if category else None,
        email=_contact(get.get("email"), "e-mail", EMAIL_MAX),
        phone=_contact(get.get("phone"), "phone", PHONE_MAX),
        event_id=event_id_of(kind, customer_id, order_id, occurred_at, amount),
        lines=(line,),
    )


OrderKey = tuple[str, str, str, datetime]


def order_of(rows: list[Row]) -> Row:
    """The lines of one order (same kind, customer, order id and time) as one row.

    The amount is their sum; the category is the largest line's (the first of equals); the
    contacts are the first given. A single line is returned as it is."""
    if len(rows) == 1:
        return rows[0]
    first = rows[0]
    total = sum((r.amount for r in rows), Decimal(0))
    if total >= MAX_AMOUNT:
        raise RowError(f"order {first.order_id!r}: its lines add up to more than {MAX_AMOUNT}")
    largest = max(rows, key=lambda r: r.amount)
    return first._replace(
        amount=total,
        category=largest.category,
        email=next((r.email for r in rows if r.email), None),
        phone=next((r.phone for r in rows if r.phone), None),
        event_id=event_id_of(
            first.kind,
            first.customer_id,
            first.order_id,
            first.occurred_at,
            total,
            [r.amount for r in rows],
        ),
        lines=tuple(line for r in rows for line in r.lines),
    )


class Batch(NamedTuple):
    rows: list[Row]
    rejected: list[tuple[int, str]]  # (line, reason)
    read: int  # rows read, good and bad
    position: int  # bytes of the file consumed so far (0 when unknown)


def batches(
    source: Iterable[tuple[int, dict[str, str | None] | RowError]],
    size: int,
    position: Callable[[], int] | None = None,
    latest: datetime | None = None,
) -> Iterator[Batch]:
    """Parsed rows, up to `size` orders at a time; the last batch is sent even when empty.

    Lines of one order are gathered into one row wherever they are in a batch. The order read
    last waits for the next batch, since its next line may follow: lines of an order written
    together (as 1C writes them) are never split. `latest` is the latest time a row may have
    (now + the allowed skew; by default the API's default skew)."""
    latest = latest or datetime.now(UTC) + DEFAULT_FUTURE_SKEW
    orders: dict[OrderKey, list[Row]] = {}
    rejected: list[tuple[int, str]] = []
    read = 0
    for line, item in source:
        read += 1
        try:
            if isinstance(item, RowError):
                raise item
            row = make_row(line, item, latest)
        except RowError as exc:
            rejected.append((line, str(exc)))
        else:
            key = (row.kind, row.customer_id, row.order_id, row.occurred_at)
            group = orders.get(key)
            if group is not None:
                group.append(row)
                continue
            orders[key] = [row]
            if len(orders) > size:
                # All but the order read last, which may go on in the next lines.
                last = orders.pop(key)
                yield _batch(orders, rejected, read, position)
                orders, rejected, read = {key: last}, [], 0
    yield _batch(orders, rejected, read, position)


def _batch(
    orders: dict[OrderKey, list[Row]],
    rejected: list[tuple[int, str]],
    read: int,
    position: Callable[[], int] | None,
) -> Batch:
    rows = []
    for group in orders.values():
        if len(group) == 1:  # the common case, without a call
            rows.append(group[0])
            continue
        try:
            rows.append(order_of(group))
        except RowError as exc:
            rejected.extend((line, str(exc)) for r in group for line in r.lines)
    return Batch(rows, rejected, read, position() if position else 0)
