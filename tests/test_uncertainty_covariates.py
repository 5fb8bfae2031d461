import numpy as np
import pandas as pd
import pytest

from clv_predict import BetaGeoModel, CLVModel
from clv_predict.exceptions import DataError
from clv_predict.uncertainty import bootstrap_params, forecast_total


def test_covariate_models_refused_by_uncertainty_not_answered_wrongly():
    cov = pd.DataFrame({"channel": np.random.default_rng(0).choice(["web", "shop"], 2000)})
    truth = BetaGeoModel.from_params(r=0.5, alpha=6.0, a=0.8, b=2.5, time_unit="W",
                                     coefficients={"purchase:channel[shop]": 0.7}, covariates=cov)
    rfm = truth.simulate(2000, 52.0, seed=1, covariates=cov)
    spend = np.random.default_rng(2).gamma(6.0, 5.0, 2000)
    rfm["monetary_value"] = np.where(rfm["frequency"] > 0, spend, 0.0)
    model = BetaGeoModel(purchase_covariates=["channel"]).fit(rfm)
    point = model.predict(rfm, horizon=10)
    assert np.allclose(point["expected_purchases"], model.expected_purchases(rfm, 10))
    for call in (lambda: model.predict(rfm, horizon=10, interval=0.9),
                 lambda: model.conditional_probability_of_n_purchases(rfm, 10, 3),
                 lambda: forecast_total(model, rfm, horizon=10),
                 lambda: bootstrap_params(model, rfm, n_refits=2)):
        with pytest.raises(DataError, match="covariates.*'channel'"):
            call()
    clv = CLVModel(purchase_covariates=["channel"]).fit(rfm)
    with pytest.raises(DataError, match="not available yet for a model with covariates"):
        clv.predict(rfm, horizon=10, interval=0.9)
