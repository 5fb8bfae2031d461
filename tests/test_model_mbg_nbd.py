"""MBG/NBD (Batislam, Denizel & Filiztekin 2007): published CDNOW estimates, lifetimes as the reference
fitter, every formula against an independent computation (mpmath at 30 digits from the model's
definition: integrals over the dropout probability p and the purchase rate lambda), and the simulator."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from clv_predict import CLVModel, ModifiedBetaGeoModel, _lifetimes, load_model
from clv_predict.models import PURCHASE_MODELS, purchase_model_class
from clv_predict.models import modified_beta_geo as mbg

mp = pytest.importorskip("mpmath")

PUBLISHED = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
CDNOW = (0.525, 6.183, 0.891, 1.614)
# a + b < 1, a near 1, a below 1 and a large b, a heavy-buying population
GRID_PARAMS = [CDNOW, (0.82, 8.39, 0.3, 0.4), (0.243, 4.414, 1.0 + 1e-9, 2.426), (0.243, 4.414, 1.0, 2.426),
               (2.0, 1.0, 3.0, 50.0), (50.0, 5.0, 0.2, 100.0)]


@pytest.fixture(scope="module")
def rfm(cdnow_rfm):
    """The CDNOW calibration summary the paper figures come from, built from the raw log."""
    return cdnow_rfm


@pytest.fixture(scope="module")
def model(rfm):
    return ModifiedBetaGeoModel().fit(rfm)


# --------------------------------------------------------------------------- references from the definition
def _beta_expectation(f, a, B):
    """E[f(p)] for p ~ Beta(a, B) by mpmath quadrature, smooth however small a or large B is:
    p = u^(1/a) on [0, 1/2] and 1 - p = v^(1/B) on [1/2, 1] take the endpoint singularities away."""
    log_beta = mp.log(mp.beta(a, B))

    def lower(u):
        p = u ** (1 / a)
        return f(p) * mp.exp((B - 1) * mp.log1p(-p) - log_beta) / a

    def upper(v):
        p = 1 - v ** (1 / B)
        return f(p) * mp.exp((a - 1) * mp.log(p) - log_beta) / B

    top = mp.mpf(2) ** (-a)
    mode = a / (a + B)
    points = sorted({mp.mpf(0), top, *[min(top, (mode * 10**j) ** a) for j in (-3, -1, 0, 1)]})
    bottom = mp.mpf(2) ** (-B)
    tail_points = sorted({mp.mpf(0), bottom, *[min(bottom, ((1 - mode) * 10**j) ** B) for j in (-3, -1, 0)]})
    return mp.quad(lower, points) + mp.quad(upper, tail_points)


def _posterior_parts(params, x, t_x, T):
    """(alive part, dead part) of the likelihood as integrals over p ~ Beta(a, b) of
    (1-p)^(x+1) A(T) and p (1-p)^x A(t_x), A(s) = E_lambda[lambda^x e^(-lambda s)] for lambda ~ Gamma(r, alpha)."""
    r, alpha, a, b = (mp.mpf(v) for v in params)
    x, t_x, T = mp.mpf(x), mp.mpf(t_x), mp.mpf(T)

    def A(s):
        return mp.exp(mp.loggamma(r + x) - mp.loggamma(r) + r * mp.log(alpha) - (r + x) * mp.log(alpha + s))

    def expectation(f):
        return _beta_expectation(f, a, b)

    alive = A(T) * expectation(lambda p: (1 - p) ** (x + 1))
    dead = A(t_x) * expectation(lambda p: p * (1 - p) ** x)
    return alive, dead


def _reference_expected_if_alive(params, x, T, t):
    """Integral over p ~ Beta(a, b + x + 1) (the posterior of an alive customer) of (1 - (1 + p s)^-(r+x)) / p."""
    with mp.workdps(30):
        r, alpha, a, b = (mp.mpf(v) for v in params)
        x, T, t = mp.mpf(x), mp.mpf(T), mp.mpf(t)
        k, s = r + x, t / (alpha + T)

        def g(p):
            return -mp.expm1(-k * mp.log1p(p * s)) / p if p > 0 else k * s

        return float(_beta_expectation(g, a, b + x + 1))


def _reference_probability_of_n(params, t, n):
    """P(X(t) = n) by summing over the number J ~ Geometric(p) on 0, 1, ... of purchases he may make:
    n < J needs n Poisson arrivals, n = J at least n; averaged over p and lambda with mpmath."""
    with mp.workdps(20):
        r, alpha, a, b = (mp.mpf(v) for v in params)
        t, n = mp.mpf(t), int(n)
        q = t / (alpha + t)

        def nbd(j):
            return mp.exp(mp.loggamma(r + j) - mp.loggamma(r) - mp.loggamma(j + 1) + r * mp.log(1 - q) + j * mp.log(q))

        with mp.workdps(100):  # the tail is 1 minus a sum close to 1
            tail = 1 - mp.fsum(nbd(j) for j in range(n))
        # E[P(J > n)] = E[(1-p)^(n+1)], E[P(J = n)] = E[p (1-p)^n]
        more = _beta_expectation(lambda p: (1 - p) ** (n + 1), a, b)
        exactly = _beta_expectation(lambda p: p * (1 - p) ** n, a, b)
        return float(more * nbd(n) + exactly * tail)


# --------------------------------------------------------------------------- published figures
def test_reproduces_the_published_cdnow_estimates(model, rfm):
    assert "mbg_nbd" in PURCHASE_MODELS and purchase_model_class("mbg_nbd") is ModifiedBetaGeoModel
    assert model.params_.round(3).to_dict() == PUBLISHED
    # lifetimes' ModifiedBetaGeoFitter._negative_log_likelihood on the same rows gives -9582.1357 here too
    assert model.log_likelihood_ == pytest.approx(-9582.1357, abs=1e-4)
    assert model.n_customers_ == 2357 and model.n_repeat_customers_ == 946
    assert model.convergence_["converged"] and model.convergence_["gradient_norm"] < 1e-5
    assert model.name == "mbg_nbd" and model.label == "MBG/NBD" and model.time_unit_ == "W"


def test_native_engine_equals_lifetimes_on_cdnow(model, rfm):
    reference = ModifiedBetaGeoModel(engine="lifetimes").fit(rfm)
    np.testing.assert_allclose(model.params_, reference.params_, rtol=1e-5)
    assert model.log_likelihood_ == pytest.approx(reference.log_likelihood_, abs=1e-6)
    # one row per customer, straight through lifetimes (no compression), lands on the same optimum
    row_per_customer = _lifetimes.fit_mbgnbd(
        rfm["frequency"].to_numpy(), rfm["recency"].to_numpy(), rfm["T"].to_numpy(), np.ones(len(rfm)), 0.0
    )
    np.testing.assert_allclose(model.params_.to_numpy(), row_per_customer, rtol=1e-5)


def test_log_likelihood_equals_lifetimes_own_formula(rfm):
    with _lifetimes._contained():
        from lifetimes import ModifiedBetaGeoFitter

        theirs = -ModifiedBetaGeoFitter._negative_log_likelihood(
            np.log(np.array(CDNOW)), rfm["frequency"].to_numpy(), rfm["recency"].to_numpy(), rfm["T"].to_numpy(),
            np.ones(len(rfm)), 0.0,
        ) * len(rfm)
    ours = mbg.log_likelihood(CDNOW, rfm["frequency"], rfm["recency"], rfm["T"]).sum()
    assert ours == pytest.approx(float(theirs), rel=1e-12)


def test_predictions_equal_lifetimes_closed_forms(model, rfm):
    with _lifetimes._contained():
        from lifetimes import ModifiedBetaGeoFitter

        fitter = ModifiedBetaGeoFitter()
        fitter.params_ = model.params_.copy()
        x, t_x, T = (rfm[c].to_numpy() for c in ("frequency", "recency", "T"))
        alive = fitter.conditional_probability_alive(x, t_x, T)
        expected = fitter.conditional_expected_number_of_purchases_up_to_time(39.0, x, t_x, T)
        new = fitter.expected_number_of_purchases_up_to_time(np.array([1.0, 39.0, 78.0]))
        pmf = np.array([fitter.probability_of_n_purchases_up_to_time(39.0, n) for n in range(12)])
    np.testing.assert_allclose(model.probability_alive(rfm), alive, rtol=1e-12)
    np.testing.assert_allclose(model.expected_purchases(rfm, 39), expected, rtol=1e-10)
    np.testing.assert_allclose(model.expected_purchases_new_customer(np.array([1.0, 39.0, 78.0])), new, rtol=1e-10)
    np.testing.assert_allclose(model.probability_of_n_purchases(39, np.arange(12)), pmf, rtol=1e-10)


# --------------------------------------------------------------------------- formulas against mpmath
@pytest.mark.parametrize("params", GRID_PARAMS[:2] + GRID_PARAMS[5:])
@pytest.mark.parametrize("x, t_x, T", [(0, 0.0, 38.86), (0, 0.0, 1e-6), (1, 0.5, 52.0), (7, 51.9, 52.0), (300, 40.0, 78.0)])
def test_log_likelihood_and_probability_alive_match_the_definition(params, x, t_x, T):
    with mp.workdps(20):
        alive, dead = _posterior_parts(params, x, t_x, T)
        log_likelihood, p_alive = float(mp.log(alive + dead)), float(alive / (alive + dead))
    assert float(mbg.log_likelihood(params, x, t_x, T)) == pytest.approx(log_likelihood, rel=1e-10, abs=1e-10)
    assert float(mbg.probability_alive(params, x, t_x, T)) == pytest.approx(p_alive, rel=1e-10, abs=1e-14)


@pytest.mark.parametrize("params", GRID_PARAMS[:2] + GRID_PARAMS[4:])
@pytest.mark.parametrize("x", [1_000, 10_000])
def test_log_likelihood_and_probability_alive_of_heavy_buyers(params, x):
    r, alpha, a, b = params
    for t_x, T in ((1e-3, 78.0), (40.0, 78.0), (78.0, 78.0)):
        with mp.workdps(30):
            R, A, Aa, B, X = (mp.mpf(v) for v in (r, alpha, a, b, x))
            common = mp.loggamma(R + X) - mp.loggamma(R) + R * mp.log(A) + mp.log(mp.beta(Aa, B + X + 1) / mp.beta(Aa, B))
            stay, leave = -(R + X) * mp.log(A + T), mp.log(Aa / (B + X)) - (R + X) * mp.log(A + t_x)
            reference = common + mp.log(mp.exp(stay) + mp.exp(leave))
            p_alive = 1 / (1 + mp.exp(leave - stay))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            value = float(mbg.log_likelihood(params, x, t_x, T))
            alive = float(mbg.probability_alive(params, x, t_x, T))
        assert value == pytest.approx(float(reference), rel=1e-10, abs=1e-8)
        assert alive == pytest.approx(float(p_alive), rel=1e-10, abs=1e-300)


EXPECTED_CASES = [
    (CDNOW, 0, 38.86, 39.0),
    (CDNOW, 2, 38.86, 39.0),
    (CDNOW, 300, 52.0, 39.0),
    (CDNOW, 10_000, 78.0, 52.0),
    (CDNOW, 10_000, 520.0, 5.0),
    (CDNOW, 2, 52.0, 1e-6),  # tiny horizon: 1 - 2F1(...) cancels
    (CDNOW, 0, 0.0, 1e-9),
    ((0.82, 8.39, 0.3, 0.4), 0, 30.0, 52.0),  # a + b < 1
    ((0.82, 8.39, 1e-4, 1e-3), 0, 30.0, 52.0),
    ((0.82, 8.39, 0.3, 0.4), 1000, 30.0, 52.0),
    ((0.243, 4.414, 1.0, 2.426), 300, 520.0, 5.0),  # a == 1: the closed form divides by zero
    ((0.243, 4.414, 1.0 + 1e-9, 2.426), 0, 20.0, 5.0),  # ... or cancels catastrophically
    ((0.243, 4.414, 1.02, 2.426), 10_000, 20.0, 5.0),
    ((2.0, 1.0, 3.0, 50.0), 1000, 1e-6, 52.0),
    ((50.0, 5.0, 0.2, 100.0), 10_000, 52.0, 52.0),
]


@pytest.mark.parametrize("params, x, T, t", EXPECTED_CASES)
def test_expected_purchases_of_an_alive_customer_match_high_precision(params, x, T, t):
    value = mbg.expected_if_alive(params, x, T, t)
    r, alpha = params[0], params[1]
    assert np.isfinite(value) and 0 <= value <= (r + x) * t / (alpha + T)
    assert value == pytest.approx(_reference_expected_if_alive(params, x, T, t), rel=1e-8)


@pytest.mark.parametrize("params", GRID_PARAMS[:4])
def test_new_customer_expectation_matches_the_definition(params):
    r, alpha, a, b = params
    for t in (1e-6, 39.0):
        # alive after the first purchase with probability E[1 - p] = b / (a + b), then an alive customer with x = 0
        reference = b / (a + b) * _reference_expected_if_alive(params, 0, 0.0, t)
        assert mbg.expected_new_customer(params, t) == pytest.approx(reference, rel=1e-8)


@pytest.mark.parametrize(
    "params, t", [(CDNOW, 0.5), (CDNOW, 39.0), ((0.82, 8.39, 0.3, 0.4), 200.0), ((2.0, 1.0, 3.0, 50.0), 39.0)]
)
def test_purchase_distribution_matches_the_definition(params, t):
    n = np.array([0, 1, 5, 39])
    references = [_reference_probability_of_n(params, t, k) for k in n]
    np.testing.assert_allclose(mbg.probability_of_n_purchases(params, t, n), references, rtol=1e-9, atol=1e-300)


@pytest.mark.parametrize("params", [CDNOW, (0.82, 8.39, 0.3, 0.4), (2.0, 1.0, 3.0, 50.0)])
@pytest.mark.parametrize("t", [0.5, 39.0, 200.0])
def test_purchase_distribution_sums_to_one_and_has_the_expected_mean(params, t):
    # far enough out, the tail holds all but a negligible mass
    n = np.arange(0, 200_000)
    values = mbg.probability_of_n_purchases(params, t, n)
    assert np.all(values >= 0)
    assert values.sum() == pytest.approx(1.0, abs=2e-6)
    mean = n @ values
    assert mean == pytest.approx(mbg.expected_new_customer(params, t), rel=1e-3)


def test_one_time_buyers_may_have_dropped_out(model, rfm):
    """The BG/NBD trap: there a customer without repeat purchases is alive for sure, however long ago he came."""
    alive = model.probability_alive(rfm)
    one_time = rfm["frequency"] == 0
    assert (alive[one_time] < 1).all() and (alive >= 0).all() and (alive <= 1).all()
    r, alpha, a, b = model.params_
    # just after the first purchase he has survived one chance to leave with probability b / (a + b)
    assert float(mbg.probability_alive(model.params_, 0, 0.0, 0.0)) == pytest.approx(b / (a + b), rel=1e-14)
    # the longer he stays silent, the less likely he is still there
    T = np.array([0.0, 1.0, 10.0, 100.0, 1000.0])
    assert np.all(np.diff(mbg.probability_alive(model.params_, 0, 0.0, T)) < 0)


# --------------------------------------------------------------------------- compressed rows
def test_rows_value_and_gradient_are_exact():
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.integers(0, 15, 40), [0, 0, 300, 1000, 10_000]]).astype(float)
    T = np.concatenate([rng.uniform(0.2, 1.0, 40), [1.0, 1e-6, 1.0, 0.9, 1.0]])
    t_x = np.where(x > 0, T * rng.uniform(0, 1, x.size), 0.0)
    t_x[-1] = T[-1]  # recency == T
    weights = rng.integers(1, 5, x.size).astype(float)
    rows = mbg.ModifiedBetaGeoRows(x, t_x, T, weights)
    for params in (np.array([0.525, 0.15, 0.891, 1.614]), np.array([2.0, 0.03, 3.0, 50.0]), np.array([0.8, 0.2, 0.3, 0.4])):
        assert rows.value(params) == pytest.approx(weights @ mbg.log_likelihood(params, x, t_x, T), rel=1e-12)

        with mp.workdps(30):
            def total(*p):
                R, A, Aa, B = p
                out = mp.mpf(0)
                for xi, ti, Ti, wi in zip(x, t_x, T, weights):
                    X = mp.mpf(xi)
                    stay = -(R + X) * mp.log(A + mp.mpf(Ti))
                    leave = mp.log(Aa / (B + X)) - (R + X) * mp.log(A + mp.mpf(ti))
                    out += wi * (
                        mp.loggamma(R + X) - mp.loggamma(R) + R * mp.log(A) + mp.loggamma(B + X + 1) - mp.loggamma(Aa + B + X + 1)
                        + mp.loggamma(Aa + B) - mp.loggamma(B) + mp.log(mp.exp(stay) + mp.exp(leave))
                    )
                return out

            point = [mp.mpf(v) for v in params]
            reference = []
            for i in range(4):
                order = [0] * 4
                order[i] = 1
                reference.append(float(mp.diff(total, point, tuple(order))))
        np.testing.assert_allclose(rows.gradient(params), reference, rtol=1e-9)


def test_compressed_refit_with_weights_equals_the_row_per_customer_fit(model, rfm):
    counts = rfm.groupby(["frequency", "recency", "T"]).size().rename("n").reset_index()
    counts.attrs.update(rfm.attrs)
    refit = ModifiedBetaGeoModel().fit(counts, weights="n")
    np.testing.assert_allclose(refit.params_, model.params_, rtol=1e-7)
    assert refit.log_likelihood_ == pytest.approx(model.log_likelihood_, rel=1e-10)
    assert refit.n_customers_ == model.n_customers_


# --------------------------------------------------------------------------- simulation
def test_simulated_customers_recover_the_parameters(model):
    truth = ModifiedBetaGeoModel.from_params(**model.params_, time_unit="W")
    T = np.random.default_rng(3).uniform(27.0, 78.0, 20_000)
    simulated = truth.simulate(20_000, T, seed=11)
    assert (simulated["recency"] <= simulated["T"]).all() and ((simulated["frequency"] > 0) | (simulated["recency"] == 0)).all()
    fitted = ModifiedBetaGeoModel().fit(simulated)
    z = (fitted.params_ - truth.params_) / fitted.standard_errors_
    assert (z.abs() < 3).all(), z.to_dict()


def test_simulated_counts_have_the_expected_mean_and_distribution(model):
    truth = ModifiedBetaGeoModel.from_params(**model.params_, time_unit="W")
    simulated = truth.simulate(40_000, 39.0, seed=5)["frequency"]
    expected = truth.expected_purchases_new_customer(39.0)
    assert abs(simulated.mean() - expected) < 4 * simulated.std() / np.sqrt(simulated.size)
    observed = np.bincount(simulated, minlength=4)[:4] / simulated.size
    pmf = truth.probability_of_n_purchases(39.0, np.arange(4))
    assert np.all(np.abs(observed - pmf) < 4 * np.sqrt(pmf * (1 - pmf) / simulated.size))


def test_simulation_survives_dropout_probabilities_of_zero():
    # a tiny a draws p == 0 in double precision: such a customer never leaves
    model = ModifiedBetaGeoModel.from_params(r=1.0, alpha=1.0, a=1e-3, b=1.0, time_unit="W")
    simulated = model.simulate(2_000, 10.0, seed=2)
    assert (simulated["frequency"] >= 0).all() and simulated["frequency"].sum() > 0


# --------------------------------------------------------------------------- the whole package
def test_clv_model_fits_predicts_saves_and_loads(cdnow_split, tmp_path):
    clv = CLVModel(purchase_model="mbg_nbd").fit(cdnow_split)
    assert isinstance(clv.purchase_model_, ModifiedBetaGeoModel)
    assert clv.purchase_model_.params_.round(3).to_dict() == PUBLISHED
    predicted = clv.predict(cdnow_split, horizon=52, discount_rate=0.01)
    assert (predicted["p_alive"] < 1).all() and (predicted["clv"] >= 0).all()
    path = tmp_path / "mbg.joblib"
    clv.save(path)
    loaded = load_model(path)
    pd.testing.assert_frame_equal(loaded.predict(cdnow_split, horizon=52, discount_rate=0.01), predicted)
    again = ModifiedBetaGeoModel.from_params(**clv.purchase_model_.params_, time_unit="W")
    np.testing.assert_allclose(again.expected_purchases(cdnow_split, 39), clv.expected_purchases(cdnow_split, 39), rtol=1e-14)
    assert again._dropout_distribution(again._params())[0].mean() == pytest.approx(0.891 / (0.891 + 1.614), rel=1e-3)


def test_expected_purchases_grow_with_the_horizon(model, rfm):
    t = np.arange(0, 105, dtype=float)
    for params in (CDNOW, (0.82, 8.39, 0.3, 0.4), (0.243, 4.414, 1.0, 2.426)):
        for x, T in ((0, 30.0), (3, 30.0), (1000, 60.0)):
            values = mbg.expected_if_alive(params, np.full_like(t, x), np.full_like(t, T), t)
            assert np.all(np.isfinite(values)) and values[0] == 0
            assert np.all(np.diff(values) >= -1e-9 * values[-1])
        new = mbg.expected_new_customer(params, t)
        assert np.all(np.isfinite(new)) and new[0] == 0 and np.all(np.diff(new) >= 0)


@pytest.mark.parametrize("params", [(0.47, 6.25, 0.9758, 3.18), (2.0, 1.0, 0.99, 0.5), (0.5, 10.0, 1.03, 20.0)])
def test_expected_if_alive_near_a_1_one_rule_per_group_equals_two_rules_per_cell(params):
    """With a near 1 every cell leaves the closed form for Gauss-Jacobi: one rule per distinct x, chosen at its
    hardest cell (the largest t / (alpha + T)), gives what the 48- and 96-point rules compared per cell give."""
    from clv_predict import _math

    rng = np.random.default_rng(1)
    x, T = rng.integers(0, 60, 500).astype(float), rng.uniform(0, 78, 500)
    t = rng.choice([1.0, 13.0, 52.0, 520.0], 500)
    fast = _math.bgnbd_expected_if_alive(params, x, T, t)
    saved, _math._GROUP_RULES = _math._GROUP_RULES, ()
    try:
        per_cell = _math.bgnbd_expected_if_alive(params, x, T, t)
    finally:
        _math._GROUP_RULES = saved
    np.testing.assert_allclose(fast, per_cell, rtol=1e-12)
