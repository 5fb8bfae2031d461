"""Customer value plots draw the analytics tables on the Axes they are given, and only there."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from clv_predict import DataError, plotting
from clv_predict.analytics import (
    compare_clv,
    cumulative_value,
    customer_segments,
    interpurchase_times,
    retention_matrix,
    segment_summary,
)
from clv_predict.plotting import value

COLS = {"customer_id_col": "customer_id", "datetime_col": "date", "monetary_value_col": "amount"}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def sample_segments(cdnow_log, cdnow_model):
    return customer_segments(cdnow_log, cdnow_model, **COLS, horizon=39, margin=0.3)


def _fresh_axes():
    figure, ax = plt.subplots()
    return figure, ax


def test_every_value_plot_is_exported_from_the_plotting_package():
    for name in value.__all__:
        assert getattr(plotting, name) is getattr(value, name)
    assert set(value.__all__) <= set(plotting.__all__)


def test_retention_heatmap_shows_the_matrix(cdnow_log):
    matrix = retention_matrix(cdnow_log, customer_id_col="customer_id", datetime_col="date", period="M")
    figure, ax = _fresh_axes()
    figures_before = plt.get_fignums()
    assert value.plot_retention_heatmap(matrix, ax=ax) is ax
    assert plt.get_fignums() == figures_before
    image = ax.images[0].get_array()
    np.testing.assert_allclose(image.filled(np.nan), matrix.to_numpy(), equal_nan=True)
    assert image.mask.sum() == matrix.isna().sum().sum()  # unobserved cells are blank
    # 3 cohorts x 18 months: small enough to annotate every observed cell
    assert len(ax.texts) == matrix.notna().sum().sum()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1997-01", "1997-02", "1997-03"]
    assert ax.get_xlabel() == "months since acquisition"


def test_cumulative_value_draws_one_line_per_cohort(cdnow_log):
    curves = cumulative_value(cdnow_log, **COLS, period="M", margin=0.3)
    figure, ax = _fresh_axes()
    assert value.plot_cumulative_value(curves, ax=ax) is ax
    assert len(ax.lines) == 3
    for line, (_, row) in zip(ax.lines, curves.iterrows()):
        np.testing.assert_allclose(line.get_ydata(), row.dropna().to_numpy())
    assert "margin 0.3" in ax.get_ylabel()


def test_cumulative_value_thins_many_cohorts_keeping_the_newest():
    curves = pd.DataFrame(np.arange(40.0).reshape(20, 2), index=pd.period_range("2020-01", periods=20, freq="M"))
    _, ax = _fresh_axes()
    value.plot_cumulative_value(curves, ax=ax, max_cohorts=5)
    labels = [line.get_label() for line in ax.lines]
    assert len(labels) <= 5 and labels[-1] == "2021-08"


def test_segment_summary_bars_are_the_shares(sample_segments):
    summary = segment_summary(sample_segments, by="clv_tier")
    _, ax = _fresh_axes()
    assert value.plot_segment_summary(summary, ax=ax) is ax
    widths = [patch.get_width() for patch in ax.patches]
    np.testing.assert_allclose(widths[:4], summary["share_of_customers"])
    np.testing.assert_allclose(widths[4:], summary["share_of_predicted_value"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Platinum", "Gold", "Silver", "Bronze"]


def test_interpurchase_histogram_counts_every_gap(cdnow_log):
    gaps = interpurchase_times(cdnow_log, customer_id_col="customer_id", datetime_col="date", time_unit="W")
    _, ax = _fresh_axes()
    assert value.plot_interpurchase_times(gaps, ax=ax) is ax
    assert sum(patch.get_height() for patch in ax.patches) == len(gaps)
    assert ax.get_xlabel() == "time since previous purchase (weeks)"
    with pytest.raises(DataError, match="no customer bought more than once"):
        value.plot_interpurchase_times(gaps.iloc[:0], ax=ax)


def test_clv_comparison_scatter(cdnow_log, cdnow_model):
    comparison = compare_clv(cdnow_log, cdnow_model, **COLS, horizon=39, margin=0.3, period="M")
    _, ax = _fresh_axes()
    assert value.plot_clv_comparison(comparison, ax=ax, max_points=500) is ax
    offsets = ax.collections[0].get_offsets()
    assert len(offsets) == 500
    assert ax.get_xscale() == "log" and "over 39 weeks" in ax.get_ylabel()


def test_plots_make_their_own_figure_without_ax(cdnow_log):
    matrix = retention_matrix(cdnow_log, customer_id_col="customer_id", datetime_col="date")
    ax = value.plot_retention_heatmap(matrix)
    assert ax.figure is not None and len(ax.images) == 1


def test_plots_refuse_tables_they_cannot_draw():
    with pytest.raises(DataError, match="matrix must be a non-empty DataFrame"):
        value.plot_retention_heatmap(pd.DataFrame())
    with pytest.raises(DataError, match="summary has no column 'share_of_predicted_value'"):
        value.plot_segment_summary(pd.DataFrame({"share_of_customers": [1.0]}))
