"""Rate of the import's reading process alone: a 1C-style CSV read, checked and grouped into
orders (`batches(read_csv(...))`), in memory, no database. The import reads in its own process
while the first writes, so this rate must stay above the rate of the writes.

Prints the best of three runs in CPU seconds (the machine may be shared).

    .venv/bin/python bench/parse.py [--rows 200000] [--customers 20000]
"""

from __future__ import annotations

import argparse
import io
import random
import time

from app.importer.parse import batches, read_csv


def make_csv(rows: int, customers: int, seed: int = 1) -> str:
    rnd = random.Random(seed)
    lines = ["Дата;Номер;Клиент;Сумма документа;Номенклатурная группа;Телефон"]
    for i in range(rows):
        day, month = rnd.randint(1, 28), rnd.randint(1, 12)
        lines.append(
            f"{day:02d}.{month:02d}.2024 10:15:00;A-{i};Клиент {i % customers};"
            f"{rnd.randint(1, 99999)},00;Кофе;+7 900 111-22-33"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--customers", type=int, default=20_000)
    args = ap.parse_args()
    data = make_csv(args.rows, args.customers)
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        read = sum(b.read for b in batches(read_csv(io.StringIO(data), None), 50_000))
        best = min(best, time.process_time() - started)
        assert read == args.rows
    print(f"{args.rows} rows read and checked in {best:.2f} CPU s: {args.rows / best:,.0f} rows/s")


if __name__ == "__main__":
    main()
