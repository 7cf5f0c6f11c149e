"""Reading a history file into cells by field (pure): encodings, delimiters, the header,
CSV records (a quote that never closes costs its own line), JSON lines.

`app.importer.parse` turns the cells into checked rows."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from typing import IO, Any

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
# A quoted cell may hold line breaks; a record still open after this many lines is taken for
# a quote that was never closed.
MAX_RECORD_LINES = 20
SURROGATE = re.compile("[\ud800-\udfff]")


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


class _QuoteNotClosed(Exception):
    """The record is still inside a quoted cell after MAX_RECORD_LINES lines or at the end."""


class _Lines:
    """The physical lines of a text, counted, for `csv.reader` to pull one at a time.

    It remembers the lines of the record being read, so that when a quote opened in a line is
    never closed the lines after it can be given back and read again on their own."""

    def __init__(self, text: Iterable[str]) -> None:
        self._text = iter(text)
        self._back: list[str] = []  # given back, the next one last
        self.number = 0  # of the last line handed out
        self.taken: list[str] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if len(self.taken) >= MAX_RECORD_LINES:
            raise _QuoteNotClosed
        if self._back:
            line = self._back.pop()
        else:
            next_line = next(self._text, None)
            if next_line is None:
                # `csv` asks for a line within a record only while a quoted cell is open.
                if self.taken:
                    raise _QuoteNotClosed
                raise StopIteration
            line = next_line
        self.number += 1
        self.taken.append(line)
        return line

    def start(self) -> int:
        """Begins a record; returns the number of its first line."""
        self.taken = []
        return self.number + 1

    def give_back(self, lines: list[str]) -> None:
        self._back.extend(reversed(lines))
        self.number -= len(lines)


def _one_record(lines: list[str], delimiter: str, width: int) -> bool:
    """Whether lines read as one record are really one: quotes closed where they should be,
    and as many cells as the header."""
    try:
        records = list(csv.reader(lines, delimiter=delimiter, strict=True))
    except csv.Error:
        return False
    return len(records) == 1 and len(records[0]) == width


def read_csv(
    text: IO[str], explicit: dict[str, str] | None
) -> Iterator[tuple[int, dict[str, str | None] | RowError]]:
    """(line number, cells by field) for each record, or the RowError of a line that cannot
    be read. Every non-blank line is in one or the other: a quote that is never closed costs
    its own line only, and the lines after it are read again on their own."""
    sample = text.read(65536)
    text.seek(0)
    delimiter = sniff_delimiter(sample)
    lines = _Lines(text)
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = next(reader, None)
    except (csv.Error, _QuoteNotClosed) as exc:
        why = str(exc) or "a quote is not closed"
        raise ValueError(f"the header row cannot be read: {why}") from None
    if header is None:
        raise ValueError("the file is empty: no header row")
    mapping = guess_mapping(header, explicit)
    while True:
        first = lines.start()
        unclosed = False
        try:
            cells: list[str] | None = next(reader)
        except StopIteration:
            return
        except _QuoteNotClosed:
            cells, unclosed = None, True
        except csv.Error as exc:
            cells, problem = None, str(exc)
        if unclosed or (
            len(lines.taken) > 1
            and (cells is None or not _one_record(lines.taken, delimiter, len(header)))
        ):
            lines.give_back(lines.taken[1:])
            yield first, RowError("a quote opened in this line is not closed in it")
            continue
        if cells is None:
            yield first, RowError(f"not readable as CSV: {problem}")
            continue
        if not any(c.strip() for c in cells):
            continue
        yield first, {f: (cells[i] if i < len(cells) else None) for f, i in mapping.items()}


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
        cells = {str(reverse.get(k, k)): (None if v is None else str(v)) for k, v in obj.items()}
        # A `\\ud800` escape is valid JSON but no text: nothing could store it.
        if "\\u" in line and any(SURROGATE.search(v) for v in cells.values() if v):
            yield n, RowError("a lone surrogate escape (\\ud800-\\udfff), which is not text")
            continue
        yield n, cells
