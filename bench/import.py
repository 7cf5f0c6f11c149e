"""History import rate into SQLite: generates an N-row 1C-style CSV and imports it.

Prints rows/s and the peak resident memory of the import process (ru_maxrss), then imports a
fifth of the rows for the same customers and prints the ratio of the two peaks: the file is
streamed, so memory must not grow with it (ratio near 1). Target: at least 50,000 rows/s.

Baseline, measured in the same run: the rows the import writes for the same file (one order and
one event each), handed straight to sqlite3's executemany in 50,000-row transactions, in the
importer's order, into a freshly migrated database with the service's PRAGMAs: no reading, no
checks, no derived state. The ratio import/baseline says how far the import is from the disk
work it cannot avoid with this schema.

    .venv/bin/python bench/import.py [--rows 1000000] [--customers 100000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_csv(path: Path, rows: int, customers: int, seed: int = 1) -> None:
    rnd = random.Random(seed)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8") as f:
        f.write("Дата;Номер;Клиент;Сумма документа;Номенклатурная группа\n")
        for i in range(rows):
            at = start + timedelta(minutes=rnd.randrange(1_000_000))
            amount = rnd.randrange(10_000, 5_000_000) / 100
            whole, cents = divmod(round(amount * 100), 100)
            money = f"{whole:,}".replace(",", "\u00a0") + f",{cents:02d}"
            f.write(
                f"{at:%d.%m.%Y %H:%M:%S};N-{i};client-{rnd.randrange(customers)};{money};"
                f"{rnd.choice(['coffee', 'books', 'furniture', 'cosmetics'])}\n"
            )


def run_import(rows: int, customers: int) -> tuple[float, float, list[str]]:
    """Import a fresh N-row file into a fresh SQLite database: (seconds, peak MiB, summary)."""
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "orders.csv"
        make_csv(csv_path, rows, customers)
        env = {**os.environ, "TOUCHPOINT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/import.db"}
        _migrated(Path(tmp) / "import.db")
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "import", str(csv_path)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout is not None
        output = proc.stdout.read()
        # wait4: this child's own peak resident memory (ru_maxrss, KiB on Linux).
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"import failed ({proc.returncode}): {output}")
    return elapsed, usage.ru_maxrss / 1024, output.strip().splitlines()[-2:]


def _migrated(path: Path) -> None:
    env = {**os.environ, "TOUCHPOINT_DATABASE_URL": f"sqlite+aiosqlite:///{path}"}
    subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def raw_rows(rows: int, customers: int, chunk: int = 50_000, seed: int = 1) -> float:
    """Rows/s of plain executemany writing what the import writes (see the module docstring)."""
    rnd = random.Random(seed)
    start = datetime(2023, 1, 1)
    now = "2026-01-01 00:00:00.000000"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "raw.db"
        _migrated(path)
        db = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            db.execute(f"PRAGMA {pragma}")
        db.execute("PRAGMA cache_size=-65536")
        # Customers with every NOT NULL column filled by its type (they are not timed).
        required = [
            (name, kind.upper())
            for _, name, kind, notnull, default, _ in db.execute("PRAGMA table_info(customers)")
            if notnull and default is None and name != "id"
        ]

        def filler(name: str, kind: str, i: int) -> object:
            if name == "external_id":
                return f"client-{i}"
            if "INT" in kind:
                return 0
            return "{}" if kind == "JSON" else now

        db.execute("BEGIN")
        db.executemany(
            f"INSERT INTO customers ({', '.join(n for n, _ in required)}) "
            f"VALUES ({', '.join('?' for _ in required)})",
            [tuple(filler(n, k, i) for n, k in required) for i in range(customers)],
        )
        db.execute("COMMIT")
        elapsed = 0.0
        for first in range(0, rows, chunk):
            orders, events = [], []
            for i in range(first, min(rows, first + chunk)):
                at = (start + timedelta(minutes=rnd.randrange(1_000_000))).isoformat(" ")
                pk = rnd.randrange(customers) + 1
                digest = hashlib.sha256(str(i).encode()).hexdigest()[:32]
                orders.append((f"N-{i}", pk, at, 100_00, 0, "coffee", f"import:{digest}"))
                payload = {"order_id": f"N-{i}", "amount": "100.00", "currency": "RUB"}
                events.append(
                    (f"import:{digest}", "purchase", pk, at, now, digest, json.dumps(payload))
                )
            orders.sort(key=lambda o: (o[1], o[2]))
            events.sort(key=lambda e: (e[2], e[3]))
            t0 = time.perf_counter()
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO orders (order_id, customer_id, occurred_at, amount_minor,"
                " refunded_minor, category, event_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                orders,
            )
            db.executemany(
                "INSERT INTO events (event_id, type, customer_id, occurred_at, received_at,"
                " body_hash, payload) VALUES (?, ?, ?, ?, ?, ?, ?)",
                events,
            )
            db.execute("COMMIT")
            elapsed += time.perf_counter() - t0
        db.close()
    return rows / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--customers", type=int, default=100_000)
    args = ap.parse_args()
    seconds, peak, summary = run_import(args.rows, args.customers)
    print("\n".join(summary))
    print(
        f"file: {args.rows} rows; wall {seconds:.1f} s: "
        f"{args.rows / seconds:,.0f} rows/s (target >= 50,000)"
    )
    print(f"peak memory of the import process: {peak:.0f} MiB")
    raw = raw_rows(args.rows, args.customers)
    print(
        f"baseline, plain executemany of the same rows (one order + one event each): "
        f"{raw:,.0f} rows/s; import/baseline: {args.rows / seconds / raw:.2f}"
    )
    # The same customers with a fifth of the rows: streaming means the peak stays the same.
    small = args.rows // 5
    _, small_peak, _ = run_import(small, args.customers)
    print(
        f"peak memory at {small} rows (same customers): {small_peak:.0f} MiB; "
        f"{args.rows} / {small} rows: {peak / small_peak:.2f}x (1.0 = does not grow with the file)"
    )


if __name__ == "__main__":
    main()
