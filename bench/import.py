"""History import rate into SQLite: generates an N-row 1C-style CSV and imports it.

Prints rows/s and the peak resident memory of the import process (ru_maxrss), then imports a
fifth of the rows for the same customers and prints the ratio of the two peaks: the file is
streamed, so memory must not grow with it (ratio near 1). Target: at least 50,000 rows/s.

    .venv/bin/python bench/import.py [--rows 1000000] [--customers 100000]
"""

from __future__ import annotations

import argparse
import os
import random
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
        subprocess.run(
            [sys.executable, "-m", "app.cli", "migrate"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
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
    # The same customers with a fifth of the rows: streaming means the peak stays the same.
    small = args.rows // 5
    _, small_peak, _ = run_import(small, args.customers)
    print(
        f"peak memory at {small} rows (same customers): {small_peak:.0f} MiB; "
        f"{args.rows} / {small} rows: {peak / small_peak:.2f}x (1.0 = does not grow with the file)"
    )


if __name__ == "__main__":
    main()
