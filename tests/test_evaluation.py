import numpy as np
import pandas as pd
import pytest

import clv_predict
from clv_predict import (
    BetaGeoModel,
    DataError,
    NotFittedError,
    evaluate,
    load_model,
    rfm_train_test_split,
)
from clv_predict.evaluation import capture_curve, gini_coefficient, ranking_quality

TRAIN_END, TEST_END = pd.Timestamp("1997-09-30"), pd.Timestamp("1998-06-30")


@pytest.fixture(scope="module")
def result(cdnow_model, cdnow_split):
    return evaluate(cdnow_model, cdnow_split)


def test_evaluate_is_exported():
    assert clv_predict.evaluate is evaluate


def test_cdnow_holdout_purchases_are_what_the_data_and_model_say(result, cdnow_split, cdnow_model):
    row = result.aggregate.loc[("model", "purchases")]
    # actual: repeat transactions of the training cohort in the holdout, as the split counts them
    assert row["actual"] == cdnow_split["test_frequency"].sum() == 1882
    expected = cdnow_model.expected_purchases(cdnow_split, 39).sum()
    assert row["predicted"] == pytest.approx(expected, rel=1e-12)
    # the published figure: BG/NBD under-predicts the CDNOW holdout by about 12%
    assert round(row["predicted"]) == 1653
    assert row["percent_error"] == pytest.approx(100 * (expected - 1882) / 1882)
    assert row["percent_error"] == pytest.approx(-12.1, abs=0.1)
    assert "1,882 repeat transactions, the model predicted 1,653 (-12.1%)" in result.headline()


def test_actual_revenue_matches_the_raw_log(result, cdnow_log):
    first = cdnow_log.groupby("customer_id")["date"].transform("min")
    holdout = (cdnow_log["date"] > TRAIN_END) & (cdnow_log["date"] <= TEST_END) & (first <= TRAIN_END)
    revenue = result.aggregate.loc[("model", "revenue")]
    assert revenue["actual"] == pytest.approx(cdnow_log.loc[holdout, "amount"].sum(), rel=1e-12)
    predictions = result.predictions
    assert revenue["predicted"] == pytest.approx(predictions["model_revenue"].sum())
    assert revenue["error"] == pytest.approx(revenue["predicted"] - revenue["actual"])


def test_baselines_follow_their_formulas(result, cdnow_split):
    f, T = cdnow_split["frequency"], cdnow_split["T"]
    rate = f / T
    historical = result.aggregate.loc[("historical_rate", "purchases"), "predicted"]
    assert historical == pytest.approx((rate * 39).sum())
    churn = 1 - (f > 0).mean()
    lifespan = T.mean() / churn
    assert result.settings["classic_lifespan"] == pytest.approx(lifespan)
    classic = result.aggregate.loc[("classic_formula", "purchases"), "predicted"]
    assert classic == pytest.approx((rate * lifespan * (1 - np.exp(-39 / lifespan))).sum())
    # carrying the historical rate forward ignores dropout and over-predicts: the model must beat it here
    errors = result.aggregate.xs("purchases", level="quantity")["percent_error"].abs()
    assert errors["model"] < errors["historical_rate"]
    mae = result.per_customer["purchases_mae"]
    assert mae["model"] < mae["historical_rate"] and mae["model"] < mae["classic_formula"]


def test_per_customer_errors_are_computed_on_the_predictions(result):
    p = result.predictions
    error = p["model_purchases"] - p["actual_purchases"]
    assert result.per_customer.loc["model", "purchases_mae"] == pytest.approx(error.abs().mean())
    assert result.per_customer.loc["model", "purchases_rmse"] == pytest.approx(np.sqrt((error**2).mean()))
    assert (result.per_customer.filter(like="rmse").to_numpy() >= result.per_customer.filter(like="mae").to_numpy()).all()


def test_by_frequency_table(result, cdnow_split):
    table = result.by_frequency
    assert list(table.index) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert table["customers"].sum() == len(cdnow_split)
    assert table.loc["0", "customers"] == (cdnow_split["frequency"] == 0).sum() == 1411
    heavy = cdnow_split[cdnow_split["frequency"] >= 7]
    assert table.loc["7+", "actual"] == pytest.approx(heavy["test_frequency"].mean())
    # the per-bin means add back up to the aggregate forecast
    total = (table["model"] * table["customers"]).sum()
    assert total == pytest.approx(result.aggregate.loc[("model", "purchases"), "predicted"])
    # the model's conditional expectations rise with training frequency, as the data do
    assert table["model"].is_monotonic_increasing


def test_ranking_quality(result):
    ranking = result.ranking
    assert list(ranking.index) == ["model", "historical_rate", "classic_formula", "perfect"]
    assert ranking.loc["perfect", "gini"] == pytest.approx(1.0)
    assert (ranking["gini"] <= 1 + 1e-12).all()
    assert (ranking["top_decile_capture"] <= ranking.loc["perfect", "top_decile_capture"] + 1e-12).all()
    # a useful model ranks much better than chance (0), and its top tenth brings several times a tenth of revenue
    assert ranking.loc["model", "gini"] > 0.4
    assert ranking.loc["model", "top_decile_capture"] > 0.3


def test_capture_curve_and_gini():
    x, y = capture_curve([5, 5, 1, 0], [4, 0, 1, 0])
    # the tied top pair is one block holding 4 of 5
    assert x.tolist() == [0.0, 0.5, 0.75, 1.0]
    assert y.tolist() == pytest.approx([0.0, 0.8, 1.0, 1.0])
    assert gini_coefficient(np.ones(10)) == pytest.approx(0.0)
    assert gini_coefficient([0] * 9 + [1]) == pytest.approx(0.9)
    value = np.arange(20.0)
    assert ranking_quality(value, value)["gini"] == pytest.approx(1.0)
    assert ranking_quality(-value, value)["gini"] == pytest.approx(-1.0)
    assert ranking_quality(np.zeros(20), value)["gini"] == pytest.approx(0.0)
    with pytest.raises(DataError, match="sum to 0"):
        capture_curve([1, 2], [0, 0])
    with pytest.raises(DataError, match="finite"):
        capture_curve([1, np.nan], [1, 2])


def test_evaluation_from_a_model_loaded_from_disk(tmp_path, cdnow_model, cdnow_split, result):
    path = tmp_path / "model.joblib"
    cdnow_model.save(path)
    loaded = evaluate(load_model(path), cdnow_split)
    pd.testing.assert_frame_equal(loaded.aggregate, result.aggregate)
    pd.testing.assert_frame_equal(loaded.by_frequency, result.by_frequency)


def test_purchase_model_alone_gives_purchases_without_revenue(cdnow_split, result):
    bgnbd = BetaGeoModel().fit(cdnow_split)
    alone = evaluate(bgnbd, cdnow_split)
    assert alone.aggregate.loc[("model", "purchases"), "predicted"] == pytest.approx(
        result.aggregate.loc[("model", "purchases"), "predicted"], rel=1e-6
    )
    assert np.isnan(alone.aggregate.loc[("model", "revenue"), "predicted"])
    assert alone.ranking.empty


def test_repr_and_html(result):
    text = repr(result)
    assert "Mean holdout purchases by training frequency" in text and "7+" in text
    page = result._repr_html_()
    assert page.count("<table") == 4
    assert "1,882" in page
    assert all(isinstance(t, pd.DataFrame) for t in result.tables().values())


def test_errors_name_the_problem(cdnow_model, cdnow_split, cdnow_log):
    with pytest.raises(DataError, match="no column 'test_frequency'"):
        evaluate(cdnow_model, cdnow_split.drop(columns="test_frequency"))
    with pytest.raises(DataError, match="'test_T' must be the same"):
        evaluate(cdnow_model, cdnow_split.assign(test_T=np.arange(len(cdnow_split)) + 1.0))
    with pytest.raises(DataError, match="must be a fitted CLVModel or purchase model"):
        evaluate("model", cdnow_split)
    with pytest.raises(NotFittedError):
        evaluate(clv_predict.CLVModel(), cdnow_split)
    daily = rfm_train_test_split(cdnow_log, customer_id_col="customer_id", datetime_col="date",
                                 monetary_value_col="amount", train_period_end=TRAIN_END, time_unit="D")
    with pytest.raises(DataError, match="time unit 'D'"):
        evaluate(cdnow_model, daily)
