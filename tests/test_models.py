import warnings

import numpy as np
import pandas as pd
import pytest

from clv_predict import (
    BetaGeoModel,
    DataError,
    GammaGammaModel,
    NotFittedError,
    _lifetimes,
    _math,
)


@pytest.fixture(scope="module")
def bgnbd(cdnow_split):
    return BetaGeoModel(engine="lifetimes").fit(cdnow_split)


@pytest.fixture(scope="module")
def gamma_gamma(cdnow_split):
    return GammaGammaModel(engine="lifetimes").fit(cdnow_split)


def test_bgnbd_reproduces_fader_hardie_lee_2005(bgnbd):
    assert bgnbd.params_.round(3).to_dict() == {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert bgnbd.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)
    assert bgnbd.n_customers_ == 2357 and bgnbd.n_repeat_customers_ == 946
    assert bgnbd.time_unit_ == "W" and bgnbd.observation_period_end_ == "1997-09-30"
    assert bgnbd.convergence_["converged"] and bgnbd.convergence_["gradient_norm"] < 1e-5


def test_gamma_gamma_reproduces_fader_hardie_2013(gamma_gamma):
    assert gamma_gamma.params_.round(2).to_dict() == {"p": 6.25, "q": 3.74, "v": 15.44}
    assert gamma_gamma.n_customers_ == 946
    assert gamma_gamma.population_mean_spend_ == pytest.approx(6.25 * 15.44 / 2.74, rel=1e-2)


def test_expected_purchases_of_the_papers_example_customer(bgnbd):
    rfm = pd.DataFrame({"frequency": [2], "recency": [30.43], "T": [38.86]}, index=pd.Index([1], name="customer_id"))
    assert bgnbd.expected_purchases(rfm, 39).iloc[0] == pytest.approx(1.226, abs=5e-4)


def test_compressed_fit_equals_lifetimes_fitted_row_per_customer(cdnow_split, bgnbd):
    row_per_customer = _lifetimes.fit_bgnbd(
        cdnow_split["frequency"].to_numpy(),
        cdnow_split["recency"].to_numpy(),
        cdnow_split["T"].to_numpy(),
        np.ones(len(cdnow_split)),
        0.0,
    )
    np.testing.assert_allclose(bgnbd.params_.to_numpy(), row_per_customer, rtol=1e-5)
    assert bgnbd.n_unique_rows_ < len(cdnow_split)


def test_native_engine_finds_the_same_optimum(cdnow_split, bgnbd, gamma_gamma):
    assert BetaGeoModel().engine == GammaGammaModel().engine == "native"  # the default; lifetimes is the reference
    native = BetaGeoModel(engine="native").fit(cdnow_split)
    np.testing.assert_allclose(native.params_, bgnbd.params_, rtol=1e-5)
    np.testing.assert_allclose(native.covariance_, bgnbd.covariance_, rtol=1e-4)
    spend = GammaGammaModel(engine="native").fit(cdnow_split)
    np.testing.assert_allclose(spend.params_, gamma_gamma.params_, rtol=1e-5)


def test_penalised_fits_agree_between_engines(cdnow_split):
    reference = BetaGeoModel(penalizer_coef=0.1, engine="lifetimes").fit(cdnow_split)
    native = BetaGeoModel(penalizer_coef=0.1, engine="native").fit(cdnow_split)
    np.testing.assert_allclose(native.params_, reference.params_, rtol=1e-5)
    unpenalised = BetaGeoModel(engine="lifetimes").fit(cdnow_split)
    assert not np.allclose(reference.params_, unpenalised.params_, rtol=1e-3)


def _lifetimes_fitters():
    with _lifetimes._contained():
        from lifetimes import BetaGeoFitter, GammaGammaFitter
    return BetaGeoFitter, GammaGammaFitter


def test_standard_errors_equal_lifetimes(cdnow_split, bgnbd, gamma_gamma):
    BetaGeoFitter, GammaGammaFitter = _lifetimes_fitters()
    with _lifetimes._contained():
        reference = BetaGeoFitter().fit(cdnow_split["frequency"], cdnow_split["recency"], cdnow_split["T"])
        repeat = cdnow_split[cdnow_split["frequency"] > 0]
        spend = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    np.testing.assert_allclose(bgnbd.standard_errors_, reference.standard_errors_[list(["r", "alpha", "a", "b"])], rtol=1e-3)
    np.testing.assert_allclose(gamma_gamma.standard_errors_, spend.standard_errors_[["p", "q", "v"]], rtol=1e-3)


def test_covariance_is_the_inverse_hessian_of_the_log_likelihood(cdnow_split, bgnbd):
    """Second differences of the log-likelihood itself, independent of the analytic gradient."""
    x, t_x, T = (cdnow_split[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    theta = bgnbd.params_.to_numpy()

    def total(p):
        return _math.bgnbd_log_likelihood(p, x, t_x, T).sum()

    k = theta.size
    hessian = np.empty((k, k))
    steps = 1e-4 * theta
    for i in range(k):
        for j in range(k):
            e_i, e_j = np.eye(k)[i] * steps[i], np.eye(k)[j] * steps[j]
            hessian[i, j] = (
                total(theta + e_i + e_j) - total(theta + e_i - e_j) - total(theta - e_i + e_j) + total(theta - e_i - e_j)
            ) / (4 * steps[i] * steps[j])
    expected = np.linalg.inv(-hessian)
    np.testing.assert_allclose(bgnbd.covariance_.to_numpy(), expected, rtol=2e-3, atol=1e-7)
    assert np.allclose(bgnbd.covariance_, bgnbd.covariance_.T)
    assert np.all(np.linalg.eigvalsh(bgnbd.covariance_) > 0)


def test_predictions_match_lifetimes(cdnow_split, bgnbd, gamma_gamma):
    BetaGeoFitter, GammaGammaFitter = _lifetimes_fitters()
    reference = BetaGeoFitter()
    reference.params_ = bgnbd.params_.copy()
    x, t_x, T = cdnow_split["frequency"], cdnow_split["recency"], cdnow_split["T"]
    with _lifetimes._contained():
        expected = reference.conditional_expected_number_of_purchases_up_to_time(39, x, t_x, T)
        alive = reference.conditional_probability_alive(x, t_x, T)
        new = reference.expected_number_of_purchases_up_to_time(39)
        spend_reference = GammaGammaFitter()
        spend_reference.params_ = gamma_gamma.params_.copy()
        spend = spend_reference.conditional_expected_average_profit(x, cdnow_split["monetary_value"])
    np.testing.assert_allclose(bgnbd.expected_purchases(cdnow_split, 39), expected, rtol=1e-9)
    np.testing.assert_allclose(bgnbd.probability_alive(cdnow_split), alive, rtol=1e-9)
    assert bgnbd.expected_purchases_new_customer(39) == pytest.approx(new, rel=1e-9)
    np.testing.assert_allclose(gamma_gamma.expected_spend(cdnow_split), spend, rtol=1e-9)


def test_prediction_outputs_are_series_indexed_by_customer(cdnow_split, bgnbd):
    alive = bgnbd.probability_alive(cdnow_split)
    assert isinstance(alive, pd.Series) and alive.name == "p_alive"
    assert alive.index.equals(cdnow_split.index) and alive.index.name == "customer_id"
    assert alive.between(0, 1).all()
    assert (alive[cdnow_split["frequency"] == 0] == 1).all()
    expected = bgnbd.expected_purchases(cdnow_split, 39)
    assert (expected >= 0).all() and (bgnbd.expected_purchases(cdnow_split, 78) >= expected).all()


def test_probability_of_n_purchases_sums_to_one(bgnbd):
    probabilities = bgnbd.probability_of_n_purchases(39, np.arange(0, 200))
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-6)
    mean = (np.arange(0, 200) * probabilities).sum()
    assert mean == pytest.approx(bgnbd.expected_purchases_new_customer(39), rel=1e-5)


def test_summary_table(bgnbd):
    table = bgnbd.summary()
    assert list(table.columns) == ["estimate", "standard_error", "lower", "upper"]
    assert list(table.index) == ["r", "alpha", "a", "b"]
    assert (table["lower"] < table["estimate"]).all() and (table["estimate"] < table["upper"]).all()
    wider = bgnbd.summary(alpha=0.01)
    assert (wider["upper"] > table["upper"]).all()
    with pytest.raises(DataError, match="'alpha' must be a number between 0 and 1"):
        bgnbd.summary(alpha=5)
    assert "<caption>BetaGeoModel: 2,357 customers" in bgnbd._repr_html_()
    assert "r=0.2426" in repr(bgnbd)


def test_unfitted_models_and_bad_settings_say_so(cdnow_split):
    with pytest.raises(NotFittedError, match="not fitted yet: call fit"):
        BetaGeoModel().probability_alive(cdnow_split)
    with pytest.raises(NotFittedError):
        GammaGammaModel().summary()
    with pytest.raises(DataError, match="'engine' must be one of"):
        BetaGeoModel(engine="fast").fit(cdnow_split)
    with pytest.raises(DataError, match="'penalizer_coef' must be >= 0"):
        BetaGeoModel(penalizer_coef=-1).fit(cdnow_split)


def test_time_unit_travels_and_a_mismatch_is_refused(cdnow_log, bgnbd):
    from clv_predict import rfm_summary

    daily = rfm_summary(cdnow_log, customer_id_col="customer_id", datetime_col="date", time_unit="D")
    with pytest.raises(DataError, match="time unit 'D' but the model was fitted in 'W'"):
        bgnbd.probability_alive(daily)
    with pytest.raises(DataError, match="time unit 'D' but time_unit='W' was given"):
        BetaGeoModel().fit(daily, time_unit="W")


def test_gamma_gamma_refuses_data_without_repeat_spend(cdnow_split):
    no_repeat = cdnow_split[cdnow_split["frequency"] == 0]
    with pytest.raises(DataError, match="no customer has repeat purchases with positive value"):
        GammaGammaModel().fit(no_repeat)
    zero_spend = cdnow_split.copy()
    zero_spend.loc[zero_spend.index[zero_spend["frequency"] > 0][:3], "monetary_value"] = 0.0
    with pytest.warns(Warning, match="3 repeat customers whose mean repeat spend is 0"):
        model = GammaGammaModel().fit(zero_spend)
    assert model.n_customers_ == 943


def test_fitting_changes_no_global_state(cdnow_split):
    filters = list(warnings.filters)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        option = pd.get_option("mode.chained_assignment") if hasattr(pd.options.mode, "chained_assignment") else None
    BetaGeoModel(engine="lifetimes").fit(cdnow_split)
    GammaGammaModel(engine="lifetimes").fit(cdnow_split)
    assert warnings.filters == filters
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        after = pd.get_option("mode.chained_assignment") if hasattr(pd.options.mode, "chained_assignment") else None
    assert after == option


def test_first_use_of_lifetimes_in_a_fresh_process_leaves_globals_alone():
    import subprocess
    import sys

    script = """
import sys, warnings, pandas as pd
from clv_predict import BetaGeoModel, rfm_summary  # imports scipy, which sets filters of its own
from clv_predict.datasets import load_cdnow
assert "lifetimes" not in sys.modules
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    option = pd.get_option("mode.chained_assignment")
filters = list(warnings.filters)
rfm = rfm_summary(load_cdnow(), customer_id_col="customer_id", datetime_col="date", time_unit="W")
BetaGeoModel(engine="lifetimes").fit(rfm)
import sys
assert "lifetimes" in sys.modules
assert list(warnings.filters) == filters, warnings.filters
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    assert pd.get_option("mode.chained_assignment") == option
print("clean")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"


def test_a_failed_lifetimes_fit_never_reports_its_starting_values():
    """On 99 Online Retail customers lifetimes' BG/NBD fit fails (the optimum lies where nobody drops out);
    the model reports where the same objective actually ends, not the starting point, and says what happened."""
    import warnings as w

    from conftest import DATA

    from clv_predict import ModelWarning, rfm_summary

    log = pd.read_csv(DATA / "online_retail_extract.csv.gz", dtype={"CustomerID": str, "InvoiceNo": str})
    with w.catch_warnings():
        w.simplefilter("ignore")
        rfm = rfm_summary(
            log, customer_id_col="CustomerID", datetime_col="InvoiceDate", quantity_col="Quantity",
            unit_price_col="UnitPrice", transaction_col="InvoiceNo", negative_amounts="net", missing_ids="drop",
            observation_period_end="2011-06-30", time_unit="W",
        )
        native = BetaGeoModel(engine="native").fit(rfm)
    with w.catch_warnings(record=True) as caught:
        w.simplefilter("always")
        reference = BetaGeoModel(engine="lifetimes").fit(rfm)
    edge = [str(c.message) for c in caught if issubclass(c.category, ModelWarning)]
    assert len(edge) == 1 and "edge of the parameter space (a = " in edge[0] and "(almost) no dropout" in edge[0]
    starts = {np.exp(s) for s in (0.1, 0.0, -1.0, 1.0)}
    assert not any(np.isclose(reference.params_["r"], s) for s in starts)
    np.testing.assert_allclose(reference.log_likelihood_, native.log_likelihood_, rtol=1e-6)
    assert "lifetimes failed" in reference.convergence_["message"]
    assert reference.params_["a"] / (reference.params_["a"] + reference.params_["b"]) < 1e-3
