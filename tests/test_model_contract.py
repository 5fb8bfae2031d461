"""The contract every registered purchase model keeps, run on each of them without new test code.

A model added to ``clv_predict.models.PURCHASE_MODELS`` is held here to: a fit on CDNOW that converges
quietly; the same estimates from compressed rows with weights; a saved file that predicts the same;
P(alive) in [0, 1]; expected purchases that grow with the horizon; a purchase distribution of a new
customer that sums to 1 with the mean of its expectation; ``from_params`` that predicts the same; and a
simulator of its own process whose draws the fit recovers.
"""

import numpy as np
import pandas as pd
import pytest

from clv_predict import PURCHASE_MODELS, CLVModel, load_model
from clv_predict.models import purchase_model_class

NAMES = list(PURCHASE_MODELS)
END = "1997-09-30"


@pytest.fixture(scope="module")
def fitted(cdnow_rfm):
    return {name: purchase_model_class(name)().fit(cdnow_rfm) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_fit_on_cdnow_converges_and_reports_itself(fitted, cdnow_rfm, name):
    model = fitted[name]
    assert model.convergence_["converged"]
    assert model.name == name and model.label
    assert np.isfinite(model.log_likelihood_) and model.log_likelihood_ < 0
    assert model.n_customers_ == len(cdnow_rfm)
    assert model.time_unit_ == "W"
    table = model.summary()
    assert list(table.index) == list(model.params_.index)
    assert np.isfinite(table.loc[list(model._param_names), "standard_error"]).all()
    assert model.label in model._repr_html_() or type(model).__name__ in model._repr_html_()


@pytest.mark.parametrize("name", NAMES)
def test_compressed_rows_with_weights_give_the_same_fit(fitted, cdnow_rfm, name):
    columns = list(purchase_model_class(name)._fit_columns)
    compressed = cdnow_rfm.groupby(columns).size().rename("customers").reset_index()
    compressed.attrs = dict(cdnow_rfm.attrs)
    again = purchase_model_class(name)().fit(compressed, weights="customers")
    np.testing.assert_allclose(again.params_.to_numpy(), fitted[name].params_.to_numpy(), rtol=1e-5)
    assert again.log_likelihood_ == pytest.approx(fitted[name].log_likelihood_, rel=1e-9)
    assert again.n_customers_ == fitted[name].n_customers_


@pytest.mark.parametrize("name", NAMES)
def test_saved_model_and_clv_model_predict_the_same(fitted, cdnow_rfm, name, tmp_path):
    model = fitted[name]
    model.save(tmp_path / "purchases.joblib")
    loaded = load_model(tmp_path / "purchases.joblib")
    assert type(loaded) is type(model)
    pd.testing.assert_series_equal(loaded.expected_purchases(cdnow_rfm, 39), model.expected_purchases(cdnow_rfm, 39))

    clv = CLVModel(purchase_model=name).fit(cdnow_rfm)
    np.testing.assert_allclose(clv.purchase_model_.params_.to_numpy(), model.params_.to_numpy(), rtol=1e-9)
    clv.save(tmp_path / "clv.joblib")
    again = load_model(tmp_path / "clv.joblib")
    assert again.purchase_model_.name == name
    forecast = clv.predict(cdnow_rfm, horizon=52, discount_rate=0.002)
    pd.testing.assert_frame_equal(again.predict(cdnow_rfm, horizon=52, discount_rate=0.002), forecast)
    undiscounted = clv.predict(cdnow_rfm, horizon=52)
    assert (forecast["clv"] <= undiscounted["clv"] * (1 + 1e-12)).all()
    assert forecast["clv"].sum() < undiscounted["clv"].sum()


@pytest.mark.parametrize("name", NAMES)
def test_forecasts_keep_their_invariants(fitted, cdnow_rfm, name):
    model = fitted[name]
    alive = model.probability_alive(cdnow_rfm)
    assert alive.between(0, 1).all() and alive.index.equals(cdnow_rfm.index)
    horizons = [0.0, 1.0, 13.0, 52.0, 260.0]
    expected = np.column_stack([model.expected_purchases(cdnow_rfm, t).to_numpy() for t in horizons])
    assert np.isfinite(expected).all() and (expected[:, 0] == 0).all() and (expected >= 0).all()
    assert (np.diff(expected, axis=1) >= -1e-10).all()
    # a customer's forecast rises with his past purchases, other things equal
    grid = pd.DataFrame({"frequency": [1, 5, 20], "recency": [30.0] * 3, "T": [32.0] * 3})
    if "litt" in model._fit_columns:
        grid["litt"] = 0.0
    assert np.all(np.diff(model.expected_purchases(grid, 52).to_numpy()) > 0)


@pytest.mark.parametrize("name", NAMES)
def test_new_customer_purchase_distribution_sums_to_one_with_the_right_mean(fitted, name):
    model = fitted[name]
    n = np.arange(0, 1000)
    for t in (1.0, 39.0, 78.0):
        probabilities = model.probability_of_n_purchases(t, n)
        assert (probabilities >= -1e-12).all()
        assert probabilities.sum() == pytest.approx(1.0, abs=1e-7)
        assert float(n @ probabilities) == pytest.approx(model.expected_purchases_new_customer(t), rel=1e-5)
    curve = model.expected_purchases_new_customer(np.array([0.0, 10.0, 50.0, 100.0]))
    assert curve[0] == 0 and np.all(np.diff(curve) > 0)


@pytest.mark.parametrize("name", NAMES)
def test_from_params_predicts_as_the_fit_does(fitted, cdnow_rfm, name):
    model = fitted[name]
    given = type(model).from_params(time_unit="W", **model.params_.to_dict())
    pd.testing.assert_series_equal(given.expected_purchases(cdnow_rfm, 52), model.expected_purchases(cdnow_rfm, 52))
    pd.testing.assert_series_equal(given.probability_alive(cdnow_rfm), model.probability_alive(cdnow_rfm))


@pytest.mark.parametrize("name", NAMES)
def test_the_simulator_draws_what_the_fit_recovers(fitted, name):
    truth = fitted[name]
    given = type(truth).from_params(time_unit="W", **truth.params_.to_dict())
    rng = np.random.default_rng(5)
    simulated = given.simulate(20_000, rng.uniform(20.0, 78.0, 20_000).round(2), seed=17)
    settings = {"k": int(truth.params_["k"])} if "k" in truth.params_ else {}
    recovered = type(truth)(**settings).fit(simulated)
    names = list(truth._param_names)
    z = (recovered.params_[names] - truth.params_[names]) / recovered.standard_errors_[names]
    assert (z.abs() < 4).all(), z.to_dict()


@pytest.mark.parametrize("name", NAMES)
def test_evaluation_and_every_diagnostic_plot_take_the_model(name, cdnow_log):
    from clv_predict import evaluate, rfm_train_test_split
    from clv_predict.report import render_plots

    split = rfm_train_test_split(cdnow_log, customer_id_col="customer_id", datetime_col="date",
                                 monetary_value_col="amount", train_period_end=END, time_unit="W", regularity=True)
    model = CLVModel(purchase_model=name).fit(split)
    result = evaluate(model, split)
    assert result.settings["methods"]["model"].startswith(model.purchase_model_.label)
    # every model of the family forecasts CDNOW's 1,882 holdout purchases within a third
    assert 1250 < result.aggregate.loc[("model", "purchases"), "predicted"] < 2500
    plots = render_plots(model, cdnow_log, split, dpi=40)
    assert len(plots) >= 10 and all(plot.png[:4] == b"\x89PNG" for plot in plots)


def _direct_discounted_sum(model, rfm, horizon, discount_rate):
    x, t_x, T = (rfm[c].to_numpy() for c in ("frequency", "recency", "T"))
    params = model._params()
    periods = np.arange(0, horizon + 1, dtype=float)
    cumulative = model._expected_if_alive_values(params, x[:, None], t_x[:, None], T[:, None], periods[None, :])
    direct = np.diff(cumulative, axis=1) @ (1.0 + discount_rate) ** -periods[1:]
    return direct * model._probability_alive_values(params, x, t_x, T)


@pytest.mark.parametrize("name", NAMES)
def test_discounted_forecast_of_a_huge_horizon_is_cut_off_when_the_rest_is_negligible(fitted, cdnow_rfm, name,
                                                                                       monkeypatch):
    model = fitted[name]
    rows = cdnow_rfm.sort_values(["frequency", "T"]).iloc[::400]  # a few customers: the direct sum is slow
    direct = _direct_discounted_sum(model, rows, 15_000, 0.002)  # (1.002)^-15000 < 1e-13: nothing left after it
    cells = []
    original = type(model)._expected_if_alive_values

    def counting(self, params, x, t_x, T, t):
        cells.append(np.broadcast(x, t).size)
        return original(self, params, x, t_x, T, t)

    monkeypatch.setattr(type(model), "_expected_if_alive_values", counting)
    x, t_x, T = (rows[c].to_numpy() for c in ("frequency", "recency", "T"))
    _, discounted = model._forecast(x, t_x, T, 1_000_000, 0.002)
    distinct = len(rows.groupby(list(model._if_alive_columns)))
    assert sum(cells) < 13_000 * distinct  # about ln(1e9) / 0.002 periods per distinct row, not a million
    np.testing.assert_allclose(discounted, direct, rtol=1e-9)
    cells.clear()
    expected, undiscounted = model._forecast(x, t_x, T, 1_000_000, 0.0)
    assert sum(cells) <= 2 * distinct and np.array_equal(expected, undiscounted)


@pytest.mark.parametrize("name", NAMES)
def test_one_time_buyers_alive_alternative_is_declared_truthfully(fitted, cdnow_rfm, name):
    """A model that names an alternative keeps every one-time buyer alive; the alternative is a registered model
    that does not (so a report can show its answer instead)."""
    model = fitted[name]
    once = cdnow_rfm[cdnow_rfm["frequency"] == 0]
    p_alive = model.probability_alive(once)
    alternative = model.one_time_buyers_alive_alternative
    if alternative is None:
        assert p_alive.min() < 0.99
    else:
        np.testing.assert_allclose(p_alive.to_numpy(), 1.0)
        assert alternative in PURCHASE_MODELS and fitted[alternative].one_time_buyers_alive_alternative is None
        assert fitted[alternative].probability_alive(once).min() < 0.99
