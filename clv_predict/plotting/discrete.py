"""Diagnostics of models of purchasing at discrete opportunities (BG/BB): does the model describe the data?

The figures of Fader, Hardie & Shang (2010): customers by number of opportunities with a
purchase, actual against the model; holdout purchases by calibration frequency and by
recency, actual against the model's conditional expectations; repeat purchases by
calendar period (tracking); P(alive) over the (frequency, recency) grid. Each function
takes a fitted ``CLVModel(purchase_model="bg_bb")`` or a :class:`~clv_predict.BetaGeoBetaBinomModel`,
``ax=None``, draws only on that Axes and returns it; the tables behind them are functions too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._validation import to_timestamp
from ..discrete import _end_period, _period_numbers, check_opportunity_summary
from ..evaluation import _purchase_model
from ..exceptions import DataError
from .diagnostics import _ACTUAL, _MODEL, _axes

__all__ = [
    "opportunity_frequency_counts",
    "opportunity_holdout_table",
    "opportunity_tracking_table",
    "plot_holdout_by_frequency",
    "plot_holdout_by_recency",
    "plot_opportunity_alive_matrix",
    "plot_opportunity_frequency",
    "plot_opportunity_tracking",
    "plot_retention_by_tenure",
    "plot_segment_retention",
    "probability_alive_grid",
]


def _opportunity_model(model):
    purchases = _purchase_model(model)
    if getattr(purchases, "unit_name", None) != "opportunities":  # the OpportunityModel protocol
        raise DataError(f"these plots are of a model of discrete opportunities (BG/BB); got {purchases.label}")
    return purchases


def opportunity_frequency_counts(model, summary: pd.DataFrame) -> pd.DataFrame:
    """Customers by number of opportunities with a purchase: ``actual`` and the model's expected ``model``.

    The expectation sums, over the customers, P(X(T) = x) at each customer's own ``T``.
    """
    purchases = _opportunity_model(model)
    checked = check_opportunity_summary(summary)
    top = int(checked["T"].max())
    counts = checked.groupby("T").size()
    expected = np.zeros(top + 1)
    for n, customers in counts.items():
        expected[: int(n) + 1] += customers * purchases.probability_of_n_purchases(int(n), np.arange(int(n) + 1))
    actual = checked["frequency"].astype(int).value_counts().reindex(range(top + 1), fill_value=0)
    return pd.DataFrame({"actual": actual.to_numpy(), "model": expected},
                        index=pd.Index(range(top + 1), name="frequency"))


def plot_opportunity_frequency(model, summary: pd.DataFrame, *, ax=None):
    """Bars: customers by number of opportunities with a purchase, actual and model."""
    table = opportunity_frequency_counts(model, summary)
    ax = _axes(ax)
    positions = np.arange(len(table))
    ax.bar(positions - 0.2, table["actual"], width=0.4, **_ACTUAL)
    ax.bar(positions + 0.2, table["model"], width=0.4, **_MODEL)
    ax.set_xticks(positions, [str(v) for v in table.index])
    ax.set_xlabel("Opportunities with a purchase after the first")
    ax.set_ylabel("Customers")
    ax.set_title("Purchase frequency: data and model")
    ax.legend()
    return ax


def opportunity_holdout_table(model, split: pd.DataFrame, *, by: str = "frequency") -> pd.DataFrame:
    """Mean holdout purchases of the customers grouped ``by`` calibration ``"frequency"`` or ``"recency"``:
    ``customers``, ``actual`` and ``model`` (the model's conditional expectation, FHS eq. 13)."""
    if by not in ("frequency", "recency"):
        raise DataError(f"'by' must be 'frequency' or 'recency'; got {by!r}")
    purchases = _opportunity_model(model)
    for column in ("test_frequency", "test_T"):
        if column not in split.columns:
            raise DataError(f"split has no column {column!r}: make it with opportunity_train_test_split")
    horizon = int(pd.to_numeric(split["test_T"]).iloc[0])
    checked = check_opportunity_summary(split)
    frame = pd.DataFrame({
        by: checked[by].astype(int).to_numpy(),
        "actual": pd.to_numeric(split["test_frequency"]).to_numpy(dtype=float),
        "model": purchases.expected_purchases(split, horizon).to_numpy(),
    })
    table = frame.groupby(by).agg(customers=("actual", "size"), actual=("actual", "mean"), model=("model", "mean"))
    table.attrs["horizon"] = horizon
    return table


def _plot_holdout(model, split, by: str, ax):
    table = opportunity_holdout_table(model, split, by=by)
    ax = _axes(ax)
    ax.plot(table.index, table["actual"], marker="o", **_ACTUAL)
    ax.plot(table.index, table["model"], marker="s", linestyle="--", **_MODEL)
    ax.set_xticks(table.index)
    ax.set_xlabel("Opportunities with a purchase in calibration" if by == "frequency"
                  else "Recency: opportunity of the last purchase in calibration")
    ax.set_ylabel(f"Mean purchases at the {table.attrs['horizon']} holdout opportunities")
    ax.set_title(f"Holdout purchases by calibration {by}")
    ax.legend()
    return ax


def plot_holdout_by_frequency(model, split: pd.DataFrame, *, ax=None):
    """Mean holdout purchases by calibration frequency: actual and the model's conditional expectation."""
    return _plot_holdout(model, split, "frequency", ax)


def plot_holdout_by_recency(model, split: pd.DataFrame, *, ax=None):
    """Mean holdout purchases by calibration recency: actual and the model's conditional expectation."""
    return _plot_holdout(model, split, "recency", ax)


def opportunity_tracking_table(model, log, *, train_period_end, test_period_end=None, period: str | None = None):
    """Repeat purchases (opportunities with a purchase) per calendar period of the customers acquired by
    ``train_period_end``: ``actual``, ``model`` (the expectation from each cohort's size and the model's
    purchases of a new customer) and their cumulative sums. ``period`` defaults to the model's."""
    purchases = _opportunity_model(model)
    period = period or purchases.period_
    if period is None:
        raise DataError("the model does not know its opportunity period: give period='Y' (or 'Q', 'M', ...)")
    train_end = to_timestamp(train_period_end, "train_period_end")
    test_end = log.last_purchase if test_period_end is None else to_timestamp(test_period_end, "test_period_end")
    last = _end_period(test_end, period, "test_period_end")
    transactions = log.transactions()
    number = _period_numbers(transactions["date"], period, last)
    frame = pd.DataFrame({"customer_id": transactions["customer_id"].to_numpy(), "number": number})
    frame = frame[frame["number"] <= 0].drop_duplicates()
    acquired = frame.groupby("customer_id")["number"].min()
    train_number = _end_period(train_end, period, "train_period_end").ordinal - last.ordinal
    acquired = acquired[acquired <= train_number]
    frame = frame[frame["customer_id"].isin(acquired.index)]
    repeat = frame[frame["number"].to_numpy() > acquired.reindex(frame["customer_id"]).to_numpy()]
    first = int(acquired.min())
    numbers = np.arange(first, 1)
    actual = repeat.groupby("number").size().reindex(numbers, fill_value=0).to_numpy(dtype=float)
    cohorts = acquired.value_counts()
    expected = np.zeros(numbers.size)
    for start, size in cohorts.items():
        ahead = np.arange(0, -int(start) + 1)
        cumulative = purchases.expected_purchases_new_customer(ahead)
        expected[int(start) - first:] += size * np.diff(cumulative, prepend=0.0)
    index = pd.PeriodIndex.from_ordinals(numbers + last.ordinal, freq=last.freq)
    table = pd.DataFrame({"actual": actual, "model": expected}, index=index.rename("period"))
    table["actual_cumulative"] = table["actual"].cumsum()
    table["model_cumulative"] = table["model"].cumsum()
    table.attrs["train_period_end"] = str(train_end.date())
    return table


def plot_opportunity_tracking(model, log, *, train_period_end, test_period_end=None, period=None,
                              cumulative: bool = False, ax=None):
    """Repeat purchases per period of the training cohorts, actual and model; the holdout is shaded."""
    table = opportunity_tracking_table(model, log, train_period_end=train_period_end,
                                       test_period_end=test_period_end, period=period)
    ax = _axes(ax)
    suffix = "_cumulative" if cumulative else ""
    labels = [str(p) for p in table.index]
    positions = np.arange(len(table))
    ax.plot(positions, table["actual" + suffix], marker="o", **_ACTUAL)
    ax.plot(positions, table["model" + suffix], marker="s", linestyle="--", **_MODEL)
    train = pd.Period(table.attrs["train_period_end"], freq=table.index.freq)
    after = positions[table.index > train]
    if after.size:
        ax.axvspan(after[0] - 0.5, after[-1] + 0.5, color="0.92", zorder=0, label="Holdout")
    step = max(1, len(labels) // 12)
    ax.set_xticks(positions[::step], labels[::step])
    ax.set_xlabel("Period")
    ax.set_ylabel(("Cumulative r" if cumulative else "R") + "epeat purchases")
    ax.set_title("Tracking repeat purchases by period")
    ax.legend()
    return ax


def probability_alive_grid(model, n_opportunities: int) -> pd.DataFrame:
    """P(alive at the next opportunity) after ``n_opportunities`` for every (frequency, recency);
    NaN where no customer can be (recency below frequency, or a recency without purchases)."""
    purchases = _opportunity_model(model)
    n = int(n_opportunities)
    if n < 1:
        raise DataError(f"'n_opportunities' must be a whole number >= 1; got {n_opportunities!r}")
    x, t_x = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    valid = ((x == 0) & (t_x == 0)) | ((x >= 1) & (t_x >= x))
    grid = pd.DataFrame({"frequency": x[valid], "recency": t_x[valid], "T": n})
    values = np.full(x.shape, np.nan)
    values[valid] = purchases.probability_alive(grid).to_numpy()
    return pd.DataFrame(values, index=pd.Index(range(n + 1), name="frequency"),
                        columns=pd.Index(range(n + 1), name="recency"))


def plot_opportunity_alive_matrix(model, n_opportunities: int, *, ax=None):
    """Heat map of P(alive at the next opportunity) by frequency and recency after ``n_opportunities``."""
    matrix = probability_alive_grid(model, n_opportunities)
    ax = _axes(ax)
    image = ax.imshow(np.ma.masked_invalid(matrix.to_numpy()), origin="lower", cmap="viridis", vmin=0, vmax=1,
                      interpolation="nearest")
    for (i, j), value in np.ndenumerate(matrix.to_numpy()):
        if np.isfinite(value):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if value < 0.5 else "black")
    ax.set_xlabel("Recency (opportunity of the last purchase)")
    ax.set_ylabel("Frequency (opportunities with a purchase)")
    ax.set_title(f"P(alive at the next opportunity) after {n_opportunities} opportunities")
    bar_axes = ax.inset_axes([1.02, 0.0, 0.04, 1.0])
    ax.figure.colorbar(image, cax=bar_axes, label="P(alive)")
    return ax


def plot_retention_by_tenure(model, summary: pd.DataFrame, *, retention=None, weights=None, periods=None, ax=None):
    """Retention by tenure of contract customers: observed, the sBG's (rising: survivors are more loyal) and the
    constant rate of the practitioners' formula (:func:`clv_predict.contracts.retention_by_tenure`)."""
    from ..contracts import retention_by_tenure

    table = retention_by_tenure(model, summary, retention=retention, weights=weights, periods=periods)
    ax = _axes(ax)
    seen = table["observed"].notna()
    ax.plot(table.index[seen], table.loc[seen, "observed"], marker="o", linestyle="none", color=_ACTUAL["color"],
            label="Observed")
    ax.plot(table.index, table["sbg"], color=_MODEL["color"], label="sBG")
    ax.plot(table.index, table["constant"], color="0.45", linestyle=":",
            label=f"Constant {table['constant'].iloc[0]:.1%}")
    ax.set_xlabel("Tenure: renewal at the end of period")
    ax.set_ylabel("Share of customers renewing")
    ax.set_ylim(min(0.5, float(np.nanmin(table[["observed", "sbg", "constant"]].to_numpy())) - 0.05), 1.0)
    ax.set_title("Retention by tenure: observed, sBG and constant")
    ax.legend(loc="lower right")
    return ax


def plot_segment_retention(models: dict, *, periods=range(1, 13), ax=None):
    """The sBG retention curve of each segment (:func:`clv_predict.contracts.fit_segments`)."""
    from ..contracts import retention_curves

    curves = retention_curves(models, periods)
    ax = _axes(ax)
    for name in curves.columns:
        ax.plot(curves.index, curves[name], marker=".", label=str(name))
    ax.set_xlabel("Tenure: renewal at the end of period")
    ax.set_ylabel("sBG retention rate")
    ax.set_title("Retention by tenure, per segment")
    ax.legend()
    return ax
