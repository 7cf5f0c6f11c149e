"""Each purchase model's fit on synthetic customers, ours against `lifetimes`, same data, same run.

BG/NBD and MBG/NBD are fitted on customers drawn from BG/NBD's generative process, Pareto/NBD
on customers drawn from its own, Gamma-Gamma on spends drawn from its own (fixed seed, whole
days, ages of 1-730 days, so many customers share the same (x, t_x, T)). Both fit the same
unique rows with weights (`lifetimes`' own advice for large data: fitting every customer row
takes its Pareto/NBD hours at this size, 629 s at 20,000 customers on our machine), so the
speed-up is the fitter's, not the compression's. Prints both
times, both parameter sets, both log-likelihoods (ours evaluated at both parameter sets) and
the speed-up (target: Pareto/NBD at least 10x), then the time of the 90 % intervals of every
customer's expected purchases.

    .venv/bin/python bench/fit.py [--customers 1000000] [--seed 1] [--models bgnbd,mbgnbd,...]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app.ltv import bgnbd, gamma_gamma, intervals, mbgnbd, paretonbd, purchase

BG = {"r": 0.25, "alpha": 30.0, "a": 0.8, "b": 2.5}
PARETO = {"r": 0.55, "alpha": 75.0, "s": 0.6, "beta": 80.0}
GG = {"p": 6.0, "q": 4.0, "gamma": 1500.0}


def simulate_bg(n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    lam = rng.gamma(BG["r"], 1 / BG["alpha"], n)
    drop = rng.beta(BG["a"], BG["b"], n)
    T = rng.integers(1, 731, n).astype(np.float64)
    x = np.zeros(n)
    t_x = np.zeros(n)
    t = np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        t[idx] += rng.exponential(1 / lam[idx])
        bought = t[idx] <= T[idx]
        active[idx[~bought]] = False
        hit = idx[bought]
        x[hit] += 1
        t_x[hit] = np.floor(t[hit])
        active[hit[rng.random(hit.size) < drop[hit]]] = False
    return x, t_x, T


def simulate_pareto(n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    lam = rng.gamma(PARETO["r"], 1 / PARETO["alpha"], n)
    mu = rng.gamma(PARETO["s"], 1 / PARETO["beta"], n)
    T = rng.integers(1, 731, n).astype(np.float64)
    alive_for = np.minimum(rng.exponential(1 / mu), T)
    x = rng.poisson(lam * alive_for).astype(np.float64)
    # The last of x uniform purchase times on [0, alive_for], in whole days.
    t_x = np.where(x > 0, np.floor(alive_for * rng.random(n) ** (1 / np.maximum(x, 1))), 0.0)
    return x, t_x, T


def simulate_spend(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    nu = rng.gamma(GG["q"], 1 / GG["gamma"], x.size)
    k = np.maximum(x, 1)
    return np.where(x > 0, rng.gamma(GG["p"] * k, 1 / (nu * k)), 0.0)


def timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def compare(
    title: str, names: tuple[str, ...], ours: tuple[float, ...], theirs: tuple[float, ...]
) -> float:
    print(f"  {'':10s} " + " ".join(f"{k:>10s}" for k in names))
    print(f"  {'ours':10s} " + " ".join(f"{v:10.5g}" for v in ours))
    print(f"  {'lifetimes':10s} " + " ".join(f"{v:10.5g}" for v in theirs))
    worst = max(abs(a - b) / abs(b) for a, b in zip(ours, theirs, strict=True))
    print(f"  {title}: largest relative parameter difference {worst:.2e}")
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--models", default="bgnbd,mbgnbd,paretonbd,gg")
    args = ap.parse_args()
    wanted = set(args.models.split(","))
    rng = np.random.default_rng(args.seed)
    x, t_x, T = simulate_bg(args.customers, rng)
    px, pt_x, pT = simulate_pareto(args.customers, rng)
    m = simulate_spend(x, rng)
    for label, data in (("BG/NBD data", (x, t_x, T)), ("Pareto/NBD data", (px, pt_x, pT))):
        unique = len(np.unique(np.column_stack(data), axis=0))
        repeaters = int((data[0] > 0).sum())
        print(f"{label}: {args.customers} customers, {repeaters} repeaters, {unique} unique rows")

    import lifetimes

    warnings.filterwarnings("ignore")
    np.random.seed(args.seed)  # lifetimes' Pareto/NBD starts from a random point
    plans = [
        ("bgnbd", "BG/NBD", bgnbd, lifetimes.BetaGeoFitter, (x, t_x, T)),
        ("mbgnbd", "MBG/NBD", mbgnbd, lifetimes.ModifiedBetaGeoFitter, (x, t_x, T)),
        ("paretonbd", "Pareto/NBD", paretonbd, lifetimes.ParetoNBDFitter, (px, pt_x, pT)),
    ]
    summary = []
    for name, title, module, fitter, data in plans:
        if name not in wanted:
            continue
        print(f"\n{title}")
        ours, ours_s = timed(lambda module=module, data=data: module.fit(*data))
        rows = bgnbd.compress(*data)
        ref, ref_s = timed(
            lambda fitter=fitter, rows=rows: fitter().fit(*rows[:3], weights=rows[3])
        )
        keys = purchase.PARAM_NAMES[name]
        theirs = tuple(float(ref.params_[k]) for k in keys)
        worst = compare(title, keys, ours.vector, theirs)
        ll_theirs = module.log_likelihood(theirs, *data)
        print(f"  log-likelihood: ours {ours.log_likelihood:.2f}, at lifetimes' {ll_theirs:.2f}")
        print(f"  ours {ours_s:.2f} s, lifetimes {ref_s:.2f} s, speed-up {ref_s / ours_s:.1f}x")
        summary.append((title, ours_s, ref_s, worst))
    if "gg" in wanted:
        print("\nGamma-Gamma")
        rep = x > 0
        ours_gg, ours_s = timed(lambda: gamma_gamma.fit(x, m))
        ref_gg, ref_s = timed(lambda: lifetimes.GammaGammaFitter().fit(x[rep], m[rep]))
        worst = compare(
            "Gamma-Gamma",
            ("p", "q", "gamma"),
            (ours_gg.p, ours_gg.q, ours_gg.gamma),
            tuple(float(ref_gg.params_[k]) for k in ("p", "q", "v")),
        )
        print(f"  ours {ours_s:.2f} s, lifetimes {ref_s:.2f} s, speed-up {ref_s / ours_s:.1f}x")
        summary.append(("Gamma-Gamma", ours_s, ref_s, worst))

    if "bgnbd" in wanted:
        model = purchase.fit("bgnbd", x, t_x, T)
        logp = np.log(np.array(model.vector))

        def all_intervals() -> None:
            point = model.expected(365.0, x, t_x, T)
            sd = intervals.log_sd(
                lambda lp: model.with_log_params(lp).expected(365.0, x, t_x, T), logp, model.log_cov
            )
            intervals.bounds(point, sd)

        _, seconds = timed(all_intervals)
        print(f"\n90 % intervals of 365-day expected purchases, all customers: {seconds:.2f} s")

    print("\nmodel        ours s  lifetimes s  speed-up  max rel. param diff")
    for title, ours_s, ref_s, worst in summary:
        print(f"{title:12s} {ours_s:6.2f} {ref_s:12.2f} {ref_s / ours_s:8.1f}x  {worst:.1e}")


if __name__ == "__main__":
    main()
