"""Dump the per-customer read answers of the demo shop's first customers, byte for byte, to diff
two versions of the code.

    # an already filled database (touchpoint demo --customers N), a server started here:
    .venv/bin/python bench/compare_reads.py dump --database-url postgresql+asyncpg://… before.json
    (change the code)
    .venv/bin/python bench/compare_reads.py dump --database-url postgresql+asyncpg://… after.json
    .venv/bin/python bench/compare_reads.py diff before.json after.json   # exit 1 if any differs

Each answer is kept as its status and exact body text (not re-serialised), for
`GET /v1/customers/{id}`, `/stage`, `/next-touch`, `/cashback` and `/ltv` of `demo-00000` …
(`--customers`, default 100). The server reads are made without `as_of`, so they are read at the
wall clock: a field computed from "now" (rather than stored) would differ between two dumps of
the same code. Dump twice on the same code first; `diff` then shows which paths change by
themselves. Reads do not write (the demo fill derives every customer), so the database stays
the same between dumps; the API key the dump creates is the only row it adds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import create_key, server

SUFFIXES = ["", "/stage", "/next-touch", "/cashback", "/ltv"]


def dump(url: str, customers: int, out: Path) -> None:
    key = create_key(url, "admin")
    answers: dict[str, dict[str, object]] = {}
    with (
        server(url, {"TOUCHPOINT_RATE_LIMIT_PER_SECOND": "0"}) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as c,
    ):
        for i in range(customers):
            for suffix in SUFFIXES:
                path = f"/v1/customers/demo-{i:05d}{suffix}"
                r = c.get(path)
                answers[path] = {"status": r.status_code, "body": r.text}
    out.write_text(json.dumps(answers, ensure_ascii=False, indent=1) + "\n")
    codes: dict[int, int] = {}
    for a in answers.values():
        codes[int(a["status"])] = codes.get(int(a["status"]), 0) + 1  # type: ignore[call-overload]
    print(f"{len(answers)} answers written to {out}; statuses {codes}")


def diff(a: Path, b: Path) -> int:
    left, right = json.loads(a.read_text()), json.loads(b.read_text())
    differing = sorted(p for p in left.keys() | right.keys() if left.get(p) != right.get(p))
    for path in differing[:50]:
        print(f"{path}:\n  - {left.get(path)}\n  + {right.get(path)}")
    if len(differing) > 50:
        print(f"… and {len(differing) - 50} more")
    print(f"{len(differing)} of {len(left.keys() | right.keys())} answers differ")
    return 1 if differing else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--database-url", required=True)
    d.add_argument("--customers", type=int, default=100)
    d.add_argument("out", type=Path)
    f = sub.add_parser("diff")
    f.add_argument("before", type=Path)
    f.add_argument("after", type=Path)
    args = ap.parse_args()
    if args.command == "dump":
        dump(args.database_url, args.customers, args.out)
    else:
        sys.exit(diff(args.before, args.after))


if __name__ == "__main__":
    main()
