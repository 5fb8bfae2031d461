"""Plots of forecast uncertainty: interval calibration against a holdout, and the fan chart of the base's total.

Each function draws a table made by :mod:`clv_predict.uncertainty` (pass it as it came), takes
``ax=None`` (a new figure when none is given), draws only on that Axes and returns it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import DataError

__all__ = ["plot_count_histogram", "plot_forecast_total", "plot_interval_coverage"]

_UNIT_NAMES = {"D": "days", "W": "weeks", "M": "months"}
_BAND = "#1f4e79"


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def plot_interval_coverage(coverage: pd.DataFrame, *, ax=None, shortest: bool = True):
    """Calibration plot: the share of customers whose holdout count fell inside their predictive interval,
    by training frequency, against the nominal level.

    Parameters
    ----------
    coverage : DataFrame
        ``holdout_calibration(...)["coverage"]`` (index ``level`` and ``frequency``). With several
        levels (``levels=(0.5, 0.6, 0.7, 0.8, 0.9, 0.95)``) each frequency group is a line.
    shortest : bool, default True
        Also draw the coverage of the shortest sets (dashed, all customers).

    Returns
    -------
    matplotlib Axes
        Points above the diagonal are conservative intervals (for counts, equal-tailed intervals
        always are, by the discreteness), below it intervals that are too narrow.
    """
    if not isinstance(coverage, pd.DataFrame) or not {"coverage", "customers"} <= set(coverage.columns) \
            or list(coverage.index.names) != ["level", "frequency"]:
        raise DataError("'coverage' must be the 'coverage' table of clv_predict.uncertainty.holdout_calibration")
    ax = _axes(ax)
    import matplotlib as mpl

    table = coverage.reset_index()
    groups = [g for g in dict.fromkeys(table["frequency"]) if g != "all"]
    colours = mpl.colormaps["viridis"](np.linspace(0.1, 0.85, max(len(groups), 1)))
    for colour, group in zip(colours, groups):
        rows = table[table["frequency"] == group]
        ax.plot(100 * rows["level"], 100 * rows["coverage"], "o-", color=colour, alpha=0.8, markersize=5,
                label=f"frequency {group} ({int(rows['customers'].iloc[0]):,})")
    overall = table[table["frequency"] == "all"]
    ax.plot(100 * overall["level"], 100 * overall["coverage"], "s-", color="black", linewidth=2,
            label="all customers, equal-tailed")
    if shortest:
        ax.plot(100 * overall["level"], 100 * overall["coverage_shortest"], "D--", color="#d9822b", linewidth=2,
                label="all customers, shortest set")
    low = 100 * min(table["level"].min(), table["coverage"].min(), table.get("coverage_shortest", table["coverage"]).min())
    low = max(0.0, 5 * np.floor((low - 3) / 5))
    ax.plot([low, 100], [low, 100], color="grey", linestyle=":", linewidth=1, label="nominal")
    ax.set_xlim(low, 100)
    ax.set_ylim(low, 100.5)
    ax.set_xlabel("Nominal level of the predictive interval (%)")
    ax.set_ylabel("Holdout counts inside the interval (%)")
    ax.set_title("Calibration of the customers' predictive intervals")
    ax.legend(fontsize="small", loc="lower right")
    ax.grid(alpha=0.3)
    return ax


def plot_forecast_total(total: pd.DataFrame, actual=None, *, ax=None, quantity: str = "purchases"):
    """Fan chart of the base's cumulative total over the horizon, with the holdout's actuals when given.

    Parameters
    ----------
    total : DataFrame
        The result of :func:`clv_predict.uncertainty.forecast_total`.
    actual : Series or array, optional
        The cumulative actual total at each period of ``total`` (a Series indexed by period is
        aligned on it).
    quantity : {"purchases", "value"}
        Which total to draw (``value`` needs a forecast made with a CLVModel).

    Returns
    -------
    matplotlib Axes
    """
    if not isinstance(total, pd.DataFrame) or f"expected_{quantity}" not in total.columns:
        raise DataError(f"'total' must be a forecast_total table with the {quantity} columns")
    ax = _axes(ax)
    periods = total.index.to_numpy(dtype=float)
    start = np.concatenate(([0.0], periods))

    def padded(column):
        return np.concatenate(([0.0], total[column].to_numpy(dtype=float)))

    level = total.attrs.get("interval", np.nan)
    method = total.attrs.get("method", "")
    ax.fill_between(start, padded(f"{quantity}_lower"), padded(f"{quantity}_upper"), color=_BAND, alpha=0.18,
                    linewidth=0, label=f"{level:.0%} predictive interval (process + parameters)")
    ax.fill_between(start, padded(f"{quantity}_ci_lower"), padded(f"{quantity}_ci_upper"), color=_BAND, alpha=0.35,
                    linewidth=0, label=f"{level:.0%} band of the expectation (parameters, {method})")
    ax.plot(start, padded(f"expected_{quantity}"), color=_BAND, linewidth=2, label="expected")
    if actual is not None:
        if isinstance(actual, pd.Series):
            values = actual.reindex(total.index).to_numpy(dtype=float)
        else:
            values = np.asarray(actual, dtype=float).reshape(-1)
        if values.size != periods.size:
            raise DataError(f"'actual' must have one value per period of total ({periods.size}); got {values.size}")
        ax.plot(start, np.concatenate(([0.0], values)), color="black", linewidth=1.5, marker="o", markersize=2.5,
                label="actual")
    unit = _UNIT_NAMES.get(total.attrs.get("time_unit"), "time units")
    ax.set_xlabel(f"{unit.capitalize()} after the end of training")
    ax.set_ylabel(f"Cumulative {'purchases' if quantity == 'purchases' else 'value'} of the base")
    customers = total.attrs.get("n_customers")
    ax.set_title(f"Total {quantity} forecast" + (f" of {customers:,} customers" if customers else ""))
    ax.set_xlim(0, periods[-1])
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small", loc="upper left")
    ax.grid(alpha=0.3)
    return ax


def plot_count_histogram(histogram: pd.DataFrame, *, ax=None, most: int = 10):
    """Predicted (summed over customers) against observed number of customers per holdout count.

    ``histogram`` is ``holdout_calibration(...)["histogram"]``; counts above ``most`` are drawn as
    one bar "``most``+".
    """
    if not isinstance(histogram, pd.DataFrame) or not {"predicted", "observed"} <= set(histogram.columns):
        raise DataError("'histogram' must be the 'histogram' table of clv_predict.uncertainty.holdout_calibration")
    ax = _axes(ax)
    shown = histogram.iloc[:most].copy()
    if len(histogram) > most:
        shown.loc[most] = histogram.iloc[most:].sum()
    positions = np.arange(len(shown))
    ax.bar(positions - 0.2, shown["observed"], width=0.4, color="#555555", label="observed")
    ax.bar(positions + 0.2, shown["predicted"], width=0.4, color=_BAND, label="predicted (sum of the distributions)")
    labels = [str(n) for n in shown.index[:-1]] + [f"{shown.index[-1]}+" if len(histogram) > most else str(shown.index[-1])]
    ax.set_xticks(positions, labels)
    ax.set_xlabel("Purchases in the holdout period")
    ax.set_ylabel("Customers")
    tv = histogram.attrs.get("total_variation")
    ax.set_title("Holdout counts: predicted vs observed" + (f" (total variation {tv:.3f})" if tv is not None else ""))
    ax.set_yscale("log")
    ax.legend(fontsize="small")
    return ax
