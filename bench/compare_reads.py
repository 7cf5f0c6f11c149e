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
themselves. Measured so: `/stage` and `/ltv` carry `as_of` (the clock), `/ltv` also
`expected_next_purchase_at` (as_of + a stored-model expectation), so 200 of 500 answers differ
byte for byte between two dumps of the same code; `diff --ignore as_of --ignore
expected_next_purchase_at` compares the rest of those bodies (parsed, not byte for byte).
After that, 5 `/stage` answers still differed: customers whose stage time has changed but
no worker has recorded yet (the server runs with --no-worker) get `since` = now. Other values
computed from "now" (p_alive, cashback expiring soon) differ only if the clock crosses a
boundary between the dumps. Reads do not write (the demo fill derives every customer), so the
database stays the same between dumps; the API key each dump creates is the only row added.
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


def _masked(answer: dict[str, object] | None, ignore: list[str]) -> object:
    """The answer with the given top-level fields of its JSON body left out."""
    if answer is None or not ignore:
        return answer
    body = json.loads(str(answer["body"]))
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in ignore}
    return {"status": answer["status"], "body": body}


def diff(a: Path, b: Path, ignore: list[str]) -> int:
    left, right = json.loads(a.read_text()), json.loads(b.read_text())
    exact = [p for p in left.keys() | right.keys() if left.get(p) != right.get(p)]
    differing = sorted(
        p for p in exact if _masked(left.get(p), ignore) != _masked(right.get(p), ignore)
    )
    if ignore:
        print(
            f"{len(exact)} answers differ byte for byte; {len(differing)} once "
            f"{', '.join(ignore)} are left out"
        )
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
    f.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="FIELD",
        help="a top-level body field to leave out (repeatable), e.g. as_of: read at the clock",
    )
    args = ap.parse_args()
    if args.command == "dump":
        dump(args.database_url, args.customers, args.out)
    else:
        sys.exit(diff(args.before, args.after, args.ignore))


if __name__ == "__main__":
    main()
