"""The diagnostic plots draw the right numbers. Checked on the drawn data, not on pixels."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats

from clv_predict import (
    DataError,
    evaluate,
    load_model,
    plotting,
    rfm_summary,
)
from clv_predict.evaluation import gini_coefficient
from clv_predict.plotting import diagnostics

TRAIN_END, TEST_END = "1997-09-30", "1998-06-30"


@pytest.fixture(scope="module")
def model(cdnow_model, tmp_path_factory):
    """Every plot must work from a model loaded from disk: it holds no training rows."""
    path = tmp_path_factory.mktemp("model") / "cdnow.joblib"
    cdnow_model.save(path)
    return load_model(path)


def new_ax():
    return Figure().add_subplot()


def test_all_plots_are_exported():
    assert set(diagnostics.__all__) <= set(plotting.__all__)
    assert len(diagnostics.__all__) == 12  # ten of one model, two of the family side by side


def test_frequency_distribution(model, cdnow_split):
    ax = new_ax()
    assert plotting.plot_frequency_distribution(model, cdnow_split, ax=ax) is ax
    actual, expected = ax.containers
    observed = [bar.get_height() for bar in actual]
    counts = cdnow_split["frequency"].clip(upper=7).value_counts().sort_index()
    assert observed == counts.tolist()
    heights = np.array([bar.get_height() for bar in expected])
    # analytic expected counts: every customer is somewhere, and the model fits CDNOW's zeros closely
    assert heights.sum() == pytest.approx(len(cdnow_split))
    assert heights[0] == pytest.approx(observed[0], rel=0.02)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert ax.get_title() == "Repeat-purchase frequency: actual vs model"
    assert ax.get_xlabel() == "Repeat purchases in the training period"


def test_expected_frequency_counts_agree_with_the_mean_number_of_purchases(model):
    # one customer of age 30: sum_n n P(X=n) over all n is E[X(30)]
    rfm = pd.DataFrame({"frequency": [0], "recency": [0.0], "T": [30.0]})
    rfm.attrs["time_unit"] = "W"
    counts = diagnostics.expected_frequency_counts(model, rfm, max_frequency=200)
    assert counts.sum() == pytest.approx(1.0)
    assert counts[:-1] @ np.arange(200) == pytest.approx(model.purchase_model_.expected_purchases_new_customer(30.0), rel=1e-6)


def test_calibration_holdout(model, cdnow_split):
    ax = plotting.plot_calibration_holdout(model, cdnow_split, ax=new_ax())
    table = evaluate(model, cdnow_split).by_frequency
    actual, predicted = ax.get_lines()
    np.testing.assert_allclose(actual.get_ydata(), table["actual"])
    np.testing.assert_allclose(predicted.get_ydata(), table["model"])
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == "0\nn=1,411" and labels[-1].startswith("7+\nn=")
    assert ax.get_title() == "Calibration vs holdout (39 weeks)"


def test_tracking_counts_every_repeat_transaction(model, cdnow_log, cdnow_split):
    table = diagnostics.tracking_table(model, cdnow_log, test_period_end=TEST_END)
    at_boundary = table.loc[TRAIN_END]
    assert at_boundary["actual_cumulative"] == cdnow_split["frequency"].sum() == 2457
    assert table["actual_cumulative"].iloc[-1] - at_boundary["actual_cumulative"] == 1882
    # expected: each customer's E[X(age)] summed over the cohort, on the boundary day
    expected = model.purchase_model_.expected_purchases_new_customer(cdnow_split["T"].to_numpy()).sum()
    assert at_boundary["expected_cumulative"] == pytest.approx(expected, rel=1e-9)
    assert table.index[-1] == pd.Timestamp(TEST_END)

    ax = plotting.plot_tracking(model, cdnow_log, test_period_end=TEST_END, ax=new_ax())
    actual, predicted, boundary = ax.get_lines()
    np.testing.assert_allclose(actual.get_ydata(), table["actual_cumulative"])
    np.testing.assert_allclose(predicted.get_ydata(), table["expected_cumulative"])
    assert pd.Timestamp(boundary.get_xdata()[0]) == pd.Timestamp(TRAIN_END)
    assert "End of training (1997-09-30)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert ax.get_ylabel() == "Cumulative repeat transactions"


def test_incremental_tracking_sums_whole_weeks(model, cdnow_log):
    table = diagnostics.tracking_table(model, cdnow_log, test_period_end=TEST_END)
    ax = plotting.plot_tracking(model, cdnow_log, test_period_end=TEST_END, cumulative=False, ax=new_ax())
    actual = ax.get_lines()[0].get_ydata()[:-1]  # the last point repeats the last week, to draw its step
    holdout = table.loc[pd.Timestamp(TRAIN_END) + pd.Timedelta(days=1):, "actual"]
    whole_weeks = len(holdout) // 7
    assert actual[-whole_weeks:].sum() == holdout.iloc[: whole_weeks * 7].sum()
    assert ax.get_title() == "Tracking repeat transactions per 7-day period"


def test_frequency_recency_matrices(model, cdnow_split):
    ax = plotting.plot_expected_purchases_matrix(model, cdnow_split, ax=new_ax())
    image = ax.get_images()[0].get_array()
    matrix = diagnostics.frequency_recency_matrix(model, cdnow_split)
    assert image.shape == (cdnow_split["frequency"].max() + 1, 60)
    T = cdnow_split["T"].max()
    rfm = pd.DataFrame({"frequency": [5], "recency": [matrix.columns[30]], "T": [T]})
    rfm.attrs["time_unit"] = "W"
    assert image[5, 30] == pytest.approx(model.expected_purchases(rfm, 1.0).iloc[0])
    assert np.ma.is_masked(image[0, 1]) or np.isnan(image[0, 1])  # no repeat purchase but a recency: impossible

    ax = plotting.plot_probability_alive_matrix(model, cdnow_split, ax=new_ax())
    alive = np.ma.filled(ax.get_images()[0].get_array(), np.nan)
    finite = alive[np.isfinite(alive)]
    assert ((finite >= 0) & (finite <= 1)).all()
    # for a given frequency, a more recent last purchase means more likely alive
    assert (np.diff(alive[3]) >= -1e-12).all()
    assert ax.get_title().startswith("Probability alive")
    assert ax.get_xlabel() == "Recency (weeks from first to last purchase)"


def test_probability_alive_history(model, cdnow_log):
    ax = plotting.plot_probability_alive_history(model, cdnow_log, 1, end=TRAIN_END, ax=new_ax())
    line = ax.get_lines()[0]
    days = cdnow_log.loc[cdnow_log["customer_id"] == 1, "date"].drop_duplicates()
    days = days[days <= TRAIN_END]
    # the last point is P(alive) from the customer's RFM summary at the end
    own = cdnow_log[(cdnow_log["customer_id"] == 1) & (cdnow_log["date"] <= TRAIN_END)]
    rfm = rfm_summary(own, customer_id_col="customer_id", datetime_col="date",
                      observation_period_end=TRAIN_END, time_unit="W")
    assert line.get_ydata()[-1] == pytest.approx(model.probability_alive(rfm).iloc[0])
    assert len(line.get_ydata()) == (pd.Timestamp(TRAIN_END) - days.min()).days + 1
    purchases = ax.collections[0]
    assert len(purchases.get_segments()) == len(days)
    assert ax.get_title() == "P(alive) history of customer 1"
    with pytest.raises(DataError, match="customer 999999 is not in column 'customer_id'"):
        plotting.plot_probability_alive_history(model, cdnow_log, 999999, ax=new_ax())


def test_spend_distribution(model, cdnow_split):
    ax = plotting.plot_spend_distribution(model, cdnow_split, ax=new_ax())
    repeat = cdnow_split[cdnow_split["frequency"] > 0]
    heights = np.array([p.get_height() for p in ax.patches])
    widths = np.array([p.get_width() for p in ax.patches])
    # histogram area: the share of repeat customers inside the drawn range (all but the top 1%)
    assert heights @ widths == pytest.approx(0.99, abs=0.01)
    grid = np.linspace(0.01, 2000, 200_000)
    density = diagnostics.spend_density(model, repeat["frequency"], grid)
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=0.01)
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), diagnostics.spend_density(model, repeat["frequency"], line.get_xdata()))
    assert ax.get_title() == "Gamma-Gamma fit: mean spend per customer"


def test_value_concentration(model, cdnow_split):
    clv = model.predict(cdnow_split, horizon=39)
    ax = plotting.plot_value_concentration(clv, ax=new_ax())
    gini = gini_coefficient(clv["clv"])
    assert ax.get_title() == f"Value concentration (Gini {gini:.2f})"
    curve = ax.get_lines()[0]
    x, y = curve.get_xdata(), curve.get_ydata()
    assert [x[0], y[0], x[-1], y[-1]] == pytest.approx([0, 0, 100, 100])
    top = clv["clv"].sort_values(ascending=False)
    share = top.iloc[: len(top) // 10].sum() / top.sum() * 100
    assert np.interp(100 * (len(top) // 10) / len(top), x, y) == pytest.approx(share, rel=1e-6)
    with pytest.raises(DataError, match="finite"):
        plotting.plot_value_concentration([1.0, np.nan], ax=new_ax())


def test_parameter_heterogeneity(model):
    r, alpha, a, b = model.purchase_model_.params_
    ax = plotting.plot_purchase_rate_distribution(model, ax=new_ax())
    curve, mean, _ = ax.get_lines()
    x = curve.get_xdata()
    np.testing.assert_allclose(curve.get_ydata(), x * stats.gamma(r, scale=1 / alpha).pdf(x))
    assert mean.get_xdata()[0] == pytest.approx(r / alpha)
    assert ax.get_xscale() == "log"

    ax = plotting.plot_dropout_distribution(model, ax=new_ax())
    curve, mean, _ = ax.get_lines()
    np.testing.assert_allclose(curve.get_ydata(), stats.beta(a, b).pdf(curve.get_xdata()))
    assert mean.get_xdata()[0] == pytest.approx(a / (a + b))
    assert ax.get_title() == "Heterogeneity in dropout probability"


def test_plots_draw_only_on_the_given_axes(model, cdnow_split, cdnow_log):
    before = plt.get_fignums()
    figure = Figure()
    left, right = figure.subplots(1, 2)
    plotting.plot_probability_alive_matrix(model, cdnow_split, ax=left)
    plotting.plot_tracking(model, cdnow_log, ax=right)
    assert plt.get_fignums() == before  # no pyplot figure was opened
    assert figure.axes == [left, right]  # the colour bar is an inset of its own Axes
    assert right.get_lines() and not left.get_lines()


def test_without_ax_a_new_figure_is_made(model):
    ax = plotting.plot_dropout_distribution(model)
    try:
        assert ax.figure.axes == [ax]
    finally:
        plt.close(ax.figure)


def test_plots_refuse_bad_input(model, cdnow_split):
    with pytest.raises(DataError, match="must be a fitted CLVModel or purchase model"):
        plotting.plot_frequency_distribution("model", cdnow_split, ax=new_ax())
    with pytest.raises(DataError, match="rfm has no column 'frequency'"):
        plotting.plot_frequency_distribution(model, cdnow_split.drop(columns="frequency"), ax=new_ax())
    with pytest.raises(DataError, match="give an RFM table"):
        plotting.plot_probability_alive_matrix(model, ax=new_ax())
    before = plt.get_fignums()
    with pytest.raises(DataError):
        plotting.plot_spend_distribution(model, cdnow_split.drop(columns="monetary_value"))
    assert plt.get_fignums() == before  # input is checked before a figure is opened


def test_a_daily_model_counts_the_same_transactions(cdnow_log):
    from clv_predict import CLVModel, rfm_train_test_split

    daily = rfm_train_test_split(cdnow_log, customer_id_col="customer_id", datetime_col="date",
                                 monetary_value_col="amount", train_period_end=TRAIN_END,
                                 test_period_end=TEST_END, time_unit="D")
    model = CLVModel().fit(daily)
    table = diagnostics.tracking_table(model, cdnow_log, test_period_end=TEST_END)
    assert table["actual"].sum() == daily["frequency"].sum() + daily["test_frequency"].sum()
    # ages in days: the expected curve is the same function of calendar time as the weekly model's, up to the fit
    expected = model.purchase_model_.expected_purchases_new_customer(daily["T"].to_numpy()).sum()
    assert table.loc[TRAIN_END, "expected_cumulative"] == pytest.approx(expected, rel=1e-9)
    ax = plotting.plot_expected_purchases_matrix(model, daily, t=7, ax=new_ax())
    assert ax.get_title().startswith("Expected purchases in the next 7 days")
    assert ax.get_xlabel() == "Recency (days from first to last purchase)"
    assert plotting.plot_calibration_holdout(model, daily, ax=new_ax()).get_title() == "Calibration vs holdout (273 days)"
