"""Numbers that stay finite: heavy buyers, recency == T, T near zero, parameters at the edge, failed fits.

References are computed here with mpmath at 30 significant digits, from the
definitions (an integral over the dropout probability), not from the same
hypergeometric closed form the package uses.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from clv_predict import (
    BetaGeoModel,
    CLVModel,
    ConvergenceWarning,
    GammaGammaModel,
    ModelWarning,
    _math,
)
from clv_predict.models import _base as models_module

mp = pytest.importorskip("mpmath")

CDNOW = (0.243, 4.414, 0.793, 2.426)  # published BG/NBD estimates, weeks
# a fit on the Online Retail extract ends here: a and b at the edge of the space (a + b < 1)
EDGE = (0.82, 8.39, 1e-6, 1e-5)


def _reference_expected_if_alive(params, x, T, t):
    """E[X(T, T+t) | alive, x, T] as the integral over p ~ Beta(a, b+x) of (1 - (1 + p s)^-(r+x)) / p."""
    with mp.workdps(30):
        r, alpha, a, b = (mp.mpf(v) for v in params)
        x, T, t = mp.mpf(x), mp.mpf(T), mp.mpf(t)
        k, s, B = r + x, t / (alpha + T), b + x
        log_beta = mp.log(mp.beta(a, B))

        def g(p):
            return -mp.expm1(-k * mp.log1p(p * s)) / p if p > 0 else k * s

        def lower(u):  # p = u^(1/a) on [0, 1/2]: smooth however small a is
            p = u ** (1 / a)
            return g(p) * mp.exp((B - 1) * mp.log1p(-p) - log_beta) / a

        def upper(v):  # 1 - p = v^(1/B) on [1/2, 1]
            p = 1 - v ** (1 / B)
            return g(p) * mp.exp((a - 1) * mp.log(p) - log_beta) / B

        top = mp.mpf(2) ** (-a)
        mode = a / (a + B)
        points = sorted({mp.mpf(0), top, *[min(top, (mode * 10**j) ** a) for j in (-3, -1, 0, 1)]})
        return float(mp.quad(lower, points) + mp.quad(upper, [0, mp.mpf(2) ** (-B)]))


def _reference_log_likelihood(params, x, t_x, T):
    with mp.workdps(30):
        r, alpha, a, b = (mp.mpf(v) for v in params)
        x, t_x, T = mp.mpf(x), mp.mpf(t_x), mp.mpf(T)
        common = mp.loggamma(r + x) - mp.loggamma(r) + r * mp.log(alpha) + mp.log(mp.beta(a, b + x)) - mp.log(mp.beta(a, b))
        stay = -(r + x) * mp.log(alpha + T)
        if x == 0:
            return float(common + stay)
        leave = mp.log(a) - mp.log(b + x - 1) - (r + x) * mp.log(alpha + t_x)
        return float(common + mp.log(mp.exp(stay) + mp.exp(leave)))


EXPECTED_CASES = [
    (CDNOW, 300, 52.0, 39.0),
    (CDNOW, 1000, 52.0, 39.0),
    (CDNOW, 10_000, 78.0, 52.0),
    (CDNOW, 10_000, 520.0, 5.0),
    (CDNOW, 2, 1e-6, 52.0),  # T near zero
    (EDGE, 0, 30.0, 52.0),  # a + b < 1: 2F1 meets its pole, the closed form gives NaN
    (EDGE, 1, 30.0, 52.0),
    (EDGE, 1000, 30.0, 52.0),
    ((0.8, 8.3, 0.5, 0.3), 0, 1e-6, 52.0),
    ((0.243, 4.414, 1.0, 2.426), 300, 520.0, 5.0),  # a == 1: the closed form divides by zero
    ((0.243, 4.414, 1.0 + 1e-9, 2.426), 1000, 520.0, 5.0),  # ... or cancels catastrophically
    ((2.0, 1.0, 3.0, 50.0), 1000, 1e-6, 52.0),  # the closed form overflows
    ((50.0, 5.0, 0.2, 100.0), 10_000, 52.0, 52.0),
]


@pytest.mark.parametrize("params, x, T, t", EXPECTED_CASES)
def test_expected_purchases_of_an_alive_customer_match_high_precision(params, x, T, t):
    value = _math.bgnbd_expected_if_alive(params, x, T, t)
    r, alpha = params[0], params[1]
    assert np.isfinite(value) and 0 <= value <= (r + x) * t / (alpha + T)
    assert value == pytest.approx(_reference_expected_if_alive(params, x, T, t), rel=1e-8)


@pytest.mark.parametrize("params", [CDNOW, EDGE, (0.05, 0.1, 5.0, 0.01), (50.0, 5.0, 0.2, 100.0)])
@pytest.mark.parametrize("x", [0, 1, 300, 1000, 10_000])
def test_log_likelihood_is_finite_and_exact_for_heavy_buyers(params, x):
    T = 78.0
    for t_x in ([0.0] if x == 0 else [1e-3, 40.0, T]):  # recency == T included
        value = float(_math.bgnbd_log_likelihood(params, np.array([x]), np.array([t_x]), np.array([T]))[0])
        assert np.isfinite(value)
        assert value == pytest.approx(_reference_log_likelihood(params, x, t_x, T), rel=1e-10, abs=1e-9)


@pytest.mark.parametrize("params", [CDNOW, EDGE, (0.05, 0.1, 5.0, 0.01), (50.0, 5.0, 0.2, 100.0)])
def test_probability_alive_stays_in_range_at_the_extremes(params):
    x = np.array([0, 1, 300, 1000, 10_000, 10_000, 10_000, 5])
    T = np.array([1e-9, 52.0, 52.0, 52.0, 52.0, 52.0, 520.0, 1e-6])
    t_x = np.array([0.0, 52.0, 52.0, 51.0, 52.0, 1e-3, 1.0, 1e-6])  # recency == T, and very stale heavy buyers
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or invalid-value RuntimeWarning either
        alive = _math.bgnbd_probability_alive(params, x, t_x, T)
    assert np.all(np.isfinite(alive)) and np.all((alive >= 0) & (alive <= 1))
    r, alpha, a, b = params
    # recency == T: only the chance of dropping out right after the last purchase remains
    assert alive[4] == pytest.approx(1 / (1 + a / (b + 10_000 - 1)), rel=1e-12)


def test_expected_purchases_grow_with_the_horizon_at_the_edge_of_the_space():
    t = np.arange(0, 105, dtype=float)
    for params in (CDNOW, EDGE, (0.8, 8.3, 0.5, 0.3), (0.243, 4.414, 1.0, 2.426)):
        for x, T in ((0, 30.0), (3, 30.0), (1000, 60.0)):
            values = _math.bgnbd_expected_if_alive(params, np.full_like(t, x), np.full_like(t, T), t)
            assert np.all(np.isfinite(values)) and values[0] == 0
            assert np.all(np.diff(values) >= -1e-9 * values[-1])
    new = _math.bgnbd_unconditional_expected(EDGE, t)
    assert np.all(np.isfinite(new)) and np.all(np.diff(new) >= 0)


@pytest.mark.parametrize("x, m", [(1, 1e-6), (300, 25.0), (1000, 1e5), (10_000, 3.5)])
def test_gamma_gamma_is_finite_for_heavy_buyers(x, m):
    for params in ((6.25, 3.74, 15.44), (1e3, 1.5, 1e-3), (0.05, 50.0, 1e4)):
        ll = _math.gamma_gamma_log_likelihood(params, np.array([float(x)]), np.array([m]))[0]
        with mp.workdps(30):
            p, q, v = (mp.mpf(value) for value in params)
            X, M = mp.mpf(x), mp.mpf(m)
            reference = (
                mp.loggamma(p * X + q) - mp.loggamma(p * X) - mp.loggamma(q) + q * mp.log(v)
                + (p * X - 1) * mp.log(M) + p * X * mp.log(X) - (p * X + q) * mp.log(X * M + v)
            )
        # at p x = 1e7 the log-gamma terms are ~1.5e8 and cancel: 1e-7 is what doubles carry there
        assert np.isfinite(ll) and ll == pytest.approx(float(reference), rel=1e-9, abs=1e-7)
        spend = _math.gamma_gamma_expected_spend(params, float(x), m)
        population = params[0] * params[2] / (params[1] - 1)
        assert min(m, population) * (1 - 1e-12) <= spend <= max(m, population) * (1 + 1e-12)


@pytest.fixture(scope="module")
def heavy_rfm(cdnow_split):
    """CDNOW customers plus heavy buyers: 300, 1,000 and 10,000 repeat purchases, recency == T, T near zero."""
    extra = pd.DataFrame(
        {
            "frequency": [300, 1000, 10_000, 10_000, 1],
            "recency": [38.0, 38.0, 38.0, 0.5, 1e-6],
            "T": [38.0, 38.0, 38.0, 38.0, 1e-6],
            "monetary_value": [30.0, 12.0, 2.0, 2.0, 10.0],
        },
        index=pd.Index([-1, -2, -3, -4, -5], name="customer_id"),
    )
    rfm = pd.concat([cdnow_split[extra.columns], extra])
    rfm.attrs = {"time_unit": "W"}
    return rfm


def test_clv_forecasts_of_heavy_buyers_are_finite_and_ordered(cdnow_model, heavy_rfm):
    forecast = cdnow_model.predict(heavy_rfm, horizon=52, discount_rate=0.01)
    assert np.all(np.isfinite(forecast.to_numpy()))
    heavy = forecast.loc[[-1, -2, -3]]
    assert heavy["p_alive"].between(0.99, 1).all()
    assert heavy["expected_purchases"].is_monotonic_increasing  # more past purchases, more future ones
    # a 10,000-purchase customer silent for 37.5 weeks is gone
    assert forecast.loc[-4, "p_alive"] < 1e-100 and forecast.loc[-4, "clv"] >= 0


def test_predictions_are_finite_with_parameters_at_the_edge(cdnow_split):
    model = CLVModel().fit(cdnow_split)
    for params in (EDGE, (0.8, 8.3, 0.5, 0.3), (0.243, 4.414, 1.0, 2.426)):
        model.purchase_model_.params_ = pd.Series(params, index=["r", "alpha", "a", "b"])
        forecast = model.predict(cdnow_split.head(400), horizon=26, discount_rate=0.005)
        assert np.all(np.isfinite(forecast.to_numpy()))
        assert (forecast["p_alive"].between(0, 1)).all() and (forecast["clv"] >= 0).all()


# ------------------------------------------------------------------ fits that do not converge
def test_a_failed_start_is_retried_and_the_winner_is_reported(cdnow_split, monkeypatch):
    real = models_module._ParametricModel._minimise
    calls = []

    def fail_first(self, data, x0):
        calls.append(x0[0])
        result = real(self, data, x0)
        if len(calls) == 1:
            return models_module._Optimum(x0, False, "forced failure", 0)
        return result

    monkeypatch.setattr(models_module._ParametricModel, "_minimise", fail_first)
    model = BetaGeoModel(engine="native").fit(cdnow_split)
    assert model.convergence_["converged"] and model.convergence_["starts_tried"] == 2
    assert model.convergence_["start"] == models_module._STARTS[1] == calls[1]
    assert model.params_.round(3).to_dict() == {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def test_a_fit_that_never_converges_says_what_to_do(cdnow_split, monkeypatch):
    def never(self, data, x0):
        return models_module._Optimum(x0, False, "forced failure", 3)

    monkeypatch.setattr(models_module._ParametricModel, "_minimise", never)
    with pytest.warns(ConvergenceWarning, match=r"from any of 4 starting points .*penalizer_coef.*more customers.*time_unit"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # the Hessian warning that follows
            warnings.filterwarnings("always", message=".*did not converge", category=ConvergenceWarning)
            model = BetaGeoModel(engine="native").fit(cdnow_split)
    assert model.convergence_["converged"] is False and model.convergence_["starts_tried"] == 4


def test_q_at_most_one_warns_and_leaves_non_repeaters_without_a_spend(monkeypatch):
    rng = np.random.default_rng(0)
    frequency = rng.integers(1, 6, 300)
    rfm = pd.DataFrame(
        {"frequency": np.append(frequency, 0), "recency": np.append(frequency * 1.0, 0.0), "T": 50.0,
         "monetary_value": np.append((rng.pareto(0.7, 300) + 1) * 10, 0.0)}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*edge of the parameter space", category=ModelWarning)
        with pytest.warns(ModelWarning, match=r"q = 0\.9\d+ <= 1: the population mean spend is infinite"):
            model = GammaGammaModel(engine="native").fit(rfm)
    assert model.params_["q"] <= 1 and model.population_mean_spend_ == float("inf")
    spend = model.expected_spend(rfm)
    assert np.isnan(spend.iloc[-1]) and np.all(np.isfinite(spend.iloc[:-1]))


@pytest.mark.parametrize("params, x", [(CDNOW, 0), (CDNOW, 1), ((2.0, 1.0, 3.0, 50.0), 1000), ((50.0, 5.0, 0.2, 100.0), 10_000)])
def test_short_horizons_keep_their_relative_precision(params, x):
    value = _math.bgnbd_expected_if_alive(params, x, 52.0, 1e-6)
    assert value == pytest.approx(_reference_expected_if_alive(params, x, 52.0, 1e-6), rel=1e-8)
