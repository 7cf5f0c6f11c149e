"""BG/NBD and Gamma-Gamma against the papers' CDNOW estimates and an independent implementation."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import approx_fprime

from app.ltv import bgnbd, gamma_gamma

DATA = Path(__file__).resolve().parents[1] / "data" / "cdnow_summary.csv"


@pytest.fixture(scope="module")
def cdnow() -> dict[str, np.ndarray]:
    """2,357 CDNOW customers, calibration period to 1997-09-30, time in weeks (as published)."""
    rows = list(csv.DictReader(DATA.open()))
    return {k: np.array([float(r[k]) for r in rows]) for k in ("x", "t_x", "T", "zbar")}


def _sig3(value: float) -> float:
    return float(f"{value:.3g}")


def test_bgnbd_reproduces_the_paper(cdnow: dict[str, np.ndarray]) -> None:
    p = bgnbd.fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    # Fader, Hardie & Lee (2005), section 5: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426.
    assert (_sig3(p.r), _sig3(p.alpha), _sig3(p.a), _sig3(p.b)) == (0.243, 4.41, 0.793, 2.43)
    assert round(p.alpha, 3) == 4.414 and round(p.b, 3) == 2.426
    assert p.log_likelihood == pytest.approx(-9582.4, abs=0.05)
    assert p.converged and p.n_customers == 2357


def test_bgnbd_in_days_is_the_same_model(cdnow: dict[str, np.ndarray]) -> None:
    p = bgnbd.fit(cdnow["x"], cdnow["t_x"] * 7, cdnow["T"] * 7)
    assert p.alpha / 7 == pytest.approx(4.414, rel=1e-3)
    assert p.r == pytest.approx(0.243, rel=2e-3)


def test_gamma_gamma_reproduces_the_note(cdnow: dict[str, np.ndarray]) -> None:
    g = gamma_gamma.fit(cdnow["x"], cdnow["zbar"])
    # Fader & Hardie, "The Gamma-Gamma Model of Monetary Value": p = 6.25, q = 3.74, gamma = 15.44.
    assert (_sig3(g.p), _sig3(g.q), _sig3(g.gamma)) == (6.25, 3.74, 15.4)
    assert round(g.gamma, 2) == pytest.approx(15.44, abs=0.01)
    assert g.n_customers == 946


def test_agrees_with_an_independent_implementation(cdnow: dict[str, np.ndarray]) -> None:
    import lifetimes

    ref = lifetimes.BetaGeoFitter()
    ref.fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    ours = bgnbd.BgNbdParams(*(float(ref.params_[k]) for k in ("r", "alpha", "a", "b")))
    x, t_x, T = cdnow["x"], cdnow["t_x"], cdnow["T"]
    np.testing.assert_allclose(
        bgnbd.p_alive(ours, x, t_x, T),
        ref.conditional_probability_alive(x, t_x, T),
        rtol=1e-6,
    )
    for horizon in (1.0, 39.0, 52.0):
        np.testing.assert_allclose(
            bgnbd.expected_purchases(ours, horizon, x, t_x, T),
            ref.conditional_expected_number_of_purchases_up_to_time(horizon, x, t_x, T),
            rtol=1e-6,
        )
    np.testing.assert_allclose(
        bgnbd.expected_purchases_new(ours, np.array([10.0, 39.0])),
        ref.expected_number_of_purchases_up_to_time(np.array([10.0, 39.0])),
        rtol=1e-6,
    )
    gg_ref = lifetimes.GammaGammaFitter()
    repeat = x > 0
    gg_ref.fit(x[repeat], cdnow["zbar"][repeat])
    gg = gamma_gamma.GammaGammaParams(*(float(gg_ref.params_[k]) for k in ("p", "q", "v")))
    np.testing.assert_allclose(
        gamma_gamma.expected_spend(gg, x[repeat], cdnow["zbar"][repeat]),
        gg_ref.conditional_expected_average_profit(x[repeat], cdnow["zbar"][repeat]),
        rtol=1e-6,
    )


def _simulate(
    n: int, r: float, alpha: float, a: float, b: float, seed: int
) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    T = rng.integers(30, 730, n).astype(float)
    x = np.zeros(n)
    t_x = np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i]) if lam[i] > 0 else np.inf
            if t > T[i]:
                break
            x[i] += 1
            t_x[i] = np.floor(t)
            if rng.random() < p[i]:
                break
    return x, t_x, T


@pytest.mark.parametrize(
    ("n", "params"),
    [
        (2000, (0.2, 60.0, 2.0, 1.0)),  # few repeaters
        (2000, (3.0, 10.0, 0.2, 8.0)),  # almost everyone repeats
    ],
)
def test_converges_at_least_as_well_as_the_reference(n: int, params: tuple[float, ...]) -> None:
    import lifetimes

    x, t_x, T = _simulate(n, *params, seed=n)
    ours = bgnbd.fit(x, t_x, T)
    assert ours.converged
    ref = lifetimes.BetaGeoFitter()
    ref.fit(x, t_x, T)  # on these shops the reference converges: it must not raise
    ref_params = tuple(float(ref.params_[k]) for k in ("r", "alpha", "a", "b"))
    ref_ll = bgnbd.log_likelihood(ref_params, x, t_x, T)
    assert ours.log_likelihood >= ref_ll - 1e-6 * abs(ref_ll)
    assert (ours.r, ours.alpha, ours.a, ours.b) == pytest.approx(ref_params, rel=1e-3)


def test_a_tiny_shop_where_the_reference_fails_to_converge() -> None:
    """50 customers whose likelihood keeps rising as a and b grow together (a ridge to
    infinity): the reference gives up; ours stops on the ridge with a better likelihood than
    any penalised reference fit, the same purchase rate, and says it converged."""
    import lifetimes
    from lifetimes.utils import ConvergenceError

    x, t_x, T = _simulate(50, 0.5, 20.0, 1.2, 3.0, seed=50)
    with pytest.raises(ConvergenceError):
        lifetimes.BetaGeoFitter().fit(x, t_x, T)
    ours = bgnbd.fit(x, t_x, T)
    assert ours.converged and np.isfinite(ours.log_likelihood)
    assert ours.log_likelihood >= bgnbd.log_likelihood((0.5, 20.0, 1.2, 3.0), x, t_x, T)
    for penalty in (1e-4, 1e-2):
        ref = lifetimes.BetaGeoFitter(penalizer_coef=penalty)
        ref.fit(x, t_x, T)
        ref_params = tuple(float(ref.params_[k]) for k in ("r", "alpha", "a", "b"))
        assert ours.log_likelihood > bgnbd.log_likelihood(ref_params, x, t_x, T)
    light = lifetimes.BetaGeoFitter(penalizer_coef=1e-4)
    light.fit(x, t_x, T)
    assert ours.r == pytest.approx(float(light.params_["r"]), rel=1e-3)
    assert ours.alpha == pytest.approx(float(light.params_["alpha"]), rel=1e-2)


@settings(max_examples=25, deadline=None)
@given(r=st.floats(0.05, 5), alpha=st.floats(0.5, 50), a=st.floats(0.05, 5), b=st.floats(0.05, 5))
def test_analytic_gradients_match_finite_differences(
    r: float, alpha: float, a: float, b: float
) -> None:
    x = np.array([0, 1, 2, 5, 12.0])
    t_x = np.array([0, 3.0, 10.0, 30.0, 38.0])
    T = np.array([39.0, 39.0, 20.0, 38.5, 39.0])
    point = np.array([r, alpha, a, b])
    numeric = approx_fprime(point, lambda v: bgnbd.log_likelihood(tuple(v), x, t_x, T), 1e-7)
    analytic = bgnbd.gradient((r, alpha, a, b), x, t_x, T)
    np.testing.assert_allclose(analytic, numeric, rtol=2e-3, atol=2e-3)
    m = np.array([10.0, 20.0, 5.0, 40.0, 15.0])
    xs = np.array([1.0, 2.0, 3.0, 1.0, 7.0])
    g_point = np.array([r * 3, b * 2, alpha])
    numeric_gg = approx_fprime(g_point, lambda v: gamma_gamma.log_likelihood(tuple(v), xs, m), 1e-7)
    np.testing.assert_allclose(
        gamma_gamma.gradient(tuple(g_point), xs, m), numeric_gg, rtol=2e-3, atol=2e-3
    )


@settings(max_examples=50, deadline=None)
@given(x=st.integers(0, 30), t_frac=st.floats(0, 1), T=st.floats(1, 700))
def test_p_alive_is_a_probability_and_expectations_grow(x: int, t_frac: float, T: float) -> None:
    p = bgnbd.BgNbdParams(0.243, 4.414 * 7, 0.793, 2.426)
    t_x = 0.0 if x == 0 else t_frac * T
    alive = float(bgnbd.p_alive(p, x, t_x, T))
    assert 0.0 <= alive <= 1.0
    e = bgnbd.expected_purchases(p, np.array([30.0, 90.0, 365.0]), x, t_x, T)
    assert np.all(np.diff(e) >= -1e-12) and e[0] >= 0


def test_expected_purchases_stay_finite_for_frequent_buyers_over_long_horizons() -> None:
    # The direct eq. (10) overflows here (2F1 → inf times a power → 0); the value below was
    # computed with mpmath at 50 digits.
    p = bgnbd.BgNbdParams(1.836, 23.39, 0.235, 0.565)
    value = float(bgnbd.expected_purchases(p, 36500.0, 300, 189.6, 203))
    assert value == pytest.approx(0.24244368944528591, rel=1e-9)
    many = bgnbd.expected_purchases(p, np.array([30.0, 3650.0, 36500.0]), 300, 189.6, 203)
    assert np.all(np.isfinite(many)) and np.all(np.diff(many) >= 0)


def test_the_optimisers_fast_objective_equals_the_plain_likelihood() -> None:
    x, t_x, T = _simulate(3000, 0.4, 20.0, 0.9, 2.5, seed=11)
    ux, ut, uT, w = bgnbd.compress(x, t_x, T)
    fast = bgnbd._Objective(ux, ut, uT, w)
    for point in ([0.0, 0.0, 0.0, 0.0], [-1.0, 3.0, -0.2, 0.9], [1.2, -0.5, 2.0, -1.5]):
        logp = np.array(point)
        value, grad = fast(logp)
        params = tuple(float(v) for v in np.exp(logp))
        plain = bgnbd.log_likelihood(params, ux, ut, uT, w) / fast.n
        plain_grad = bgnbd.gradient(params, ux, ut, uT, w) * np.exp(logp) / fast.n
        assert value == pytest.approx(-plain, rel=1e-12)
        np.testing.assert_allclose(grad, -plain_grad, rtol=1e-9, atol=1e-12)


def test_summary_counts_utc_days() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from app.ltv.clv import summarise

    msk = timezone(timedelta(hours=3))
    # 01:00 in Moscow on the 2nd is 22:00 UTC on the 1st: the same UTC day as the first order.
    s = summarise(
        [(datetime(2025, 1, 1, 10, tzinfo=UTC), 100), (datetime(2025, 1, 2, 1, tzinfo=msk), 50)],
        datetime(2025, 2, 1, tzinfo=UTC),
    )
    assert (s.x, s.T) == (0, 31.0)
