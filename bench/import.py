"""History import rate into SQLite: generates an N-row 1C-style CSV and imports it.

Prints rows/s and the peak resident memory of the import (the command and the process that
reads the file for it, summed), then imports a fifth of the rows for the same customers and
prints the ratio of the two peaks: the file is streamed, so memory must not grow with it (ratio
near 1). Target: at least 50,000 rows/s.

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
import threading
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


class TreeMemory(threading.Thread):
    """Peak of the summed resident memory of a process and its descendants (the import reads
    its file in a child process), sampled every `every` seconds from /proc."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.peak = pid, every, 0
        self.finished = threading.Event()

    def _tree_rss(self) -> int:
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        tree, grew = {self.pid}, True
        while grew:
            more = {p for p, parent in parents.items() if parent in tree} - tree
            tree |= more
            grew = bool(more)
        total = 0
        for p in tree:
            try:
                total += int(Path(f"/proc/{p}/statm").read_text().split()[1])
            except OSError:
                continue
        return total * os.sysconf("SC_PAGE_SIZE")

    def run(self) -> None:
        while not self.finished.wait(self.every):
            self.peak = max(self.peak, self._tree_rss())


def run_import(rows: int, customers: int) -> tuple[float, float, float, list[str]]:
    """Import a fresh N-row file into a fresh SQLite database: (seconds, peak MiB of the import
    process or its reader, whichever is larger, peak MiB of both together, summary)."""
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
        sampler = TreeMemory(proc.pid)
        sampler.start()
        assert proc.stdout is not None
        output = proc.stdout.read()
        sampler.finished.set()
        sampler.join()
        # wait4: the larger peak of this child and its reaped children (ru_maxrss, KiB).
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"import failed ({proc.returncode}): {output}")
    peak = usage.ru_maxrss / 1024
    return elapsed, peak, sampler.peak / 2**20, output.strip().splitlines()[-2:]


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
    seconds, peak, together, summary = run_import(args.rows, args.customers)
    print("\n".join(summary))
    print(
        f"file: {args.rows} rows; wall {seconds:.1f} s: "
        f"{args.rows / seconds:,.0f} rows/s (target >= 50,000)"
    )
    print(
        f"peak memory: {together:.0f} MiB for the import and its reading process together "
        f"(sampled every 0.1 s); {peak:.0f} MiB for the larger of the two (ru_maxrss)"
    )
    raw = raw_rows(args.rows, args.customers)
    print(
        f"baseline, plain executemany of the same rows (one order + one event each): "
        f"{raw:,.0f} rows/s; import/baseline: {args.rows / seconds / raw:.2f}"
    )
    # The same customers with a fifth of the rows: streaming means the peak stays the same.
    small = args.rows // 5
    _, small_peak, small_together, _ = run_import(small, args.customers)
    print(
        f"peak memory at {small} rows (same customers): {small_together:.0f} MiB together, "
        f"{small_peak:.0f} MiB the larger; {args.rows} / {small} rows: "
        f"{together / small_together:.2f}x together, {peak / small_peak:.2f}x the larger "
        f"(1.0 = does not grow with the file)"
    )


if __name__ == "__main__":
    main()
