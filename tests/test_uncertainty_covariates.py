"""Uncertainty of models with covariates (issues 12 and 13 together): every customer's distributions and bounds
with her covariates, the parameter uncertainty of the coefficients included.

A customer of covariate pattern z has log theta(z) = log theta + A(z) gamma, linear in (log theta, gamma): the
plain model of her pattern (parameters theta(z), log-covariance J Sigma J') answers for her exactly."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import pytest

import clv_predict as cp
from clv_predict import BetaGeoModel, CLVModel, ModifiedBetaGeoModel, ParetoNBDModel
from clv_predict.analytics import acquisition_budget_by_profile
from clv_predict.exceptions import DataError
from clv_predict.models._covariates import individual_params
from clv_predict.synthetic import simulate_customer_log
from clv_predict.uncertainty import (
    bootstrap_params,
    forecast_total,
    holdout_calibration,
)

SPEND = {"p": 6.25, "q": 3.74, "v": 15.44}


def channel_table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"channel": rng.choice(["web", "shop", "ads"], n, p=[0.5, 0.3, 0.2]),
                         "age": np.round(rng.normal(0.0, 1.0, n))})  # a numeric covariate of a few values


def simulated_rfm(n: int = 3000, seed: int = 1, model=BetaGeoModel, params=None, coefficients=None):
    covariates = channel_table(n, seed)
    params = params or {"r": 0.5, "alpha": 6.0, "a": 0.8, "b": 2.5}
    coefficients = coefficients or {"purchase:channel[shop]": 0.6, "purchase:channel[web]": -0.3}
    truth = model.from_params(time_unit="W", coefficients=coefficients, covariates=covariates, **params)
    rfm = truth.simulate(n, 52.0, seed=seed, covariates=covariates)
    rng = np.random.default_rng(seed + 1)
    scale = np.where(rfm["channel"] == "web", 1.3, 1.0)
    rfm["monetary_value"] = np.where(rfm["frequency"] > 0, rng.gamma(6.0, 5.0, n) * scale, 0.0)
    return rfm


@pytest.fixture(scope="module")
def rfm():
    return simulated_rfm()


@pytest.fixture(scope="module")
def fitted(rfm):
    return BetaGeoModel(purchase_covariates=["channel"]).fit(rfm)


def zero_coefficient_twin(covariate_model, plain_model):
    """The covariate model with the plain model's parameters and covariance, its coefficients 0 and certain."""
    twin = copy.copy(covariate_model)
    names = list(covariate_model.params_.index)
    k = len(plain_model.params_)
    twin.params_ = pd.Series(np.concatenate((plain_model.params_.to_numpy(), np.zeros(len(names) - k))),
                             index=names, name="estimate")
    covariance = np.zeros((len(names), len(names)))
    covariance[:k, :k] = plain_model.covariance_.to_numpy()
    twin.covariance_ = pd.DataFrame(covariance, index=names, columns=names)
    return twin


def test_zero_coefficients_give_the_plain_models_distributions_and_bounds_exactly(rfm, fitted):
    plain = BetaGeoModel().fit(rfm)
    twin = zero_coefficient_twin(fitted, plain)
    pd.testing.assert_frame_equal(twin.predict(rfm, horizon=39, interval=0.9),
                                  plain.predict(rfm, horizon=39, interval=0.9), check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(twin.predict(rfm, horizon=39, interval=0.8, n_draws=50),
                                  plain.predict(rfm, horizon=39, interval=0.8, n_draws=50), rtol=1e-12)
    pd.testing.assert_frame_equal(twin.conditional_probability_of_n_purchases(rfm, 20, 6),
                                  plain.conditional_probability_of_n_purchases(rfm, 20, 6), rtol=1e-12)
    pd.testing.assert_series_equal(twin.probability_alive_at(rfm, 10), plain.probability_alive_at(rfm, 10), rtol=1e-12)
    pd.testing.assert_series_equal(twin.probability_of_purchase(rfm, 10), plain.probability_of_purchase(rfm, 10),
                                   rtol=1e-12)
    head = rfm.head(200)
    pd.testing.assert_frame_equal(twin.next_purchase_cdf(head, [1, 5, 20]), plain.next_purchase_cdf(head, [1, 5, 20]),
                                  rtol=1e-12)
    pd.testing.assert_frame_equal(twin.time_to_next_purchase(head), plain.time_to_next_purchase(head), rtol=1e-10)
    draws = plain.parameter_draws(30, seed=3)
    twin_draws = draws.assign(**{name: 0.0 for name in twin.coefficients_.index})
    pd.testing.assert_frame_equal(forecast_total(twin, rfm, horizon=20, periods=4, draws=twin_draws),
                                  forecast_total(plain, rfm, horizon=20, periods=4, draws=draws), rtol=1e-10)


def test_zero_coefficients_give_the_plain_clv_bounds_exactly(rfm):
    clv_covariates = CLVModel(purchase_covariates=["channel"], spend_covariates=["channel"]).fit(rfm)
    plain = CLVModel().fit(rfm)
    twin = copy.copy(clv_covariates)
    twin.purchase_model_ = zero_coefficient_twin(clv_covariates.purchase_model_, plain.purchase_model_)
    twin.spend_model_ = zero_coefficient_twin(clv_covariates.spend_model_, plain.spend_model_)
    kwargs = {"horizon": 39, "discount_rate": 0.002, "margin": 0.3, "interval": 0.9}
    pd.testing.assert_frame_equal(twin.predict(rfm, **kwargs), plain.predict(rfm, **kwargs), rtol=1e-10)


@pytest.mark.parametrize("model, params, coefficients, dropout", [
    (BetaGeoModel, {"r": 0.5, "alpha": 6.0, "a": 0.8, "b": 2.5},
     {"purchase:channel[shop]": 0.6, "purchase:channel[web]": -0.3, "dropout:age": 0.3}, "age"),
    (ModifiedBetaGeoModel, {"r": 0.5, "alpha": 6.0, "a": 0.8, "b": 2.5},
     {"purchase:channel[shop]": 0.6, "purchase:channel[web]": -0.3, "dropout:age": 0.3}, "age"),
    # (Pareto/NBD's fit with a numeric covariate takes seconds: a categorical one on both processes here)
    (ParetoNBDModel, {"r": 0.55, "alpha": 10.0, "s": 0.6, "beta": 11.0},
     {"purchase:channel[shop]": 0.6, "purchase:channel[web]": -0.3, "dropout:channel[shop]": 0.4,
      "dropout:channel[web]": 0.0}, "channel"),
])
def test_conditional_distribution_per_customer_sums_to_one_with_mean_expected_purchases(model, params, coefficients,
                                                                                         dropout):
    rfm = simulated_rfm(600, seed=4, model=model, params=params, coefficients=coefficients)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cp.ClvWarning)
        fitted = model(purchase_covariates=["channel"], dropout_covariates=[dropout]).fit(rfm)
    pmf = fitted.conditional_probability_of_n_purchases(rfm, 26, 300)
    assert np.allclose(pmf.sum(axis=1), 1.0, atol=1e-8)
    mean = pmf.to_numpy() @ np.arange(301)
    assert np.allclose(mean, fitted.expected_purchases(rfm, 26), rtol=1e-6, atol=1e-9)
    # the probability of a purchase is one minus that of none, customer by customer with her covariates
    assert np.allclose(fitted.probability_of_purchase(rfm, 26), 1 - pmf[0])
    bounds = fitted.predict(rfm, horizon=26, interval=0.9)
    assert (bounds["purchases_lower"] <= bounds["purchases_upper"]).all()
    assert (bounds["purchases_ci_lower"] <= bounds["expected_purchases"] * 1.05).all()


def test_the_log_parameters_of_a_pattern_have_covariance_j_sigma_j(fitted, rfm):
    draws = fitted.parameter_draws(40_000, seed=5)
    # coefficients are real numbers, drawn jointly with the rest on their own scale: normal about the estimate
    # with the standard error of the fit
    for name in fitted.coefficients_.index:
        assert abs(draws[name].mean() - fitted.params_[name]) < 0.03 * fitted.standard_errors_[name] + 1e-12
        assert draws[name].std() == pytest.approx(fitted.standard_errors_[name], rel=0.02)
    groups = list(fitted._pattern_models(rfm))
    assert len(groups) == 3
    encoding = fitted.covariate_encoding_
    for rows, plain in groups:
        # each draw's parameters of a customer of the pattern, by the likelihood's own code
        design = encoding.transform(rfm.iloc[rows[:1]]).to_numpy()
        individual = np.array([
            individual_params(row[:4], row[4:], design, fitted._loadings, fitted._covariate_links,
                              fitted._param_names)[:, 0]
            for row in draws.to_numpy()[:10_000]
        ])
        sample = np.cov(np.log(individual), rowvar=False)
        expected = plain._log_covariance()
        scale = np.sqrt(np.outer(np.diag(expected), np.diag(expected)))
        assert np.abs(sample - expected).max() / scale.max() < 0.05
        # the pattern's parameters are each customer's own
        assert np.allclose(plain._params(), fitted._customer_params(rfm.iloc[rows[:1]])[:, 0])


def test_simulated_holdout_counts_fall_in_the_90_percent_interval_per_channel():
    customers = channel_table(12_000, seed=7).set_index(pd.RangeIndex(12_000, name="customer_id"))
    params = {"r": 0.5, "alpha": 6.0, "a": 0.8, "b": 2.5, **SPEND}
    log = simulate_customer_log(customers, params, {"purchase:channel[shop]": 0.6, "purchase:channel[web]": -0.4},
                                seed=8, acquisition_days=84, observation_days=2 * 26 * 7)
    split = cp.rfm_train_test_split(
        log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
        train_period_end=pd.Timestamp("2020-01-01") + pd.Timedelta(days=26 * 7 - 1),
        test_period_end=log.attrs["observation_period_end"], time_unit="W",
    ).join(customers)
    model = BetaGeoModel(purchase_covariates=["channel"]).fit(split)
    bounds = model.predict(split, horizon=26, interval=0.9)
    inside = split["test_frequency"].between(bounds["purchases_lower"], bounds["purchases_upper"])
    by_channel = inside.groupby(split["channel"]).mean()
    assert (by_channel >= 0.9).all(), by_channel
    calibration = holdout_calibration(model, split, "test_frequency", t=26, seed=1)
    assert (calibration["pit"] - 0.1).abs().max() < 0.02, calibration["pit"]
    total = forecast_total(model, split, horizon=26, periods=1, interval=0.9, seed=2)
    actual = split["test_frequency"].sum()
    assert total["purchases_lower"].iloc[-1] <= actual <= total["purchases_upper"].iloc[-1]


@pytest.mark.slow
def test_the_total_interval_of_a_covariate_model_covers_the_simulated_total_about_as_often_as_stated():
    covered, trials = 0, 12
    for trial in range(trials):
        customers = channel_table(4000, seed=100 + trial).set_index(pd.RangeIndex(4000, name="customer_id"))
        # calibration and holdout drawn together: the first 26 weeks are fitted, the next 26 forecast
        log = simulate_customer_log(customers, {"r": 0.5, "alpha": 6.0, "a": 0.8, "b": 2.5, **SPEND},
                                    {"purchase:channel[shop]": 0.6, "purchase:channel[web]": -0.3},
                                    seed=900 + trial, acquisition_days=28, observation_days=2 * 26 * 7)
        split = cp.rfm_train_test_split(
            log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
            train_period_end=pd.Timestamp("2020-01-01") + pd.Timedelta(days=26 * 7 - 1),
            test_period_end=log.attrs["observation_period_end"], time_unit="W",
        ).join(customers)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cp.ClvWarning)
            model = BetaGeoModel(purchase_covariates=["channel"]).fit(split)
        total = forecast_total(model, split, horizon=26, periods=1, interval=0.9, seed=trial, draws=100)
        covered += total["purchases_lower"].iloc[-1] <= split["test_frequency"].sum() <= total["purchases_upper"].iloc[-1]
    assert covered >= trials - 3, covered


def test_bootstrap_refits_carry_the_covariates(rfm, fitted):
    draws = bootstrap_params(fitted, rfm, n_refits=4, seed=1)
    assert list(draws.columns) == list(fitted.params_.index)
    assert np.all(np.abs(draws["purchase:channel[shop]"] - fitted.params_["purchase:channel[shop]"]) < 0.5)
    assert draws["purchase:channel[shop]"].nunique() == 4
    total = forecast_total(fitted, rfm, horizon=10, periods=2, draws=draws)
    assert total.attrs["method"] == "bootstrap"
    assert (total["purchases_lower"] <= total["expected_purchases"]).all()


def test_clv_bounds_with_purchase_and_spend_covariates(rfm):
    model = CLVModel(purchase_covariates=["channel"], spend_covariates=["channel"]).fit(rfm)
    forecast = model.predict(rfm, horizon=26, discount_rate=0.002, margin=0.3, interval=0.9)
    # predictive bounds of the value (a customer likely gone may have an upper bound of 0 below her mean)
    assert (forecast["clv_lower"] <= forecast["clv"]).all()
    assert (forecast["clv_upper"] >= forecast["clv_lower"]).all()
    assert (forecast["clv_upper"] >= forecast["clv"]).mean() > 0.8
    assert (forecast["clv_ci_lower"] <= forecast["clv"] * 1.01).all()
    assert (forecast["clv_ci_upper"] >= forecast["clv"] * 0.99).all()
    # the same customer history in another channel: another interval
    twins = rfm.head(1).loc[np.repeat(rfm.index[:1], 3)].assign(channel=["web", "shop", "ads"])
    twins.index = pd.RangeIndex(3, name="customer_id")
    bounds = model.predict(twins, horizon=26, interval=0.9)
    assert bounds["clv_ci_upper"].nunique() == 3
    total = forecast_total(model, rfm, horizon=26, periods=2, seed=1, margin=0.3, draws=50)
    assert total["value_lower"].iloc[-1] < total["expected_value"].iloc[-1] < total["value_upper"].iloc[-1]


def test_a_covariate_model_built_from_known_parameters_warns_and_gives_process_only_bounds(rfm):
    truth = BetaGeoModel.from_params(r=0.5, alpha=6.0, a=0.8, b=2.5, time_unit="W", covariates=rfm,
                                     coefficients={"purchase:channel[shop]": 0.6, "purchase:channel[web]": -0.3})
    with pytest.warns(cp.ModelWarning, match="from_params"):
        bounds = truth.predict(rfm.head(50), horizon=10, interval=0.9)
    assert bounds["purchases_ci_lower"].isna().all()
    with pytest.raises(DataError, match="from_params"):
        truth.parameter_draws(10)


def test_a_new_customers_value_bounds_per_profile_are_the_quantiles_of_the_value_at_drawn_parameters(rfm):
    model = CLVModel(purchase_covariates=["channel"], spend_covariates=["channel"]).fit(rfm)
    profiles = {"channel": ["web", "shop", "ads"]}
    value = model.expected_clv_new_customer(profiles, horizon=52, discount_rate=0.002, margin=0.3, interval=0.9,
                                            n_draws=40, seed=3)
    assert (value["value_ci_lower"] < value["value"]).all() and (value["value"] < value["value_ci_upper"]).all()
    assert (value["clv_ci_lower"] < value["clv"]).all() and (value["clv"] < value["clv_ci_upper"]).all()
    # the same draws through the public point answer of a model copy at each drawn parameter vector
    purchase_seed, spend_seed = np.random.SeedSequence(3).spawn(2)
    purchase_draws = model.purchase_model_.parameter_draws(40, seed=np.random.default_rng(purchase_seed))
    spend_draws = model.spend_model_.parameter_draws(40, seed=np.random.default_rng(spend_seed))
    values = []
    for (_, purchases), (_, spend) in zip(purchase_draws.iterrows(), spend_draws.iterrows()):
        at_draw = copy.copy(model)
        at_draw.purchase_model_ = model.purchase_model_._with_params(purchases)
        at_draw.spend_model_ = model.spend_model_._with_params(spend)
        values.append(at_draw.expected_clv_new_customer(profiles, horizon=52, discount_rate=0.002,
                                                        margin=0.3)["value"].to_numpy())
    lower, upper = np.quantile(np.array(values), [0.05, 0.95], axis=0)
    assert np.allclose(value["value_ci_lower"], lower, rtol=1e-10)
    assert np.allclose(value["value_ci_upper"], upper, rtol=1e-10)


def test_acquisition_budget_by_channel_has_bounds(rfm):
    model = CLVModel(purchase_covariates=["channel"], spend_covariates=["channel"]).fit(rfm)
    budget = acquisition_budget_by_profile(model, rfm, "channel", horizon=52, margin=0.3, interval=0.9,
                                              n_draws=200)
    assert (budget["max_acquisition_cost_lower"] < budget["max_acquisition_cost"]).all()
    assert (budget["max_acquisition_cost"] < budget["max_acquisition_cost_upper"]).all()
    assert np.allclose(budget["value_per_customer_upper"] / budget.attrs["target_ratio"],
                       budget["max_acquisition_cost_upper"])
    assert budget.attrs["interval"] == 0.9
    # with one profile per level the bounds are the level's profile bounds
    value = model.expected_clv_new_customer(pd.DataFrame({"channel": budget.index}), horizon=52, margin=0.3,
                                            interval=0.9, n_draws=200)
    assert np.allclose(budget["value_per_customer_lower"], value["value_ci_lower"])
    with pytest.raises(DataError, match="interval"):
        acquisition_budget_by_profile(model, rfm, "channel", horizon=52, margin=0.3, interval=1.5)


def test_spend_coefficients_are_drawn_on_their_own_scale_and_the_spend_patterns_are_plain_models(rfm):
    spend = cp.GammaGammaModel(covariates=["channel"]).fit(rfm)
    draws = spend.parameter_draws(20_000, seed=2)
    for name in spend.coefficients_.index:
        assert draws[name].mean() == pytest.approx(spend.params_[name], abs=0.03 * spend.standard_errors_[name])
        assert draws[name].std() == pytest.approx(spend.standard_errors_[name], rel=0.03)
    negative = spend.params_.copy()
    name = spend.coefficients_.index[0]
    negative[name] = -0.5  # a coefficient may be negative, a parameter may not
    assert spend._with_params(negative).params_[name] == -0.5
    negative["p"] = -1.0
    with pytest.raises(DataError, match="> 0 but for covariate coefficients"):
        spend._with_params(negative)
    repeat = rfm[rfm["frequency"] > 0]
    for rows, plain in spend._pattern_models(repeat):
        assert list(plain.params_.index) == ["p", "q", "v"] and plain.covariate_encoding_ is None
        # the plain model's expected spend is each customer's under the covariate model
        part = repeat.iloc[rows]
        np.testing.assert_allclose(plain.expected_spend(part), spend.expected_spend(part), rtol=1e-12)


def test_sbg_retention_covariates_give_plain_models_per_pattern():
    rng = np.random.default_rng(3)
    n = 3000
    plan = rng.choice(["annual", "monthly"], n)
    theta = rng.beta(1.2 * np.exp(0.5 * (plan == "monthly")), 2.5 * np.exp(-0.4 * (plan == "monthly")))
    lifetime = rng.geometric(theta)
    summary = pd.DataFrame({"T": np.minimum(lifetime, 8), "churned": lifetime <= 8, "plan": plan},
                           index=pd.RangeIndex(n, name="customer_id"))
    model = cp.ShiftedBetaGeoModel(covariates=["plan"], covariate_reference={"plan": "annual"}).fit(summary)
    groups = list(model._pattern_models(summary, what="summary"))
    assert len(groups) == 2
    sigma = model._log_covariance()
    for rows, plain in groups:
        monthly = summary["plan"].iloc[rows[0]] == "monthly"
        alpha, beta = model._shapes(summary.iloc[rows[:1]])
        np.testing.assert_allclose(plain.params_.to_numpy(), [alpha[0], beta[0]], rtol=1e-12)
        # log alpha(z) = log alpha + gamma_churn z, log beta(z) = log beta + gamma_retention z: J Sigma J'
        jacobian = np.array([[1.0, 0.0, float(monthly), 0.0], [0.0, 1.0, 0.0, float(monthly)]])
        np.testing.assert_allclose(plain._log_covariance(), jacobian @ sigma @ jacobian.T, rtol=1e-10)
