from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.auth.scopes import Scope
from app.events.models import Event
from app.importer.parse import (
    Batch,
    Row,
    batches,
    guess_mapping,
    open_text,
    parse_amount,
    parse_date,
    read_csv,
    read_jsonl,
)
from app.importer.reader import read_file
from app.importer.service import import_batches, import_rows
from tests.conftest import KeyMaker

ROOT = Path(__file__).resolve().parents[2]

ONE_C = """Дата;Номер;Клиент;Сумма документа;Номенклатурная группа;Телефон
05.01.2025 10:15:00;А-001;Иванов И.И.;1 500,00;coffee;+7 900 111-22-33
02.02.2025;А-002;Иванов И.И.;1\u00a0500,00;coffee;
03.03.2025 11:00;А-003;Петров;"12 300,50";furniture;
31.02.2025;А-004;Петров;100,00;coffee;
04.03.2025;А-002;Иванов И.И.;-500,00;coffee;
05.03.2025;А-005;;100,00;coffee;
06.03.2025;А-006;Сидорова;abc;coffee;
"""


def test_1c_numbers_dates_and_headers() -> None:
    assert parse_amount("1 500,00") == Decimal("1500.00")
    assert parse_amount("1\u00a0234\u00a0567,5") == Decimal("1234567.50")
    assert parse_amount("1,234.50") == Decimal("1234.50")
    assert parse_amount("-500,00") == Decimal("-500.00")
    for bad in ("abc", "NaN", "1,005", "1e20"):
        with pytest.raises(ValueError):
            parse_amount(bad)
    assert parse_date("31.12.2024 14:05:00").isoformat() == "2024-12-31T14:05:00+00:00"
    assert parse_date("2024-12-31T14:05:00+03:00").hour == 14
    m = guess_mapping(["Дата", "Номер", "Покупатель", "Сумма", "Категория"])
    assert (m["occurred_at"], m["order_id"], m["customer_id"], m["amount"], m["category"]) == (
        0,
        1,
        2,
        3,
        4,
    )
    with pytest.raises(ValueError, match="--map"):
        guess_mapping(["a", "b"])
    assert (
        guess_mapping(
            ["x", "y", "z", "w"],
            {"customer_id": "x", "order_id": "y", "occurred_at": "z", "amount": "w"},
        )["amount"]
        == 3
    )


def test_windows_1251_is_read() -> None:
    text = open_text(io.BytesIO(ONE_C.encode("cp1251", errors="replace")))
    rows = list(read_csv(text, None))
    assert rows[0][1]["customer_id"] == "Иванов И.И."  # type: ignore[index]


async def _import(app: Any, settings: Any, payload: str, kind: str = "csv") -> Any:
    text = io.StringIO(payload)
    source = read_csv(text, None) if kind == "csv" else read_jsonl(text, None)
    return await import_rows(app.state.db, settings, source, chunk=3)


async def test_import_reports_bad_rows_and_is_idempotent(
    client: httpx.AsyncClient, make_key: KeyMaker, app: Any, settings: Any
) -> None:
    report = await _import(app, settings, ONE_C)
    assert report.rows == 7 and report.imported == 4
    assert [line for line, _ in report.rejected] == [5, 7, 8]
    assert "not a date" in report.rejected[0][1]
    h = {"Authorization": f"Bearer {await make_key(Scope.CUSTOMERS_READ)}"}
    ivanov = (await client.get("/v1/customers/Иванов И.И.", headers=h)).json()
    assert ivanov["purchases"]["net_revenue"] == "2500.00"  # 1,500 + 1,500 − 500 refunded
    assert ivanov["purchases"]["purchase_count"] == 2
    assert ivanov["profile"]["phone"] == "+7 900 111-22-33"
    stage = (await client.get("/v1/customers/Иванов И.И./stage", headers=h)).json()
    assert stage["stage"] == "client"
    again = await _import(app, settings, ONE_C)
    assert again.imported == 0 and again.duplicates == 4
    assert (await client.get("/v1/customers/Иванов И.И.", headers=h)).json()["purchases"] == ivanov[
        "purchases"
    ]
    async with app.state.db.sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(Event)) == 4


async def test_import_equals_the_api_path(
    client: httpx.AsyncClient, make_key: KeyMaker, app: Any, settings: Any
) -> None:
    lines = [
        {
            "customer_id": f"{p}{c}",
            "order_id": f"{p}o{c}-{k}",
            "occurred_at": f"2025-0{k + 1}-1{c}T10:00:00Z",
            "amount": f"{100 * (k + 1) + c}.50",
            "category": "coffee",
        }
        for p in ("imp-", "api-")
        for c in range(3)
        for k in range(4)
    ]
    imported = [ln for ln in lines if ln["customer_id"].startswith("imp-")]
    await _import(app, settings, "\n".join(json.dumps(x) for x in imported), kind="jsonl")
    h = {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}
    events = [
        {"event_id": f"e{i}", "type": "purchase", "currency": "RUB", **x}
        for i, x in enumerate(ln for ln in lines if ln["customer_id"].startswith("api-"))
    ]
    r = await client.post("/v1/events/batch", json={"events": events}, headers=h)
    assert r.json()["summary"]["accepted"] == 12
    for c in range(3):
        a = (await client.get(f"/v1/customers/imp-{c}", headers=h)).json()
        b = (await client.get(f"/v1/customers/api-{c}", headers=h)).json()
        assert a["purchases"] == b["purchases"]
        assert a["relationship"]["first_seen_at"] == b["relationship"]["first_seen_at"]
        sa = (await client.get(f"/v1/customers/imp-{c}/stage", headers=h)).json()
        sb = (await client.get(f"/v1/customers/api-{c}/stage", headers=h)).json()
        assert sa["stage"] == sb["stage"]
        la = (await client.get(f"/v1/customers/imp-{c}/ltv", headers=h)).json()
        lb = (await client.get(f"/v1/customers/api-{c}/ltv", headers=h)).json()
        assert la["predicted"] == lb["predicted"] and la["p_alive"] == lb["p_alive"]
    async with app.state.db.sessionmaker() as s:
        payloads = (await s.scalars(select(Event.payload).order_by(Event.occurred_at))).all()
    assert {
        "order_id": "imp-o0-0",
        "amount": "100.50",
        "currency": "RUB",
        "category": "coffee",
    } in (payloads)


def test_cli_import(tmp_path: Path) -> None:
    """A real `touchpoint import` process: rows read by its own child, the customers' derived
    state computed by the ingest hooks it installs itself."""
    env = {**os.environ, "TOUCHPOINT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'i.db'}"}

    def touchpoint(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    path = tmp_path / "orders.csv"
    path.write_text(ONE_C, encoding="utf-8-sig")
    first = touchpoint("import", str(path))
    assert first.returncode == 0, first.stderr
    assert "imported 4" in first.stdout and "line 5: not a date" in first.stderr
    second = touchpoint("import", str(path))
    assert "imported 0, already there 4" in second.stdout
    bad_map = touchpoint("import", str(path), "--map", "amount=Нет такой")
    assert bad_map.returncode == 2 and "Нет такой" in bad_map.stderr
    with sqlite3.connect(tmp_path / "i.db") as db:
        stage, status, lapse_at = db.execute(
            "SELECT stage, status, lapse_at FROM customers WHERE external_id = ?",
            ("Иванов И.И.",),
        ).fetchone()
        predictions = db.execute(
            "SELECT count(*) FROM customer_predictions JOIN customers c ON c.id = customer_id"
            " WHERE c.external_id = ?",
            ("Иванов И.И.",),
        ).fetchone()[0]
    assert stage == "client"  # two purchases on two days
    assert status != "active" and lapse_at is not None  # its last purchase was in 2025
    assert predictions == 1


def test_file_read_by_a_child_process_gives_the_same_batches(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(ONE_C, encoding="utf-8")
    with path.open("rb") as raw:
        here = list(batches(read_csv(open_text(raw), None), 2))
    there = list(read_file(path, "csv", None, 2))
    assert [b.rows for b in there] == [b.rows for b in here]
    assert [(b.rejected, b.read) for b in there] == [(b.rejected, b.read) for b in here]
    assert sum(b.read for b in there) == 7 and there[-1].position == path.stat().st_size
    assert isinstance(there[0].rows[0], Row) and there[0].rows[0].amount == Decimal("1500.00")
    with pytest.raises(ValueError, match="--map"):
        list(read_file(path, "csv", {"amount": "Сумма документа", "order_id": "Дата"}, 2))


async def test_imported_purchases_carry_the_shops_currency(app: Any, settings: Any) -> None:
    euro = settings.model_copy(update={"currency": "EUR"})
    line = {
        "customer_id": "eu-1",
        "order_id": "eu-o1",
        "occurred_at": "2025-01-05",
        "amount": "9.90",
    }
    report = await import_rows(app.state.db, euro, read_jsonl(io.StringIO(json.dumps(line)), None))
    assert report.imported == 1
    async with app.state.db.sessionmaker() as s:
        payload = await s.scalar(select(Event.payload))
    assert payload == {"order_id": "eu-o1", "amount": "9.90", "currency": "EUR", "category": None}


async def test_history_fills_missing_contacts_and_replaces_none(
    client: httpx.AsyncClient, make_key: KeyMaker, app: Any, settings: Any
) -> None:
    h = {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}
    profile = {
        "event_id": "p1",
        "type": "profile",
        "customer_id": "known",
        "occurred_at": "2025-01-01T00:00:00Z",
        "email": "known@example.com",
    }
    assert (await client.post("/v1/events", json=profile, headers=h)).status_code in (200, 201)
    rows = [
        {"customer_id": c, "order_id": f"{c}-1", "occurred_at": "2025-02-01", "amount": "10"}
        | contact
        for c, contact in (
            ("known", {"email": "old@example.com", "phone": "+79001112233"}),
            ("new", {"email": "new@example.com", "phone": "+79004445566"}),
        )
    ]
    await _import(app, settings, "\n".join(json.dumps(r) for r in rows), kind="jsonl")
    known = (await client.get("/v1/customers/known", headers=h)).json()["profile"]
    new = (await client.get("/v1/customers/new", headers=h)).json()["profile"]
    assert (known["email"], known["phone"]) == ("known@example.com", "+79001112233")
    assert (new["email"], new["phone"]) == ("new@example.com", "+79004445566")


async def test_a_failed_import_still_derives_what_it_wrote(
    client: httpx.AsyncClient, make_key: KeyMaker, app: Any, settings: Any
) -> None:
    line = {"customer_id": "half", "order_id": "half-1", "occurred_at": "2025-02-01"}
    line["amount"] = "10"

    def failing() -> Iterator[Batch]:
        yield from batches(read_jsonl(io.StringIO(json.dumps(line)), None), 10)
        raise RuntimeError("the reading process died")

    with pytest.raises(RuntimeError, match="died"):
        await import_batches(app.state.db, settings, failing())
    h = {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}
    stage = (await client.get("/v1/customers/half/stage", headers=h)).json()
    assert stage["stage"] == "buyer"
    ltv = (await client.get("/v1/customers/half/ltv", headers=h)).json()
    assert ltv["historic"] == "10.00"


def test_encoding_is_judged_on_the_whole_file_and_a_bad_byte_spoils_one_row() -> None:
    header = "Дата;Номер;Клиент;Сумма\n"
    ascii_rows = "".join(f"01.02.2025;A-{i};client-{i};100,00\n" for i in range(3000))
    assert len(ascii_rows) > 65536
    late_cyrillic = (ascii_rows + "02.02.2025;Б-1;Сидорова;5,00\n").encode("cp1251")
    text = open_text(io.BytesIO(b"date;order;customer;amount\n" + late_cyrillic))
    *_, last = (b for b in batches(read_csv(text, None), 10_000))
    assert [(r.customer_id, r.order_id) for r in last.rows][-1] == ("Сидорова", "Б-1")
    broken = (header + ascii_rows).encode() + b"03.02.2025;B-2;\xff\xfe;5,00\n"
    broken += "04.02.2025;B-3;Петров;7,00\n".encode()
    parsed = list(batches(read_csv(open_text(io.BytesIO(broken)), None), 10_000))
    rows = [r for b in parsed for r in b.rows]
    rejected = [x for b in parsed for x in b.rejected]
    assert rejected == [(3002, "bytes that are not text in the file's encoding")]
    assert rows[-1].customer_id == "Петров" and len(rows) == 3001
