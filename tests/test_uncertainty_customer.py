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
