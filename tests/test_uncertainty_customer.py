"""Per-customer uncertainty: parameter draws, the conditional purchase distribution, the time to the next
purchase and prediction intervals, for every model of the family."""

import numpy as np
import pandas as pd
import pytest

from clv_predict import BetaGeoBetaBinomModel, BetaGeoModel, GammaGammaModel
from clv_predict.exceptions import DataError
from clv_predict.models import purchase_model_class

BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


# --------------------------------------------------------------------------- parameter draws
@pytest.fixture(scope="module")
def fitted_bg(cdnow_rfm):
    return BetaGeoModel().fit(cdnow_rfm)


def test_parameter_draws_follow_the_covariance_on_the_log_scale(fitted_bg):
    draws = fitted_bg.parameter_draws(20_000, seed=1)
    assert list(draws.columns) == list(fitted_bg.params_.index)
    assert draws.index.name == "draw" and len(draws) == 20_000
    assert (draws > 0).all().all()
    logs = np.log(draws)
    np.testing.assert_allclose(logs.mean(), np.log(fitted_bg.params_), atol=0.01)
    # delta method: cov(log a, log b) = cov(a, b) / (a b)
    estimates = fitted_bg.params_.to_numpy()
    expected = fitted_bg.covariance_.to_numpy() / np.outer(estimates, estimates)
    np.testing.assert_allclose(np.cov(logs.to_numpy().T), expected, rtol=0.05, atol=5e-4)  # sampling error ~1e-4


def test_parameter_draws_are_seeded(fitted_bg):
    pd.testing.assert_frame_equal(fitted_bg.parameter_draws(10, seed=3), fitted_bg.parameter_draws(10, seed=3))
    assert not fitted_bg.parameter_draws(10, seed=3).equals(fitted_bg.parameter_draws(10, seed=4))


def test_parameter_draws_need_a_known_finite_covariance(fitted_bg):
    with pytest.raises(DataError, match="from_params"):
        BetaGeoModel.from_params(**BG).parameter_draws(10)
    with pytest.raises(DataError, match="from_params"):
        BetaGeoBetaBinomModel.from_params(alpha=1.2, beta=0.75, gamma=0.66, delta=2.8).parameter_draws(10)
    broken = fitted_bg._with_params(fitted_bg.params_)
    broken.covariance_ = fitted_bg.covariance_ * np.nan
    with pytest.raises(DataError, match="not finite"):
        broken.parameter_draws(10)
    with pytest.raises(DataError, match="n_draws"):
        fitted_bg.parameter_draws(0)


def test_parameter_draws_of_spend_discrete_and_cnbd_models(cdnow_rfm):
    spend = GammaGammaModel().fit(cdnow_rfm)
    assert list(spend.parameter_draws(5, seed=0).columns) == ["p", "q", "v"]
    donors = BetaGeoBetaBinomModel.from_params(alpha=1.2, beta=0.75, gamma=0.66, delta=2.8).simulate(3000, 6, seed=1)
    assert list(BetaGeoBetaBinomModel().fit(donors).parameter_draws(5, seed=0).columns) == [
        "alpha", "beta", "gamma", "delta"]
    cnbd = purchase_model_class("bg_cnbd_k")(k=2).fit(cdnow_rfm)
    draws = cnbd.parameter_draws(50, seed=0)
    assert list(draws.columns) == ["r", "alpha", "a", "b", "k"]
    assert (draws["k"] == 2).all() and draws["r"].std() > 0


def test_with_params_predicts_as_the_model_built_from_those_params(fitted_bg, cdnow_rfm):
    row = fitted_bg.parameter_draws(1, seed=5).iloc[0]
    moved = fitted_bg._with_params(row)
    given = BetaGeoModel.from_params(**row.to_dict(), time_unit="W")
    pd.testing.assert_series_equal(moved.expected_purchases(cdnow_rfm, 39), given.expected_purchases(cdnow_rfm, 39))
    # the original is untouched
    assert fitted_bg.params_.to_dict() != row.to_dict()
    np.testing.assert_allclose(fitted_bg._with_params(row.to_numpy()).params_, row.to_numpy())
    with pytest.raises(DataError, match="miss"):
        fitted_bg._with_params({"r": 1.0})
    with pytest.raises(DataError, match="> 0"):
        fitted_bg._with_params([1.0, -1.0, 1.0, 1.0])


# --------------------------------------------------------------------------- the conditional purchase distribution
NAMES = ["bg_nbd", "pareto_nbd", "mbg_nbd", "bg_cnbd_k", "mbg_cnbd_k"]
GIVEN = {
    "bg_nbd": BG,
    "pareto_nbd": {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669},
    "mbg_nbd": {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614},
    "bg_cnbd_k": {"r": 0.5, "alpha": 10.0, "a": 0.8, "b": 2.5, "k": 3},
    "mbg_cnbd_k": {"r": 0.5, "alpha": 10.0, "a": 0.8, "b": 2.5, "k": 2},
}
ROWS = pd.DataFrame(
    {"frequency": [0, 0, 1, 2, 5, 10, 40], "recency": [0.0, 0.0, 2.0, 30.43, 20.0, 38.0, 38.9],
     "T": [0.0, 38.86, 38.86, 38.86, 38.86, 38.86, 39.0]},
    index=pd.Index(list("abcdefg"), name="customer_id"),
)


def given(name):
    return purchase_model_class(name).from_params(**GIVEN[name], time_unit="W")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("t", [0.0, 1.0, 39.0, 260.0])
def test_conditional_pmf_sums_to_one_with_the_mean_of_expected_purchases(name, t):
    model = given(name)
    pmf = model.conditional_probability_of_n_purchases(ROWS, t, 3000)
    assert list(pmf.columns) == list(range(3001)) and pmf.columns.name == "purchases"
    assert pmf.index.equals(ROWS.index)
    assert (pmf.to_numpy() >= 0).all()
    np.testing.assert_allclose(pmf.sum(axis=1), 1.0, atol=1e-10)
    mean = pmf.to_numpy() @ pmf.columns.to_numpy(dtype=float)
    np.testing.assert_allclose(mean, model.expected_purchases(ROWS, t), rtol=1e-8, atol=1e-12)
    if t == 0:
        assert (pmf[0] == 1).all()
    # a list picks the same columns
    picked = model.conditional_probability_of_n_purchases(ROWS, t, [3, 0])
    pd.testing.assert_frame_equal(picked, pmf[[3, 0]])


def test_conditional_pmf_of_bg_nbd_equals_the_integral_of_its_definition():
    """P(X = n | x, t_x, T) as the posterior average of the model's own future given (lambda, p), integrated
    over (lambda, p) on a 2-d Gauss-Legendre grid (mpmath at 15 digits gives the same values to 1e-13)."""
    r, alpha, a, b = BG.values()
    x, t_x, T, t = 2, 30.43, 38.86, 39.0
    nodes, weights = np.polynomial.legendre.leggauss(250)
    u = (nodes + 1) / 2 * 30**r  # lambda = u^(1/r), p = v^(1/a): the prior's singularities at 0 go away
    v = (nodes + 1) / 2
    lam, p = u[:, None] ** (1 / r), v[None, :] ** (1 / a)
    weight = np.outer(weights, weights) * np.exp(-alpha * lam) * (1 - p) ** (b - 1)
    alive = (1 - p) ** x * lam**x * np.exp(-lam * T)
    dead = p * (1 - p) ** (x - 1) * lam**x * np.exp(-lam * t_x)
    from scipy.stats import poisson

    expected = []
    for n in range(4):
        mass = poisson.pmf(n, lam * t)
        future = mass if n == 0 else mass * (1 - p) ** (n - 1) + poisson.sf(n, lam * t) * p * (1 - p) ** (n - 1)
        expected.append(np.sum(weight * (alive * future + dead * (n == 0))) / np.sum(weight * (alive + dead)))
    rfm = pd.DataFrame({"frequency": [x], "recency": [t_x], "T": [T]})
    got = given("bg_nbd").conditional_probability_of_n_purchases(rfm, t, 3).iloc[0].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-7)
    # the mpmath values (15 digits, 2-d quadrature of the same definition)
    np.testing.assert_allclose(got[:3], [0.445372862082996, 0.23931893743502777, 0.14418322186458463], rtol=1e-12)


def test_conditional_pmf_of_pareto_nbd_equals_mpmath_over_the_death_time():
    mpmath = pytest.importorskip("mpmath")
    r, alpha, s, beta = GIVEN["pareto_nbd"].values()
    x, t_x, T, t = 5, 20.0, 38.86, 52.0
    model = given("pareto_nbd")
    rfm = pd.DataFrame({"frequency": [x], "recency": [t_x], "T": [T]})
    got = model.conditional_probability_of_n_purchases(rfm, t, [0, 1, 4, 12]).iloc[0].to_numpy()
    p_alive = float(model.probability_alive(rfm).iloc[0])
    R, A, B = r + x, alpha + T, beta + T

    def nb(n, tau):
        return mpmath.binomial(R + n - 1, n) * (A / (A + tau)) ** R * (tau / (A + tau)) ** n

    expected = []
    for n in (0, 1, 4, 12):
        died = mpmath.quad(lambda tau, n=n: s * B**s * (B + tau) ** (-s - 1) * nb(n, tau), [0, t])
        if_alive = (B / (B + t)) ** s * nb(n, t) + died
        expected.append(float(p_alive * if_alive + (1 - p_alive) * (n == 0)))
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def _simulate_split(model, n_customers, T, t, seed):
    """Calibration summary (to T) and holdout counts (T, T + t] of customers drawn from the model's process."""
    horizons = np.full(n_customers, T + t)
    owner, times = model._simulate_repeat_times(model._params(), horizons, np.random.default_rng(seed))
    early = times <= T
    x = np.bincount(owner[early], minlength=n_customers)
    recency = np.zeros(n_customers)
    np.maximum.at(recency, owner[early], times[early])
    holdout = np.bincount(owner[~early], minlength=n_customers)
    rfm = pd.DataFrame({"frequency": x, "recency": recency, "T": float(T)})
    rfm.index.name = "customer_id"
    return rfm, holdout


@pytest.mark.parametrize("name", NAMES)
def test_conditional_pmf_agrees_with_the_simulated_process(name):
    """Holdout counts drawn from the model's own process, against the conditional distributions of the same
    customers' exact histories, averaged by calibration frequency (0, 1, 2, 3+)."""
    model = given(name)
    rfm, holdout = _simulate_split(model, 40_000, 39.0, 39.0, seed=7)
    pmf = model.conditional_probability_of_n_purchases(rfm, 39.0, 5).to_numpy()
    for group in (rfm["frequency"] == 0, rfm["frequency"] == 1, rfm["frequency"] == 2, rfm["frequency"] >= 3):
        chosen = group.to_numpy()
        size = chosen.sum()
        predicted = pmf[chosen].mean(axis=0)
        observed = np.bincount(np.minimum(holdout[chosen], 6), minlength=7)[:6] / size
        error = np.sqrt(predicted * (1 - predicted) / size)
        assert np.all(np.abs(observed - predicted) < 4.5 * error + 1e-3), (name, size, predicted, observed)


def test_cnbd_with_k_1_is_bg_nbd_and_mbg_nbd():
    for cnbd, plain in (("bg_cnbd_k", "bg_nbd"), ("mbg_cnbd_k", "mbg_nbd")):
        one = purchase_model_class(cnbd).from_params(**GIVEN[plain], k=1)
        np.testing.assert_allclose(
            one.conditional_probability_of_n_purchases(ROWS, 39.0, 8),
            given(plain).conditional_probability_of_n_purchases(ROWS, 39.0, 8), atol=1e-13)


def test_conditional_pmf_checks_its_arguments():
    model = given("bg_nbd")
    for bad in (-1, [1.5], [], "two", [[1]]):
        with pytest.raises(DataError, match="'n'"):
            model.conditional_probability_of_n_purchases(ROWS, 39.0, bad)
    with pytest.raises(DataError, match="'t'"):
        model.conditional_probability_of_n_purchases(ROWS, -1.0, 3)


def test_bg_bb_conditional_pmf_sums_to_one_and_agrees_with_its_simulation():
    model = BetaGeoBetaBinomModel.from_params(alpha=1.204, beta=0.750, gamma=0.657, delta=2.783)
    summary = pd.DataFrame({"frequency": [0, 2, 3, 6], "recency": [0, 4, 6, 6], "T": [6, 6, 6, 6]})
    for t in (1, 5, 11):
        pmf = model.conditional_probability_of_n_purchases(summary, t, t)
        np.testing.assert_allclose(pmf.sum(axis=1), 1.0, atol=1e-12)
        np.testing.assert_allclose(pmf.to_numpy() @ np.arange(t + 1), model.expected_purchases(summary, t), rtol=1e-10)
        assert (pmf.to_numpy() >= 0).all()
    # the model's process over 6 + 5 opportunities, conditioned on the first 6 (whole numbers: exact conditioning)
    rng = np.random.default_rng(11)
    size = 200_000
    p = rng.beta(1.204, 0.750, size)
    theta = rng.beta(0.657, 2.783, size)
    alive = np.minimum(rng.geometric(theta) - 1, 11)
    bought = (rng.random((size, 11)) < p[:, None]) & (np.arange(1, 12)[None, :] <= alive[:, None])
    calibration = bought[:, :6]
    x = calibration.sum(axis=1)
    recency = np.where(x > 0, 6 - np.argmax(calibration[:, ::-1], axis=1), 0)
    holdout = bought[:, 6:].sum(axis=1)
    for pattern in ((0, 0), (2, 4), (6, 6)):
        chosen = (x == pattern[0]) & (recency == pattern[1])
        row = pd.DataFrame({"frequency": [pattern[0]], "recency": [pattern[1]], "T": [6]})
        predicted = model.conditional_probability_of_n_purchases(row, 5, 5).iloc[0].to_numpy()
        observed = np.bincount(holdout[chosen], minlength=6) / chosen.sum()
        error = np.sqrt(predicted * (1 - predicted) / chosen.sum())
        assert np.all(np.abs(observed - predicted) < 4.5 * error + 1e-3), (pattern, predicted, observed)
