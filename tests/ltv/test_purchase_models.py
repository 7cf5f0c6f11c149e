"""MBG/NBD and Pareto/NBD against the papers and `lifetimes`; gradients; the back-test report;
the 90 % intervals' coverage on data simulated from known parameters."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import approx_fprime

from app.ltv import backtest, bgnbd, intervals, mbgnbd, paretonbd, purchase

DATA = Path(__file__).resolve().parents[1] / "data" / "cdnow_summary.csv"


@pytest.fixture(scope="module")
def cdnow() -> dict[str, np.ndarray]:
    rows = list(csv.DictReader(DATA.open()))
    return {k: np.array([float(r[k]) for r in rows]) for k in ("x", "t_x", "T")}


def test_pareto_nbd_reproduces_the_paper(cdnow: dict[str, np.ndarray]) -> None:
    p = paretonbd.fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    # Fader, Hardie & Lee (2005), "A note on deriving the Pareto/NBD model": r = 0.55,
    # alpha = 10.58, s = 0.61, beta = 11.67, log-likelihood -9595.0.
    assert (round(p.r, 2), round(p.alpha, 2), round(p.s, 2), round(p.beta, 2)) == (
        0.55,
        10.58,
        0.61,
        11.67,
    )
    assert p.log_likelihood == pytest.approx(-9595.0, abs=0.05)
    assert p.converged and p.n_customers == 2357
    assert p.log_cov is not None and np.all(np.linalg.eigvalsh(p.log_cov) > 0)


@pytest.mark.parametrize(
    ("name", "fitter"), [("mbgnbd", "ModifiedBetaGeoFitter"), ("paretonbd", "ParetoNBDFitter")]
)
def test_agrees_with_lifetimes(cdnow: dict[str, np.ndarray], name: str, fitter: str) -> None:
    import lifetimes

    x, t_x, T = cdnow["x"], cdnow["t_x"], cdnow["T"]
    np.random.seed(21)  # lifetimes' Pareto/NBD starts from a random point: see the CDNOW test
    extra = {"tol": 1e-8} if name == "paretonbd" else {}
    ref = getattr(lifetimes, fitter)().fit(x, t_x, T, **extra)
    theirs = tuple(float(ref.params_[k]) for k in purchase.PARAM_NAMES[name])
    ours = purchase.fit(name, x, t_x, T)
    np.testing.assert_allclose(ours.vector, theirs, rtol=2e-3)
    # Our likelihood is at least as high at our optimum as at theirs.
    module = {"mbgnbd": mbgnbd, "paretonbd": paretonbd}[name]
    assert ours.log_likelihood >= module.log_likelihood(theirs, x, t_x, T) - 1e-6
    at_theirs = purchase.PurchaseModel(name, theirs)  # type: ignore[arg-type]
    np.testing.assert_allclose(
        at_theirs.p_alive(x, t_x, T), ref.conditional_probability_alive(x, t_x, T), rtol=1e-6
    )
    for horizon in (1.0, 39.0, 52.0):
        np.testing.assert_allclose(
            at_theirs.expected(horizon, x, t_x, T),
            ref.conditional_expected_number_of_purchases_up_to_time(horizon, x, t_x, T),
            rtol=1e-6,
        )
    np.testing.assert_allclose(
        at_theirs.expected_new(np.array([10.0, 39.0])),
        ref.expected_number_of_purchases_up_to_time(np.array([10.0, 39.0])),
        rtol=1e-6,
    )


X = np.array([0, 1, 2, 5, 12.0, 0])
TX = np.array([0, 3.0, 10.0, 30.0, 38.0, 0])
TT = np.array([39.0, 39.0, 20.0, 38.5, 39.0, 5.0])


@settings(max_examples=25, deadline=None)
@given(r=st.floats(0.05, 5), alpha=st.floats(0.5, 50), a=st.floats(0.05, 5), b=st.floats(0.05, 5))
def test_mbgnbd_gradient_matches_finite_differences(
    r: float, alpha: float, a: float, b: float
) -> None:
    point = np.array([r, alpha, a, b])
    numeric = approx_fprime(point, lambda v: mbgnbd.log_likelihood(tuple(v), X, TX, TT), 1e-7)
    analytic = mbgnbd.gradient((r, alpha, a, b), X, TX, TT)
    np.testing.assert_allclose(analytic, numeric, rtol=2e-3, atol=2e-3)


@settings(max_examples=25, deadline=None)
@given(
    r=st.floats(0.05, 5), alpha=st.floats(0.5, 50), s=st.floats(0.05, 5), beta=st.floats(0.5, 50)
)
def test_pareto_nbd_gradient_matches_finite_differences(
    r: float, alpha: float, s: float, beta: float
) -> None:
    point = np.array([r, alpha, s, beta])
    numeric = approx_fprime(point, lambda v: paretonbd.log_likelihood(tuple(v), X, TX, TT), 1e-7)
    checked = paretonbd.gradient((r, alpha, s, beta), X, TX, TT)
    np.testing.assert_allclose(checked, numeric, rtol=2e-3, atol=2e-3)


def test_the_fast_objectives_equal_the_plain_likelihoods() -> None:
    x, t_x, T = _simulate(3000, (0.4, 20.0, 0.9, 2.5), np.random.default_rng(11))
    x, t_x, T = x, np.floor(t_x), T
    ux, ut, uT, w = bgnbd.compress(x, t_x, T)
    fast_mbg = bgnbd._Objective(ux, ut, uT, w, shift=1)
    fast_pareto = paretonbd._Objective(ux, ut, uT, w)
    for point in ([0.0, 0.0, 0.0, 0.0], [-1.0, 3.0, -0.2, 0.9], [1.2, -0.5, 2.0, 3.5]):
        logp = np.array(point)
        params = tuple(float(v) for v in np.exp(logp))
        value, grad = fast_mbg(logp)
        assert value == pytest.approx(-mbgnbd.log_likelihood(params, ux, ut, uT, w) / w.sum())
        plain = mbgnbd.gradient(params, ux, ut, uT, w) * np.exp(logp) / w.sum()
        np.testing.assert_allclose(grad, -plain, rtol=1e-8, atol=1e-12)
        value, _ = fast_pareto(logp)
        plain_ll = paretonbd.log_likelihood(params, ux, ut, uT, w) / w.sum()
        assert value == pytest.approx(-plain_ll, rel=1e-12)


def test_pareto_nbd_stays_finite_where_the_direct_2f1_overflows() -> None:
    # beta far above alpha and a frequent buyer: 2F1(k, r + x; k + 1; z) with z near 1 is
    # ~(1 - z)^(1 - r - x), beyond float range; its Euler transform is not.
    p = paretonbd.ParetoNbdParams(0.8, 1.0, 0.5, 400.0)
    x, t_x, T = np.array([300.0]), np.array([10.0]), np.array([700.0])
    ll = paretonbd.log_likelihood(p.vector, x, t_x, T)
    alive = paretonbd.p_alive(p, x, t_x, T)
    assert np.isfinite(ll) and 0.0 <= alive[0] < 1e-6


def _simulate(
    n: int, params: tuple[float, float, float, float], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BG/NBD's generative process with known parameters (ages 30-730 days)."""
    r, alpha, a, b = params
    lam = rng.gamma(r, 1 / alpha, n)
    drop = rng.beta(a, b, n)
    T = rng.integers(30, 731, n).astype(float)
    x, t_x, t = np.zeros(n), np.zeros(n), np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        t[idx] += rng.exponential(1 / lam[idx])
        bought = t[idx] <= T[idx]
        active[idx[~bought]] = False
        hit = idx[bought]
        x[hit] += 1
        t_x[hit] = t[hit]
        active[hit[rng.random(hit.size) < drop[hit]]] = False
    return x, t_x, T


def test_90_percent_intervals_cover_the_true_expectation_90_percent_of_the_time() -> None:
    """30 shops of 1,000 customers each, drawn from known parameters; each shop is fitted and
    every customer's 90 % interval of expected purchases over the next 90 days is checked
    against the expectation at the true parameters. Coverage is pooled over the shops: within
    one shop the customers share one estimation error, so a single shop is covered wholly or
    largely not at all."""
    true = (0.5, 20.0, 0.8, 2.5)
    truth_model = purchase.PurchaseModel("bgnbd", true)
    covered, total = 0, 0
    for shop in range(30):
        x, t_x, T = _simulate(1000, true, np.random.default_rng(100 + shop))
        model = purchase.fit("bgnbd", x, t_x, T)
        point = model.expected(90.0, x, t_x, T)
        sd = intervals.log_sd(
            lambda lp, model=model, x=x, t_x=t_x, T=T: model.with_log_params(lp).expected(
                90.0, x, t_x, T
            ),
            np.log(np.array(model.vector)),
            model.log_cov,
        )
        bounds = intervals.bounds(point, sd)
        assert bounds is not None
        low, high = bounds
        truth = truth_model.expected(90.0, x, t_x, T)
        covered += int(np.sum((truth >= low) & (truth <= high)))
        total += x.size
    coverage = covered / total
    assert 0.85 <= coverage <= 0.95, coverage


def test_backtest_below_the_minimum_reports_the_fallback_only() -> None:
    rng = np.random.default_rng(5)
    n = 40
    x = np.r_[np.ones(10), np.zeros(n - 10)]
    data = backtest.Data(
        x=x,
        t_x=x * 20,
        T=np.full(n, 100.0),
        x_spend=x,
        m=x * 50,
        rhythm_days=np.full(n, 30.0),
        holdout_days=rng.integers(0, 2, n).astype(float),
        holdout_spend_days=np.zeros(n),
        holdout_m=np.zeros(n),
        horizon_days=60.0,
    )
    report = backtest.run(data)
    assert report["models"] == [] and report["chosen_model"] is None
    assert report["fallback"]["model"] == "heuristic"
    assert report["fallback"]["actual_repeat_purchases"] == int(data.holdout_days.sum())
    assert "10 customers repeated" in report["reason"]
