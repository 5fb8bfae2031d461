"""Per-customer uncertainty: parameter draws, the conditional purchase distribution, the time to the next
purchase and prediction intervals, for every model of the family."""

import warnings

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


def _first_holdout_purchase(model, n_customers, T, t, seed):
    """Calibration summary and the time from T to the first purchase after T (inf if none by T + t)."""
    horizons = np.full(n_customers, T + t)
    owner, times = model._simulate_repeat_times(model._params(), horizons, np.random.default_rng(seed))
    early = times <= T
    rfm, _ = _simulate_split(model, n_customers, T, t, seed)
    first = np.full(n_customers, np.inf)
    np.minimum.at(first, owner[~early], times[~early] - T)
    return rfm, first


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
        np.testing.assert_allclose(one.probability_alive_at(ROWS, 52.0), given(plain).probability_alive_at(ROWS, 52.0),
                                   atol=1e-13)
        pd.testing.assert_frame_equal(one.time_to_next_purchase(ROWS), given(plain).time_to_next_purchase(ROWS))


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


# --------------------------------------------------------------------------- future P(alive), next purchase
@pytest.mark.parametrize("name", NAMES)
def test_future_p_alive_starts_at_p_alive_and_falls(name):
    model = given(name)
    now = model.probability_alive(ROWS)
    pd.testing.assert_series_equal(model.probability_alive_at(ROWS, 0.0), now.rename("p_alive_at"))
    later = [model.probability_alive_at(ROWS, t).to_numpy() for t in (1.0, 39.0, 520.0)]
    assert np.all(np.diff(np.vstack([now.to_numpy(), *later]), axis=0) <= 1e-12)
    assert np.all((later[-1] >= 0) & (later[-1] <= 1))


@pytest.mark.parametrize("name, shift", [("bg_nbd", 0.0), ("mbg_nbd", 1.0)])
def test_future_p_alive_of_bg_models_equals_its_integral(name, shift):
    """Alive at T, he is alive at T + t if no purchase in between was his last: E[exp(-lambda t p)] over the
    posterior lambda ~ Gamma(r + x, alpha + T), p ~ Beta(a, b + x (+ 1)), i.e. E_p[(A / (A + t p))^R]."""
    from scipy import integrate, stats

    model = given(name)
    r, alpha, a, b = GIVEN[name].values()
    t = 52.0
    got = model.probability_alive_at(ROWS, t).to_numpy()
    alive = model.probability_alive(ROWS).to_numpy()
    for i, (x, T) in enumerate(zip(ROWS["frequency"], ROWS["T"])):
        R, A, B = r + x, alpha + T, b + x + shift
        value = integrate.quad(lambda p, A=A, B=B, R=R: stats.beta.pdf(p, a, B) * (A / (A + t * p)) ** R, 0, 1, epsabs=0,
                               epsrel=1e-12, limit=200)[0]
        assert got[i] == pytest.approx(alive[i] * value, rel=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_time_to_next_purchase_is_consistent(name):
    model = given(name)
    table = model.time_to_next_purchase(ROWS)
    assert list(table.columns) == ["p_never", "median_if_purchase", "mean_if_purchase"]
    assert ((table["p_never"] >= 0) & (table["p_never"] <= 1)).all()
    if name != "pareto_nbd":  # a BG customer alive at T buys again for sure
        np.testing.assert_allclose(table["p_never"], 1 - model.probability_alive(ROWS), atol=1e-12)
    # the distribution: P(within t) is P(at least one purchase in t), and its limit is 1 - p_never
    within = model.next_purchase_cdf(ROWS, [39.0, 1e200])
    np.testing.assert_allclose(within[39.0], model.probability_of_purchase(ROWS, 39.0), atol=1e-10)
    np.testing.assert_allclose(within[1e200], 1 - table["p_never"], atol=1e-9)
    p_ever = 1 - table["p_never"].to_numpy()
    columns = [ROWS[c].to_numpy() for c in ("frequency", "recency", "T")]
    median = table["median_if_purchase"].to_numpy()
    at_median = model._next_purchase_values(model._params(), *columns, median[:, None])[1][:, 0]
    np.testing.assert_allclose(at_median, 0.5, rtol=1e-8)
    np.testing.assert_allclose(model.next_purchase_cdf(ROWS.iloc[[3]], [median[3]]).iloc[0, 0], 0.5 * p_ever[3])
    # E[W | it comes] = integral of P(W > w | it comes) dw, by the trapezoid rule in log w, on the customers
    # whose waiting time has a light enough tail for the integral to end by w = e^25 (where the rounding of
    # 1 - cdf, times w, is still below 1e-5)
    u = np.linspace(-25.0, 25.0, 8_001)
    w = np.exp(u)
    survival = 1 - model._next_purchase_values(model._params(), *columns, np.broadcast_to(w, (len(ROWS), w.size)))[1]
    integral = np.sum((survival * w)[:, :-1] + (survival * w)[:, 1:], axis=1) / 2 * (u[1] - u[0])
    mean = table["mean_if_purchase"].to_numpy()
    finite = np.isfinite(mean) & (mean < 30)
    assert finite.sum() >= 3
    np.testing.assert_allclose(mean[finite], integral[finite], rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_time_to_next_purchase_agrees_with_the_simulated_process(name):
    model = given(name)
    rfm, first = _first_holdout_purchase(model, 30_000, 39.0, 39.0, seed=5)
    cdf = model.next_purchase_cdf(rfm, [2.0, 10.0, 39.0]).to_numpy()
    for group in (rfm["frequency"] == 0, rfm["frequency"] == 1, rfm["frequency"] >= 2):
        chosen = group.to_numpy()
        size = chosen.sum()
        predicted = cdf[chosen].mean(axis=0)
        observed = np.array([(first[chosen] <= w).mean() for w in (2.0, 10.0, 39.0)])
        error = np.sqrt(predicted * (1 - predicted) / size)
        assert np.all(np.abs(observed - predicted) < 4.5 * error + 1e-3), (name, predicted, observed)


def test_next_purchase_cdf_checks_its_times():
    with pytest.raises(DataError, match="'times'"):
        given("bg_nbd").next_purchase_cdf(ROWS, [-1.0])


# --------------------------------------------------------------------------- prediction intervals
def test_predict_bounds_without_parameter_uncertainty_are_the_quantiles_of_the_conditional_pmf():
    model = given("bg_nbd")
    with pytest.warns(Warning, match="parameter uncertainty"):
        frame = model.predict(ROWS, horizon=52.0, interval=0.8)
    assert frame["purchases_ci_lower"].isna().all() and frame.attrs["n_draws"] is None
    cdf = model.conditional_probability_of_n_purchases(ROWS, 52.0, 3000).cumsum(axis=1).to_numpy()
    np.testing.assert_array_equal(frame["purchases_lower"], np.argmax(cdf >= 0.1 - 1e-12, axis=1))
    np.testing.assert_array_equal(frame["purchases_upper"], np.argmax(cdf >= 0.9 - 1e-12, axis=1))
    pd.testing.assert_series_equal(frame["expected_purchases"], model.expected_purchases(ROWS, 52.0),
                                   check_names=False)


@pytest.fixture(scope="module")
def simulated_split():
    truth = given("bg_nbd")
    rfm, holdout = _simulate_split(truth, 20_000, 39.0, 39.0, seed=21)
    rfm.attrs["time_unit"] = "W"
    return BetaGeoModel().fit(rfm), rfm, holdout


def test_predict_bounds_bracket_the_forecast_and_are_seeded(simulated_split):
    model, rfm, _ = simulated_split
    frame = model.predict(rfm.iloc[:2000], horizon=39.0, interval=0.9, seed=4)
    assert list(frame.columns) == ["expected_purchases", "p_alive", "purchases_lower", "purchases_upper",
                                   "purchases_ci_lower", "purchases_ci_upper"]
    assert (frame["purchases_lower"] <= frame["purchases_upper"]).all()
    assert (frame["purchases_ci_lower"] <= frame["expected_purchases"] * (1 + 1e-9)).mean() > 0.99
    assert (frame["purchases_ci_upper"] >= frame["expected_purchases"] * (1 - 1e-9)).mean() > 0.99
    assert (frame["purchases_ci_upper"] - frame["purchases_ci_lower"] > 0).all()
    again = model.predict(rfm.iloc[:2000], horizon=39.0, interval=0.9, seed=4)
    pd.testing.assert_frame_equal(frame, again)
    wider = model.predict(rfm.iloc[:2000], horizon=39.0, interval=0.99, seed=4)
    assert (wider["purchases_upper"] >= frame["purchases_upper"]).all()
    assert (wider["purchases_ci_upper"] >= frame["purchases_ci_upper"]).all()
    for bad in (0, 1, 1.5, "0.9", True):
        with pytest.raises(DataError, match="'interval'"):
            model.predict(rfm.iloc[:10], horizon=39.0, interval=bad)


def test_predictive_purchase_bounds_cover_simulated_holdouts(simulated_split):
    """Calibration and holdout drawn together from the process, the model fitted on the calibration: the 90%
    and 80% bounds cover at least their share of customers, overall and by calibration frequency."""
    model, rfm, holdout = simulated_split
    for level in (0.8, 0.9):
        frame = model.predict(rfm, horizon=39.0, interval=level)
        inside = (holdout >= frame["purchases_lower"]) & (holdout <= frame["purchases_upper"])
        assert inside.mean() >= level
        for group in (rfm["frequency"] == 0, rfm["frequency"].between(1, 3), rfm["frequency"] >= 4):
            assert inside[group.to_numpy()].mean() >= level - 0.02, (level, inside[group.to_numpy()].mean())


@pytest.fixture(scope="module")
def simulated_log_split():
    from clv_predict import CLVModel, rfm_train_test_split
    from clv_predict.synthetic import simulate_transactions

    log = simulate_transactions(30_000, seed=3, acquisition_days=365, observation_days=365 + 273)
    split = rfm_train_test_split(
        log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
        train_period_end=pd.Timestamp("2020-12-31"), test_period_end=log["date"].max(), time_unit="W",
    )
    with warnings.catch_warnings():  # what the fit may say of a simulated log is not this test's subject
        warnings.simplefilter("ignore")
        model = CLVModel().fit(split)
    return model, split


def test_predictive_value_bounds_cover_simulated_holdout_value(simulated_log_split):
    """The value bounds (moment matching) on a simulated log: the holdout spend lies above the upper bound
    for about the nominal tail share, below the lower bound for at most it (the lower bound is 0 for most
    customers: no purchase is likely), so the interval covers at least its level, overall and by frequency."""
    model, split = simulated_log_split
    value = (split["test_frequency"] * split["test_monetary_value"]).to_numpy()
    horizon = round(float(split["test_T"].iloc[0]))
    for level in (0.8, 0.9):
        frame = model.predict(split, horizon=horizon, interval=level)
        above = value > frame["clv_upper"].to_numpy()
        below = value < frame["clv_lower"].to_numpy() - 1e-9
        tail = (1 - level) / 2
        assert tail - 0.03 <= above.mean() <= tail + 0.01, (level, above.mean())
        assert below.mean() <= tail
        inside = ~(above | below)
        assert inside.mean() >= level
        for group in (split["frequency"] == 0, split["frequency"].between(1, 3), split["frequency"] >= 4):
            assert inside[group.to_numpy()].mean() >= level - 0.02


def test_clv_model_bounds_have_their_names_and_bracket_the_forecast(simulated_log_split):
    model, split = simulated_log_split
    part = split.iloc[:3000]
    plain = model.predict(part, horizon=39, discount_rate=0.002, margin=0.3)
    frame = model.predict(part, horizon=39, discount_rate=0.002, margin=0.3, interval=0.9, n_draws=200, seed=1)
    assert list(frame.columns) == [*plain.columns, "purchases_lower", "purchases_upper", "clv_lower", "clv_upper",
                                   "purchases_ci_lower", "purchases_ci_upper", "clv_ci_lower", "clv_ci_upper"]
    pd.testing.assert_frame_equal(frame[plain.columns], plain)
    assert frame.attrs["interval"] == 0.9 and frame.attrs["n_draws"] == 200
    assert (frame["clv_lower"] <= frame["clv"]).all() and (frame["clv_lower"] <= frame["clv_upper"]).all()
    # the upper bound is above the forecast, or 0 for a customer who most likely buys nothing any more
    assert ((frame["clv"] <= frame["clv_upper"]) | (frame["clv_upper"] == 0)).all()
    assert (frame["clv_upper"] == 0).mean() < 0.2
    assert ((frame["clv_ci_lower"] <= frame["clv"] * (1 + 1e-9)) & (frame["clv"] * (1 - 1e-9) <= frame["clv_ci_upper"])).mean() > 0.99
    # confidence bounds are far narrower than predictive ones: a customer's future is less sure than her mean
    buying = frame["clv_upper"] > 0
    assert ((frame["clv_ci_upper"] - frame["clv_ci_lower"]) < (frame["clv_upper"] - frame["clv_lower"]))[buying].all()


def test_sigma_point_confidence_bounds_agree_with_sampled_draws(simulated_log_split):
    """The default confidence bounds (unscented transform over the sigma points) against the same log-normal
    bounds from 1,500 sampled parameter vectors: the same to sampling error."""
    model, split = simulated_log_split
    part = split.iloc[:2000]
    sigma = model.predict(part, horizon=39, discount_rate=0.002, margin=0.3, interval=0.9)
    drawn = model.predict(part, horizon=39, discount_rate=0.002, margin=0.3, interval=0.9, n_draws=1500, seed=2)
    for column in ("purchases_ci_lower", "purchases_ci_upper", "clv_ci_lower", "clv_ci_upper"):
        np.testing.assert_allclose(sigma[column], drawn[column], rtol=0.015)
    # and the width against the spread of the forecast itself over the draws
    pd.testing.assert_frame_equal(sigma.drop(columns=[c for c in sigma if "_ci_" in c]),
                                  drawn.drop(columns=[c for c in drawn if "_ci_" in c]))


@pytest.mark.parametrize("name", NAMES)
def test_every_purchase_model_predicts_with_bounds(name):
    truth = given(name)
    rfm = truth.simulate(3000, 39.0, seed=2)
    model = purchase_model_class(name)(**({"k": GIVEN[name]["k"]} if "k" in GIVEN[name] else {})).fit(rfm)
    frame = model.predict(rfm.iloc[:300], horizon=26.0, interval=0.9)
    assert (frame["purchases_lower"] <= frame["purchases_upper"]).all()
    assert (frame["purchases_ci_lower"] <= frame["purchases_ci_upper"]).all()
    inside = (frame["expected_purchases"] >= frame["purchases_ci_lower"] * (1 - 1e-9)) & (
        frame["expected_purchases"] <= frame["purchases_ci_upper"] * (1 + 1e-9))
    assert inside.mean() > 0.95
    # without parameter uncertainty the bounds are the conditional distribution's quantiles
    point = model._with_params(model.params_)
    point.covariance_ = model.covariance_ * np.nan
    with pytest.warns(Warning, match="parameter uncertainty"):
        plain = point.predict(rfm.iloc[:50], horizon=26.0, interval=0.9)
    cdf = model.conditional_probability_of_n_purchases(rfm.iloc[:50], 26.0, 400).cumsum(axis=1).to_numpy()
    np.testing.assert_array_equal(plain["purchases_upper"], np.argmax(cdf >= 0.95 - 1e-12, axis=1))


def test_the_unknown_uncertainty_warning_points_at_the_callers_line(cdnow_rfm):
    # a model built from known parameters has no covariance: predict(interval=...) warns, at the user's line
    from clv_predict import CLVModel
    from clv_predict.exceptions import ModelWarning

    given_bg = BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
    given_bb = BetaGeoBetaBinomModel.from_params(alpha=1.2, beta=0.75, gamma=0.66, delta=2.8)
    clv = CLVModel().fit(cdnow_rfm)
    clv.purchase_model_ = given_bg
    summary = pd.DataFrame({"frequency": [0, 6], "recency": [0, 6], "T": [6, 6]})
    calls = [
        lambda: given_bg.predict(cdnow_rfm.head(50), horizon=52, interval=0.9),
        lambda: given_bb.predict(summary, horizon=5, interval=0.9),
        lambda: clv.predict(cdnow_rfm.head(50), horizon=52, interval=0.9),
    ]
    for call in calls:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        found = [w for w in caught if issubclass(w.category, ModelWarning)]
        assert found and all(w.filename == __file__ for w in found), [(w.filename, str(w.message)) for w in caught]
