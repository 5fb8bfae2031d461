"""Model diagnostics: does a fitted purchase model (BG/NBD, Pareto/NBD, ...) + Gamma-Gamma describe the data?

Every function takes ``ax=None`` (a new figure when none is given), draws only on that Axes
and returns it; none calls ``plt.show()``. They need a fitted model (or one loaded with
:func:`clv_predict.load_model`) plus the data to compare it with: an RFM table, a
calibration/holdout split or a transaction log. Nothing is read from training rows kept in
the model, because a model keeps none.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .._math import gamma_gamma_log_likelihood
from .._validation import (
    TIME_UNIT_DAYS,
    check_columns,
    check_nonnegative_number,
    check_rfm,
    check_time_unit,
    to_timestamp,
)
from ..clv import CLVModel
from ..evaluation import (
    FREQUENCY_BINS,
    _purchase_model,
    capture_curve,
    evaluate,
    frequency_bin_labels,
    gini_coefficient,
)
from ..exceptions import DataError
from ..models import GammaGammaModel
from ..rfm import _day, _iso, _merge_days, _read_log
from ..transactions import TransactionLog

__all__ = [
    "plot_calibration_holdout",
    "plot_dropout_distribution",
    "plot_expected_purchases_matrix",
    "plot_frequency_comparison",
    "plot_frequency_distribution",
    "plot_probability_alive_history",
    "plot_probability_alive_matrix",
    "plot_purchase_rate_distribution",
    "plot_spend_distribution",
    "plot_tracking",
    "plot_tracking_comparison",
    "plot_value_concentration",
]

_UNIT_NAMES = {"D": "day", "W": "week", "M": "month"}
_ACTUAL = {"color": "#1f4e79", "label": "Actual"}
_MODEL = {"color": "#d9822b", "label": "Model"}


def _same_decimals(*values, digits: int = 3) -> list[str]:
    """Numbers shown side by side (a legend's mean and median) with the same decimals.

    The decimals give the smallest non-zero value ``digits`` significant digits (at most 6), so that
    "Mean 0.05502" and "Median 0.00902" compare at a glance where ``.3g`` wrote 0.055 and 0.00902.

    >>> _same_decimals(0.05502, 0.009021)
    ['0.05502', '0.00902']
    >>> _same_decimals(0.2426, 4.4136)
    ['0.243', '4.414']
    """
    magnitudes = [abs(float(v)) for v in values if np.isfinite(v) and v != 0]
    smallest = min(magnitudes) if magnitudes else 1.0
    decimals = int(np.clip(digits - 1 - np.floor(np.log10(smallest)), 0, 6))
    return [f"{float(v):,.{decimals}f}" for v in values]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def _spend_model(model) -> GammaGammaModel:
    if isinstance(model, CLVModel):
        model._check_fitted()
        return model.spend_model_
    if isinstance(model, GammaGammaModel):
        model._check_fitted()
        return model
    raise DataError(f"'model' must be a fitted CLVModel or GammaGammaModel; got {type(model).__name__}")


def _unit(model, rfm=None, time_unit=None) -> str:
    """The model's time unit, checked against the data's."""
    unit = time_unit or getattr(model, "time_unit_", None)
    declared = rfm.attrs.get("time_unit") if isinstance(rfm, pd.DataFrame) else None
    if unit is None:
        unit = declared
    if unit is None:
        raise DataError("the model has no time unit and none was given: pass time_unit='D', 'W' or 'M'")
    check_time_unit(unit)
    if declared is not None and declared != unit:
        raise DataError(f"the RFM table is in time unit {declared!r} but the model is in {unit!r}")
    return unit


def _purchase_days(transactions, customer_id_col: str, datetime_col: str):
    """(customer ids, each purchase day's position among them, the days since 1970) of a log.

    A :class:`~clv_predict.TransactionLog` gives its purchase days as they are (its input
    policies applied, read and checked once); a DataFrame is read with its two columns.
    """
    if isinstance(transactions, TransactionLog):
        merged = transactions._all()
        return merged.ids, merged.codes, merged.days
    check_columns(transactions, [customer_id_col, datetime_col])
    log = _read_log(transactions, customer_id_col, datetime_col, None)
    codes, days, _ = _merge_days(log.codes, log.days, None)
    return log.ids, codes, days


# --------------------------------------------------------------------------- 1. frequency distribution
def expected_frequency_counts(model, rfm: pd.DataFrame, max_frequency: int = FREQUENCY_BINS) -> pd.Series:
    """Expected number of customers with 0, 1, ... repeat purchases, and ``max_frequency`` or more.

    Each customer contributes P(X(T) = n) at his own age ``T`` (equation 8 of Fader, Hardie &
    Lee 2005), so a cohort whose first purchases are spread over time is handled exactly.
    """
    purchases = _purchase_model(model)
    _unit(purchases, rfm)
    checked = check_rfm(rfm)
    ages = checked["T"].value_counts()
    n = np.arange(max_frequency)
    counts = np.zeros(max_frequency + 1)
    for age, customers in ages.items():
        if age <= 0:  # first purchase on the last day: no time for a repeat purchase yet
            counts[0] += customers
            continue
        probabilities = purchases.probability_of_n_purchases(float(age), n)
        counts[:-1] += customers * probabilities
        counts[-1] += customers * max(0.0, 1.0 - probabilities.sum())
    return pd.Series(counts, index=frequency_bin_labels(np.arange(max_frequency + 1), max_frequency).astype(str),
                     name="expected_customers")


def plot_frequency_distribution(model, rfm: pd.DataFrame, *, max_frequency: int = FREQUENCY_BINS, ax=None):
    """Customers by number of repeat purchases in the training period: observed and expected.

    The expected counts are analytical (see :func:`expected_frequency_counts`), not simulated.

    Parameters
    ----------
    model : CLVModel or BetaGeoModel
    rfm : DataFrame
        The RFM summary the model was fitted on (or a split, whose training columns are used).
    max_frequency : int, default 7
        Customers with this many repeat purchases or more share the last bar.
    ax : matplotlib Axes, optional
    """
    expected = expected_frequency_counts(model, rfm, max_frequency)
    observed = pd.Series(frequency_bin_labels(check_rfm(rfm)["frequency"], max_frequency)).value_counts(sort=False)
    positions = np.arange(expected.size)
    width = 0.4
    ax = _axes(ax)
    ax.bar(positions - width / 2, observed.to_numpy(), width, **_ACTUAL)
    ax.bar(positions + width / 2, expected.to_numpy(), width, **_MODEL)
    ax.set_xticks(positions, expected.index)
    ax.set_xlabel("Repeat purchases in the training period")
    ax.set_ylabel("Customers")
    ax.set_title("Repeat-purchase frequency: actual vs model")
    ax.legend()
    return ax


# --------------------------------------------------------------------------- 2. calibration vs holdout
def plot_calibration_holdout(model, split: pd.DataFrame, *, ax=None):
    """Mean holdout purchases by training frequency, actual and predicted, with the size of each bin.

    Parameters
    ----------
    model : CLVModel or BetaGeoModel
    split : DataFrame
        From :func:`clv_predict.rfm_train_test_split`.
    ax : matplotlib Axes, optional
    """
    table = evaluate(model, split).by_frequency
    positions = np.arange(len(table))
    ax = _axes(ax)
    ax.plot(positions, table["actual"].to_numpy(), marker="o", **_ACTUAL)
    ax.plot(positions, table["model"].to_numpy(), marker="s", linestyle="--", **_MODEL)
    labels = [f"{label}\nn={count:,}" for label, count in zip(table.index, table["customers"])]
    ax.set_xticks(positions, labels)
    ax.set_xlabel("Repeat purchases in the training period (n = customers)")
    ax.set_ylabel("Mean purchases in the holdout")
    unit = _UNIT_NAMES.get(_purchase_model(model).time_unit_, "unit")
    length = float(split["test_T"].iloc[0])
    ax.set_title(f"Calibration vs holdout ({length:g} {unit}s)")
    ax.legend()
    return ax


# --------------------------------------------------------------------------- 3. tracking over calendar time
def tracking_table(
    model,
    transactions: pd.DataFrame,
    *,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    train_period_end=None,
    test_period_end=None,
    time_unit: str | None = None,
) -> pd.DataFrame:
    """Daily repeat transactions of the training cohort, actual and expected by the model.

    The cohort is every customer whose first purchase is on or before ``train_period_end``
    (default: the model's observation end). A customer's expected cumulative repeat
    transactions on a day is E[X(age)] of a new customer (equation 9 of Fader, Hardie & Lee
    2005), with ``age`` the time since his first purchase; the cohort's is their sum.

    Returns
    -------
    DataFrame
        Indexed by ``date`` (every day from the cohort's first purchase to ``test_period_end``,
        default the last date of the log): ``actual`` and ``expected`` repeat transactions on the
        day, their cumulative sums ``actual_cumulative`` and ``expected_cumulative``;
        ``attrs['train_period_end']`` holds the boundary.
    """
    purchases = _purchase_model(model)
    unit = _unit(purchases, None, time_unit)
    if train_period_end is None:
        train_period_end = purchases.observation_period_end_
        if train_period_end is None:
            raise DataError("the model does not know where its training period ended: pass train_period_end")
    _, codes, days = _purchase_days(transactions, customer_id_col, datetime_col)
    train_end = _day(to_timestamp(train_period_end, "train_period_end"))
    end = int(days.max()) if test_period_end is None else _day(to_timestamp(test_period_end, "test_period_end"))
    first = np.ones(codes.size, dtype=bool)
    first[1:] = codes[1:] != codes[:-1]
    first_row = np.maximum.accumulate(np.where(first, np.arange(codes.size), 0))
    first_day_of_row = days[first_row]
    in_cohort = first_day_of_row <= train_end
    if not in_cohort.any():
        raise DataError(f"no customer made a first purchase on or before train_period_end {_iso(train_end)}")
    start = int(days[first & in_cohort].min())
    if end <= start:
        raise DataError(f"'test_period_end' {_iso(end)} must be after the cohort's first purchase {_iso(start)}")
    n_days = end - start + 1
    repeat = ~first & in_cohort & (days <= end)
    actual = np.bincount(days[repeat] - start, minlength=n_days)[:n_days]
    births = np.bincount(days[first & in_cohort] - start, minlength=n_days)[:n_days]
    ages = np.arange(n_days) / TIME_UNIT_DAYS[unit]
    curve = np.asarray(purchases.expected_purchases_new_customer(ages), dtype=float)
    expected_cumulative = np.convolve(births, curve)[:n_days]
    table = pd.DataFrame(
        {
            "actual": actual.astype(float),
            "expected": np.diff(expected_cumulative, prepend=0.0),
            "actual_cumulative": np.cumsum(actual).astype(float),
            "expected_cumulative": expected_cumulative,
        },
        index=pd.DatetimeIndex(pd.date_range(_iso(start), periods=n_days, freq="D"), name="date"),
    )
    table.attrs.update({"train_period_end": _iso(train_end), "time_unit": unit, "cohort_size": int(births.sum())})
    return table


def plot_tracking(
    model,
    transactions: pd.DataFrame,
    *,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    train_period_end=None,
    test_period_end=None,
    cumulative: bool = True,
    period_days: int = 7,
    time_unit: str | None = None,
    ax=None,
):
    """Repeat transactions of the training cohort over calendar time, actual vs model.

    Parameters
    ----------
    model : CLVModel or BetaGeoModel
    transactions : DataFrame
        The transaction log, training and holdout periods together.
    customer_id_col, datetime_col : str
        Its columns (default ``customer_id`` and ``date``).
    train_period_end, test_period_end : date-like, optional
        Defaults: the model's observation end, the last date in the log. The boundary is
        drawn as a dashed vertical line.
    cumulative : bool, default True
        Cumulative repeat transactions; False for the number in each period of
        ``period_days`` days (only whole periods, aligned on the boundary).
    ax : matplotlib Axes, optional

    See Also
    --------
    tracking_table : the numbers drawn.
    """
    table = tracking_table(
        model, transactions, customer_id_col=customer_id_col, datetime_col=datetime_col,
        train_period_end=train_period_end, test_period_end=test_period_end, time_unit=time_unit,
    )
    boundary = pd.Timestamp(table.attrs["train_period_end"])
    ax = _axes(ax)
    if cumulative:
        ax.plot(table.index, table["actual_cumulative"].to_numpy(), **_ACTUAL)
        ax.plot(table.index, table["expected_cumulative"].to_numpy(), linestyle="--", **_MODEL)
        ax.set_ylabel("Cumulative repeat transactions")
        ax.set_title("Tracking cumulative repeat transactions")
    else:
        period_days = int(check_nonnegative_number(period_days, "period_days", allow_zero=False))
        # periods end on the boundary day, so none straddles training and holdout
        position = (table.index - (boundary + pd.Timedelta(days=1))).days.to_numpy() // period_days
        periods = table[["actual", "expected"]].groupby(position).agg(["sum", "size"])
        whole = periods[("actual", "size")] == period_days
        periods = periods[whole]
        # one more edge than periods, so that the last period's step has its width too
        edges = np.append(periods.index.to_numpy(), periods.index[-1] + 1) * period_days
        starts = boundary + pd.Timedelta(days=1) + pd.to_timedelta(edges, unit="D")
        actual, expected = periods[("actual", "sum")].to_numpy(), periods[("expected", "sum")].to_numpy()
        ax.plot(starts, np.append(actual, actual[-1]), drawstyle="steps-post", **_ACTUAL)
        ax.plot(starts, np.append(expected, expected[-1]), drawstyle="steps-post", linestyle="--", **_MODEL)
        ax.set_ylabel(f"Repeat transactions per {period_days} days")
        ax.set_title(f"Tracking repeat transactions per {period_days}-day period")
    ax.axvline(boundary, color="grey", linestyle=":", label=f"End of training ({boundary:%Y-%m-%d})")
    ax.set_xlabel("Date")
    ax.legend()
    return ax


# --------------------------------------------------------------------------- 4. frequency-recency matrices
def frequency_recency_matrix(
    model, rfm: pd.DataFrame | None = None, *, quantity: str = "expected_purchases", t: float = 1.0,
    T: float | None = None, max_frequency: int | None = None, n_recency: int = 60,
) -> pd.DataFrame:
    """Expected purchases in the next ``t`` time units, or P(alive), of a customer of age ``T``
    by frequency (rows, 0..max_frequency) and recency (columns, 0..T).

    ``T`` and ``max_frequency`` default to the largest ``T`` and ``frequency`` in ``rfm``.
    Impossible cells (no repeat purchase but a positive recency) are NaN.
    """
    purchases = _purchase_model(model)
    if quantity not in ("expected_purchases", "p_alive"):
        raise DataError(f"'quantity' must be 'expected_purchases' or 'p_alive'; got {quantity!r}")
    if rfm is not None:
        _unit(purchases, rfm)
        checked = check_rfm(rfm)
        T = float(checked["T"].max()) if T is None else T
        max_frequency = int(checked["frequency"].max()) if max_frequency is None else max_frequency
    if T is None or max_frequency is None:
        raise DataError("give an RFM table, or both 'T' and 'max_frequency', to size the matrix")
    T = check_nonnegative_number(T, "T", allow_zero=False)
    max_frequency = int(check_nonnegative_number(max_frequency, "max_frequency"))
    t = check_nonnegative_number(t, "t")
    frequency = np.arange(max_frequency + 1, dtype=float)
    recency = np.linspace(0.0, T, int(n_recency))
    x, t_x = np.meshgrid(frequency, recency, indexing="ij")
    params = purchases._params()  # with covariates: a customer of the reference profile
    T_grid = np.full_like(x, T)
    alive = purchases._probability_alive_values(params, x, t_x, T_grid)
    if quantity == "p_alive":
        values = alive
    else:
        values = purchases._forecast(x.ravel(), t_x.ravel(), T_grid.ravel(), t, 0.0, p_alive=alive.ravel())[0].reshape(x.shape)
    values = np.where((x == 0) & (t_x > 0), np.nan, values)
    matrix = pd.DataFrame(values, index=pd.Index(frequency.astype(int), name="frequency"),
                          columns=pd.Index(recency, name="recency"))
    matrix.attrs.update({"quantity": quantity, "T": T, "t": t, "time_unit": purchases.time_unit_})
    return matrix


def _plot_matrix(matrix: pd.DataFrame, ax, title: str, colour_label: str):
    T = matrix.attrs["T"]
    top = matrix.index.max()
    image = ax.imshow(
        matrix.to_numpy(), origin="lower", aspect="auto", cmap="viridis",
        extent=(0.0, T, -0.5, top + 0.5), interpolation="nearest",
    )
    unit = _UNIT_NAMES.get(matrix.attrs["time_unit"], "time unit")
    ax.set_xlabel(f"Recency ({unit}s from first to last purchase)")
    ax.set_ylabel("Frequency (repeat purchases)")
    ax.set_title(title)
    # the colour bar lives in an inset of this Axes, so nothing is drawn outside it
    bar_axes = ax.inset_axes([1.02, 0.0, 0.04, 1.0])
    ax.figure.colorbar(image, cax=bar_axes, label=colour_label)
    return ax


def plot_expected_purchases_matrix(model, rfm: pd.DataFrame | None = None, *, t: float = 1.0, T=None,
                                   max_frequency=None, ax=None):
    """Heat map of expected purchases in the next ``t`` time units by frequency and recency.

    Customers of age ``T`` (default: the oldest in ``rfm``); see :func:`frequency_recency_matrix`.
    """
    matrix = frequency_recency_matrix(model, rfm, quantity="expected_purchases", t=t, T=T, max_frequency=max_frequency)
    unit = _UNIT_NAMES.get(matrix.attrs["time_unit"], "time unit")
    ax = _axes(ax)
    return _plot_matrix(
        matrix, ax, f"Expected purchases in the next {t:g} {unit}{'' if t == 1 else 's'}\n(customers of age T = {matrix.attrs['T']:.1f})",
        "Expected purchases",
    )


def plot_probability_alive_matrix(model, rfm: pd.DataFrame | None = None, *, T=None, max_frequency=None, ax=None):
    """Heat map of P(alive) by frequency and recency for customers of age ``T`` (default: oldest in ``rfm``)."""
    matrix = frequency_recency_matrix(model, rfm, quantity="p_alive", T=T, max_frequency=max_frequency)
    ax = _axes(ax)
    return _plot_matrix(matrix, ax, f"Probability alive\n(customers of age T = {matrix.attrs['T']:.1f})", "P(alive)")


# --------------------------------------------------------------------------- 5. P(alive) history
def probability_alive_history(
    model, transactions: pd.DataFrame, customer_id, *, customer_id_col: str = "customer_id",
    datetime_col: str = "date", end=None, time_unit: str | None = None,
) -> pd.Series:
    """P(alive) of one customer on each day from his first purchase to ``end``.

    On each day the customer's (frequency, recency, T) is what the log shows up to that day.
    ``end`` defaults to the last date in the log. Returns a Series indexed by ``date`` with
    ``attrs['purchase_dates']``.
    """
    purchases = _purchase_model(model)
    unit = _unit(purchases, None, time_unit)
    ids, codes, all_days = _purchase_days(transactions, customer_id_col, datetime_col)
    matches = np.flatnonzero(ids == customer_id)
    if matches.size == 0:
        raise DataError(f"customer {customer_id!r} is not in column '{customer_id_col}' of the transactions")
    last_day = int(all_days.max()) if end is None else _day(to_timestamp(end, "end"))
    days = np.unique(all_days[codes == matches[0]])
    first = int(days[0])
    if last_day < first:
        raise DataError(f"'end' {_iso(last_day)} is before customer {customer_id!r}'s first purchase {_iso(first)}")
    days = days[days <= last_day]
    grid = np.arange(first, last_day + 1)
    made = np.searchsorted(days, grid, side="right")  # transactions up to and including each day
    x = made - 1
    t_x = (days[made - 1] - first) / TIME_UNIT_DAYS[unit]
    T = (grid - first) / TIME_UNIT_DAYS[unit]
    values = purchases._probability_alive_values(purchases._params(), x.astype(float), t_x, T)
    index = pd.DatetimeIndex(pd.date_range(_iso(first), periods=grid.size, freq="D"), name="date")
    history = pd.Series(values, index=index, name="p_alive")
    history.attrs["purchase_dates"] = [_iso(int(d)) for d in days]
    history.attrs["customer_id"] = customer_id
    return history


def plot_probability_alive_history(
    model, transactions: pd.DataFrame, customer_id, *, customer_id_col: str = "customer_id",
    datetime_col: str = "date", end=None, time_unit: str | None = None, ax=None,
):
    """P(alive) of one customer over time, with his purchase days marked.

    Parameters
    ----------
    model : CLVModel or BetaGeoModel
    transactions : DataFrame
        A transaction log holding the customer's purchases.
    customer_id
        The customer, as it appears in ``customer_id_col``.
    end : date-like, optional
        Last day drawn (default: the last date in the log). The model's training end, if
        known and inside the range, is drawn as a dotted line.
    ax : matplotlib Axes, optional
    """
    history = probability_alive_history(
        model, transactions, customer_id, customer_id_col=customer_id_col, datetime_col=datetime_col,
        end=end, time_unit=time_unit,
    )
    ax = _axes(ax)
    ax.plot(history.index, history.to_numpy(), color=_ACTUAL["color"], label="P(alive)")
    purchases = pd.DatetimeIndex(history.attrs["purchase_dates"])
    ax.vlines(purchases, 0, 1, colors=_MODEL["color"], linestyles="--", linewidth=1, label="Purchase")
    boundary = _purchase_model(model).observation_period_end_
    if boundary is not None and history.index[0] <= pd.Timestamp(boundary) <= history.index[-1]:
        ax.axvline(pd.Timestamp(boundary), color="grey", linestyle=":", label=f"End of training ({boundary})")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("Date")
    ax.set_ylabel("P(alive)")
    ax.set_title(f"P(alive) history of customer {customer_id}")
    ax.legend(loc="lower left")
    return ax


# --------------------------------------------------------------------------- 6. Gamma-Gamma fit
def spend_density(model, frequency, grid, rfm=None) -> np.ndarray:
    """Density of the mean spend per transaction implied by the Gamma-Gamma model at ``grid``,
    averaged over customers with the given numbers of repeat purchases ``frequency``.

    For a customer with ``x`` repeat transactions the mean of their values has the marginal
    density whose logarithm is :func:`clv_predict._math.gamma_gamma_log_likelihood`. A model
    with spend covariates reads them from ``rfm`` (the rows ``frequency`` comes from).
    """
    gg = _spend_model(model)
    if gg.covariate_encoding_ is not None:
        return gg._mean_spend_density(frequency, grid, rfm)
    params = gg.params_.to_numpy()
    counts = pd.Series(np.asarray(frequency, dtype=float)).value_counts()
    grid = np.asarray(grid, dtype=float)
    density = np.zeros_like(grid)
    for x, customers in counts.items():
        density += customers * np.exp(gamma_gamma_log_likelihood(params, x, grid))
    return density / counts.sum()


def plot_spend_distribution(model, rfm: pd.DataFrame, *, bins: int = 40, quantile: float = 0.99, ax=None):
    """Mean spend per repeat transaction across repeat customers: observed histogram vs the model's density.

    The model's density is the mixture over the observed customers' numbers of repeat
    transactions (see :func:`spend_density`), so it is comparable to the histogram. The x axis
    stops at the ``quantile`` of observed mean spend; the histogram is scaled so that its area
    is the share of customers shown.
    """
    checked = check_rfm(rfm, need_monetary=True)
    repeat = checked[(checked["frequency"] > 0) & (checked["monetary_value"] > 0)]
    if repeat.empty:
        raise DataError("rfm has no customer with repeat purchases of positive value: nothing to compare")
    spend = repeat["monetary_value"].to_numpy()
    top = float(np.quantile(spend, quantile))
    edges = np.linspace(0.0, top, int(bins) + 1)
    width = edges[1] - edges[0]
    ax = _axes(ax)
    ax.hist(spend, bins=edges, weights=np.full(spend.size, 1.0 / (spend.size * width)),
            color=_ACTUAL["color"], alpha=0.6, label=f"Actual ({spend.size:,} repeat customers)")
    grid = np.linspace(top / 400, top, 400)
    rows = rfm.loc[repeat.index] if rfm.index.is_unique else None
    ax.plot(grid, spend_density(model, repeat["frequency"].to_numpy(), grid, rows), color=_MODEL["color"],
            linewidth=2, label="Model (Gamma-Gamma)")
    ax.set_xlabel("Mean spend per repeat transaction")
    ax.set_ylabel("Density")
    ax.set_title("Gamma-Gamma fit: mean spend per customer")
    ax.legend()
    return ax


# --------------------------------------------------------------------------- 7. value concentration
def plot_value_concentration(clv, *, ax=None):
    """Lorenz curve of predicted CLV: share of total value held by the top x% of customers, with the Gini coefficient.

    Parameters
    ----------
    clv : Series, array or DataFrame with a ``clv`` column
        Predicted CLV per customer (e.g. ``model.predict(rfm, horizon=52)``), all >= 0.
    ax : matplotlib Axes, optional
    """
    if isinstance(clv, pd.DataFrame):
        check_columns(clv, ["clv"], what="clv")
        clv = clv["clv"]
    values = np.asarray(clv, dtype=float).ravel()
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise DataError("clv must hold at least one finite value (no NaN or infinity)")
    gini = gini_coefficient(values)
    share_customers, share_value = capture_curve(values, values)
    ax = _axes(ax)
    ax.plot(100 * share_customers, 100 * share_value, color=_MODEL["color"], label=f"Predicted CLV (Gini {gini:.2f})")
    ax.plot([0, 100], [0, 100], color="grey", linestyle=":", label="Equal value")
    for top in (10, 20):
        held = 100 * float(np.interp(top / 100, share_customers, share_value))
        ax.annotate(f"top {top}%: {held:.0f}% of value", (top, held), xytext=(8, -14), textcoords="offset points")
        ax.plot([top], [held], "o", color=_MODEL["color"])
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_xlabel("Top % of customers by predicted CLV")
    ax.set_ylabel("% of total predicted CLV")
    ax.set_title(f"Value concentration (Gini {gini:.2f})")
    ax.legend(loc="lower right")
    return ax


# --------------------------------------------------------------------------- 8. parameter heterogeneity
def plot_purchase_rate_distribution(model, *, ax=None):
    """Fitted distribution of the purchase rate across customers, Gamma(r, alpha), on a log axis.

    The curve is the density per unit of log rate (rate x density), which stays finite where
    the Gamma density itself is infinite (r < 1); the mean r / alpha and median are marked.
    """
    purchases = _purchase_model(model)
    r, alpha = purchases.params_["r"], purchases.params_["alpha"]
    rate = stats.gamma(r, scale=1.0 / alpha)
    # with r < 1 the left tail is long on a log axis; rates under 1/10,000 of the mean are not drawn
    grid = np.geomspace(max(rate.ppf(0.001), 1e-4 * r / alpha), rate.ppf(0.999), 400)
    ax = _axes(ax)
    shown_r, shown_alpha = _same_decimals(r, alpha)
    mean, median = _same_decimals(r / alpha, rate.median())
    ax.plot(grid, grid * rate.pdf(grid), color=_ACTUAL["color"], label=f"Gamma(r={shown_r}, alpha={shown_alpha})")
    ax.axvline(r / alpha, color=_MODEL["color"], linestyle="--", label=f"Mean {mean}")
    ax.axvline(rate.median(), color="grey", linestyle=":", label=f"Median {median}")
    ax.set_xscale("log")
    unit = _UNIT_NAMES.get(purchases.time_unit_, "time unit")
    ax.set_xlabel(f"Purchase rate while alive (purchases per {unit})")
    ax.set_ylabel("Density per unit of log rate")
    ax.set_title("Heterogeneity in purchase rate")
    ax.legend()
    return ax


def plot_dropout_distribution(model, *, ax=None):
    """Fitted distribution of dropout across customers: the probability of dropping out after each
    purchase, Beta(a, b), for the BG models; the dropout rate, Gamma(s, beta), for Pareto/NBD."""
    purchases = _purchase_model(model)
    dropout, xlabel, label, bounded = purchases._dropout_distribution(purchases._params())
    if bounded:
        grid = np.linspace(0.0025, 0.9975, 400)
    else:
        grid = np.linspace(dropout.ppf(0.0025), dropout.ppf(0.99), 400)
    density = dropout.pdf(grid)
    ax = _axes(ax)
    ax.plot(grid, density, color=_ACTUAL["color"], label=label)
    mean, median = _same_decimals(dropout.mean(), dropout.median())
    ax.axvline(dropout.mean(), color=_MODEL["color"], linestyle="--", label=f"Mean {mean}")
    ax.axvline(dropout.median(), color="grey", linestyle=":", label=f"Median {median}")
    # a density that is infinite at 0 or 1 would flatten the rest of the curve
    ax.set_ylim(0, min(float(density.max()), 3 * float(np.median(density)) + 1) * 1.05)
    ax.set_xlim(0, 1 if bounded else float(grid[-1]))
    ax.set_xlabel(xlabel.replace("time unit", _UNIT_NAMES.get(purchases.time_unit_, "time unit")))
    ax.set_ylabel("Density")
    ax.set_title("Heterogeneity in dropout" + (" probability" if bounded else " rate"))
    ax.legend()
    return ax


# --------------------------------------------------------------------------- 9. the model family side by side
#: One colour per compared model (the actual data stay in _ACTUAL's colour).
_FAMILY_COLOURS = ("#d9822b", "#2a9d8f", "#9b5de5", "#e63946", "#6c757d", "#b5838d", "#3a86ff")


def _family(models: dict) -> dict:
    if not isinstance(models, dict) or not models:
        raise DataError("'models' must be a non-empty dict of fitted models, as clv_predict.fit_models returns")
    return {name: _purchase_model(model) for name, model in models.items()}


def plot_frequency_comparison(models: dict, rfm: pd.DataFrame, *, max_frequency: int = FREQUENCY_BINS, ax=None):
    """Customers by number of repeat purchases in training: the data as bars, each model's expectation as a line.

    Parameters
    ----------
    models : dict
        Fitted models by name, as :func:`clv_predict.fit_models` returns.
    rfm : DataFrame
        The RFM summary (or split) they were fitted on.
    max_frequency : int, default 7
        Customers with this many repeat purchases or more share the last bar.
    ax : matplotlib Axes, optional
    """
    family = _family(models)
    observed = pd.Series(frequency_bin_labels(check_rfm(rfm)["frequency"], max_frequency)).value_counts(sort=False)
    positions = np.arange(observed.size)
    ax = _axes(ax)
    ax.bar(positions, observed.to_numpy(), 0.6, color=_ACTUAL["color"], alpha=0.35, label="Actual")
    for (name, model), colour in zip(family.items(), _FAMILY_COLOURS):
        expected = expected_frequency_counts(model, rfm, max_frequency)
        ax.plot(positions, expected.to_numpy(), marker="o", color=colour, label=model.label)
    ax.set_xticks(positions, observed.index.astype(str))
    ax.set_xlabel("Repeat purchases in the training period")
    ax.set_ylabel("Customers")
    ax.set_title("Repeat-purchase frequency: data and each model")
    ax.legend()
    return ax


def plot_tracking_comparison(
    models: dict,
    transactions: pd.DataFrame,
    *,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    train_period_end=None,
    test_period_end=None,
    ax=None,
):
    """Cumulative repeat transactions of the training cohort over calendar time: the data and each model.

    Parameters
    ----------
    models : dict
        Fitted models by name, as :func:`clv_predict.fit_models` returns (one time unit).
    transactions : DataFrame
        The transaction log, training and holdout periods together.
    customer_id_col, datetime_col, train_period_end, test_period_end, ax
        As in :func:`plot_tracking`.
    """
    family = _family(models)
    ax = _axes(ax)
    boundary = None
    for index, ((name, model), colour) in enumerate(zip(family.items(), _FAMILY_COLOURS)):
        table = tracking_table(model, transactions, customer_id_col=customer_id_col, datetime_col=datetime_col,
                               train_period_end=train_period_end, test_period_end=test_period_end)
        if index == 0:
            boundary = pd.Timestamp(table.attrs["train_period_end"])
            ax.plot(table.index, table["actual_cumulative"].to_numpy(), color=_ACTUAL["color"], linewidth=2.5,
                    label="Actual")
        ax.plot(table.index, table["expected_cumulative"].to_numpy(), linestyle="--", color=colour, label=model.label)
    ax.axvline(boundary, color="grey", linestyle=":", label=f"End of training ({boundary:%Y-%m-%d})")
    ax.set_xlabel("Date")
    ax.set_ylabel("Cumulative repeat transactions")
    ax.set_title("Tracking cumulative repeat transactions: data and each model")
    ax.legend()
    return ax
