"""Historical CLV, cohorts, segments and budgets: arithmetic on a hand-made log, then the CDNOW master.

The hand-made log (``HAND``), observed to 2024-04-30, in days since 2024-01-01:

    customer  purchases (day: amount)                      transactions  revenue  months active
    A         0: 10 + 5 (same day, one transaction), 14: 20, 70: 25    3       60   Jan, Mar
    B         7: 40                                                    1       40   Jan
    C         35: 12, 49: 12 + 0 (same day), 63: 6                     3       30   Feb, Mar
    D         119: 30                                                  1       30   Apr

The end, 2024-04-30, is day 120 (2024 is a leap year: Jan 31 + Feb 29 + Mar 31 + 29 days of April).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from clv_predict import (
    CLVModel,
    DataError,
    DataWarning,
    NotFittedError,
    analytics,
    rfm_summary,
)
from clv_predict.analytics import (
    acquisition_budget,
    acquisition_cohorts,
    cohort_clv,
    compare_clv,
    cumulative_value,
    customer_segments,
    historical_clv,
    historical_clv_summary,
    interpurchase_times,
    retention_by_period,
    retention_matrix,
    segment_summary,
)

COLS = {"customer_id_col": "customer", "datetime_col": "day", "monetary_value_col": "amount"}
END = "2024-04-30"

HAND = pd.DataFrame(
    [
        ("A", "2024-01-01", 10.0),
        ("A", "2024-01-01", 5.0),
        ("A", "2024-01-15", 20.0),
        ("A", "2024-03-11", 25.0),
        ("B", "2024-01-08", 40.0),
        ("C", "2024-02-05", 12.0),
        ("C", "2024-02-19", 12.0),
        ("C", "2024-02-19", 0.0),
        ("C", "2024-03-04", 6.0),
        ("D", "2024-04-29", 30.0),
    ],
    columns=["customer", "day", "amount"],
)

# Monthly retention: active Jan {A, B}, Feb {C}, Mar {A, C}, Apr {D}; pairs Jan->Feb 0 of 2,
# Feb->Mar 1 of 1, Mar->Apr 0 of 2: pooled r = 1 / 5.
R_MONTHLY = 0.2
MONTH_IN_WEEKS = 365.25 / 12 / 7


def test_customer_history_by_hand():
    history = historical_clv(HAND, **COLS, observation_period_end=END, time_unit="W", period="M", margin=0.5)
    assert list(history.index) == ["A", "B", "C", "D"]
    assert history["n_transactions"].tolist() == [3, 1, 3, 1]
    assert history["total_revenue"].tolist() == [60.0, 40.0, 30.0, 30.0]
    assert history["average_order_value"].tolist() == [20.0, 40.0, 10.0, 30.0]
    assert history["first_purchase"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-01", "2024-01-08", "2024-02-05", "2024-04-29"]
    assert history["last_purchase"].dt.strftime("%Y-%m-%d").tolist() == ["2024-03-11", "2024-01-08", "2024-03-04", "2024-04-29"]
    # lifespan: A 70 days = 10 weeks, C 28 days = 4 weeks; tenure: 120, 113, 85, 1 days
    np.testing.assert_allclose(history["lifespan"], [10.0, 0.0, 4.0, 0.0])
    np.testing.assert_allclose(history["tenure"], np.array([120, 113, 85, 1]) / 7)
    # purchase frequency per week of tenure: 3 / (120/7) = 0.175, 1 / (113/7), 3 / (85/7), 1 / (1/7) = 7
    np.testing.assert_allclose(history["purchase_frequency"], [0.175, 7 / 113, 21 / 85, 7.0])
    # mean time between purchases: A 10 weeks / 2 gaps, C 4 / 2, none for one-time buyers
    np.testing.assert_allclose(history["mean_time_between_purchases"], [5.0, np.nan, 2.0, np.nan])
    assert history["active_periods"].tolist() == [2, 1, 2, 1]
    np.testing.assert_allclose(history["historical_value"], [30.0, 20.0, 15.0, 15.0])
    # revenue per active month 30, 40, 15, 30; clv_formula = 0.5 x that / (1 - 0.2)
    np.testing.assert_allclose(history["clv_formula"], [18.75, 25.0, 9.375, 18.75])
    # clv_retention = 0.5 x that x 0.2 / (1 - 0.2) = a quarter of the margin per active month
    np.testing.assert_allclose(history["clv_retention"], [3.75, 5.0, 1.875, 3.75])
    assert history.attrs["retention"] == pytest.approx(R_MONTHLY)
    # 1 / (1 - r) months, in weeks
    assert history.attrs["expected_lifespan"] == pytest.approx(MONTH_IN_WEEKS / 0.8)


def test_history_agrees_with_the_rfm_summary():
    history = historical_clv(HAND, **COLS, observation_period_end=END, time_unit="D", period="M")
    rfm = rfm_summary(HAND, **COLS, observation_period_end=END, time_unit="D")
    np.testing.assert_allclose(history["lifespan"], rfm["recency"])
    np.testing.assert_allclose(history["tenure"], rfm["T"])
    np.testing.assert_array_equal(history["n_transactions"], rfm["frequency"] + 1)


def test_retention_formula_discounts_per_period():
    weekly = 0.01
    history = historical_clv(HAND, **COLS, observation_period_end=END, time_unit="W", period="M", margin=0.5,
                             discount_rate=weekly)
    monthly = 1.01 ** MONTH_IN_WEEKS - 1  # the weekly rate compounded over an average month
    assert history.attrs["period_discount_rate"] == pytest.approx(monthly)
    expected = 0.5 * np.array([30.0, 40.0, 15.0, 30.0]) * R_MONTHLY / (1 + monthly - R_MONTHLY)
    np.testing.assert_allclose(history["clv_retention"], expected)
    # the classic formula is undiscounted, so unchanged
    np.testing.assert_allclose(history["clv_formula"], [18.75, 25.0, 9.375, 18.75])
    # with no discounting, the classic whole-life value is the current period plus the retention value
    plain = historical_clv(HAND, **COLS, observation_period_end=END, time_unit="W", period="M", margin=0.5)
    np.testing.assert_allclose(plain["clv_formula"] - plain["clv_retention"], 0.5 * np.array([30, 40, 15, 30]))


def test_summary_by_hand():
    summary = historical_clv_summary(HAND, **COLS, observation_period_end=END, time_unit="W", period="M", margin=0.5)
    value = summary["value"]
    assert value["customers"] == 4
    assert value["transactions"] == 8  # 10 rows, two same-day pairs
    assert value["total_revenue"] == 160.0
    assert value["average_order_value"] == 20.0
    assert value["purchase_frequency"] == pytest.approx(8 / (319 / 7))  # tenure 120 + 113 + 85 + 1 days
    assert value["purchases_per_active_period"] == pytest.approx(8 / 6)
    assert value["mean_observed_lifespan"] == pytest.approx(3.5)  # (10 + 0 + 4 + 0) / 4 weeks
    # gaps: A 2 and 8 weeks, C 2 and 2 weeks
    assert value["mean_time_between_purchases"] == pytest.approx(3.5)
    assert value["median_time_between_purchases"] == pytest.approx(2.0)
    assert value["retention_rate"] == pytest.approx(R_MONTHLY)
    assert value["expected_lifespan"] == pytest.approx(MONTH_IN_WEEKS / 0.8)
    assert value["margin_per_active_period"] == pytest.approx(0.5 * 160 / 6)
    assert value["historical_value_per_customer"] == pytest.approx(20.0)
    # AOV x purchases per active month x expected months x margin = 20 x 8/6 x 1.25 x 0.5
    assert value["clv_formula"] == pytest.approx(20 * 8 / 6 * 1.25 * 0.5)
    assert value["clv_retention"] == pytest.approx(0.5 * 160 / 6 * 0.25)
    assert summary.loc["retention_rate", "unit"] == "per M"


def test_retention_by_period_by_hand():
    table = retention_by_period(HAND, **COLS, observation_period_end=END, period="M")
    assert [str(p) for p in table.index] == ["2024-01", "2024-02", "2024-03"]
    assert table["active"].tolist() == [2, 1, 2]
    assert table["retained"].tolist() == [0, 1, 0]
    assert table["revenue"].tolist() == [75.0, 24.0, 31.0]
    assert table.attrs["retention"] == pytest.approx(R_MONTHLY)
    # ending on 2024-04-29 leaves April incomplete: it is left out, and March has no complete next month
    cut = retention_by_period(HAND, **COLS, observation_period_end="2024-04-29", period="M")
    assert table.attrs["retention"] != cut.attrs["retention"]
    assert cut["active"].tolist() == [2, 1]
    assert cut.attrs["retention"] == pytest.approx(1 / 3)


def test_retention_needs_two_complete_periods():
    # Q1 is complete, Q2 is cut at April 30: one complete quarter only
    with pytest.raises(DataError, match="two complete periods of quarters.*shorter 'period'"):
        historical_clv(HAND, **COLS, observation_period_end=END, period="Q")


def test_interpurchase_times_by_hand():
    gaps = interpurchase_times(HAND, customer_id_col="customer", datetime_col="day", time_unit="W")
    assert gaps["customer_id"].tolist() == ["A", "A", "C", "C"]
    assert gaps["transaction"].tolist() == [2, 3, 2, 3]
    np.testing.assert_allclose(gaps["time_since_previous"], [2.0, 8.0, 2.0, 2.0])


def test_cohorts_by_hand():
    cohorts = acquisition_cohorts(HAND, **COLS, observation_period_end=END, period="M")
    assert [str(c) for c in cohorts.index] == ["2024-01", "2024-02", "2024-04"]
    assert cohorts["customers"].tolist() == [2, 1, 1]
    assert cohorts["repeat_customers"].tolist() == [1, 1, 0]
    assert cohorts["transactions"].tolist() == [4, 3, 1]
    assert cohorts["revenue"].tolist() == [100.0, 30.0, 30.0]
    assert cohorts["revenue_per_customer"].tolist() == [50.0, 30.0, 30.0]
    assert cohorts["periods_observed"].tolist() == [4, 3, 1]


def test_retention_matrix_by_hand():
    matrix = retention_matrix(HAND, customer_id_col="customer", datetime_col="day", observation_period_end=END)
    # Jan cohort {A, B}: Feb nobody, Mar A, Apr nobody; Feb cohort {C}: Mar C; Apr cohort {D}
    expected = np.array([[1.0, 0.0, 0.5, 0.0], [1.0, 1.0, 0.0, np.nan], [1.0, np.nan, np.nan, np.nan]])
    np.testing.assert_array_equal(matrix.to_numpy(), expected)
    assert list(matrix.columns) == [0, 1, 2, 3]
    assert matrix.attrs["last_period_partial"] is False
    counts = retention_matrix(HAND, customer_id_col="customer", datetime_col="day", observation_period_end=END,
                              normalize=False)
    np.testing.assert_array_equal(counts.to_numpy()[0], [2, 0, 1, 0])
    partial = retention_matrix(HAND, customer_id_col="customer", datetime_col="day", observation_period_end="2024-04-29")
    assert partial.attrs["last_period_partial"] is True


def test_cumulative_value_by_hand():
    curves = cumulative_value(HAND, **COLS, observation_period_end=END, margin=0.5)
    # Jan cohort (2 customers): Jan 15 + 20 + 40 = 75, Mar 25; Feb cohort: Feb 24, Mar 6; Apr cohort: 30
    expected = 0.5 * np.array([[37.5, 37.5, 50.0, 50.0], [24.0, 30.0, 30.0, np.nan], [30.0, np.nan, np.nan, np.nan]])
    np.testing.assert_allclose(curves.to_numpy(), expected)


def test_transactions_after_the_end_are_left_out_with_a_warning():
    with pytest.warns(DataWarning, match="1 transaction dated after observation_period_end 2024-04-28"):
        cohorts = acquisition_cohorts(HAND, **COLS, observation_period_end="2024-04-28")
    assert cohorts["customers"].sum() == 3


def test_bad_arguments_are_refused_with_names():
    with pytest.raises(DataError, match="'period' must be one of 'M', 'Q', 'Y'; got 'week'"):
        retention_matrix(HAND, customer_id_col="customer", datetime_col="day", period="week")
    with pytest.raises(DataError, match="no column 'spend'"):
        historical_clv(HAND, customer_id_col="customer", datetime_col="day", monetary_value_col="spend")
    with pytest.raises(DataError, match="'margin' must be >= 0"):
        cumulative_value(HAND, **COLS, margin=-1)
    with pytest.raises(DataError, match="needs purchase values"):
        cumulative_value(HAND, customer_id_col="customer", datetime_col="day", monetary_value_col=None)


# ---------------------------------------------------------------------------- scores, tiers and segments
def test_quintile_scores_share_the_lower_score_on_ties():
    # ranks (method min) 1, 1, 1, 4, 5 of 5: 1 + floor(5 x (rank - 1) / 5)
    np.testing.assert_array_equal(analytics._quintile_score(np.array([1.0, 1, 1, 2, 3])), [1, 1, 1, 4, 5])
    # ten distinct values: two per score
    np.testing.assert_array_equal(analytics._quintile_score(np.arange(10.0)), [1, 1, 2, 2, 3, 3, 4, 4, 5, 5])


def test_tiers_hold_their_share_of_customers():
    clv = np.array([10.0, 9, 8, 7, 6, 5, 4, 3, 2, 1])
    labels = analytics._tier_labels(clv, [("top", 0.2), ("middle", 0.3), ("rest", 0.5)])
    assert list(labels) == ["top"] * 2 + ["middle"] * 3 + ["rest"] * 5
    # ties are broken by position, so equal values still fill the tiers exactly
    assert list(analytics._tier_labels(np.ones(4), [("a", 0.5), ("b", 0.5)])) == ["a", "a", "b", "b"]
    with pytest.raises(DataError, match="summing to 1"):
        analytics._tier_labels(clv, [("a", 0.5), ("b", 0.4)])


def test_every_recency_frequency_pair_has_one_segment():
    r, f = np.repeat(np.arange(1, 6), 5), np.tile(np.arange(1, 6), 5)
    names = analytics._rfm_segment_names(r, f)
    assert not pd.isna(np.asarray(names, dtype=object)).any()
    counts = [sum(int(d) in range(1, 6) for d in rd) * len(fd) for rd, fd in analytics.RFM_SEGMENTS.values()]
    assert sum(counts) == 25


def test_customer_segments_by_hand(cdnow_model):
    segments = customer_segments(HAND, cdnow_model, **COLS, observation_period_end=END, horizon=52, margin=0.5,
                                 period="Q")
    assert segments["historical_value"].tolist() == [30.0, 20.0, 15.0, 15.0]
    # weeks since last purchase: A 50 days, B 113, C 57, D 1
    np.testing.assert_allclose(segments["time_since_last_purchase"], np.array([50, 113, 57, 1]) / 7)
    # recency ranks (most recent last) B 1, C 2, A 3, D 4 -> scores 1, 2, 3, 4 (1 + floor(5 x (rank - 1) / 4))
    assert segments["r_score"].tolist() == [3, 1, 2, 4]
    # transactions 3, 1, 3, 1 -> min ranks 3, 1, 3, 1 -> scores 3, 1, 3, 1
    assert segments["f_score"].tolist() == [3, 1, 3, 1]
    # average order value 20, 40, 10, 30 -> ranks 2, 4, 1, 3 -> scores 2, 4, 1, 3
    assert segments["m_score"].tolist() == [2, 4, 1, 3]
    assert segments["rfm_score"].tolist() == ["332", "114", "231", "413"]
    assert segments["rfm_segment"].astype(str).tolist() == ["Need attention", "Hibernating", "At risk", "Promising"]
    assert [str(c) for c in segments["cohort"]] == ["2024Q1", "2024Q1", "2024Q1", "2024Q2"]
    forecast = cdnow_model.predict(rfm_summary(HAND, **COLS, observation_period_end=END, time_unit="W"), horizon=52,
                                   margin=0.5)
    np.testing.assert_allclose(segments["clv"], forecast["clv"])
    np.testing.assert_allclose(segments["p_alive"], forecast["p_alive"])
    # high past value: revenue >= the 0.8 quantile of (60, 40, 30, 30) = 40 + 0.4 x 20 = 48, so A only
    assert segments.attrs["at_risk_value_threshold"] == pytest.approx(48.0)
    p_alive_a = segments.loc["A", "p_alive"]
    assert 0 < p_alive_a < 1
    flagged = customer_segments(HAND, cdnow_model, **COLS, observation_period_end=END, horizon=52,
                                at_risk_p_alive=p_alive_a + 1e-9)
    assert flagged.index[flagged["at_risk"]].tolist() == ["A"]
    unflagged = customer_segments(HAND, cdnow_model, **COLS, observation_period_end=END, horizon=52,
                                  at_risk_p_alive=p_alive_a - 1e-9)
    assert not unflagged["at_risk"].any()


def test_segment_summary_by_hand():
    segments = pd.DataFrame(
        {
            "tier": pd.Categorical(["gold", "gold", "bronze", "bronze", "bronze"], categories=["gold", "silver", "bronze"]),
            "historical_value": [10.0, 30.0, 5.0, 5.0, 0.0],
            "clv": [40.0, 20.0, 10.0, 20.0, 10.0],
            "p_alive": [0.9, 0.5, 1.0, 0.2, 0.6],
            "expected_purchases": [2.0, 1.0, 0.5, 1.0, 0.5],
            "at_risk": [False, True, False, False, False],
        }
    )
    summary = segment_summary(segments, by="tier")
    assert summary.index.tolist() == ["gold", "silver", "bronze"]  # every tier, in tier order
    assert summary["customers"].tolist() == [2, 0, 3]
    np.testing.assert_allclose(summary["share_of_customers"], [0.4, 0.0, 0.6])
    np.testing.assert_allclose(summary["historical_value"], [40.0, 0.0, 10.0])
    np.testing.assert_allclose(summary["share_of_historical_value"], [0.8, 0.0, 0.2])
    np.testing.assert_allclose(summary["predicted_value"], [60.0, 0.0, 40.0])
    np.testing.assert_allclose(summary["share_of_predicted_value"], [0.6, 0.0, 0.4])
    np.testing.assert_allclose(summary["mean_p_alive"], [0.7, np.nan, 0.6])
    np.testing.assert_allclose(summary["expected_purchases"], [3.0, 0.0, 2.0])
    np.testing.assert_allclose(summary["expected_purchases_per_customer"], [1.5, np.nan, 2 / 3])
    assert summary["at_risk"].tolist() == [1, 0, 0]
    with pytest.raises(DataError, match="segments has no column 'channel'"):
        segment_summary(segments, by="channel")


def test_acquisition_budget_by_hand(cdnow_model):
    budget = acquisition_budget(HAND, cdnow_model, **COLS, observation_period_end=END, horizon=52, margin=0.5,
                                target_ratio=4, period="Q")
    forecast = cdnow_model.predict(rfm_summary(HAND, **COLS, observation_period_end=END, time_unit="W"), horizon=52,
                                   margin=0.5)
    clv = forecast["clv"]
    overall = budget.loc[("overall", "all customers")]
    assert overall["customers"] == 4
    assert overall["historical_value_per_customer"] == pytest.approx(20.0)  # 0.5 x 160 / 4
    assert overall["max_acquisition_cost"] == pytest.approx((20.0 + clv.mean()) / 4)
    # quarterly cohorts: Q1 {A, B, C} realised 0.5 x (60 + 40 + 30) / 3, Q2 {D} 0.5 x 30
    q1 = budget.loc[("cohort", "2024Q1")]
    assert q1["max_acquisition_cost"] == pytest.approx((65 / 3 + clv[["A", "B", "C"]].mean()) / 4)
    assert budget.loc[("cohort", "2024Q2"), "max_acquisition_cost"] == pytest.approx((15 + clv["D"]) / 4)
    assert set(budget.index.get_level_values("level")) == {"overall", "cohort", "clv_tier", "rfm_segment"}
    np.testing.assert_allclose(budget["max_acquisition_cost"], budget["value_per_customer"] / 4)
    with pytest.raises(DataError, match="'target_ratio' must be > 0"):
        acquisition_budget(HAND, cdnow_model, **COLS, horizon=52, margin=0.5, target_ratio=0)


def test_cohort_clv_by_hand(cdnow_model):
    table = cohort_clv(HAND, cdnow_model, **COLS, observation_period_end=END, horizon=52, margin=0.5)
    assert [str(c) for c in table.index] == ["2024-01", "2024-02", "2024-04"]
    assert table["customers"].tolist() == [2, 1, 1]
    np.testing.assert_allclose(table["historical_value_per_customer"], [25.0, 15.0, 15.0])
    assert table["share_of_predicted_value"].sum() == pytest.approx(1.0)


def test_model_functions_refuse_a_wrong_model_or_unit(cdnow_model):
    with pytest.raises(NotFittedError):
        customer_segments(HAND, CLVModel(), **COLS, horizon=52)
    with pytest.raises(DataError, match="'model' must be a fitted CLVModel; got str"):
        cohort_clv(HAND, "model.joblib", **COLS, horizon=52)
    with pytest.raises(DataError, match="'time_unit' 'D' does not match the model's time unit 'W'"):
        compare_clv(HAND, cdnow_model, **COLS, horizon=52, time_unit="D", period="M")
    with pytest.raises(DataError, match="'at_risk_p_alive' must be between 0 and 1"):
        customer_segments(HAND, cdnow_model, **COLS, horizon=52, at_risk_p_alive=1.5)


# ---------------------------------------------------------------------------- the CDNOW master file
@pytest.fixture(scope="module")
def master():
    from clv_predict.datasets import load_cdnow

    log = load_cdnow(sample=False)
    cols = {"customer_id_col": "customer_id", "datetime_col": "date", "monetary_value_col": "amount"}
    train = rfm_summary(log[log["date"] <= "1997-09-30"], **cols, time_unit="W")
    with pytest.warns(DataWarning, match="mean repeat spend is 0"):
        model = CLVModel().fit(train)
    return log, cols, model


def test_cdnow_master_history_and_cohorts(master):
    log, cols, _ = master
    history = historical_clv(log, **cols, time_unit="W", period="Q", margin=0.3)
    assert len(history) == 23_570
    assert history["n_transactions"].sum() == 67_591  # 69,659 rows, same-day purchases merged
    assert history["total_revenue"].sum() == pytest.approx(log["amount"].sum())
    assert history.attrs["retention"] == pytest.approx(0.3259, abs=5e-5)

    # the retention matrix against a plain pandas computation
    month = log["date"].dt.to_period("M")
    cohort = month.groupby(log["customer_id"]).transform("min")
    active = pd.DataFrame({"customer": log["customer_id"], "cohort": cohort, "age": (month - cohort).map(lambda d: d.n)})
    counts = active.drop_duplicates().groupby(["cohort", "age"]).size().unstack()
    sizes = counts[0]
    matrix = retention_matrix(log, customer_id_col="customer_id", datetime_col="date", period="M")
    assert sizes.tolist() == [7846, 8476, 7248] and sizes.sum() == 23_570
    np.testing.assert_allclose(matrix.to_numpy(), (counts.div(sizes, axis=0)).to_numpy())

    curves = cumulative_value(log, **cols, period="M")
    cohorts = acquisition_cohorts(log, **cols, period="M")
    last_observed = curves.apply(lambda row: row.dropna().iloc[-1], axis=1)
    np.testing.assert_allclose(last_observed, cohorts["revenue_per_customer"])
    assert (curves.diff(axis=1).iloc[:, 1:].fillna(0) >= 0).all().all()  # cumulative: never falls


def test_cdnow_master_segments_and_budget(master):
    log, cols, model = master
    segments = customer_segments(log, model, **cols, horizon=52, margin=0.3, discount_rate=0.002)
    assert len(segments) == 23_570
    tiers = segment_summary(segments)
    np.testing.assert_allclose(tiers["share_of_customers"], [0.05, 0.15, 0.30, 0.50], atol=1 / 23_570)
    assert tiers["share_of_predicted_value"].sum() == pytest.approx(1.0)
    # value is concentrated: the top 5% hold about half the predicted value, 10 times their share
    assert tiers.loc["Platinum", "share_of_predicted_value"] == pytest.approx(0.511, abs=0.005)
    assert tiers["clv_per_customer"].is_monotonic_decreasing
    assert ((segments["p_alive"] >= 0) & (segments["p_alive"] <= 1)).all()
    at_risk = segments[segments["at_risk"]]
    assert len(at_risk) > 0
    assert (at_risk["p_alive"] < 0.5).all()
    assert (at_risk["total_revenue"] >= segments.attrs["at_risk_value_threshold"]).all()

    budget = acquisition_budget(log, model, **cols, horizon=52, margin=0.3, discount_rate=0.002, target_ratio=3)
    overall = budget.loc[("overall", "all customers")]
    assert overall["max_acquisition_cost"] == pytest.approx(
        (segments["historical_value"].mean() + segments["clv"].mean()) / 3
    )
    assert budget.loc[("clv_tier", "Platinum"), "max_acquisition_cost"] > budget.loc[("clv_tier", "Bronze"), "max_acquisition_cost"]

    comparison = compare_clv(log, model, **cols, horizon=52, margin=0.3, discount_rate=0.002)
    np.testing.assert_allclose(comparison["predicted_clv"], segments["clv"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        by_cohort = cohort_clv(log, model, **cols, horizon=52, margin=0.3)
    assert by_cohort["customers"].tolist() == [7846, 8476, 7248]


def test_input_options_of_rfm_summary_are_accepted():
    # a return of 12 on 2024-02-19 nets C's purchases of that day (12 + 0) to nothing: not a purchase day
    returns = pd.concat([HAND, pd.DataFrame([("C", "2024-02-19", -12.0)], columns=HAND.columns)], ignore_index=True)
    with pytest.raises(DataError, match="negative amounts? from"):
        historical_clv(returns, **COLS, observation_period_end=END, period="M")
    # the log says what netting changed, as rfm_summary does
    with pytest.warns(DataWarning, match="1 customer-day whose purchases were all returned"):
        history = historical_clv(returns, **COLS, observation_period_end=END, period="M", negative_amounts="net")
    assert history.loc["C", "n_transactions"] == 2
    assert history.loc["C", "total_revenue"] == 18.0
    # line items: the amount is quantity x unit price
    lines = HAND.assign(quantity=1, price=HAND["amount"]).drop(columns="amount")
    by_lines = acquisition_cohorts(lines, customer_id_col="customer", datetime_col="day", quantity_col="quantity",
                                   unit_price_col="price", observation_period_end=END)
    assert by_lines["revenue"].tolist() == [100.0, 30.0, 30.0]
    with pytest.raises(TypeError, match="unexpected keyword argument 'negative_amount'"):
        acquisition_cohorts(HAND, **COLS, negative_amount="net")


def test_the_rfm_behind_the_forecasts_is_rfm_summary(cdnow_log):
    columns = {"customer_id_col": "customer_id", "datetime_col": "date", "monetary_value_col": "amount"}
    tx = analytics._load(cdnow_log, "1998-06-30", "W", stacklevel=1, log_keywords=columns)
    expected = rfm_summary(cdnow_log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
                           time_unit="W")
    pd.testing.assert_frame_equal(tx.rfm(), expected, check_exact=False, rtol=1e-12)
