"""Saved models with covariates: the encoding learnt in training comes back, and predictions with it."""

import numpy as np
import pytest
from test_covariates_sbg import _simulate as simulate_contracts
from test_covariates_spend import _simulate as simulate_spend

from clv_predict import (
    BetaGeoModel,
    DataError,
    GammaGammaModel,
    ShiftedBetaGeoModel,
    load_model,
)


def test_gamma_gamma_with_covariates_round_trips(tmp_path):
    rfm = simulate_spend(400, seed=1)
    model = GammaGammaModel(covariates=["channel", "age"], covariate_reference={"channel": "web"}).fit(rfm)
    model.save(tmp_path / "spend.joblib")
    loaded = load_model(tmp_path / "spend.joblib")
    assert loaded.params_.equals(model.params_) and loaded.covariance_.equals(model.covariance_)
    assert loaded.covariate_encoding_ == model.covariate_encoding_
    assert loaded.covariates == ["channel", "age"]
    np.testing.assert_array_equal(loaded.expected_spend(rfm), model.expected_spend(rfm))
    with pytest.raises(DataError, match="lacks the covariate"):
        loaded.expected_spend(rfm.drop(columns="age"))


def test_sbg_with_covariates_round_trips(tmp_path):
    summary = simulate_contracts(400, seed=2)
    model = ShiftedBetaGeoModel(covariates=["plan", "age"]).fit(summary)
    model.save(tmp_path / "sbg.joblib")
    loaded = load_model(tmp_path / "sbg.joblib")
    assert loaded.params_.equals(model.params_)
    np.testing.assert_array_equal(loaded.expected_residual_lifetime(summary, discount_rate=0.1),
                                  model.expected_residual_lifetime(summary, discount_rate=0.1))


def test_purchase_model_with_covariates_round_trips(tmp_path):
    truth = BetaGeoModel.from_params(r=0.5, alpha=5.0, a=0.8, b=2.4, time_unit="W")
    rfm = truth.simulate(1500, 30.0, seed=3)
    rfm["channel"] = np.random.default_rng(3).choice(["shop", "web"], len(rfm))
    model = BetaGeoModel(purchase_covariates=["channel"], dropout_covariates=["channel"]).fit(rfm)
    model.save(tmp_path / "bg.joblib")
    loaded = load_model(tmp_path / "bg.joblib")
    assert loaded.params_.equals(model.params_)
    np.testing.assert_array_equal(loaded.expected_purchases(rfm, 10), model.expected_purchases(rfm, 10))


def test_clv_model_with_spend_covariates_round_trips(tmp_path):
    from clv_predict import CLVModel

    truth = BetaGeoModel.from_params(r=0.5, alpha=5.0, a=0.8, b=2.4, time_unit="W")
    rfm = truth.simulate(2000, 30.0, seed=4)
    spend = simulate_spend(2000, seed=4)
    rfm["channel"] = spend["channel"].to_numpy()
    rfm["monetary_value"] = np.where(rfm["frequency"] > 0, spend["monetary_value"].to_numpy(), 0.0)
    model = CLVModel(spend_covariates=["channel"]).fit(rfm)
    assert [name for name in model.params_.index if name.startswith("spend:")] == [
        "spend:channel[shop]", "spend:channel[web]"]
    forecast = model.predict(rfm, horizon=10, discount_rate=0.01)
    np.testing.assert_allclose(forecast["expected_spend"], model.spend_model_.expected_spend(rfm))
    model.save(tmp_path / "clv.joblib")
    loaded = load_model(tmp_path / "clv.joblib")
    assert loaded.spend_covariates == ["channel"]
    np.testing.assert_array_equal(loaded.predict(rfm, horizon=10, discount_rate=0.01), forecast)
