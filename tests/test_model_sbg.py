"""The shifted-beta-geometric model (Fader & Hardie 2007, 2010): the published cohorts and their projections,
DERL, the survival curves, the simulator, and a saved model."""

import numpy as np
import pandas as pd
import pytest

from clv_predict import (
    PURCHASE_MODELS,
    DataError,
    NotFittedError,
    ShiftedBetaGeoModel,
    load_model,
)
from clv_predict.models import DISCRETE_MODELS, model_class_of_kind

REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]
# Fader & Hardie 2007, Table 1: the survivors of years 8 to 12, which the model fitted on years 0-7 projects
REGULAR_LATER = [223, 207, 194, 183, 173]
HIGH_END_LATER = [468, 445, 427, 409, 394]


@pytest.mark.parametrize(
    "survivors, expected, later",
    [
        (REGULAR, {"alpha": 0.704, "beta": 1.182}, REGULAR_LATER),
        (HIGH_END, {"alpha": 0.668, "beta": 3.806}, HIGH_END_LATER),
    ],
)
def test_cohorts_of_fader_hardie_2007_and_their_projection(survivors, expected, later):
    model = ShiftedBetaGeoModel().fit_survivors(survivors)
    assert model.params_.round(3).to_dict() == expected
    assert model.n_customers_ == 1000 and model.n_repeat_customers_ == 1000 - survivors[-1]
    assert model.convergence_["converged"]
    # the fitted curve runs through the calibration years and projects years 8 to 12 within 5 %
    fitted = 1000 * model.survival_function(range(8))
    np.testing.assert_allclose(fitted, survivors, rtol=0.05)
    projected = 1000 * model.survival_function(range(8, 13))
    np.testing.assert_allclose(projected, later, rtol=0.05)


def test_fit_on_a_contract_summary_equals_the_fit_on_survivors():
    lost = -np.diff(REGULAR)
    per_customer = pd.DataFrame(
        {
            "T": np.concatenate([np.repeat(np.arange(1, 8), lost), np.full(REGULAR[-1], 7)]),
            "churned": np.concatenate([np.ones(lost.sum(), bool), np.zeros(REGULAR[-1], bool)]),
        }
    )
    from_rows = ShiftedBetaGeoModel().fit(per_customer)
    from_survivors = ShiftedBetaGeoModel().fit_survivors(REGULAR)
    np.testing.assert_allclose(from_rows.params_, from_survivors.params_, rtol=1e-6)
    assert from_rows.log_likelihood_ == pytest.approx(from_survivors.log_likelihood_, rel=1e-10)
    # the likelihood from its definition: P(churn at t) = S(t - 1) - S(t), still active S(7)
    S = from_rows.survival_function(range(8)).to_numpy()
    direct = lost @ np.log(S[:-1] - S[1:]) + REGULAR[-1] * np.log(S[-1])
    assert from_rows.log_likelihood_ == pytest.approx(direct, rel=1e-10)
    assert np.all(np.isfinite(from_rows.standard_errors_))


def test_derl_of_fader_hardie_2010():
    model = ShiftedBetaGeoModel.from_params(alpha=3.80, beta=15.20)
    summary = pd.DataFrame({"T": [0, 1, 2, 3, 4], "churned": False})
    derl = model.expected_residual_lifetime(summary, discount_rate=0.1)
    assert derl.round(2).tolist() == [3.31, 3.45, 3.59, 3.72, 3.84]
    # against its definition: sum over k >= 0 of S(T + 1 + k) / S(T), discounted by 1.1^-k
    S = model.survival_function(range(1000)).to_numpy()
    for T in range(5):
        direct = S[T + 1 :] / S[T] @ 1.1 ** -np.arange(1000 - T - 1)
        assert derl.iloc[T] == pytest.approx(direct, rel=1e-10)


def test_derl_is_finite_for_long_tenures_and_zero_after_churn():
    model = ShiftedBetaGeoModel.from_params(alpha=0.704, beta=1.182)
    summary = pd.DataFrame({"T": [0, 10, 1000, 5000, 100_000, 3], "churned": [False] * 5 + [True]})
    for rate in (0.1, 0.001):
        derl = model.expected_residual_lifetime(summary, discount_rate=rate)
        assert np.all(np.isfinite(derl))
        assert derl.iloc[-1] == 0
        # retention grows with tenure, and the discounted lifetime with it, towards 1 / (1 - 1 / (1 + d)) = (1 + d) / d
        assert (np.diff(derl.iloc[:5]) > 0).all() and derl.iloc[4] < (1 + rate) / rate


def test_survival_and_retention_curves_by_tenure():
    model = ShiftedBetaGeoModel.from_params(alpha=0.704, beta=1.182)
    survival = model.survival_function(range(13))
    retention = model.retention_rate(range(1, 13))
    assert survival.index.name == retention.index.name == "period"
    assert survival.iloc[0] == 1 and (np.diff(survival) < 0).all()
    np.testing.assert_allclose(retention.to_numpy(), survival.iloc[1:].to_numpy() / survival.iloc[:-1].to_numpy())
    assert (np.diff(retention) > 0).all()
    assert np.all(np.isfinite(model.survival_function([10_000, 1_000_000])))


def test_expected_and_median_lifetime():
    heavy_tail = ShiftedBetaGeoModel.from_params(alpha=0.704, beta=1.182)
    assert heavy_tail.expected_lifetime() == float("inf")
    median = heavy_tail.median_lifetime()
    survival = heavy_tail.survival_function([median - 1, median])
    assert survival.iloc[0] > 0.5 >= survival.iloc[1]
    model = ShiftedBetaGeoModel.from_params(alpha=3.80, beta=15.20)
    assert model.expected_lifetime() == pytest.approx(model.survival_function(range(200_000)).sum(), rel=1e-3)


def test_simulation_is_seeded_and_the_fit_recovers_its_parameters():
    truth = ShiftedBetaGeoModel.from_params(alpha=0.704, beta=1.182)
    sample = truth.simulate(20_000, 12, seed=5)
    pd.testing.assert_frame_equal(sample, truth.simulate(20_000, 12, seed=5))
    assert (sample.loc[sample["churned"], "T"] >= 1).all() and (sample["T"] <= 12).all()
    model = ShiftedBetaGeoModel().fit(sample)
    distance = (model.params_ - truth.params_).abs() / model.standard_errors_
    assert (distance < 4).all(), distance.to_dict()


def test_registered_and_round_trips_through_save_and_load(tmp_path):
    assert DISCRETE_MODELS["sbg"] == ("shifted_beta_geo", "ShiftedBetaGeoModel")
    assert "ShiftedBetaGeoModel" not in {name for _, name in PURCHASE_MODELS.values()}
    assert model_class_of_kind("ShiftedBetaGeoModel") is ShiftedBetaGeoModel
    model = ShiftedBetaGeoModel().fit_survivors(HIGH_END)
    model.save(tmp_path / "sbg.joblib")
    loaded = load_model(tmp_path / "sbg.joblib")
    assert type(loaded) is ShiftedBetaGeoModel
    assert loaded.params_.to_dict() == model.params_.to_dict()
    pd.testing.assert_frame_equal(loaded.summary(), model.summary())
    given = ShiftedBetaGeoModel.from_params(alpha=3.8, beta=15.2)
    given.save(tmp_path / "given.joblib")
    assert load_model(tmp_path / "given.joblib").params_.to_dict() == {"alpha": 3.8, "beta": 15.2}


def test_errors_name_the_input():
    model = ShiftedBetaGeoModel.from_params(alpha=1.0, beta=1.0)
    with pytest.raises(DataError, match="'survivors'"):
        ShiftedBetaGeoModel().fit_survivors([1000, 1200])
    with pytest.raises(DataError, match="at least one period"):
        ShiftedBetaGeoModel().fit(pd.DataFrame({"T": [0], "churned": [True]}))
    with pytest.raises(DataError, match="'churned' must be"):
        ShiftedBetaGeoModel().fit(pd.DataFrame({"T": [1], "churned": [2]}))
    with pytest.raises(DataError, match="column 'churned'"):
        model.expected_residual_lifetime(pd.DataFrame({"T": [1]}), discount_rate=0.1)
    with pytest.raises(DataError, match="discount_rate"):
        model.expected_residual_lifetime(pd.DataFrame({"T": [1], "churned": [False]}), discount_rate=-1)
    with pytest.raises(DataError, match="'periods'"):
        model.retention_rate([0])
    with pytest.raises(DataError, match="unknown gamma"):
        ShiftedBetaGeoModel.from_params(alpha=1, beta=1, gamma=1)
    with pytest.raises(NotFittedError):
        ShiftedBetaGeoModel().survival_function([1])


def test_summary_leaves_the_fitted_parameters_as_they_were():
    # summary() named the index of params_ and standard_errors_ "parameter" too (it shared their Index)
    model = ShiftedBetaGeoModel().fit_survivors(REGULAR)
    before = model.params_.copy(), model.standard_errors_.copy()
    model.summary()
    pd.testing.assert_series_equal(model.params_, before[0])
    pd.testing.assert_series_equal(model.standard_errors_, before[1])
