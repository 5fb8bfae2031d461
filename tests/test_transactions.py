"""TransactionLog: one validated log behind every summary and analysis.

Every summary and analysis from a log equals the keyword path (on CDNOW and on the
Online Retail extract), the log is validated once however many analyses use it,
``litt`` (the regularity statistic) is checked by hand and against pandas, and the
log describes itself before any model.
"""

from __future__ import annotations

import warnings
from unittest import mock

import numpy as np
import pandas as pd
import pytest

import clv_predict as cp
from clv_predict import (
    CLVModel,
    DataError,
    DataWarning,
    TransactionLog,
    analytics,
    rfm_summary,
    rfm_train_test_split,
)
from clv_predict import transactions as transactions_module

COLUMNS = {"customer_id_col": "customer_id", "datetime_col": "date", "monetary_value_col": "amount"}
TRAIN_END, END = "1997-09-30", "1998-06-30"
VALUE = {"horizon": 26, "discount_rate": 0.002, "margin": 0.3}


@pytest.fixture(scope="module")
def cdnow(cdnow_log):
    return TransactionLog(cdnow_log, **COLUMNS)


@pytest.fixture(scope="module")
def weekly_model(cdnow):
    with pytest.warns(DataWarning, match="1,959 transactions dated after observation_period_end 1997-09-30"):
        return CLVModel().fit(cdnow.rfm(observation_period_end=TRAIN_END, time_unit="W"))


def _analyses(model):
    """(name, call on a log or on a frame with keywords) for every analysis that reads transactions."""
    return [
        ("rfm", lambda t, **k: rfm_summary(t, **k, observation_period_end=TRAIN_END, time_unit="W", regularity=True)
         if k else t.rfm(observation_period_end=TRAIN_END, time_unit="W", regularity=True)),
        ("split", lambda t, **k: rfm_train_test_split(t, **k, train_period_end=TRAIN_END, time_unit="W")
         if k else t.split(train_period_end=TRAIN_END, time_unit="W")),
        ("retention_by_period", lambda t, **k: analytics.retention_by_period(t, **k, period="M")),
        ("historical_clv", lambda t, **k: analytics.historical_clv(t, **k, time_unit="W", period="M", margin=0.3)),
        ("historical_clv_summary", lambda t, **k: analytics.historical_clv_summary(t, **k, time_unit="W", period="M")),
        ("interpurchase_times", lambda t, **k: analytics.interpurchase_times(
            t, **{c: v for c, v in k.items() if c != "monetary_value_col"}, time_unit="W")),
        ("acquisition_cohorts", lambda t, **k: analytics.acquisition_cohorts(t, **k, period="Q")),
        ("retention_matrix", lambda t, **k: analytics.retention_matrix(
            t, **{c: v for c, v in k.items() if c != "monetary_value_col"}, observation_period_end=TRAIN_END)),
        ("cumulative_value", lambda t, **k: analytics.cumulative_value(t, **k, margin=0.3)),
        ("customer_segments", lambda t, **k: analytics.customer_segments(t, model, **k, **VALUE)),
        ("compare_clv", lambda t, **k: analytics.compare_clv(t, model, **k, **VALUE, period="M")),
        ("cohort_clv", lambda t, **k: analytics.cohort_clv(t, model, **k, **VALUE)),
        ("acquisition_budget", lambda t, **k: analytics.acquisition_budget(t, model, **k, **VALUE)),
    ]


def _equal(a, b):
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
        assert a.attrs.keys() == b.attrs.keys()
    else:
        assert a == b


def test_every_summary_and_analysis_from_a_log_equals_the_keyword_path_on_cdnow(cdnow_log, cdnow, weekly_model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # the holdout rows left out of the training summaries
        for name, run in _analyses(weekly_model):
            _equal(run(cdnow), run(cdnow_log, **COLUMNS))


def test_every_summary_and_analysis_from_a_log_equals_the_keyword_path_on_online_retail():
    from test_online_retail import LINE_ITEMS, load

    lines = load()
    options = {k: v for k, v in LINE_ITEMS.items() if k != "time_unit"}
    options["negative_amounts"] = "net"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cp.ClvWarning)  # the policies' report; a flat likelihood on 150 customers
        log = TransactionLog(lines, **options)
        model = CLVModel().fit(log.rfm(time_unit="W"))
        end = str(log.last_purchase.date())
        runs = [
            lambda t, **k: rfm_summary(t, **k, time_unit="W", regularity=True) if k else t.rfm(time_unit="W",
                                                                                                 regularity=True),
            lambda t, **k: analytics.historical_clv(t, **k, time_unit="W", period="M"),
            lambda t, **k: analytics.acquisition_cohorts(t, **k, period="M"),
            lambda t, **k: analytics.retention_matrix(t, **k, period="M", observation_period_end=end),
            lambda t, **k: analytics.interpurchase_times(t, **k, time_unit="D"),
            lambda t, **k: analytics.customer_segments(t, model, **k, horizon=52),
            lambda t, **k: analytics.acquisition_budget(t, model, **k, horizon=52, margin=0.3),
        ]
        for run in runs:
            _equal(run(log), run(lines, **options))


def test_a_log_is_validated_once_however_many_analyses_use_it(cdnow_log, weekly_model):
    with mock.patch.object(transactions_module, "_read_log", wraps=transactions_module._read_log) as reads:
        log = TransactionLog(cdnow_log, **COLUMNS)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            for _, run in _analyses(weekly_model):
                run(log)
        log.summary()
        repr(log)
        log._repr_html_()
        assert reads.call_count == 1
        # the keyword path reads the log once per call
        analytics.acquisition_cohorts(cdnow_log, **COLUMNS)
        analytics.retention_matrix(cdnow_log, customer_id_col="customer_id", datetime_col="date")
        assert reads.call_count == 3


def test_the_value_report_section_reads_its_log_once(cdnow_log, weekly_model):
    from clv_predict.value_report import customer_value_section

    with mock.patch.object(transactions_module, "_read_log", wraps=transactions_module._read_log) as reads:
        customer_value_section(cdnow_log, weekly_model, **COLUMNS)
        assert reads.call_count == 1
        log = TransactionLog(cdnow_log, **COLUMNS)
        title, body = customer_value_section(log, weekly_model)
    assert reads.call_count == 2 and title == "Customer value" and "Acquisition budget" in body


def test_litt_on_a_small_log_by_hand():
    frame = pd.DataFrame({
        "id": [1, 1, 1, 1, 2, 3, 3],
        # customer 1: 2024-01-01, same day again (merged), +7 days, +21 days; 3: +14 days, then after the end
        "day": ["2024-01-01", "2024-01-01", "2024-01-08", "2024-01-29", "2024-01-03", "2024-01-01", "2024-01-15"],
    })
    log = TransactionLog(frame, customer_id_col="id", datetime_col="day")
    weekly = log.rfm(time_unit="W", regularity=True)
    np.testing.assert_allclose(weekly["litt"], [np.log(1.0) + np.log(3.0), 0.0, np.log(2.0)])
    daily = log.rfm(time_unit="D", regularity=True)
    np.testing.assert_allclose(daily["litt"], [np.log(7.0) + np.log(21.0), 0.0, np.log(14.0)])
    with pytest.warns(DataWarning, match="2 transactions dated after observation_period_end"):
        early = log.rfm(observation_period_end="2024-01-10", time_unit="D", regularity=True)
    np.testing.assert_allclose(early["litt"], [np.log(7.0), 0.0, 0.0])
    assert "litt" not in log.rfm()
    split = rfm_train_test_split(frame, customer_id_col="id", datetime_col="day", train_period_end="2024-01-10",
                                 regularity=True)
    np.testing.assert_allclose(split["litt"], [np.log(7.0), 0.0, 0.0])
    assert split.loc[1, "test_frequency"] == 1


def test_litt_equals_a_direct_pandas_computation_on_cdnow(cdnow_log, cdnow):
    with pytest.warns(DataWarning):
        rfm = cdnow.rfm(observation_period_end=TRAIN_END, time_unit="W", regularity=True)
    days = cdnow_log.loc[cdnow_log["date"] <= TRAIN_END, ["customer_id", "date"]].drop_duplicates()
    days = days.sort_values(["customer_id", "date"])
    gaps = days.groupby("customer_id")["date"].diff().dt.days / 7.0
    expected = np.log(gaps).groupby(days["customer_id"]).sum()  # NaN (first purchases) count as 0
    pd.testing.assert_series_equal(rfm["litt"], expected.reindex(rfm.index), check_names=False)
    assert (rfm.loc[rfm["frequency"] == 0, "litt"] == 0).all()


def test_the_summary_says_what_the_data_is_and_what_each_policy_changed():
    frame = pd.DataFrame({
        "id": [1, 1, 1, 2, 2, None, 3, 3],
        "day": ["2024-01-01", "2024-01-01", "2024-01-09", "2024-01-02", "2024-01-02", "2024-01-03", "2024-01-04",
                "2024-01-06"],
        "value": [10.0, 10.0, 0.0, 7.0, -7.0, 5.0, 4.0, 6.0],
    })
    with pytest.warns(DataWarning) as caught:
        log = TransactionLog(frame, customer_id_col="id", datetime_col="day", monetary_value_col="value",
                             negative_amounts="net", duplicates="drop", missing_ids="drop")
    assert len(caught) == 1  # what every policy changed, in one warning
    table = log.summary()["value"]
    assert table["customers"] == 2 and table["transactions"] == 4 and table["rows read"] == 8
    assert table["first purchase"] == "2024-01-01" and table["last purchase"] == "2024-01-09"
    assert table["one-time buyers (share)"] == 0.0 and table["zero-value purchases"] == 1
    assert table["rows without a customer id dropped"] == 1
    assert table["exact duplicate rows dropped"] == 1
    assert table["returns (negative rows) netted"] == 1
    assert table["customer-days fully returned (not purchases)"] == 1
    assert table["customers without a purchase left"] == 1
    assert table["days between purchases (mean)"] == 5.0
    assert repr(log) == "TransactionLog: 2 customers, 4 transactions (8 rows) from 2024-01-01 to 2024-01-09"
    page = log._repr_html_()
    assert "<table>" in page and "one-time buyers" in page
    assert list(log.customer_ids) == [1, 3] and log.n_transactions == 4
    assert log.transactions()["amount"].tolist() == [10.0, 0.0, 4.0, 6.0]


def test_a_log_read_from_csv_or_parquet_parts_equals_the_log_of_the_frame(cdnow_log, cdnow, tmp_path):
    cdnow_log.to_csv(tmp_path / "log.csv", sep=";", decimal=",", index=False)
    parts = tmp_path / "parts"
    parts.mkdir()
    half = len(cdnow_log) // 2
    cdnow_log.iloc[:half].to_parquet(parts / "a.parquet")
    cdnow_log.iloc[half:].to_parquet(parts / "b.parquet")
    expected = cdnow.rfm(time_unit="W")
    for log in (TransactionLog.read(tmp_path / "log.csv", **COLUMNS, sep=";", decimal=","),
                TransactionLog.read(parts, **COLUMNS)):
        assert log.summary().equals(cdnow.summary())
        pd.testing.assert_frame_equal(log.rfm(time_unit="W"), expected)


def test_the_keyword_path_and_the_log_refuse_the_same_input_with_the_same_message(cdnow_log):
    messy = cdnow_log.assign(amount=cdnow_log["amount"].where(cdnow_log.index != 5, -1.0))
    with pytest.raises(DataError) as by_keywords:
        rfm_summary(messy, **COLUMNS)
    with pytest.raises(DataError) as by_log:
        TransactionLog(messy, **COLUMNS)
    assert str(by_keywords.value) == str(by_log.value)
    with pytest.raises(DataError, match="'negative_amounts' must be one of"):
        TransactionLog(cdnow_log, **COLUMNS, negative_amounts="keep")
    with pytest.raises(TypeError, match="unexpected keyword argument 'negative_amount'"):
        TransactionLog.read("log.csv", **COLUMNS, negative_amount="net")


def test_column_keywords_given_with_a_log_are_refused(cdnow):
    with pytest.raises(TypeError, match="'customer_id_col' is given with a TransactionLog"):
        analytics.acquisition_cohorts(cdnow, customer_id_col="customer_id")
    with pytest.raises(TypeError, match="'negative_amounts' is given with a TransactionLog"):
        analytics.retention_matrix(cdnow, negative_amounts="net")
    with pytest.raises(TypeError, match="pass a TransactionLog, or a DataFrame with customer_id_col"):
        analytics.retention_matrix(pd.DataFrame({"a": [1]}))


def test_analyses_that_need_amounts_refuse_a_log_without_them(cdnow_log):
    log = TransactionLog(cdnow_log, customer_id_col="customer_id", datetime_col="date")
    assert not log.has_amounts and "spend per transaction (mean)" not in log.summary().index
    with pytest.raises(DataError, match="cumulative_value needs purchase values: build the TransactionLog"):
        analytics.cumulative_value(log)


def test_the_log_is_exported_and_documented():
    assert cp.TransactionLog is TransactionLog and "TransactionLog" in cp.__all__
    assert "observation_period_end" in TransactionLog.rfm.__doc__ or TransactionLog.rfm.__doc__


@pytest.mark.parametrize("kind", ["transactions", "spend", "interpurchase", "weekday", "month"])
def test_data_plots_draw_on_the_given_axes_only(cdnow, kind):
    from matplotlib.figure import Figure

    from clv_predict.plotting import data

    ax = Figure().add_subplot()
    assert cdnow.plot(kind, ax=ax) is ax
    assert ax.has_data()
    assert data.plot_log(cdnow, kind, ax=Figure().add_subplot()).get_title() == ax.get_title()


def test_data_plots_refuse_what_they_cannot_draw(cdnow_log, cdnow):
    from matplotlib.figure import Figure

    without_amounts = TransactionLog(cdnow_log, customer_id_col="customer_id", datetime_col="date")
    with pytest.raises(DataError, match="no purchase values"):
        without_amounts.plot("spend", ax=Figure().add_subplot())
    with pytest.raises(DataError, match="'kind' must be one of"):
        cdnow.plot("weekdays")


def test_tracking_history_and_report_take_a_log_as_they_take_its_frame(cdnow_log, cdnow_model, tmp_path):
    from clv_predict.plotting.diagnostics import (
        probability_alive_history,
        tracking_table,
    )
    from clv_predict.report import build_report

    log = TransactionLog(cdnow_log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount")
    pd.testing.assert_frame_equal(tracking_table(cdnow_model, log), tracking_table(cdnow_model, cdnow_log))
    pd.testing.assert_series_equal(probability_alive_history(cdnow_model, log, 1516),
                                   probability_alive_history(cdnow_model, cdnow_log, 1516))
    from_log = build_report(cdnow_model, log, customer_id=1516, dpi=30)
    from_frame = build_report(cdnow_model, cdnow_log, customer_id=1516, dpi=30)
    # the same tables and figures (the embedded PNGs may differ in bytes only by matplotlib's metadata)
    strip = __import__("re").compile(r"base64,[^\"]+")
    assert strip.sub("", from_log) == strip.sub("", from_frame)


def test_evaluate_splits_a_log_at_the_end_of_the_models_training(cdnow_log, cdnow_model, cdnow_split):
    from clv_predict import evaluate

    log = TransactionLog(cdnow_log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount")
    pd.testing.assert_frame_equal(evaluate(cdnow_model, log).aggregate, evaluate(cdnow_model, cdnow_split).aggregate)
