"""The importer reads every line or says which it could not, and holds rows to the API's rules.

Issue 19 (#1 unclosed quotes, #3 over-long contacts, #4 absurd dates, #8 ids, #9 empty files)
and issue 17 (lines of one order are one order).
"""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.auth.scopes import Scope
from app.customers.models import Customer, Order
from app.events.models import Event
from app.importer.parse import (
    CATEGORY_MAX,
    EMAIL_MAX,
    PHONE_MAX,
    Batch,
    Row,
    batches,
    open_text,
    read_csv,
)
from app.importer.service import import_rows
from tests.conftest import KeyMaker

ROOT = Path(__file__).resolve().parents[2]
HEADER = "date;order;customer;amount\n"


def _valid(n: int, start: int = 0) -> list[str]:
    return [f"2024-04-01;Q-{i};cust-{i % 97};{100 + i % 50}.00\n" for i in range(start, start + n)]


def _parse(text: str, size: int = 50_000) -> list[Batch]:
    return list(batches(read_csv(io.StringIO(text), None), size))


def _accounted(parsed: list[Batch]) -> tuple[list[int], list[tuple[int, str]]]:
    """Lines imported (every line an order row stands for) and lines rejected."""
    lines = sorted(line for b in parsed for r in b.rows for line in r.lines)
    return lines, sorted(x for b in parsed for x in b.rejected)


@pytest.mark.parametrize("after", [3_000, 8_000])  # 8,000 rows: > 128 KiB after the quote
def test_an_unclosed_quote_costs_its_own_line_only(after: int) -> None:
    text = HEADER + '2024-03-31;Q-x;"cust-broken;100.00\n' + "".join(_valid(after))
    assert len(text.encode()) - len(HEADER) > (128 * 1024 if after > 3_000 else 0)
    parsed = _parse(text, size=1_000)
    lines, rejected = _accounted(parsed)
    assert [line for line, _ in rejected] == [2]
    assert "quote" in rejected[0][1]
    assert lines == list(range(3, after + 3))  # every other line, with its own number
    assert sum(b.read for b in parsed) == after + 1 == len(lines) + len(rejected)


def test_a_quote_closed_by_a_later_line_does_not_join_them() -> None:
    # The stray quote would close at the quoted amount of line 4 (1C quotes "12 300,50").
    text = (
        HEADER
        + '2024-03-31;Q-x;"cust-broken;100.00\n'
        + "2024-04-01;Q-1;cust-1;100.00\n"
        + '2024-04-02;Q-2;cust-2;"12 300,50"\n'
        + "2024-04-03;Q-3;cust-3;7.00\n"
    )
    lines, rejected = _accounted(_parse(text))
    assert [line for line, _ in rejected] == [2] and lines == [3, 4, 5]


def test_a_quoted_cell_may_hold_a_line_break() -> None:
    text = (
        "date;order;customer;amount;category\n"
        + '2024-04-01;Q-1;cust-1;100.00;"Мебель\nДиваны"\n'
        + "2024-04-02;Q-2;cust-2;5.00;coffee\n"
    )
    (batch,) = _parse(text)
    assert batch.rejected == []
    assert [(r.line, r.category) for r in batch.rows] == [(2, "Мебель\nДиваны"), (4, "coffee")]


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(min_value=1, max_value=120),
    broken=st.sets(st.integers(min_value=0, max_value=119), max_size=12),
    cell=st.integers(min_value=0, max_value=3),
    size=st.integers(min_value=1, max_value=50),
)
def test_every_line_is_imported_or_rejected_by_number(
    rows: int, broken: set[int], cell: int, size: int
) -> None:
    """Stray quotes at the start of any cell of any lines: each such line is rejected, every
    other line is read with its own number, and the counts add up to the lines read."""
    lines = _valid(rows)
    for i in broken & set(range(rows)):
        cells = lines[i].split(";")
        cells[cell] = '"' + cells[cell]
        lines[i] = ";".join(cells)
    parsed = _parse(HEADER + "".join(lines), size=size)
    imported, rejected = _accounted(parsed)
    bad = sorted(i + 2 for i in broken if i < rows)
    assert [line for line, _ in rejected] == bad
    assert imported == sorted(set(range(2, rows + 2)) - set(bad))
    assert sum(b.read for b in parsed) == rows


def test_an_empty_file_is_named_and_a_header_alone_is_no_rows() -> None:
    with pytest.raises(ValueError, match="empty"):
        _parse("")
    with pytest.raises(ValueError, match="empty"):
        list(batches(read_csv(open_text(io.BytesIO(b"")), None), 10))
    assert [(b.rows, b.rejected, b.read) for b in _parse(HEADER)] == [([], [], 0)]


def test_contacts_longer_than_their_columns_reject_the_row_without_showing_them() -> None:
    assert (
        Customer.__table__.c.email.type.length,
        Customer.__table__.c.phone.type.length,
        Order.__table__.c.category.type.length,
    ) == (EMAIL_MAX, PHONE_MAX, CATEGORY_MAX)
    two_phones = "+7 (999) 123-45-67, +7 (495) 765-43-21 доб. 123"
    long_email = "a" * 320 + "@example.com"
    text = (
        "Дата;Номер;Клиент;Сумма;Телефон;E-mail\n"
        + f"01.02.2025;A-1;Иванов;100,00;{two_phones};\n"
        + f"01.02.2025;A-2;Петров;100,00;;{long_email}\n"
        + "01.02.2025;A-3;Сидоров;100,00;+7 (999) 123-45-67;s@example.com\n"
    )
    (batch,) = _parse(text)
    assert [line for line, _ in batch.rejected] == [2, 3]
    assert "phone is 47 characters" in batch.rejected[0][1]
    assert "e-mail is 332 characters" in batch.rejected[1][1]
    for _, reason in batch.rejected:
        assert "999" not in reason and "@" not in reason
    assert [(r.phone, r.email) for r in batch.rows] == [("+7 (999) 123-45-67", "s@example.com")]


def test_dates_follow_the_apis_time_rules() -> None:
    text = (
        HEADER
        + "31.12.9999 23:59:59;A-1;c1;100.00\n"
        + "31.12.1899;A-2;c1;100.00\n"
        + "0001-01-01T00:00:00+05:00;A-3;c1;100.00\n"
        + "2025-01-01T03:00:00+03:00;A-4;c1;100.00\n"
        + "01.01.1900;A-5;c1;100.00\n"
    )
    (batch,) = _parse(text)
    assert [(line, reason.split(":")[0]) for line, reason in batch.rejected] == [
        (2, "date in the future"),
        (3, "date before 1900-01-01"),
        (4, "date before 1900-01-01"),
    ]
    assert [r.occurred_at.isoformat() for r in batch.rows] == [
        "2025-01-01T00:00:00+00:00",  # in UTC, as the API stores it
        "1900-01-01T00:00:00+00:00",
    ]


def test_ids_follow_the_apis_rules() -> None:
    text = (
        HEADER
        + "01.02.2025;A-1;a/b;100.00\n"
        + "01.02.2025;A-2;lapsed;100.00\n"
        + "01.02.2025;A-3;..;100.00\n"
        + "01.02.2025;A-4;ООО «Ромашка»;100.00\n"
        + "01.02.2025;2025/001;c1;100.00\n"  # order ids are not in paths: "/" is fine
    )
    (batch,) = _parse(text)
    assert [line for line, _ in batch.rejected] == [2, 3, 4]
    assert all("customer id" in reason for _, reason in batch.rejected)
    assert [(r.customer_id, r.order_id) for r in batch.rows] == [
        ("ООО «Ромашка»", "A-4"),
        ("c1", "2025/001"),
    ]


ORDER_201 = (
    "Дата;Номер;Клиент;Сумма;Номенклатурная группа\n"
    "05.01.2025 10:15:00;00000201;Ромашка;1 000,00;Мебель\n"
    "05.01.2025 10:15:00;00000201;Ромашка;500,00;Кофе\n"
    "06.01.2025 09:00:00;00000202;Ромашка;300,00;Кофе\n"
)


def test_lines_of_one_order_are_one_row_whose_amount_is_their_sum() -> None:
    (batch,) = _parse(ORDER_201)
    first, second = batch.rows
    assert (first.order_id, first.amount, first.category, first.lines) == (
        "00000201",
        Decimal("1000.00") + Decimal("500.00"),
        "Мебель",  # the largest line's
        (2, 3),
    )
    assert (second.order_id, second.amount, second.lines) == ("00000202", Decimal("300.00"), (4,))
    # The same lines in another order are the same order; other lines are another event.
    swapped = ORDER_201.splitlines(keepends=True)
    swapped[1], swapped[2] = swapped[2], swapped[1]
    assert _parse("".join(swapped))[0].rows[0].event_id == first.event_id
    other = ORDER_201.replace("500,00", "700,00")
    assert _parse(other)[0].rows[0].event_id != first.event_id


def test_a_single_line_order_keeps_the_event_id_earlier_imports_gave_it() -> None:
    (batch,) = _parse(HEADER + "2025-01-05;A-1;c1;100.00\n")
    # sha256("purchase|c1|A-1|2025-01-05T00:00:00+00:00|100.00")[:32], as before order lines.
    assert (
        batch.rows[0].event_id
        == "import:"
        + (
            __import__("hashlib")
            .sha256(b"purchase|c1|A-1|2025-01-05T00:00:00+00:00|100.00")
            .hexdigest()[:32]
        )
    )


def test_lines_of_an_order_are_not_split_by_a_batch_boundary() -> None:
    text = HEADER + "".join(
        f"2025-01-05;A-{i // 3};c{i // 3};{10 + i}.00\n" for i in range(30)
    )  # ten orders of three lines each
    for size in (1, 2, 4, 7):
        parsed = _parse(text, size=size)
        rows = [r for b in parsed for r in b.rows]
        assert [r.lines for r in rows] == [(2 + 3 * k, 3 + 3 * k, 4 + 3 * k) for k in range(10)]
        assert all(len(b.rows) <= size for b in parsed)
        assert sum(b.read for b in parsed) == 30


def test_refund_lines_of_one_order_add_up_too() -> None:
    text = (
        HEADER
        + "2025-01-05;A-1;c1;100.00\n"
        + "2025-01-05;A-1;c1;50.00\n"
        + "2025-02-01;A-1;c1;-20.00\n"
        + "2025-02-01;A-1;c1;-20.00\n"  # two equal returned lines: 40 back, not 20
    )
    (batch,) = _parse(text)
    assert [(r.kind, r.amount, r.lines) for r in batch.rows] == [
        ("purchase", Decimal("150.00"), (2, 3)),
        ("refund", Decimal("40.00"), (4, 5)),
    ]


async def test_a_two_line_1c_order_is_imported_as_one_order_of_1500(
    client: httpx.AsyncClient, make_key: KeyMaker, app: Any, settings: Any
) -> None:
    h = {"Authorization": f"Bearer {await make_key(Scope.CUSTOMERS_READ)}"}

    async def imported(text: str) -> Any:
        return await import_rows(app.state.db, settings, read_csv(io.StringIO(text), None))

    first = await imported(ORDER_201)
    assert first.rows == 3 and first.rejected == []
    romashka = (await client.get("/v1/customers/Ромашка", headers=h)).json()["purchases"]
    assert romashka["purchase_count"] == 2
    assert romashka["net_revenue"] == "1800.00"  # 1,000 + 500 in one order, then 300
    async with app.state.db.sessionmaker() as s:
        amount = await s.scalar(select(Order.amount_minor).where(Order.order_id == "00000201"))
        assert amount == 150_000
        events = await s.scalar(select(func.count()).select_from(Event))

    again = await imported(ORDER_201)  # the same file: nothing changes
    assert again.rejected == [] and again.imported == 0
    assert (await client.get("/v1/customers/Ромашка", headers=h)).json()["purchases"] == romashka

    changed = await imported(ORDER_201.replace("500,00", "700,00"))  # another set of lines
    assert {2} <= {line for line, _ in changed.rejected} <= {2, 3}
    assert "00000201" in changed.rejected[0][1]
    assert (await client.get("/v1/customers/Ромашка", headers=h)).json()["purchases"] == romashka
    async with app.state.db.sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(Event)) == events
        amount = await s.scalar(select(Order.amount_minor).where(Order.order_id == "00000201"))
        assert amount == 150_000


def test_cli_import_of_a_hostile_file(tmp_path: Path) -> None:
    """A real `touchpoint import`: a stray quote with more than 128 KiB after it, a year-9999
    date, two phones in one cell. Every line is imported or reported with its number, the
    counts add up, and neither output shows a phone."""
    path = tmp_path / "orders.csv"
    body = "".join(_valid(8_000))
    path.write_text(
        "Дата;Номер;Клиент;Сумма;Телефон\n"
        + '31.03.2024;Q-x;"cust-broken;100,00;\n'
        + "31.12.9999 23:59:59;Q-y;cust-future;100,00;\n"
        + "01.04.2024;Q-z;cust-phones;100,00;+7 (999) 123-45-67, +7 (495) 765-43-21 доб. 123\n"
        + body,
        encoding="utf-8",
    )
    env = {**os.environ, "TOUCHPOINT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'i.db'}"}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "import", str(path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "rows 8003: imported 8000, already there 0, rejected 3;" in done.stdout
    assert "line 2: a quote" in done.stderr and "line 3: date in the future" in done.stderr
    assert "line 4: phone is 47 characters" in done.stderr
    assert "123-45-67" not in done.stdout + done.stderr
    with sqlite3.connect(tmp_path / "i.db") as db:
        assert db.execute("SELECT count(*) FROM orders").fetchone()[0] == 8000
        assert db.execute("SELECT count(*) FROM customers WHERE phone IS NOT NULL").fetchone() == (
            0,
        )


def test_rows_cross_the_process_boundary_with_their_lines(tmp_path: Path) -> None:
    from app.importer.reader import read_file

    path = tmp_path / "orders.csv"
    path.write_text(ORDER_201, encoding="utf-8")
    (batch,) = list(read_file(path, "csv", None, 10))
    assert isinstance(batch.rows[0], Row) and batch.rows[0].lines == (2, 3)
    assert batch.rows[0].amount == Decimal("1500.00")


def test_a_lone_surrogate_in_json_lines_rejects_its_row() -> None:
    from app.importer.parse import read_jsonl

    good = '{"customer_id": "c1", "order_id": "A-1", "occurred_at": "2025-01-05", "amount": "5"}'
    bad = good.replace('"A-1"', '"A-2"').replace("}", ', "email": "x\\ud800@example.com"}')
    (batch,) = list(batches(read_jsonl(io.StringIO(f"{good}\n{bad}\n"), None), 10))
    assert [r.order_id for r in batch.rows] == ["A-1"]
    assert [(line, "surrogate" in reason) for line, reason in batch.rejected] == [(2, True)]


def test_a_zero_amount_is_a_gift_as_the_api_takes_it() -> None:
    text = (
        "date;order;customer;amount;kind\n"
        + "2025-01-05;G-1;c1;0,00;\n"  # a gift order
        + "2025-01-06;A-1;c1;1000,00;\n"
        + "2025-01-06;A-1;c1;0,00;\n"  # a free line of a paid order
        + "2025-01-07;A-1;c1;0,00;возврат\n"
    )
    (batch,) = _parse(text)
    assert [(r.order_id, r.amount, r.lines) for r in batch.rows] == [
        ("G-1", Decimal("0.00"), (2,)),
        ("A-1", Decimal("1000.00"), (3, 4)),
    ]
    assert batch.rejected == [(5, "a refund of zero")]
