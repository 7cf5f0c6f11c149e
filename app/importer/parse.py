"""Reading order histories (pure): encodings, delimiters, header guesses, 1C dates and numbers."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import IO, Any, NamedTuple

FIELDS = ("customer_id", "order_id", "occurred_at", "amount", "category", "email", "phone", "kind")
REQUIRED = ("customer_id", "order_id", "occurred_at", "amount")

# Header names seen in 1C and shop exports, lower-cased, compared after stripping punctuation.
GUESSES: dict[str, tuple[str, ...]] = {
    "customer_id": (
        "customer_id",
        "customer",
        "client",
        "client_id",
        "клиент",
        "покупатель",
        "контрагент",
        "код клиента",
        "id клиента",
        "клиент id",
    ),
    "order_id": (
        "order_id",
        "order",
        "order number",
        "номер",
        "номер заказа",
        "заказ",
        "документ",
        "номер документа",
    ),
    "occurred_at": (
        "occurred_at",
        "date",
        "order date",
        "created_at",
        "дата",
        "дата заказа",
        "дата документа",
        "период",
    ),
    "amount": ("amount", "total", "sum", "сумма", "сумма документа", "сумма заказа", "итого"),
    "category": ("category", "категория", "группа", "номенклатурная группа", "вид товара"),
    "email": ("email", "e-mail", "почта", "электронная почта"),
    "phone": ("phone", "телефон"),
    "kind": ("type", "kind", "тип", "вид операции", "операция"),
}
REFUND_WORDS = {"refund", "return", "возврат", "возврат товаров от покупателя"}
DATE_FORMATS = ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%d.%m.%y", "%d/%m/%Y")
# The common 1C shape, read without strptime (several times faster on a million rows).
DAY_FIRST = re.compile(r"(\d\d)\.(\d\d)\.(\d{4})(?: (\d\d):(\d\d)(?::(\d\d))?)?")


CENT = Decimal("0.01")
CONTROL = re.compile(r"[\x00-\x1f]")
UNREADABLE = "\ufffd"  # what a byte the encoding cannot read becomes


class RowError(ValueError):
    pass


def _norm(name: str) -> str:
    return re.sub(r"[^\w ]+", " ", name.strip().lower()).strip()


def guess_mapping(header: list[str], explicit: dict[str, str] | None = None) -> dict[str, int]:
    """Field → column index, from `explicit` (field=column name) first, then the guesses."""
    normalised = [_norm(h) for h in header]
    mapping: dict[str, int] = {}
    for field, column in (explicit or {}).items():
        if field not in FIELDS:
            raise ValueError(f"unknown field {field!r}; fields: {', '.join(FIELDS)}")
        if _norm(column) not in normalised:
            raise ValueError(f"no column {column!r} in the header {header}")
        mapping[field] = normalised.index(_norm(column))
    for field, names in GUESSES.items():
        if field in mapping:
            continue
        for i, h in enumerate(normalised):
            if h in {_norm(n) for n in names} and i not in mapping.values():
                mapping[field] = i
                break
    missing = [f for f in REQUIRED if f not in mapping]
    if missing:
        raise ValueError(
            f"cannot tell which column is {', '.join(missing)}; map it with --map field=column"
        )
    return mapping


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
    if not value.is_finite() or abs(value) >= Decimal(10) ** 12:
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


def event_id_of(
    kind: str, customer_id: str, order_id: str, occurred_at: datetime, amount: Decimal
) -> str:
    key = "|".join((kind, customer_id, order_id, occurred_at.isoformat(), str(amount)))
    return "import:" + hashlib.sha256(key.encode()).hexdigest()[:32]


def _clean_id(value: str, what: str) -> str:
    value = value.strip()
    if not value or len(value) > 200 or CONTROL.search(value):
        raise RowError(f"bad {what}: {value!r}")
    return value


def make_row(line: int, get: dict[str, str | None]) -> Row:
    if any(UNREADABLE in value for value in get.values() if value):
        raise RowError("bytes that are not text in the file's encoding")
    amount = parse_amount(get["amount"] or "")
    kind_text = (get.get("kind") or "").strip().lower()
    kind = "refund" if amount < 0 or kind_text in REFUND_WORDS else "purchase"
    if amount == 0:
        raise RowError("zero amount")
    amount = abs(amount)
    category = (get.get("category") or "").strip() or None
    customer_id = _clean_id(get["customer_id"] or "", "customer")
    order_id = _clean_id(get["order_id"] or "", "order")
    occurred_at = parse_date(get["occurred_at"] or "")
    return Row(
        line=line,
        customer_id=customer_id,
        order_id=order_id,
        occurred_at=occurred_at,
        amount=amount,
        kind=kind,
        category=category[:200] if category else None,
        email=(get.get("email") or "").strip() or None,
        phone=(get.get("phone") or "").strip() or None,
        event_id=event_id_of(kind, customer_id, order_id, occurred_at, amount),
    )


def open_text(raw: IO[bytes]) -> io.TextIOWrapper:
    """UTF-8 (with or without BOM), else Windows-1251 as older 1C exports write.

    A sample that is plain ASCII says nothing (the first Cyrillic may come much later), so then
    the whole file is checked. A byte that is not UTF-8 further on spoils its row, which is
    rejected with its line number, not the import."""
    head = raw.read(65536)
    raw.seek(0)
    try:
        head.decode("utf-8")
        utf8 = True
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still UTF-8.
        utf8 = exc.start >= len(head) - 4
    if utf8 and head.isascii():
        utf8 = _all_utf8(raw)
    encoding = "utf-8-sig" if utf8 else "cp1251"
    return io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")


def _all_utf8(raw: IO[bytes]) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while block := raw.read(1 << 20):
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    finally:
        raw.seek(0)
    return True


def sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=";,\t|").delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        return max(";,\t|", key=first.count)


def read_csv(
    text: IO[str], explicit: dict[str, str] | None
) -> Iterator[tuple[int, dict[str, str | None] | RowError]]:
    sample = text.read(65536)
    text.seek(0)
    reader = csv.reader(text, delimiter=sniff_delimiter(sample))
    header = next(reader)
    mapping = guess_mapping(header, explicit)
    for n, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        try:
            yield n, {f: (cells[i] if i < len(cells) else None) for f, i in mapping.items()}
        except IndexError:
            yield n, RowError("too few columns")


def read_jsonl(
    text: IO[str], explicit: dict[str, str] | None
) -> Iterator[tuple[int, dict[str, str | None] | RowError]]:
    reverse = {v: k for k, v in (explicit or {}).items()}
    for n, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            obj: Any = json.loads(line)
        except json.JSONDecodeError as exc:
            yield n, RowError(f"not JSON: {exc.msg}")
            continue
        if not isinstance(obj, dict):
            yield n, RowError("not a JSON object")
            continue
        yield n, {str(reverse.get(k, k)): (None if v is None else str(v)) for k, v in obj.items()}


class Batch(NamedTuple):
    rows: list[Row]
    rejected: list[tuple[int, str]]  # (line, reason)
    read: int  # rows read, good and bad
    position: int  # bytes of the file consumed so far (0 when unknown)


def batches(
    source: Iterable[tuple[int, dict[str, str | None] | RowError]],
    size: int,
    position: Callable[[], int] | None = None,
) -> Iterator[Batch]:
    """Parsed rows `size` at a time; the last batch is sent even when empty."""
    rows: list[Row] = []
    rejected: list[tuple[int, str]] = []
    read = 0
    for line, item in source:
        read += 1
        try:
            if isinstance(item, RowError):
                raise item
            rows.append(make_row(line, item))
        except RowError as exc:
            rejected.append((line, str(exc)))
        if len(rows) >= size:
            yield Batch(rows, rejected, read, position() if position else 0)
            rows, rejected, read = [], [], 0
    yield Batch(rows, rejected, read, position() if position else 0)
