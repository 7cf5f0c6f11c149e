"""History import rate into SQLite: generates an N-row 1C-style CSV and imports it.

Prints rows/s and the peak resident memory of the import process (ru_maxrss), which must not
grow with the file (it is streamed). Target: at least 50,000 rows/s.

    .venv/bin/python bench/import.py [--rows 1000000] [--customers 100000]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--customers", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "orders.csv"
        make_csv(csv_path, args.rows, args.customers)
        size = csv_path.stat().st_size
        env = {**os.environ, "TOUCHPOINT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/import.db"}
        subprocess.run(
            [sys.executable, "-m", "app.cli", "migrate"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "app.cli", "import", str(csv_path)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - t0
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print("\n".join(out.stdout.strip().splitlines()[-2:]))
    print(
        f"file: {args.rows} rows, {size / 1e6:.0f} MB; wall {elapsed:.1f} s: "
        f"{args.rows / elapsed:,.0f} rows/s (target >= 50,000)"
    )
    print(f"peak memory of the import process: {peak_kb / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
