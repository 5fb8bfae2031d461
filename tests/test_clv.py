import numpy as np
import pandas as pd
import pytest

from clv_predict import CLVModel, DataError, NotFittedError


def test_undiscounted_clv_is_margin_times_spend_times_purchases(cdnow_model, cdnow_split):
    forecast = cdnow_model.predict(cdnow_split, horizon=39, margin=0.3)
    assert list(forecast.columns) == ["expected_purchases", "p_alive", "expected_spend", "clv"]
    assert forecast.index.equals(cdnow_split.index)
    np.testing.assert_allclose(forecast["clv"], 0.3 * forecast["expected_spend"] * forecast["expected_purchases"], rtol=1e-12)
    np.testing.assert_allclose(forecast["expected_purchases"], cdnow_model.expected_purchases(cdnow_split, 39), rtol=1e-12)


def test_discounted_clv_is_the_sum_of_discounted_increments(cdnow_model, cdnow_split):
    rate, horizon = 0.01, 12
    forecast = cdnow_model.predict(cdnow_split, horizon=horizon, discount_rate=rate)
    cumulative = [np.zeros(len(cdnow_split))] + [
        cdnow_model.expected_purchases(cdnow_split, k).to_numpy() for k in range(1, horizon + 1)
    ]
    brute = sum((cumulative[k] - cumulative[k - 1]) / (1 + rate) ** k for k in range(1, horizon + 1))
    np.testing.assert_allclose(forecast["clv"], forecast["expected_spend"] * brute, rtol=1e-10)


def test_clv_grows_with_horizon_and_falls_with_discount(cdnow_model, cdnow_split):
    short = cdnow_model.predict(cdnow_split, horizon=13, discount_rate=0.002)["clv"]
    long = cdnow_model.predict(cdnow_split, horizon=52, discount_rate=0.002)["clv"]
    steep = cdnow_model.predict(cdnow_split, horizon=52, discount_rate=0.02)["clv"]
    assert (long > short).all()
    assert (steep < long).all()
    assert (cdnow_model.predict(cdnow_split, horizon=52)["clv"] > long).all()


def test_holdout_forecast_underpredicts_cdnow_by_about_twelve_percent(cdnow_model, cdnow_split):
    predicted = cdnow_model.predict(cdnow_split, horizon=39)["expected_purchases"].sum()
    actual = cdnow_split["test_frequency"].sum()
    assert actual == 1882
    assert (predicted - actual) / actual == pytest.approx(-0.121, abs=0.005)


def test_row_order_and_id_type_do_not_change_predictions(cdnow_model, cdnow_split):
    base = cdnow_model.predict(cdnow_split, horizon=52, discount_rate=0.002)
    shuffled = cdnow_split.sample(frac=1.0, random_state=3)
    shuffled.index = shuffled.index.astype(str)
    other = cdnow_model.predict(shuffled, horizon=52, discount_rate=0.002)
    other.index = other.index.astype(np.int64)
    pd.testing.assert_frame_equal(base, other.loc[base.index], check_names=False)


def test_refit_on_shuffled_string_ids_gives_the_same_parameters(cdnow_model, cdnow_split):
    shuffled = cdnow_split.sample(frac=1.0, random_state=5)
    shuffled.index = "c" + shuffled.index.astype(str)
    np.testing.assert_allclose(CLVModel().fit(shuffled).params_, cdnow_model.params_, rtol=1e-7)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(horizon=0), "'horizon' must be a positive whole number"),
        (dict(horizon=2.5), "'horizon' must be a positive whole number"),
        (dict(horizon=4, discount_rate=-0.1), "'discount_rate' must be >= 0"),
        (dict(horizon=4, margin=float("nan")), "'margin' must be a finite number"),
    ],
)
def test_bad_forecast_settings_are_refused(cdnow_model, cdnow_split, kwargs, message):
    with pytest.raises(DataError, match=message):
        cdnow_model.predict(cdnow_split, **kwargs)


def test_unfitted_and_missing_monetary_value(cdnow_split, cdnow_model):
    with pytest.raises(NotFittedError):
        CLVModel().predict(cdnow_split, horizon=4)
    with pytest.raises(DataError, match="no column 'monetary_value'"):
        cdnow_model.predict(cdnow_split.drop(columns="monetary_value"), horizon=4)
    summary = cdnow_model.summary()
    assert list(summary.index) == ["r", "alpha", "a", "b", "p", "q", "v"]
    assert set(summary["model"]) == {"BG/NBD", "Gamma-Gamma"}
