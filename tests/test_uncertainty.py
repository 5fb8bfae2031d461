"""clv_predict.uncertainty: second moments, bootstrap refits, the total's interval and holdout calibration."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pandas as pd
import pytest

import clv_predict as cp
from clv_predict import _math
from clv_predict.exceptions import DataError
from clv_predict.models import purchase_model_class
from clv_predict.uncertainty import (
    _Base,
    bootstrap_params,
    forecast_total,
    holdout_calibration,
)

TRUE = {
    "bg_nbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    "mbg_nbd": {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614},
    "pareto_nbd": {"r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67},
    "bg_cnbd_k": {"r": 0.5, "alpha": 4.414, "a": 0.793, "b": 2.426, "k": 2},
}
HISTORY = pd.DataFrame(
    {"frequency": [0, 1, 2, 7, 15], "recency": [0.0, 5.0, 30.43, 20.0, 37.0], "T": [38.86, 20.0, 38.86, 60.0, 38.0]},
    index=pd.Index(range(5), name="customer_id"),
)


def _truth(name):
    return purchase_model_class(name).from_params(**TRUE[name], time_unit="W")


# --------------------------------------------------------------------------- second moments
@pytest.mark.parametrize(("r", "alpha", "a", "b", "t"), [(2.243, 34.4, 0.793, 4.426, 5.0), (0.243, 4.414, 1.0, 2.426, 3.0)])
def test_bg_second_moment_matches_the_series_in_mpmath(r, alpha, a, b, t):
    # E[X^2] = sum_k (2k - 1) E[(1 - p)^(k - 1)] P(N(t) >= k), N negative binomial
    mp.mp.dps = 25
    q = mp.mpf(t) / (alpha + t)
    series = mp.nsum(
        lambda k: (2 * k - 1) * mp.beta(a, b + k - 1) / mp.beta(a, b) * mp.betainc(k, r, 0, q, regularized=True),
        [1, mp.inf],
    )
    assert _math.bg_second_moment_if_alive(r, alpha, a, b, t) == pytest.approx(float(series), rel=1e-9)


@pytest.mark.parametrize("name", ["bg_nbd", "mbg_nbd", "pareto_nbd"])
def test_second_moment_agrees_with_the_conditional_distribution(name):
    """The closed forms against sum n^2 P(X = n | history) of conditional_probability_of_n_purchases."""
    model = _truth(name)
    params = model._params()
    x, t_x, T = (HISTORY[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    for t in (4.0, 39.0):
        pmf = model.conditional_probability_of_n_purchases(HISTORY, t, 400).to_numpy()
        from_pmf = pmf @ np.arange(401) ** 2
        p_alive = model._probability_alive_values(params, x, t_x, T)
        closed = p_alive * model._second_moment_if_alive_values(params, x, t_x, T, t)
        np.testing.assert_allclose(closed, from_pmf, rtol=1e-6)


@pytest.mark.parametrize(("name", "n"), [("bg_nbd", 40_000), ("pareto_nbd", 40_000),
                                         pytest.param("bg_cnbd_k", 10_000, marks=pytest.mark.slow)])
def test_total_mean_and_variance_match_simulation(name, n):
    """Given the true parameters, the sum of squared holdout errors estimates the total's process variance
    (CNBD-k's comes from its conditional distribution, slower: fewer customers, a wider tolerance)."""
    model = _truth(name)
    rng = np.random.default_rng(5)
    t = 39.0
    T = np.round(rng.uniform(27, 39, n) * 7) / 7
    owner, times = model._simulate_repeat_times(model._params(), T + t, rng)
    calibration = times <= T[owner]
    x = np.bincount(owner[calibration], minlength=n).astype(float)
    t_x = np.zeros(n)
    np.maximum.at(t_x, owner[calibration], times[calibration])
    t_x = np.floor(t_x * 7) / 7  # recency in days, as a summary of a real log has it
    holdout = np.bincount(owner[~calibration], minlength=n)
    mean, variance = _Base(model, x, t_x, T).moments(model, model._params(), np.array([t]))["purchases"]
    rfm = pd.DataFrame({"frequency": x, "recency": t_x, "T": T})
    expected = model.expected_purchases(rfm, t).to_numpy()
    assert mean[0] == pytest.approx(expected.sum(), rel=1e-9)
    assert holdout.sum() == pytest.approx(mean[0], abs=4 * np.sqrt(variance[0]))
    assert ((holdout - expected) ** 2).sum() == pytest.approx(variance[0], rel=0.06 if n >= 40_000 else 0.12)


# --------------------------------------------------------------------------- bootstrap
@pytest.fixture(scope="module")
def simulated():
    rfm = _truth("bg_nbd").simulate(3000, 39.0, seed=1)
    return rfm, cp.BetaGeoModel().fit(rfm)


def test_bootstrap_params_shape_and_seed(simulated):
    rfm, model = simulated
    draws = bootstrap_params(model, rfm, 4, seed=3)
    assert draws.shape == (4, 4) and list(draws.columns) == list(model.params_.index)
    assert draws.index.name == "draw" and draws.attrs["method"] == "bootstrap"
    pd.testing.assert_frame_equal(draws, bootstrap_params(model, rfm, 4, seed=3))
    assert not draws.equals(bootstrap_params(model, rfm, 4, seed=4))
    # the refits scatter around the estimates
    assert (draws.std() > 0).all()
    assert np.all(np.abs(np.log(draws.median() / model.params_)) < 0.5)


def test_bootstrap_on_weights_equals_fit_on_resampled_customers(simulated):
    """A multinomial reweighting of the distinct rows is a resample of the customers: same estimates."""
    rfm, _ = simulated
    rng = np.random.default_rng(0)
    picked = rng.integers(0, len(rfm), len(rfm))
    resample = rfm.iloc[picked].reset_index(drop=True)
    resample.attrs = dict(rfm.attrs)
    weights = np.bincount(picked, minlength=len(rfm)).astype(float)
    one_by_one = cp.BetaGeoModel().fit(resample).params_
    weighted = cp.BetaGeoModel().fit(rfm, weights=weights).params_
    np.testing.assert_allclose(weighted, one_by_one, rtol=1e-5)


def test_bootstrap_of_a_clv_model_refits_both_models(cdnow_split):
    model = cp.CLVModel().fit(cdnow_split)
    draws = bootstrap_params(model, cdnow_split, 2, seed=1)
    assert list(draws.columns) == ["r", "alpha", "a", "b", "p", "q", "v"]
    assert np.all(np.abs(np.log(draws / model.params_)) < 1.0)


@pytest.mark.slow
def test_bootstrap_in_parallel_gives_the_same_draws(simulated):
    rfm, model = simulated
    pd.testing.assert_frame_equal(
        bootstrap_params(model, rfm, 2, seed=9, n_jobs=2), bootstrap_params(model, rfm, 2, seed=9, n_jobs=1)
    )


def test_bootstrap_refuses_bad_input(simulated):
    rfm, model = simulated
    with pytest.raises(DataError, match="'n_refits' must be a positive whole number"):
        bootstrap_params(model, rfm, 0)
    with pytest.raises(DataError, match="'model' must be a fitted"):
        bootstrap_params("bg_nbd", rfm)
    with pytest.raises(DataError, match="'seed'"):
        bootstrap_params(model, rfm, 2, seed="x")


# --------------------------------------------------------------------------- the total
def test_forecast_total_is_the_sum_of_the_forecasts_with_ordered_bounds(simulated):
    rfm, model = simulated
    total = forecast_total(model, rfm, horizon=26, periods=[13, 26], draws=30, seed=1)
    assert list(total.index) == [13.0, 26.0] and total.index.name == "period"
    assert total.loc[26.0, "expected_purchases"] == pytest.approx(model.expected_purchases(rfm, 26).sum(), rel=1e-9)
    assert total.loc[13.0, "expected_purchases"] == pytest.approx(model.expected_purchases(rfm, 13).sum(), rel=1e-9)
    for column in ("purchases_lower", "purchases_ci_lower", "expected_purchases", "purchases_ci_upper",
                   "purchases_upper"):
        assert total[column].is_monotonic_increasing
    assert (total["purchases_lower"] < total["purchases_ci_lower"]).all()
    assert (total["purchases_ci_lower"] < total["expected_purchases"]).all()
    assert (total["expected_purchases"] < total["purchases_ci_upper"]).all()
    assert (total["purchases_ci_upper"] < total["purchases_upper"]).all()
    assert total.attrs["n_draws"] == 30 and total.attrs["interval"] == 0.9 and total.attrs["time_unit"] == "W"


def test_forecast_total_without_parameter_uncertainty_is_the_process_normal(simulated):
    rfm, model = simulated
    same = pd.DataFrame([model.params_.to_numpy()] * 3, columns=model.params_.index)
    total = forecast_total(model, rfm, horizon=10, periods=[10], draws=same, interval=0.8).iloc[0]
    x, t_x, T = (rfm[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    mean, variance = _Base(model, x, t_x, T).moments(model, model._params(), np.array([10.0]))["purchases"]
    z = 1.2815515655446004
    assert total["purchases_ci_lower"] == pytest.approx(mean[0]) and total["purchases_ci_upper"] == pytest.approx(mean[0])
    assert total["purchases_lower"] == pytest.approx(mean[0] - z * np.sqrt(variance[0]), rel=1e-6)
    assert total["purchases_upper"] == pytest.approx(mean[0] + z * np.sqrt(variance[0]), rel=1e-6)


def test_forecast_total_of_a_clv_model_gives_value(cdnow_split):
    model = cp.CLVModel().fit(cdnow_split)
    total = forecast_total(model, cdnow_split, horizon=39, periods=3, draws=40, seed=2, margin=0.5)
    forecast = model.predict(cdnow_split, horizon=39, margin=0.5)
    assert list(total.index) == [13.0, 26.0, 39.0]
    assert total.loc[39.0, "expected_value"] == pytest.approx(forecast["clv"].sum(), rel=1e-9)
    assert total.loc[39.0, "value_lower"] < total.loc[39.0, "value_ci_lower"] < total.loc[39.0, "expected_value"]
    assert total.loc[39.0, "expected_value"] < total.loc[39.0, "value_ci_upper"] < total.loc[39.0, "value_upper"]


def test_total_value_variance_matches_simulation():
    """Given the true parameters, holdout revenue around its forecast spreads as the value variance says."""
    params = {**TRUE["bg_nbd"], "p": 6.25, "q": 3.74, "v": 15.44}
    log = cp.synthetic.simulate_transactions(60_000, params, seed=4, acquisition_days=84, observation_days=546)
    split = cp.rfm_train_test_split(
        log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
        train_period_end="2020-09-29", test_period_end=log.attrs["observation_period_end"], time_unit="W",
    )
    holdout = log[log["date"] > "2020-09-29"].groupby("customer_id")["amount"].sum()
    revenue = holdout.reindex(split.index, fill_value=0.0).to_numpy()
    model = cp.CLVModel()
    model.purchase_model_ = cp.BetaGeoModel.from_params(**TRUE["bg_nbd"], time_unit="W")
    model.spend_model_ = cp.GammaGammaModel()
    model.spend_model_.params_ = pd.Series({"p": 6.25, "q": 3.74, "v": 15.44})  # the true spend parameters
    model._take_training_figures()
    x, t_x, T = (split[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    base = _Base(model.purchase_model_, x, t_x, T, split["monetary_value"].to_numpy())
    moments = base.moments(model.purchase_model_, model.purchase_model_._params(), np.array([39.0]),
                           np.array([6.25, 3.74, 15.44]))
    mean, variance = moments["value"]
    expected = model.predict(split, horizon=39)["clv"].to_numpy()
    assert mean[0] == pytest.approx(expected.sum(), rel=1e-9)
    assert revenue.sum() == pytest.approx(mean[0], abs=4 * np.sqrt(variance[0]))
    assert ((revenue - expected) ** 2).sum() == pytest.approx(variance[0], rel=0.15)


def test_forecast_total_refuses_bad_input(simulated):
    rfm, model = simulated
    with pytest.raises(DataError, match="'interval' must be a probability"):
        forecast_total(model, rfm, horizon=10, interval=90)
    with pytest.raises(DataError, match="'periods' must be increasing times"):
        forecast_total(model, rfm, horizon=10, periods=[5, 20])
    with pytest.raises(DataError, match="'method' must be one of"):
        forecast_total(model, rfm, horizon=10, method="delta")
    with pytest.raises(DataError, match="missing b"):
        forecast_total(model, rfm, horizon=10, draws=pd.DataFrame({"r": [1.0], "alpha": [1.0], "a": [1.0]}))
    with pytest.raises(DataError, match="from_params"):
        forecast_total(_truth("bg_nbd"), rfm, horizon=10)


# --------------------------------------------------------------------------- holdout calibration
def test_holdout_calibration_on_cdnow(cdnow_split):
    model = cp.BetaGeoModel().fit(cdnow_split)
    result = holdout_calibration(model, cdnow_split, "test_frequency", t=39, seed=1)
    assert result["pit"].sum() == pytest.approx(1.0)
    histogram = result["histogram"]
    assert histogram["observed"].sum() == len(cdnow_split)
    assert histogram["predicted"].sum() == pytest.approx(len(cdnow_split), rel=1e-6)
    coverage = result["coverage"]
    assert coverage.loc[(0.9, "all"), "customers"] == len(cdnow_split)
    # equal-tailed intervals of counts are conservative; the shortest sets are narrower
    assert coverage.loc[(0.9, "all"), "coverage"] >= 0.9
    assert (coverage["width_shortest"] <= coverage["width"]).all()
    with pytest.raises(DataError, match="one whole number >= 0 per customer"):
        holdout_calibration(model, cdnow_split, np.zeros(3), t=39)


# --------------------------------------------------------------------------- plots
def test_uncertainty_plots_draw_on_the_given_axes(cdnow_split, cdnow_log):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from clv_predict import plotting
    from clv_predict.uncertainty import cumulative_holdout_purchases

    model = cp.BetaGeoModel().fit(cdnow_split)
    total = forecast_total(model, cdnow_split, horizon=39, periods=13, draws=20, seed=1)
    actual = cumulative_holdout_purchases(cdnow_log, cdnow_split, total.index, train_period_end="1997-09-30")
    assert actual.iloc[-1] == cdnow_split["test_frequency"].sum() == 1882
    assert actual.is_monotonic_increasing
    calibration = holdout_calibration(model, cdnow_split, "test_frequency", t=39, seed=1)
    try:
        for draw, argument in ((plotting.plot_forecast_total, total), (plotting.plot_interval_coverage,
                               calibration["coverage"]), (plotting.plot_count_histogram, calibration["histogram"])):
            _, ax = plt.subplots()
            assert draw(argument, ax=ax) is ax
            assert len(plt.get_fignums()) == 1  # drew on the given Axes, opened no figure
            assert ax.get_title()
            plt.close("all")
        ax = plotting.plot_forecast_total(total, actual)
        assert len(ax.lines) == 2  # expected and actual
        with pytest.raises(DataError, match="one value per period"):
            plotting.plot_forecast_total(total, actual.iloc[:3].to_numpy())
        with pytest.raises(DataError, match="holdout_calibration"):
            plotting.plot_interval_coverage(total)
    finally:
        plt.close("all")
