"""Customer value plots: cohort retention and value, segments, purchase gaps, historical vs predicted CLV.

Each function draws a table made by :mod:`clv_predict.analytics` (pass it as it
came), takes ``ax=None`` (a new figure when none is given), draws only on that
Axes and returns it; none calls ``plt.show()``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._validation import check_columns
from ..exceptions import DataError

__all__ = [
    "plot_clv_comparison",
    "plot_cumulative_value",
    "plot_interpurchase_times",
    "plot_retention_heatmap",
    "plot_segment_summary",
]

_PERIOD_NAMES = {"M": "months", "Q": "quarters", "Y": "years"}
_UNIT_NAMES = {"D": "days", "W": "weeks", "M": "months"}
_CUSTOMERS = "#1f4e79"
_VALUE = "#d9822b"


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def _cohort_table(table, name: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise DataError(f"{name} must be a non-empty DataFrame from clv_predict.analytics; got {type(table).__name__}")
    return table


def plot_retention_heatmap(matrix: pd.DataFrame, *, ax=None, annotate: bool | None = None, cmap: str = "Blues"):
    """Heat map of a :func:`~clv_predict.analytics.retention_matrix`: cohorts down, periods since acquisition across.

    Age 0 (always 100%) is left out of the colour scale so that the later,
    much smaller shares are told apart; cells not yet observed stay blank.

    Parameters
    ----------
    matrix : DataFrame
        The result of :func:`~clv_predict.analytics.retention_matrix` (shares).
    annotate : bool, optional
        Write each share in its cell; by default only when there are at most
        300 cells.
    """
    matrix = _cohort_table(matrix, "matrix")
    ax = _axes(ax)
    values = matrix.to_numpy(dtype=float)
    later = values[:, 1:] if values.shape[1] > 1 else values
    top = np.nanmax(later) if np.isfinite(later).any() else 1.0
    image = ax.imshow(
        np.ma.masked_invalid(values), aspect="auto", cmap=_without_white(cmap), vmin=0.0, vmax=max(top, 1e-9),
        interpolation="nearest",
    )
    ax.figure.colorbar(image, ax=ax, label="share of cohort buying", format=_percent_formatter())
    if annotate is None:
        annotate = values.size <= 300
    if annotate:
        for (row, column), value in np.ndenumerate(values):
            if np.isfinite(value):
                shade = min(value, top) / max(top, 1e-9)
                ax.text(column, row, f"{value:.0%}", ha="center", va="center", fontsize=7,
                        color="white" if shade > 0.6 else "black")
    ages = list(matrix.columns)
    step = max(1, len(ages) // 20)
    ax.set_xticks(range(0, len(ages), step))
    ax.set_xticklabels([str(a) for a in ages[::step]])
    rows = [str(c) for c in matrix.index]
    row_step = max(1, len(rows) // 25)
    ax.set_yticks(range(0, len(rows), row_step))
    ax.set_yticklabels(rows[::row_step])
    period = matrix.attrs.get("period")
    ax.set_xlabel(f"{_PERIOD_NAMES.get(period, 'periods')} since acquisition")
    ax.set_ylabel("acquisition cohort")
    title = "Share of each cohort buying, by period since acquisition"
    if matrix.attrs.get("last_period_partial"):
        title += "\n(last period partly observed)"
    ax.set_title(title)
    return ax


def _without_white(name: str):
    """The colour map minus its palest tenth, so that a share of 0 is told from a blank (unobserved) cell."""
    import matplotlib as mpl
    from matplotlib.colors import ListedColormap

    base = mpl.colormaps[name]
    return ListedColormap(base(np.linspace(0.12, 1.0, 256)), name=f"{name}_from_pale")


def _percent_formatter():
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=0)


def plot_cumulative_value(curves: pd.DataFrame, *, ax=None, max_cohorts: int = 12):
    """Cumulative value per acquired customer by cohort age (:func:`~clv_predict.analytics.cumulative_value`).

    One line per cohort; with more than ``max_cohorts`` cohorts, every k-th is
    drawn so the lines stay readable (the newest is always kept).
    """
    curves = _cohort_table(curves, "curves")
    ax = _axes(ax)
    rows = list(range(len(curves)))
    if len(rows) > max_cohorts:
        step = int(np.ceil(len(rows) / max_cohorts))
        rows = sorted(set(rows[::-1][::step]))
    import matplotlib as mpl

    colours = mpl.colormaps["viridis"](np.linspace(0.0, 0.9, len(rows)))
    ages = np.asarray(curves.columns, dtype=float)
    for colour, row in zip(colours, rows):
        values = curves.iloc[row].to_numpy(dtype=float)
        seen = np.isfinite(values)
        ax.plot(ages[seen], values[seen], marker="o", markersize=3, color=colour, label=str(curves.index[row]))
    period = curves.attrs.get("period")
    margin = curves.attrs.get("margin", 1.0)
    ax.set_xlabel(f"{_PERIOD_NAMES.get(period, 'periods')} since acquisition")
    ax.set_ylabel("cumulative value per acquired customer" + (f" (margin {margin:g})" if margin != 1 else " (revenue)"))
    ax.set_title("Cumulative value per customer, by acquisition cohort")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(title="cohort", fontsize=8, ncol=2 if len(rows) > 6 else 1)
    return ax


def plot_segment_summary(summary: pd.DataFrame, *, ax=None):
    """Share of customers beside share of predicted value, per segment (:func:`~clv_predict.analytics.segment_summary`)."""
    summary = _cohort_table(summary, "summary")
    check_columns(summary, ["share_of_customers", "share_of_predicted_value"], what="summary")
    ax = _axes(ax)
    labels = [str(i) for i in summary.index]
    positions = np.arange(len(labels))
    width = 0.4
    ax.barh(positions - width / 2, summary["share_of_customers"], height=width, color=_CUSTOMERS, label="customers")
    ax.barh(positions + width / 2, summary["share_of_predicted_value"], height=width, color=_VALUE,
            label="predicted value")
    for position, customers, value in zip(positions, summary["share_of_customers"], summary["share_of_predicted_value"]):
        ax.text(customers, position - width / 2, f" {customers:.0%}", va="center", fontsize=8)
        ax.text(value, position + width / 2, f" {value:.0%}", va="center", fontsize=8)
    ax.set_yticks(positions)
    ax.set_yticklabels(labels)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(_percent_formatter())
    top = float(np.nanmax(summary[["share_of_customers", "share_of_predicted_value"]].to_numpy()))
    ax.set_xlim(0, min(1.0, top * 1.15) if top > 0 else 1.0)
    ax.set_xlabel("share of all customers / of all predicted value")
    ax.set_ylabel(summary.index.name or "segment")
    ax.set_title("Who holds the predicted value")
    ax.legend(loc="best")
    return ax


def plot_interpurchase_times(gaps: pd.DataFrame, *, ax=None, bins: int = 40, time_unit: str | None = None):
    """Histogram of the time between purchases (:func:`~clv_predict.analytics.interpurchase_times`), mean and median marked."""
    check_columns(gaps, ["time_since_previous"], what="gaps")
    values = gaps["time_since_previous"].to_numpy(dtype=float)
    if values.size == 0:
        raise DataError("gaps has no rows: no customer bought more than once")
    ax = _axes(ax)
    ax.hist(values, bins=bins, color=_CUSTOMERS, alpha=0.85)
    mean, median = float(values.mean()), float(np.median(values))
    ax.axvline(mean, color=_VALUE, linestyle="-", label=f"mean {mean:.1f}")
    ax.axvline(median, color=_VALUE, linestyle="--", label=f"median {median:.1f}")
    unit = time_unit or gaps.attrs.get("time_unit")
    ax.set_xlabel(f"time since previous purchase ({_UNIT_NAMES.get(unit, 'time units')})")
    ax.set_ylabel("repeat transactions")
    ax.set_title("Time between purchases")
    ax.legend()
    return ax


def plot_clv_comparison(comparison: pd.DataFrame, *, ax=None, historical: str = "historical_value",
                        predicted: str = "predicted_clv", max_points: int = 5000, seed: int = 0):
    """Past against predicted value per customer (:func:`~clv_predict.analytics.compare_clv`), on log axes.

    Points are coloured by P(alive), which is why a high past value does not
    make a high forecast. At most ``max_points`` customers are drawn (a
    seeded random sample).
    """
    check_columns(comparison, [historical, predicted, "p_alive"], what="comparison")
    ax = _axes(ax)
    frame = comparison[[historical, predicted, "p_alive"]]
    frame = frame[(frame[historical] > 0) & (frame[predicted] > 0)]
    if frame.empty:
        raise DataError(f"comparison has no customer with positive '{historical}' and '{predicted}'")
    if len(frame) > max_points:
        frame = frame.sample(max_points, random_state=seed)
    points = ax.scatter(frame[historical], frame[predicted], c=frame["p_alive"], cmap="viridis", vmin=0, vmax=1,
                        s=6, alpha=0.6, linewidths=0)
    ax.figure.colorbar(points, ax=ax, label="P(alive)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    low = float(max(frame[historical].min(), frame[predicted].min()))
    high = float(max(frame[historical].max(), frame[predicted].max()))
    ax.plot([low, high], [low, high], color="grey", linewidth=0.8, linestyle=":", label="equal")
    ax.set_xlabel(f"{historical.replace('_', ' ')} (past)")
    horizon = comparison.attrs.get("horizon")
    unit = comparison.attrs.get("time_unit")
    suffix = f" over {horizon} {_UNIT_NAMES.get(unit, '')}".rstrip() if horizon else ""
    ax.set_ylabel(f"{predicted.replace('_', ' ').replace('clv', 'CLV')}{suffix}")
    ax.set_title("Past value against predicted value")
    ax.legend(loc="upper left")
    return ax
