"""Read throughput with wrk: each read endpoint against the plainest FastAPI read, same run.

Fills a fresh PostgreSQL database with `touchpoint demo --customers N`, starts
`touchpoint serve --no-worker [--workers W]` (rate limit off) and `bench/baseline_app.py`
(plain FastAPI + async SQLAlchemy with the same engine settings: the customer row by external
id through a Pydantic model, served by uvicorn the same way, same number of processes). Then,
for each endpoint, `wrk -t2 -c32 -d8s --latency` with a Lua script cycling through the demo
customers' ids (or their customer tokens for /v1/me/cashback), each endpoint's run preceded by
a run of the baseline; the ratio is against the mean of the baseline runs just before and just
after it (the machine's load moves between runs). Prints req/s, p50 and p99 for both and the
ratio; exits non-zero if any answer was not 2xx or wrk saw socket errors.

Needs `wrk` (Debian/Ubuntu: `apt-get install -y wrk`; run as root, the script installs it).

    .venv/bin/python bench/load.py [--customers 5000] [--workers 2] [--seconds 8]
        [--database-url postgresql+asyncpg://…  (an already filled database: no demo fill)]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import ROOT, create_key, free_port, fresh_database, server

TOKENS = 200  # customer tokens issued for /v1/me/cashback, cycled through

ENDPOINTS: list[tuple[str, str]] = [  # (label, path; {id} is each customer's external id)
    ("GET /v1/customers/{id}", "/v1/customers/{id}"),
    ("GET /v1/customers/{id}/stage", "/v1/customers/{id}/stage"),
    ("GET /v1/customers/{id}/next-touch", "/v1/customers/{id}/next-touch"),
    ("GET /v1/customers/{id}/cashback", "/v1/customers/{id}/cashback"),
    ("GET /v1/customers/{id}/ltv", "/v1/customers/{id}/ltv"),
    ("GET /v1/customers/lapsed?limit=50", "/v1/customers/lapsed?limit=50"),
    ("GET /v1/touches/due", "/v1/touches/due"),
    ("GET /v1/me/cashback (customer token)", "/v1/me/cashback"),
]
LISTS = {"GET /v1/customers/lapsed?limit=50", "GET /v1/touches/due"}

LUA = """
local paths = {%(paths)s}
local tokens = {%(tokens)s}
local threads = {}
local counter = 1
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  bad = 0
  i = (id - 1) * math.floor(#paths / 2)
end
function request()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i], {Authorization = "Bearer " .. tokens[(i - 1) %% #tokens + 1]})
end
function response(status, headers, body)
  if status < 200 or status > 299 then bad = bad + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  local e = summary.errors
  io.write(string.format("NOT_2XX %%d\\nSOCKET_ERRORS %%d\\n", total,
    e.connect + e.read + e.write + e.timeout))
end
"""


def lua_list(values: list[str]) -> str:
    return ", ".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    not_2xx: int
    socket_errors: int


UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * UNIT_MS[unit]


def parse(out: str) -> Result:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    not_2xx = int(re.search(r"NOT_2XX (\d+)", out).group(1))  # type: ignore[union-attr]
    # wrk's own count (4xx and 5xx; ours also counts 1xx and 3xx).
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        not_2xx = max(not_2xx, int(m.group(1)))
    sockets = int(re.search(r"SOCKET_ERRORS (\d+)", out).group(1))  # type: ignore[union-attr]
    return Result(rps, _ms(p50), _ms(p99), not_2xx, sockets)


def wrk(
    base: str, paths: list[str], tokens: list[str], args: argparse.Namespace, seconds: float
) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(LUA % {"paths": lua_list(paths), "tokens": lua_list(tokens)})
    try:
        out = subprocess.run(
            [
                *("wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds:g}s"),
                *("--latency", "--timeout", "10s", "-s", f.name, base),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(f.name)
    try:
        return parse(out)
    except AttributeError as exc:
        raise RuntimeError(f"unexpected wrk output:\n{out}") from exc


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() != 0:
        sys.exit("wrk is not installed: apt-get install -y wrk (as root)")
    print("installing wrk (apt-get install -y wrk)…", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)


@contextlib.contextmanager
def baseline(url: str, workers: int) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "TOUCHPOINT_DATABASE_URL": url}
    proc = subprocess.Popen(
        [
            *(sys.executable, str(ROOT / "bench" / "baseline_app.py")),
            *("--port", str(port), "--workers", str(workers)),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"baseline exited: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def fill(url: str, customers: int) -> float:
    t0 = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "app.cli", "demo", "--customers", str(customers)],
        check=True,
        cwd=ROOT,
        env={**os.environ, "TOUCHPOINT_DATABASE_URL": url, "TOUCHPOINT_LOG_LEVEL": "WARNING"},
        capture_output=True,
    )
    return time.monotonic() - t0


def customer_tokens(base: str, key: str, ids: list[str]) -> list[str]:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as c:
        out = []
        for cid in ids:
            r = c.post(f"/v1/customers/{cid}/tokens")
            r.raise_for_status()
            out.append(r.json()["token"])
        return out


def measure(url: str, args: argparse.Namespace) -> int:
    key = create_key(url, "admin")
    ids = [f"demo-{i:05d}" for i in range(args.customers)]
    env = {"TOUCHPOINT_RATE_LIMIT_PER_SECOND": "0"}
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.seconds:g}s --latency; "
        f"server processes: {args.workers}; {args.customers} demo customers",
        flush=True,
    )
    failed = False
    with server(url, env, workers=args.workers) as base, baseline(url, args.workers) as plain:
        tokens = customer_tokens(base, key, ids[:TOKENS])
        plain_paths = [f"/customers/{cid}" for cid in ids]
        # Warm both (connection pools, first-request imports, PostgreSQL's caches).
        wrk(plain, plain_paths, [key], args, 2)
        wrk(base, [f"/v1/customers/{cid}" for cid in ids], [key], args, 2)
        plains = [wrk(plain, plain_paths, [key], args, args.seconds)]
        rows = []
        for label, path in ENDPOINTS:
            if "{id}" in path:
                paths, auth = [path.replace("{id}", cid) for cid in ids], [key]
            else:
                paths, auth = [path], tokens if path.startswith("/v1/me") else [key]
            r = wrk(base, paths, auth, args, args.seconds)
            plains.append(wrk(plain, plain_paths, [key], args, args.seconds))
            rows.append((label, r, (plains[-2].rps + plains[-1].rps) / 2))
            if r.not_2xx or r.socket_errors:
                failed = True
            print(
                f"  {label:40s} {r.rps:8.1f} req/s  p50 {r.p50_ms:6.1f} ms  p99 {r.p99_ms:6.1f} ms"
                f"  | baseline {rows[-1][2]:7.1f} req/s  ratio {r.rps / rows[-1][2]:.2f}"
                + (f"  NOT 2xx: {r.not_2xx}" if r.not_2xx else "")
                + (f"  socket errors: {r.socket_errors}" if r.socket_errors else ""),
                flush=True,
            )
    print()
    print("| endpoint | req/s | p50 ms | p99 ms | baseline req/s | ratio | target |")
    print("|---|---|---|---|---|---|---|")
    for label, r, plain_rps in rows:
        target = 0.5 if label in LISTS else 0.8
        print(
            f"| `{label}` | {r.rps:.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {plain_rps:.0f} "
            f"| {r.rps / plain_rps:.2f} | {target} |"
        )
    p = plains
    print(
        f"baseline runs: {', '.join(f'{x.rps:.0f}' for x in p)} req/s; "
        f"p50 {min(x.p50_ms for x in p):.1f}–{max(x.p50_ms for x in p):.1f} ms, "
        f"p99 {min(x.p99_ms for x in p):.1f}–{max(x.p99_ms for x in p):.1f} ms"
    )
    if any(x.not_2xx or x.socket_errors for x in p):
        print("the baseline answered non-2xx or had socket errors")
        failed = True
    if failed:
        print("FAILED: some answers were not 2xx (or wrk saw socket errors)")
    return 1 if failed else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument(
        "--database-url",
        help="an already filled database (touchpoint demo --customers N) instead of a fresh one",
    )
    args = ap.parse_args()
    ensure_wrk()
    if args.database_url:
        sys.exit(measure(args.database_url, args))
    with fresh_database() as (_dsn, url):
        seconds = fill(url, args.customers)
        print(f"demo shop of {args.customers} customers filled in {seconds:.0f} s")
        code = measure(url, args)
    sys.exit(code)


if __name__ == "__main__":
    main()
