"""The contract every registered model of discrete opportunities keeps, run on each without new test code.

A model added to ``clv_predict.models.OPPORTUNITY_MODELS`` is held here to: a fit on the donations data
that converges; the same estimates from compressed rows with weights; a saved model and a CLVModel that
predict the same; P(alive) in [0, 1]; expected purchases that grow with the horizon and discounted ones
that fall with the discount rate and approach DERT; a purchase distribution of a new customer that sums
to 1 with the mean of its expectation; ``from_params`` that predicts the same; a simulator whose
draws the fit recovers; and the hooks of the bounds (predict with interval).
"""

import numpy as np
import pandas as pd
import pytest

from clv_predict import CLVModel, load_model
from clv_predict.datasets import load_donations
from clv_predict.models import OPPORTUNITY_MODELS, purchase_model_class

NAMES = list(OPPORTUNITY_MODELS)


@pytest.fixture(scope="module")
def donations():
    return load_donations()


@pytest.fixture(scope="module")
def fitted(donations):
    return {name: purchase_model_class(name)().fit(donations) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_fit_on_donations_converges_and_reports_itself(fitted, donations, name):
    model = fitted[name]
    assert model.convergence_["converged"] and model.name == name and model.label
    assert np.isfinite(model.log_likelihood_) and model.n_customers_ == len(donations)
    assert model.period_ == "Y" and model.time_unit_ is None
    assert np.isfinite(model.summary()["standard_error"]).all()


@pytest.mark.parametrize("name", NAMES)
def test_compressed_rows_with_weights_give_the_same_fit(fitted, donations, name):
    compressed = donations.groupby(["frequency", "recency", "T"]).size().rename("customers").reset_index()
    again = purchase_model_class(name)().fit(compressed, weights="customers")
    np.testing.assert_allclose(again.params_.to_numpy(), fitted[name].params_.to_numpy(), rtol=1e-5)
    assert again.log_likelihood_ == pytest.approx(fitted[name].log_likelihood_, rel=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_saved_model_and_clv_model_predict_the_same(fitted, donations, name, tmp_path):
    model = fitted[name]
    model.save(tmp_path / "m.joblib")
    loaded = load_model(tmp_path / "m.joblib")
    assert type(loaded) is type(model) and loaded.period_ == model.period_
    pd.testing.assert_series_equal(loaded.expected_purchases(donations, 5), model.expected_purchases(donations, 5))
    spend = np.random.default_rng(0).gamma(6.0, 10.0, len(donations))
    with_money = donations.assign(monetary_value=np.where(donations["frequency"] > 0, spend, 0.0))
    clv = CLVModel(purchase_model=name).fit(with_money)
    np.testing.assert_allclose(clv.purchase_model_.params_.to_numpy(), model.params_.to_numpy(), rtol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_forecasts_keep_their_invariants(fitted, donations, name):
    model = fitted[name]
    assert model.probability_alive(donations).between(0, 1).all()
    assert (model.expected_purchases(donations, 5) >= model.expected_purchases(donations, 2) - 1e-12).all()
    low = model.expected_residual_purchases(donations, discount_rate=0.05)
    high = model.expected_residual_purchases(donations, discount_rate=0.2)
    assert (high <= low + 1e-12).all()
    near = model.expected_residual_purchases(donations, discount_rate=0.05, horizon=2000)
    np.testing.assert_allclose(near, low, rtol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_new_customer_purchase_distribution_sums_to_one_with_the_right_mean(fitted, name):
    model = fitted[name]
    probabilities = model.probability_of_n_purchases(8, range(9))
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-12)
    assert probabilities @ np.arange(9) == pytest.approx(model.expected_purchases_new_customer(8), rel=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_from_params_predicts_as_the_fit_does(fitted, donations, name):
    model = fitted[name]
    given = type(model).from_params(**model.params_.to_dict())
    np.testing.assert_allclose(given.expected_purchases(donations, 3), model.expected_purchases(donations, 3))


@pytest.mark.parametrize("name", NAMES)
def test_the_simulator_draws_what_the_fit_recovers(fitted, name):
    truth = fitted[name]
    drawn = truth.simulate(40_000, 8, seed=3)
    again = type(truth)().fit(drawn)
    np.testing.assert_allclose(again.params_.to_numpy(), truth.params_.to_numpy(), rtol=0.15)


@pytest.mark.parametrize("name", NAMES)
def test_the_bounds_hooks_make_the_conditional_distribution_and_predict_bounds(fitted, donations, name):
    """The hooks of ``predict(..., interval=)``: P(alive at the next opportunity) times the survival of an alive
    customer's purchases (plus no purchase when dead) is the model's conditional distribution, with its mean;
    the bounds hold the point forecast's expectation between whole numbers within the horizon."""
    model = fitted[name]
    rows = donations.drop_duplicates(["frequency", "recency", "T"]).head(40)
    params = model._params()
    x, t_x, n = (rows[column].to_numpy(dtype=float) for column in ("frequency", "recency", "T"))
    p_alive = model._probability_alive_values(params, x, t_x, n)
    counts = np.arange(6, dtype=float)
    survival = model._survival_if_alive_values(params, x, t_x, n, 5, np.concatenate([counts, counts + 1]))
    pmf = p_alive[:, None] * (survival[:, :6] - survival[:, 6:]) + (1 - p_alive)[:, None] * (counts == 0)
    np.testing.assert_allclose(pmf.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(pmf @ counts, model.expected_purchases(rows, 5), rtol=1e-10)
    np.testing.assert_allclose(p_alive * model._expected_if_alive_values(params, x, t_x, n, 5),
                               model.expected_purchases(rows, 5), rtol=1e-10)
    if hasattr(model, "conditional_probability_of_n_purchases"):
        np.testing.assert_allclose(pmf, model.conditional_probability_of_n_purchases(rows, 5, 5), atol=1e-12)
    frame = model.predict(rows, horizon=5, interval=0.9)
    assert (frame["purchases_lower"] <= frame["purchases_upper"]).all() and (frame["purchases_upper"] <= 5).all()
    assert (frame["purchases_ci_lower"] <= frame["expected_purchases"]).all()
    assert (frame["expected_purchases"] <= frame["purchases_ci_upper"]).all()
