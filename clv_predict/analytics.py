"""Customer value analytics: historical CLV, acquisition cohorts, value segments, acquisition budgets.

Three ways of measuring customer lifetime value, on the same transaction log and
the same column names as :func:`clv_predict.rfm_summary`:

* **historical** (descriptive): what customers have spent, how often and for how
  long, and the two textbook formulas built on those averages
  (:func:`historical_clv`, :func:`historical_clv_summary`);
* **cohort-based**: customers grouped by the calendar period of their first
  purchase, followed period by period (:func:`acquisition_cohorts`,
  :func:`retention_matrix`, :func:`cumulative_value`, :func:`cohort_clv`);
* **predictive**: the BG/NBD + Gamma-Gamma forecast of a fitted
  :class:`~clv_predict.CLVModel`, set beside the other two
  (:func:`compare_clv`) and used to rank customers (:func:`customer_segments`,
  :func:`segment_summary`) and to price their acquisition
  (:func:`acquisition_budget`).

Every function that reads the log takes a :class:`~clv_predict.TransactionLog`
(read and checked once, however many analyses use it), or a DataFrame with the
keywords of :class:`~clv_predict.TransactionLog` (``customer_id_col``,
``datetime_col``, ``monetary_value_col`` and the input options
``negative_amounts``, ``quantity_col`` with ``unit_price_col``,
``transaction_col``, ``duplicates``, ``missing_ids``, ``dayfirst``), from which
it builds one.

Conventions shared by every function here, and by :mod:`clv_predict.rfm`:
all purchases of one customer on one calendar day are one transaction (their
amounts summed); purchases after ``observation_period_end`` are left out with a
:class:`~clv_predict.DataWarning`; durations are in ``time_unit``
(``"D"``, ``"W"`` or ``"M"``, a month being 365.25 / 12 days); calendar periods
(``period``) are months ``"M"``, quarters ``"Q"`` or years ``"Y"``, returned as
a pandas ``PeriodIndex`` named ``cohort``.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._validation import (
    TIME_UNIT_DAYS,
    check_discount_rate,
    check_horizon,
    check_margin,
    check_nonnegative_number,
    check_time_unit,
)
from .exceptions import DataError, DataWarning
from .transactions import TransactionLog, _as_log, _iso, _Transactions

__all__ = [
    "DEFAULT_TIERS",
    "RFM_SEGMENTS",
    "acquisition_budget",
    "acquisition_budget_by_profile",
    "acquisition_cohorts",
    "cohort_clv",
    "compare_clv",
    "cumulative_value",
    "customer_segments",
    "historical_clv",
    "historical_clv_summary",
    "interpurchase_times",
    "retention_by_period",
    "retention_matrix",
    "segment_summary",
]

#: Average length of a calendar period in days (used only to convert a rate
#: stated per ``time_unit`` into a rate per period, and back).
PERIOD_DAYS = {"M": 365.25 / 12.0, "Q": 365.25 / 4.0, "Y": 365.25}

#: Predicted-CLV tiers, from the most valuable: (name, share of customers).
DEFAULT_TIERS = (("Platinum", 0.05), ("Gold", 0.15), ("Silver", 0.30), ("Bronze", 0.50))

#: Named RFM segments from the recency score (first digit) and the frequency
#: score (second digit), both 1 (worst) to 5 (best): the segment map most RFM
#: tutorials use. Every one of the 25 (R, F) pairs falls in exactly one segment.
RFM_SEGMENTS = {
    "Champions": ("5", "45"),
    "Loyal customers": ("34", "45"),
    "Potential loyalists": ("45", "23"),
    "New customers": ("5", "1"),
    "Promising": ("4", "1"),
    "Need attention": ("3", "3"),
    "About to sleep": ("3", "12"),
    "Cannot lose them": ("12", "5"),
    "At risk": ("12", "34"),
    "Hibernating": ("12", "12"),
}


# ---------------------------------------------------------------------------- reading the log
def _load(transactions, observation_period_end, time_unit, *, stacklevel: int, log_keywords: dict,
          need_amounts: str | None = None) -> _Transactions:
    """The transactions of ``transactions`` up to ``observation_period_end``: a :class:`~clv_predict.TransactionLog`,
    or a DataFrame with ``log_keywords`` (the log's column names and input options), from which one is built.

    ``need_amounts`` names the function that needs purchase values, if one does.
    """
    time_unit = check_time_unit(time_unit)
    if (need_amounts and not isinstance(transactions, TransactionLog) and log_keywords.get("monetary_value_col") is None
            and log_keywords.get("quantity_col") is None):
        raise DataError(
            f"{need_amounts} needs purchase values: pass monetary_value_col (or quantity_col and unit_price_col)"
        )
    log = _as_log(transactions, stacklevel=stacklevel + 1, **log_keywords)
    if need_amounts and not log.has_amounts:
        raise DataError(f"{need_amounts} needs purchase values: build the TransactionLog with monetary_value_col "
                        "(or quantity_col and unit_price_col)")
    return log._window(observation_period_end, time_unit, stacklevel=stacklevel + 1)


def _check_period(period) -> str:
    if period not in PERIOD_DAYS:
        raise DataError(f"'period' must be one of {', '.join(repr(p) for p in PERIOD_DAYS)}; got {period!r}")
    return period


def _period_of(days: np.ndarray, period: str) -> np.ndarray:
    """Calendar period of each day as a pandas Period ordinal (months, quarters or years since 1970)."""
    stamps = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    if period == "Y":
        return stamps.astype("datetime64[Y]").astype(np.int64)
    months = stamps.astype("datetime64[M]").astype(np.int64)
    return months if period == "M" else months // 3


def _period_last_day(ordinal: int, period: str) -> int:
    """Day number of the last day of the period ``ordinal``."""
    if period == "Y":
        start_next = np.datetime64(int(ordinal) + 1, "Y")
    else:
        months = (int(ordinal) + 1) * (3 if period == "Q" else 1)
        start_next = np.datetime64(months, "M")
    return int(start_next.astype("datetime64[D]").astype(np.int64)) - 1


def _period_index(ordinals, period: str) -> pd.PeriodIndex:
    """Periods from their ordinals; each distinct period is built once, however many customers share it."""
    unique, position = np.unique(np.asarray(ordinals, dtype=np.int64), return_inverse=True)
    periods = pd.PeriodIndex([pd.Period(ordinal=int(o), freq=period) for o in unique], name="cohort")
    return periods[position.reshape(-1)]


@dataclass
class _Periods:
    """The (customer, period) pairs in which each customer bought."""

    cohort: np.ndarray  # period ordinal of each customer's first transaction
    pair_code: np.ndarray  # customer of each active pair
    pair_period: np.ndarray  # period ordinal of each active pair
    pair_revenue: np.ndarray | None
    end_period: int  # period holding observation_period_end
    end_complete: bool  # observation_period_end is the last day of end_period


def _periods(tx: _Transactions, period: str) -> _Periods:
    ordinals = _period_of(tx.days, period)
    new = np.empty(ordinals.size, dtype=bool)
    new[:1] = True
    np.not_equal(tx.codes[1:], tx.codes[:-1], out=new[1:])
    new[1:] |= ordinals[1:] != ordinals[:-1]
    pair_starts = np.flatnonzero(new)
    revenue = None if tx.amounts is None else np.add.reduceat(tx.amounts, pair_starts)
    end_period = int(_period_of(np.array([tx.end_day]), period)[0])
    return _Periods(
        cohort=ordinals[tx.starts],
        pair_code=tx.codes[pair_starts],
        pair_period=ordinals[pair_starts],
        pair_revenue=revenue,
        end_period=end_period,
        end_complete=tx.end_day == _period_last_day(end_period, period),
    )


def _check_fraction(value, name: str, *, closed: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise DataError(f"'{name}' must be a number between 0 and 1; got {value!r}")
    if not (0 <= value <= 1 if closed else 0 < value < 1):
        bounds = "between 0 and 1" if closed else "strictly between 0 and 1"
        raise DataError(f"'{name}' must be {bounds}; got {value!r}")
    return float(value)


# ---------------------------------------------------------------------------- historical CLV
def retention_by_period(
    transactions: TransactionLog | pd.DataFrame,
    *,
    observation_period_end=None,
    period: str = "Q",
    **log_keywords,
) -> pd.DataFrame:
    """Period-to-period retention: of the customers who bought in a period, the share who bought in the next.

    Only complete calendar periods count: a last period cut short by
    ``observation_period_end`` is left out, since its missing days would read
    as lost customers.

    Returns
    -------
    DataFrame
        Indexed by ``period`` (each complete period that has a complete next
        one): ``active`` customers (who bought in the period), ``retained``
        (of those, who bought in the next period too), ``retention``
        (``retained / active``) and, with ``monetary_value_col``, ``revenue``
        of the period. ``attrs['retention']`` holds the pooled rate
        ``sum(retained) / sum(active)``, the estimate :func:`historical_clv`
        uses.

    Examples
    --------
    >>> log = pd.DataFrame({"id": [1, 1, 2, 2, 3, 3],
    ...                     "day": ["2024-01-05", "2024-04-02", "2024-01-09", "2024-08-30", "2024-05-01",
    ...                             "2024-09-10"]})
    >>> table = retention_by_period(log, customer_id_col="id", datetime_col="day",
    ...                             observation_period_end="2024-09-30")
    >>> table
            active  retained  retention
    period
    2024Q1       2         1        0.5
    2024Q2       2         1        0.5
    >>> table.attrs["retention"]
    0.5
    """
    period = _check_period(period)
    tx = _load(transactions, observation_period_end, "D",
               stacklevel=2, log_keywords=log_keywords)
    return _retention_table(tx, _periods(tx, period), period)


def _retention_table(tx: _Transactions, periods: _Periods, period: str) -> pd.DataFrame:
    last_complete = periods.end_period if periods.end_complete else periods.end_period - 1
    first = int(periods.pair_period.min())
    if last_complete - first < 1:
        raise DataError(
            f"retention needs two complete periods of {_PERIOD_NAMES[period]}s; the log has "
            f"{max(last_complete - first + 1, 0)} (from {_iso(int(tx.days.min()))} to "
            f"{_iso(tx.end_day)}): use a shorter 'period'"
        )
    n_periods = last_complete - first + 1
    slot = periods.pair_period - first
    inside = slot < n_periods
    # pairs are sorted by customer then period: a customer retained from p to p + 1 has consecutive pairs (p, p + 1)
    kept = (
        (periods.pair_code[1:] == periods.pair_code[:-1])
        & (slot[1:] == slot[:-1] + 1)
        & inside[1:]
    )
    active = np.bincount(slot[inside], minlength=n_periods)[:-1]
    retained = np.bincount(slot[:-1][kept], minlength=n_periods)[:-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = retained / active
    table = pd.DataFrame(
        {"active": active.astype(np.int64), "retained": retained.astype(np.int64), "retention": rate},
        index=_period_index(range(first, last_complete), period).rename("period"),
    )
    if periods.pair_revenue is not None:
        table["revenue"] = np.bincount(slot[inside], weights=periods.pair_revenue[inside], minlength=n_periods)[:-1]
    table.attrs["retention"] = float(retained.sum() / active.sum()) if active.sum() else float("nan")
    table.attrs["period"] = period
    return table


_PERIOD_NAMES = {"M": "month", "Q": "quarter", "Y": "year"}


def _per_period_discount(discount_rate: float, time_unit: str, period: str) -> float:
    """A discount rate per ``time_unit`` compounded over one calendar period."""
    return (1.0 + discount_rate) ** (PERIOD_DAYS[period] / TIME_UNIT_DAYS[time_unit]) - 1.0


def _retention_multiplier(retention: float, period_discount: float) -> float:
    """r / (1 + d - r): the discounted number of future periods of a customer active now."""
    denominator = 1.0 + period_discount - retention
    if denominator <= 0:
        warnings.warn(
            "retention is 1 and the discount rate 0: the retention formula's value is unbounded",
            DataWarning,
            stacklevel=4,
        )
        return float("inf")
    return retention / denominator


def historical_clv(
    transactions: TransactionLog | pd.DataFrame,
    *,
    observation_period_end=None,
    time_unit: str = "D",
    period: str = "Q",
    margin: float = 1.0,
    discount_rate: float = 0.0,
    **log_keywords,
) -> pd.DataFrame:
    """Each customer's history and the two textbook CLV formulas built on it.

    The retention rate ``r`` is estimated from the data as in
    :func:`retention_by_period`: over every pair of consecutive complete
    calendar periods (``period``), the number of customers who bought in both
    divided by the number who bought in the first (pooled over all pairs).
    Under that model a customer stays a geometric number of periods, on
    average ``1 / (1 - r)`` of them including the current one.

    Parameters
    ----------
    transactions : TransactionLog or DataFrame
        A :class:`~clv_predict.TransactionLog`, or one row per purchase as
        for :func:`clv_predict.rfm_summary`.
    **log_keywords
        With a DataFrame: the column names (``customer_id_col``, ``datetime_col``,
        ``monetary_value_col``) and input options of :class:`~clv_predict.TransactionLog`.
    observation_period_end : date-like, optional
        End of the observation period (default: last date in the log).
    time_unit : {"D", "W", "M"}, default "D"
        Unit of the durations and of ``discount_rate``, as in :func:`clv_predict.rfm_summary`.
    period : {"M", "Q", "Y"}, default "Q"
        Calendar period over which retention is measured.
    margin : float, default 1
        Profit margin applied to revenue.
    discount_rate : float, default 0
        Discount rate per ``time_unit``; compounded to a rate ``d`` per period
        for the retention formula.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id``:

        * ``first_purchase``, ``last_purchase`` (dates), ``n_transactions``,
          ``total_revenue``, ``average_order_value``;
        * ``lifespan``: time from first to last purchase (``recency`` of the
          RFM summary), ``tenure``: first purchase to the end of the
          observation period (``T``), ``purchase_frequency``: transactions per
          time unit of tenure (NaN for a customer first seen on the last day),
          ``mean_time_between_purchases`` (NaN with one transaction), all in
          ``time_unit``;
        * ``active_periods``: calendar periods in which the customer bought;
        * ``historical_value``: ``margin x total_revenue``, the value realised;
        * ``clv_formula``: average order value x purchase frequency x expected
          lifespan x margin, the frequency counted per active period and the
          expected lifespan ``1 / (1 - r)`` periods, i.e.
          ``margin x revenue per active period / (1 - r)``: the undiscounted
          value of the current period and every later one;
        * ``clv_retention``: ``m x r / (1 + d - r)`` with
          ``m = margin x revenue per active period``: the discounted value of
          the periods after the current one.

        ``attrs`` holds ``retention``, ``expected_lifespan`` (in
        ``time_unit``), ``period`` and the other settings.

    Examples
    --------
    >>> log = pd.DataFrame({"id": [1, 1, 2, 2, 3, 3],
    ...                     "day": ["2024-01-05", "2024-04-02", "2024-01-09", "2024-08-30", "2024-05-01",
    ...                             "2024-09-10"],
    ...                     "value": [10.0, 30.0, 5.0, 5.0, 8.0, 8.0]})
    >>> history = historical_clv(log, customer_id_col="id", datetime_col="day", monetary_value_col="value",
    ...                          observation_period_end="2024-09-30", time_unit="D")
    >>> history[["total_revenue", "active_periods", "clv_formula", "clv_retention"]]
                 total_revenue  active_periods  clv_formula  clv_retention
    customer_id
    1                     40.0               2         40.0           20.0
    2                     10.0               2         10.0            5.0
    3                     16.0               2         16.0            8.0
    """
    check_margin(margin)
    discount_rate = check_discount_rate(discount_rate, time_unit)
    period = _check_period(period)
    tx = _load(transactions, observation_period_end, time_unit,
               stacklevel=2, log_keywords=log_keywords, need_amounts="historical_clv")
    return _historical(tx, period, float(margin), discount_rate)


def _historical(tx: _Transactions, period: str, margin: float, discount_rate: float) -> pd.DataFrame:
    unit = TIME_UNIT_DAYS[tx.time_unit]
    periods = _periods(tx, period)
    retention = _retention_table(tx, periods, period).attrs["retention"]
    period_discount = _per_period_discount(discount_rate, tx.time_unit, period)
    multiplier = _retention_multiplier(retention, period_discount)

    n = tx.counts
    revenue = tx.revenue()
    lifespan = (tx.last_day - tx.first_day) / unit
    tenure = (tx.end_day - tx.first_day) / unit
    active_periods = np.bincount(periods.pair_code, minlength=tx.ids.size)
    per_active_period = revenue / active_periods
    with np.errstate(divide="ignore", invalid="ignore"):
        frequency = np.where(tenure > 0, n / np.where(tenure > 0, tenure, 1.0), np.nan)
        between = np.where(n > 1, lifespan / np.maximum(n - 1, 1), np.nan)
    frame = pd.DataFrame(
        {
            "first_purchase": tx.first_day.astype("datetime64[D]").astype("datetime64[ns]"),
            "last_purchase": tx.last_day.astype("datetime64[D]").astype("datetime64[ns]"),
            "n_transactions": n.astype(np.int64),
            "total_revenue": revenue,
            "average_order_value": revenue / n,
            "lifespan": lifespan,
            "tenure": tenure,
            "purchase_frequency": frequency,
            "mean_time_between_purchases": between,
            "active_periods": active_periods.astype(np.int64),
            "historical_value": margin * revenue,
            "clv_formula": margin * per_active_period / (1.0 - retention) if retention < 1 else np.inf,
            "clv_retention": margin * per_active_period * multiplier,
        },
        index=tx.ids,
    )
    frame.attrs.update(
        {
            "time_unit": tx.time_unit,
            "observation_period_end": _iso(tx.end_day),
            "period": period,
            "retention": retention,
            "expected_lifespan": PERIOD_DAYS[period] / unit / (1.0 - retention) if retention < 1 else float("inf"),
            "period_discount_rate": period_discount,
            "margin": margin,
            "discount_rate": discount_rate,
        }
    )
    return frame


def historical_clv_summary(
    transactions: TransactionLog | pd.DataFrame,
    *,
    observation_period_end=None,
    time_unit: str = "D",
    period: str = "Q",
    margin: float = 1.0,
    discount_rate: float = 0.0,
    **log_keywords,
) -> pd.DataFrame:
    """The aggregate historical figures of a log and its classic CLV, one metric per row.

    Parameters are those of :func:`historical_clv`. The aggregate formulas use
    the pooled averages: ``m = margin x revenue / active customer-periods``
    (margin earned by a customer in a period in which they buy),
    ``clv_formula = margin x average_order_value x purchases_per_active_period x 1 / (1 - r)``
    ``= m / (1 - r)`` and ``clv_retention = m x r / (1 + d - r)``.

    Returns
    -------
    DataFrame
        Indexed by ``metric``, columns ``value`` and ``unit``.

    Examples
    --------
    >>> log = pd.DataFrame({"id": [1, 1, 2, 2, 3, 3],
    ...                     "day": ["2024-01-05", "2024-04-02", "2024-01-09", "2024-08-30", "2024-05-01",
    ...                             "2024-09-10"],
    ...                     "value": [10.0, 30.0, 5.0, 5.0, 8.0, 8.0]})
    >>> summary = historical_clv_summary(log, customer_id_col="id", datetime_col="day",
    ...                                  monetary_value_col="value", observation_period_end="2024-09-30")
    >>> summary.loc[["average_order_value", "retention_rate", "clv_formula", "clv_retention"], "value"]
    metric
    average_order_value    11.0
    retention_rate          0.5
    clv_formula            22.0
    clv_retention          11.0
    Name: value, dtype: float64
    """
    check_margin(margin)
    discount_rate = check_discount_rate(discount_rate, time_unit)
    period = _check_period(period)
    tx = _load(transactions, observation_period_end, time_unit,
               stacklevel=2, log_keywords=log_keywords, need_amounts="historical_clv_summary")
    history = _historical(tx, period, float(margin), discount_rate)
    return _summarise_history(history, tx)


def _summarise_history(history: pd.DataFrame, tx: _Transactions) -> pd.DataFrame:
    attrs = history.attrs
    unit, period, margin = attrs["time_unit"], attrs["period"], attrs["margin"]
    retention = attrs["retention"]
    customers = len(history)
    transactions = int(history["n_transactions"].sum())
    revenue = float(history["total_revenue"].sum())
    active_periods = int(history["active_periods"].sum())
    per_active_period = margin * revenue / active_periods
    gaps = np.diff(tx.days)[np.diff(tx.codes) == 0] / TIME_UNIT_DAYS[unit]
    rows = [
        ("customers", customers, "customers"),
        ("transactions", transactions, "transactions"),
        ("total_revenue", revenue, "currency"),
        ("average_order_value", revenue / transactions, "currency"),
        ("purchase_frequency", transactions / history["tenure"].sum(), f"transactions per {unit}"),
        ("purchases_per_active_period", transactions / active_periods, f"transactions per {period}"),
        ("mean_observed_lifespan", float(history["lifespan"].mean()), unit),
        ("mean_time_between_purchases", float(gaps.mean()) if gaps.size else np.nan, unit),
        ("median_time_between_purchases", float(np.median(gaps)) if gaps.size else np.nan, unit),
        ("retention_rate", retention, f"per {period}"),
        ("expected_lifespan", attrs["expected_lifespan"], unit),
        ("margin_per_active_period", per_active_period, "currency"),
        ("historical_value_per_customer", margin * revenue / customers, "currency"),
        ("clv_formula", per_active_period / (1.0 - retention) if retention < 1 else np.inf, "currency"),
        (
            "clv_retention",
            per_active_period * _retention_multiplier(retention, attrs["period_discount_rate"]),
            "currency",
        ),
    ]
    table = pd.DataFrame(rows, columns=["metric", "value", "unit"]).set_index("metric")
    table["value"] = table["value"].astype(float)
    table.attrs.update(attrs)
    return table


def interpurchase_times(
    transactions: TransactionLog | pd.DataFrame,
    *,
    observation_period_end=None,
    time_unit: str = "D",
    **log_keywords,
) -> pd.DataFrame:
    """Time between consecutive transactions of each customer (the distribution, not just its mean).

    Returns
    -------
    DataFrame
        One row per repeat transaction: ``customer_id``, ``transaction``
        (2 for the first repeat, ...) and ``time_since_previous`` in ``time_unit``.

    Examples
    --------
    >>> log = pd.DataFrame({"id": [1, 1, 1, 2], "day": ["2024-01-01", "2024-01-08", "2024-01-29", "2024-01-03"]})
    >>> interpurchase_times(log, customer_id_col="id", datetime_col="day", time_unit="W")
       customer_id  transaction  time_since_previous
    0            1            2                  1.0
    1            1            3                  3.0
    """
    tx = _load(transactions, observation_period_end, time_unit,
               stacklevel=2, log_keywords=log_keywords)
    repeat = np.ones(tx.codes.size, dtype=bool)
    repeat[tx.starts] = False
    position = np.arange(tx.codes.size) - np.repeat(tx.starts, tx.counts) + 1
    previous = np.concatenate([[0], tx.days[:-1]])
    gaps = pd.DataFrame(
        {
            "customer_id": tx.ids.take(tx.codes[repeat]),
            "transaction": position[repeat].astype(np.int64),
            "time_since_previous": (tx.days[repeat] - previous[repeat]) / TIME_UNIT_DAYS[tx.time_unit],
        }
    )
    gaps.attrs.update({"time_unit": tx.time_unit, "observation_period_end": _iso(tx.end_day)})
    return gaps


# ---------------------------------------------------------------------------- cohorts
def acquisition_cohorts(
    transactions: TransactionLog | pd.DataFrame,
    *,
    observation_period_end=None,
    period: str = "M",
    **log_keywords,
) -> pd.DataFrame:
    """Customers grouped by the calendar period of their first purchase.

    Returns
    -------
    DataFrame
        Indexed by ``cohort`` (a ``PeriodIndex``): ``customers`` (the cohort
        size), ``repeat_customers`` (with two or more transactions),
        ``transactions``, ``periods_observed`` (periods from acquisition to
        the one holding ``observation_period_end``, both counted) and, with
        ``monetary_value_col``, ``revenue`` and ``revenue_per_customer`` to date.

    Examples
    --------
    >>> log = pd.DataFrame({"id": [1, 1, 2, 3], "day": ["2024-01-05", "2024-02-01", "2024-01-20", "2024-03-03"],
    ...                     "value": [10.0, 20.0, 6.0, 4.0]})
    >>> cohorts = acquisition_cohorts(log, customer_id_col="id", datetime_col="day", monetary_value_col="value")
    >>> cohorts[["customers", "repeat_customers", "periods_observed", "revenue_per_customer"]]
             customers  repeat_customers  periods_observed  revenue_per_customer
    cohort
    2024-01          2                 1                 3                  18.0
    2024-03          1                 0                 1                   4.0
    """
    period = _check_period(period)
    tx = _load(transactions, observation_period_end, "D",
               stacklevel=2, log_keywords=log_keywords)
    periods = _periods(tx, period)
    cohorts, slot = np.unique(periods.cohort, return_inverse=True)
    table = pd.DataFrame(
        {
            "customers": np.bincount(slot),
            "repeat_customers": np.bincount(slot, weights=tx.counts > 1).astype(np.int64),
            "transactions": np.bincount(slot, weights=tx.counts).astype(np.int64),
            "periods_observed": (periods.end_period - cohorts + 1).astype(np.int64),
        },
        index=_period_index(cohorts, period),
    )
    if tx.amounts is not None:
        table["revenue"] = np.bincount(slot, weights=tx.revenue())
        table["revenue_per_customer"] = table["revenue"] / table["customers"]
    table.attrs.update({"period": period, "observation_period_end": _iso(tx.end_day)})
    return table


def _cohort_grid(tx: _Transactions, periods: _Periods, values: np.ndarray | None):
    """Sum of ``values`` (or a count) over active (customer, period) pairs, by cohort and age in periods."""
    cohorts, customer_slot = np.unique(periods.cohort, return_inverse=True)
    ages = periods.pair_period - periods.cohort[periods.pair_code]
    n_ages = int(periods.end_period - cohorts.min() + 1)
    grid = np.zeros((cohorts.size, n_ages))
    np.add.at(grid, (customer_slot[periods.pair_code], ages), 1.0 if values is None else values)
    sizes = np.bincount(customer_slot)
    observed = (periods.end_period - cohorts)[:, None] >= np.arange(n_ages)[None, :]
    return cohorts, sizes, grid, observed


def _age_frame(grid, cohorts, period, periods: _Periods) -> pd.DataFrame:
    frame = pd.DataFrame(grid, index=_period_index(cohorts, period), columns=pd.RangeIndex(grid.shape[1], name="age"))
    frame.attrs.update({"period": period, "last_period_partial": not periods.end_complete})
    return frame


def retention_matrix(
    transactions: TransactionLog | pd.DataFrame,
    *,
    observation_period_end=None,
    period: str = "M",
    normalize: bool = True,
    **log_keywords,
) -> pd.DataFrame:
    """Share of each acquisition cohort that bought in each period since acquisition.

    Age 0 is the period of acquisition (always 1.0), age 1 the next calendar
    period, and so on. Cells not yet reached at ``observation_period_end`` are
    NaN. When ``observation_period_end`` falls before the end of its period
    the last observed cell of every cohort covers a part-period only
    (``attrs['last_period_partial']`` is True) and reads low.

    Parameters
    ----------
    normalize : bool, default True
        Shares of the cohort size; False gives counts of customers.

    Returns
    -------
    DataFrame
        Indexed by ``cohort`` (``PeriodIndex``), one column per ``age``
        (0, 1, ...), and ``attrs['cohort_sizes']``.

    Examples
    --------
    >>> log = pd.DataFrame({"id": [1, 1, 2, 2, 3], "day": ["2024-01-05", "2024-02-01", "2024-01-20",
    ...                                                     "2024-03-15", "2024-02-10"]})
    >>> retention_matrix(log, customer_id_col="id", datetime_col="day", period="M")
    age        0    1    2
    cohort
    2024-01  1.0  0.5  0.5
    2024-02  1.0  0.0  NaN
    """
    period = _check_period(period)
    tx = _load(transactions, observation_period_end, "D",
               stacklevel=2, log_keywords=log_keywords)
    periods = _periods(tx, period)
    cohorts, sizes, grid, observed = _cohort_grid(tx, periods, None)
    if normalize:
        grid = grid / sizes[:, None]
    else:
        grid = grid.astype(np.int64).astype(float)
    frame = _age_frame(np.where(observed, grid, np.nan), cohorts, period, periods)
    frame.attrs["cohort_sizes"] = dict(zip(frame.index.astype(str), sizes.tolist()))
    return frame


def cumulative_value(
    transactions: TransactionLog | pd.DataFrame,
    *,
    observation_period_end=None,
    period: str = "M",
    margin: float = 1.0,
    **log_keywords,
) -> pd.DataFrame:
    """Cumulative value per acquired customer, by cohort and periods since acquisition.

    Cell (cohort, age k) is ``margin x`` the revenue the cohort brought in
    periods 0..k since acquisition, divided by the cohort size (every customer
    acquired, whether they came back or not). Comparing cohorts at the same age
    is the like-for-like comparison of old and new customers; NaN marks ages
    not yet reached.

    Examples
    --------
    >>> log = pd.DataFrame({"id": [1, 1, 2, 3], "day": ["2024-01-05", "2024-03-01", "2024-01-20", "2024-02-03"],
    ...                     "value": [10.0, 20.0, 6.0, 4.0]})
    >>> cumulative_value(log, customer_id_col="id", datetime_col="day", monetary_value_col="value")
    age        0    1     2
    cohort
    2024-01  8.0  8.0  18.0
    2024-02  4.0  4.0   NaN
    """
    margin = check_margin(margin)
    period = _check_period(period)
    tx = _load(transactions, observation_period_end, "D",
               stacklevel=2, log_keywords=log_keywords, need_amounts="cumulative_value")
    periods = _periods(tx, period)
    cohorts, sizes, grid, observed = _cohort_grid(tx, periods, periods.pair_revenue)
    values = margin * np.cumsum(grid, axis=1) / sizes[:, None]
    frame = _age_frame(np.where(observed, values, np.nan), cohorts, period, periods)
    frame.attrs["margin"] = margin
    return frame


# ---------------------------------------------------------------------------- predictive value per customer
def _check_model(model):
    from .clv import CLVModel

    if not isinstance(model, CLVModel):
        raise DataError(f"'model' must be a fitted CLVModel; got {type(model).__name__}")
    model._check_fitted()
    return model


def _model_time_unit(model, time_unit) -> str:
    if time_unit is not None and check_time_unit(time_unit) != model.time_unit_:
        raise DataError(
            f"'time_unit' {time_unit!r} does not match the model's time unit {model.time_unit_!r}; "
            "horizons and discount rates are stated in the model's unit"
        )
    return model.time_unit_


def _rank_top_first(values: np.ndarray) -> np.ndarray:
    """0-based rank from the largest value; ties broken by position (the customer order) so ranks are unique."""
    order = np.lexsort((np.arange(values.size), -values))
    ranks = np.empty(values.size, dtype=np.int64)
    ranks[order] = np.arange(values.size)
    return ranks


def _check_tiers(tiers):
    try:
        pairs = [(str(name), float(share)) for name, share in tiers]
    except (TypeError, ValueError):
        raise DataError(f"'tiers' must be (name, share) pairs, most valuable first; got {tiers!r}") from None
    names = [name for name, _ in pairs]
    shares = np.array([share for _, share in pairs])
    if not pairs or len(set(names)) != len(names) or (shares <= 0).any() or not np.isclose(shares.sum(), 1.0):
        raise DataError(
            "'tiers' must be (name, share) pairs with distinct names and positive shares summing to 1, "
            f"most valuable first; got {tiers!r}"
        )
    return names, shares


def _tier_labels(clv: np.ndarray, tiers) -> pd.Categorical:
    """Tier of each customer: the top ``share_1`` of customers by CLV, the next ``share_2``, ..."""
    names, shares = _check_tiers(tiers)
    rank_share = (_rank_top_first(clv) + 0.5) / clv.size
    slot = np.searchsorted(np.cumsum(shares), rank_share)
    slot = np.minimum(slot, len(names) - 1)
    return pd.Categorical.from_codes(slot, categories=names, ordered=True)


def _quintile_score(values: np.ndarray) -> np.ndarray:
    """1-5 score: 1 + floor(5 x (lowest rank of the value's tie group - 1) / n).

    Equal values share a score; with heavy ties (most customers bought once)
    a score level may be empty rather than splitting equal customers apart.
    """
    ranks = pd.Series(values).rank(method="min").to_numpy()
    return (1 + np.floor(5 * (ranks - 1) / values.size)).astype(np.int64)


def _rfm_segment_names(r_score: np.ndarray, f_score: np.ndarray) -> pd.Categorical:
    labels = np.empty(r_score.size, dtype=object)
    for name, (r_digits, f_digits) in RFM_SEGMENTS.items():
        hit = np.isin(r_score, [int(d) for d in r_digits]) & np.isin(f_score, [int(d) for d in f_digits])
        labels[hit] = name
    return pd.Categorical(labels, categories=list(RFM_SEGMENTS), ordered=False)


def customer_segments(
    transactions: TransactionLog | pd.DataFrame,
    model,
    *,
    horizon,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    observation_period_end=None,
    time_unit: str | None = None,
    period: str = "M",
    tiers=DEFAULT_TIERS,
    at_risk_value_quantile: float = 0.8,
    at_risk_p_alive: float = 0.5,
    **log_keywords,
) -> pd.DataFrame:
    """One row per customer: past value, the model's forecast, value tier, RFM segment and at-risk flag.

    The forecast is ``model.predict`` on the RFM summary of the log as of
    ``observation_period_end`` (default: the last date in the log), in the
    model's time unit; the model may have been fitted on an earlier period.

    Parameters
    ----------
    model : CLVModel
        A fitted model.
    horizon, discount_rate, margin
        As in :meth:`CLVModel.predict` (in the model's time unit).
    time_unit : str, optional
        If given, must equal the model's time unit.
    period : {"M", "Q", "Y"}, default "M"
        Calendar period of the acquisition cohort.
    tiers : sequence of (name, share), default :data:`DEFAULT_TIERS`
        Tiers of predicted CLV, most valuable first; shares of customers sum
        to 1. Customers are ranked by ``clv`` (ties in customer-id order), so
        each tier holds its share of customers to within one.
    at_risk_value_quantile : float, default 0.8
        "High past value" is total revenue at or above this quantile of all
        customers' total revenue.
    at_risk_p_alive : float, default 0.5
        "Low P(alive)" is ``p_alive`` below this.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id``: ``cohort``, ``n_transactions``,
        ``total_revenue``, ``average_order_value``,
        ``time_since_last_purchase`` (``T - recency``, time unit),
        ``historical_value`` (``margin x total_revenue``),
        ``expected_purchases``, ``p_alive``, ``expected_spend``, ``clv``,
        ``clv_tier``; the RFM scores ``r_score`` (recency: 5 = bought most
        recently), ``f_score`` (number of transactions), ``m_score`` (average
        order value), each 1-5 by quintile of customers with ties sharing the
        lower score, ``rfm_score`` (e.g. ``"545"``) and ``rfm_segment`` (named
        from R and F as in :data:`RFM_SEGMENTS`); ``at_risk`` (bool).
    """
    table, _ = _customer_table(
        transactions, model, horizon, discount_rate, margin,
        observation_period_end, time_unit, period, tiers, at_risk_value_quantile, at_risk_p_alive, stacklevel=3,
        log_keywords=log_keywords,
    )
    return table


def _customer_table(
    transactions, model, horizon, discount_rate, margin,
    observation_period_end, time_unit, period, tiers, at_risk_value_quantile, at_risk_p_alive, *, stacklevel,
    log_keywords,
):
    model = _check_model(model)
    time_unit = _model_time_unit(model, time_unit)
    check_horizon(horizon)
    margin = check_margin(margin)
    check_discount_rate(discount_rate, time_unit)
    period = _check_period(period)
    _check_tiers(tiers)
    value_quantile = _check_fraction(at_risk_value_quantile, "at_risk_value_quantile", closed=True)
    p_alive_threshold = _check_fraction(at_risk_p_alive, "at_risk_p_alive", closed=True)
    tx = _load(transactions, observation_period_end, time_unit,
               stacklevel=stacklevel, log_keywords=log_keywords,
               need_amounts="customer_segments (and cohort_clv, acquisition_budget)")

    rfm = tx.rfm()
    forecast = model.predict(rfm, horizon=horizon, discount_rate=discount_rate, margin=margin)
    periods = _periods(tx, period)
    revenue = tx.revenue()
    since_last = (rfm["T"] - rfm["recency"]).to_numpy()
    clv = forecast["clv"].to_numpy()

    r_score = _quintile_score(-since_last)
    f_score = _quintile_score(tx.counts.astype(float))
    m_score = _quintile_score(revenue / tx.counts)
    high_value = revenue >= np.quantile(revenue, value_quantile)
    table = pd.DataFrame(
        {
            "cohort": _period_index(periods.cohort, period),
            "n_transactions": tx.counts.astype(np.int64),
            "total_revenue": revenue,
            "average_order_value": revenue / tx.counts,
            "time_since_last_purchase": since_last,
            "historical_value": margin * revenue,
            "expected_purchases": forecast["expected_purchases"].to_numpy(),
            "p_alive": forecast["p_alive"].to_numpy(),
            "expected_spend": forecast["expected_spend"].to_numpy(),
            "clv": clv,
            "clv_tier": _tier_labels(clv, tiers),
            "r_score": r_score,
            "f_score": f_score,
            "m_score": m_score,
            "rfm_score": (100 * r_score + 10 * f_score + m_score).astype(str),
            "rfm_segment": _rfm_segment_names(r_score, f_score),
            "at_risk": high_value & (forecast["p_alive"].to_numpy() < p_alive_threshold),
        },
        index=tx.ids,
    )
    table.attrs.update(
        {
            "time_unit": time_unit,
            "observation_period_end": _iso(tx.end_day),
            "horizon": int(horizon),
            "discount_rate": float(discount_rate),
            "margin": margin,
            "period": period,
            "at_risk_value_threshold": float(np.quantile(revenue, value_quantile)),
            "at_risk_p_alive": p_alive_threshold,
        }
    )
    return table, tx


def segment_summary(segments: pd.DataFrame, by: str = "clv_tier") -> pd.DataFrame:
    """Summarise the table of :func:`customer_segments` by one of its columns.

    Parameters
    ----------
    segments : DataFrame
        The result of :func:`customer_segments`.
    by : str, default "clv_tier"
        Column to group by: ``clv_tier``, ``rfm_segment``, ``cohort``,
        ``at_risk``, ``r_score`` ...

    Returns
    -------
    DataFrame
        One row per group (every tier or segment, even when empty):
        ``customers``, ``share_of_customers``, ``historical_value`` and its
        share, ``predicted_value`` (sum of ``clv``) and
        ``share_of_predicted_value``, ``clv_per_customer``, ``mean_p_alive``,
        ``expected_purchases`` (sum) and ``expected_purchases_per_customer``,
        ``at_risk`` (customers flagged; absent when grouping ``by="at_risk"``, where it is the index).
    """
    needed = ["historical_value", "clv", "p_alive", "expected_purchases", "at_risk"]
    from ._validation import check_columns

    check_columns(segments, needed + [by], what="segments")
    grouped = segments.groupby(by, observed=False, sort=True)
    customers = grouped.size()
    table = pd.DataFrame(
        {
            "customers": customers.astype(np.int64),
            "share_of_customers": customers / max(len(segments), 1),
            "historical_value": grouped["historical_value"].sum(),
            "share_of_historical_value": grouped["historical_value"].sum() / segments["historical_value"].sum(),
            "predicted_value": grouped["clv"].sum(),
            "share_of_predicted_value": grouped["clv"].sum() / segments["clv"].sum(),
            "clv_per_customer": grouped["clv"].mean(),
            "mean_p_alive": grouped["p_alive"].mean(),
            "expected_purchases": grouped["expected_purchases"].sum(),
            "expected_purchases_per_customer": grouped["expected_purchases"].mean(),
            "at_risk": grouped["at_risk"].sum().astype(np.int64),
        }
    )
    if by == "at_risk":  # the count of flagged customers is the grouping itself: one column of that name
        table = table.drop(columns="at_risk")
    table.index.name = by
    table.attrs.update(segments.attrs)
    return table


def compare_clv(
    transactions: TransactionLog | pd.DataFrame,
    model,
    *,
    horizon,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    observation_period_end=None,
    time_unit: str | None = None,
    period: str = "Q",
    **log_keywords,
) -> pd.DataFrame:
    """Historical and predictive CLV side by side, for the same customers.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id``: ``historical_value``, ``clv_formula``,
        ``clv_retention`` (from :func:`historical_clv` with the same margin,
        the discount rate converted to one per ``period``), and the model's
        ``predicted_clv`` over ``horizon``, ``p_alive`` and
        ``expected_purchases``. ``clv_formula`` is a whole-life figure,
        ``clv_retention`` and ``predicted_clv`` are future value only; see the
        README section "Customer value analytics".
    """
    model = _check_model(model)
    time_unit = _model_time_unit(model, time_unit)
    check_horizon(horizon)
    margin = check_margin(margin)
    discount_rate = check_discount_rate(discount_rate, time_unit)
    period = _check_period(period)
    tx = _load(transactions, observation_period_end, time_unit,
               stacklevel=2, log_keywords=log_keywords, need_amounts="compare_clv")
    history = _historical(tx, period, margin, discount_rate)
    forecast = model.predict(tx.rfm(), horizon=horizon, discount_rate=discount_rate, margin=margin)
    table = pd.DataFrame(
        {
            "historical_value": history["historical_value"],
            "clv_formula": history["clv_formula"],
            "clv_retention": history["clv_retention"],
            "predicted_clv": forecast["clv"].to_numpy(),
            "p_alive": forecast["p_alive"].to_numpy(),
            "expected_purchases": forecast["expected_purchases"].to_numpy(),
        },
        index=tx.ids,
    )
    table.attrs.update(history.attrs)
    table.attrs["horizon"] = int(horizon)
    return table


def cohort_clv(
    transactions: TransactionLog | pd.DataFrame,
    model,
    *,
    horizon,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    observation_period_end=None,
    time_unit: str | None = None,
    period: str = "M",
    **log_keywords,
) -> pd.DataFrame:
    """Realised and predicted value of each acquisition cohort.

    Returns
    -------
    DataFrame
        Indexed by ``cohort``: ``customers``, ``historical_value_per_customer``
        (``margin x`` revenue to date per acquired customer),
        ``predicted_clv_per_customer`` (mean model CLV over ``horizon``),
        ``predicted_clv`` (cohort total), ``share_of_predicted_value``,
        ``mean_p_alive``, ``expected_purchases_per_customer`` and
        ``value_per_customer`` (realised plus predicted).
    """
    table, _ = _customer_table(
        transactions, model, horizon, discount_rate, margin,
        observation_period_end, time_unit, period, DEFAULT_TIERS, 0.8, 0.5, stacklevel=3,
        log_keywords=log_keywords,
    )
    summary = segment_summary(table, by="cohort")
    out = pd.DataFrame(
        {
            "customers": summary["customers"],
            "historical_value_per_customer": summary["historical_value"] / summary["customers"],
            "predicted_clv_per_customer": summary["clv_per_customer"],
            "predicted_clv": summary["predicted_value"],
            "share_of_predicted_value": summary["share_of_predicted_value"],
            "mean_p_alive": summary["mean_p_alive"],
            "expected_purchases_per_customer": summary["expected_purchases_per_customer"],
        }
    )
    out["value_per_customer"] = out["historical_value_per_customer"] + out["predicted_clv_per_customer"]
    out.attrs.update(table.attrs)
    return out


def acquisition_budget(
    transactions: TransactionLog | pd.DataFrame,
    model,
    *,
    horizon,
    margin: float,
    target_ratio: float = 3.0,
    discount_rate: float = 0.0,
    observation_period_end=None,
    time_unit: str | None = None,
    period: str = "M",
    tiers=DEFAULT_TIERS,
    **log_keywords,
) -> pd.DataFrame:
    """The most one can pay to acquire a customer while keeping CLV / acquisition cost at ``target_ratio``.

    The value of an acquired customer is what such customers have brought so
    far (``margin x`` revenue, first purchase included, undiscounted) plus
    what the model predicts they will bring over ``horizon`` (``clv``,
    discounted), averaged over every customer of the group; the affordable
    acquisition cost is that value divided by ``target_ratio``. Groups:
    everyone, each acquisition cohort (``period``), each predicted-CLV tier
    and each RFM segment. Tiers and segments are known only after the fact,
    so their figures price look-alikes of those customers, not a campaign
    that cannot tell them apart in advance.

    Parameters
    ----------
    margin : float
        Profit margin applied to revenue (required: a budget needs it).
    target_ratio : float, default 3
        Required CLV-to-acquisition-cost ratio (> 0); 3 is a common rule of thumb.

    Returns
    -------
    DataFrame
        Indexed by (``level``, ``group``), ``level`` one of ``overall``,
        ``cohort``, ``clv_tier``, ``rfm_segment`` and ``group`` the group's
        label as text: ``customers``, ``historical_value_per_customer``,
        ``predicted_value_per_customer``, ``value_per_customer`` and
        ``max_acquisition_cost``.
    """
    target_ratio = check_nonnegative_number(target_ratio, "target_ratio", allow_zero=False)
    table, _ = _customer_table(
        transactions, model, horizon, discount_rate, margin,
        observation_period_end, time_unit, period, tiers, 0.8, 0.5, stacklevel=3,
        log_keywords=log_keywords,
    )
    blocks = []
    everyone = table.assign(overall="all customers")
    for level in ("overall", "cohort", "clv_tier", "rfm_segment"):
        grouped = everyone.groupby(level, observed=True, sort=True)
        block = pd.DataFrame(
            {
                "customers": grouped.size().astype(np.int64),
                "historical_value_per_customer": grouped["historical_value"].mean(),
                "predicted_value_per_customer": grouped["clv"].mean(),
            }
        )
        block.index = pd.MultiIndex.from_arrays(
            [[level] * len(block), block.index.astype(str)], names=["level", "group"]
        )
        blocks.append(block)
    budget = pd.concat(blocks)
    budget["value_per_customer"] = budget["historical_value_per_customer"] + budget["predicted_value_per_customer"]
    budget["max_acquisition_cost"] = budget["value_per_customer"] / target_ratio
    budget.attrs.update(table.attrs)
    budget.attrs["target_ratio"] = target_ratio
    return budget


def acquisition_budget_by_profile(
    model,
    customers: pd.DataFrame,
    by: str,
    *,
    horizon,
    margin: float,
    target_ratio: float = 3.0,
    discount_rate: float = 0.0,
    interval: float | None = None,
    n_draws: int = 500,
    seed=0,
) -> pd.DataFrame:
    """The most one may pay to acquire a new customer of each level of a covariate, at a CLV-to-cost ratio.

    A new customer's value is :meth:`CLVModel.expected_clv_new_customer` with her covariates: the first purchase
    plus the discounted repeat purchases over ``horizon`` (``margin x`` spend). For each level of ``by`` (the
    acquisition channel, say) it is averaged over the ``customers`` of that level, so that the other covariates
    count in the mix in which that level brings them; the affordable acquisition cost is the average divided by
    ``target_ratio``. Unlike :func:`acquisition_budget`, nothing here looks at what customers did: it prices a
    customer not yet seen, from the fitted model of the covariates, so small levels borrow strength from the rest.

    Parameters
    ----------
    model : CLVModel
        Fitted with covariates (``purchase_covariates`` / ``dropout_covariates``) that include ``by``.
    customers : DataFrame
        One row per customer with the model's covariate columns (the RFM table it was fitted on, say).
    by : str
        A categorical covariate of the model.
    horizon : int
        Whole number of time units after the first purchase.
    margin : float
        Profit margin applied to spend (required: a budget needs it).
    target_ratio : float, default 3
        Required CLV-to-acquisition-cost ratio (> 0).
    discount_rate : float, default 0
        Discount rate per time unit.
    interval : float, optional
        With a level such as 0.9, adds confidence bounds (the uncertainty of the fitted parameters, the
        covariates' coefficients included; see :meth:`CLVModel.expected_clv_new_customer`):
        ``value_per_customer_lower`` / ``_upper`` and ``max_acquisition_cost_lower`` / ``_upper``, the
        equal-tailed quantiles of the level's average value over ``n_draws`` parameter vectors.
    n_draws : int, default 500
        Parameter draws for the bounds.
    seed : int or None, default 0
        Seed of the draws.

    Returns
    -------
    DataFrame
        Indexed by the levels of ``by`` (the reference level first): ``customers``, ``expected_purchases`` (repeat
        purchases of a new customer in the horizon), ``value_per_customer`` and ``max_acquisition_cost``, then
        the bounds if ``interval`` is given.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from clv_predict import BetaGeoModel, CLVModel
    >>> covariates = pd.DataFrame({"channel": np.random.default_rng(0).choice(["web", "shop"], 3000)})
    >>> truth = BetaGeoModel.from_params(r=0.5, alpha=6.0, a=0.8, b=2.5, time_unit="W",
    ...                                  coefficients={"purchase:channel[shop]": 0.7}, covariates=covariates)
    >>> rfm = truth.simulate(3000, 52.0, seed=1, covariates=covariates)
    >>> spend = np.random.default_rng(2).gamma(6.0, 5.0, 3000)
    >>> rfm["monetary_value"] = np.where(rfm["frequency"] > 0, spend, 0.0)
    >>> model = CLVModel(purchase_covariates=["channel"]).fit(rfm)
    >>> budget = acquisition_budget_by_profile(model, rfm, "channel", horizon=52, margin=0.3)
    >>> budget.index.tolist(), bool(budget.loc["shop", "max_acquisition_cost"] > budget.loc["web", "max_acquisition_cost"])
    (['shop', 'web'], True)
    >>> bounds = acquisition_budget_by_profile(model, rfm, "channel", horizon=52, margin=0.3, interval=0.9)
    >>> bool((bounds["max_acquisition_cost_lower"] < bounds["max_acquisition_cost"]).all())
    True
    """
    model = _check_model(model)
    target_ratio = check_nonnegative_number(target_ratio, "target_ratio", allow_zero=False)
    # the purchase model's covariates and the spend model's: a level may act on either
    encodings = [part.covariate_encoding_ for part in (model.purchase_model_, model.spend_model_)
                 if part.covariate_encoding_ is not None]
    encoding = next((e for e in encodings if by in e.levels), encodings[0] if encodings else None)
    if encoding is None or by not in encoding.levels:
        known = list(dict.fromkeys(column for e in encodings for column in e.levels))
        raise DataError(
            f"'by' must be a categorical covariate of the model ({', '.join(map(repr, known)) or 'it has none'}); "
            f"got {by!r}"
        )
    if not isinstance(customers, pd.DataFrame):
        raise DataError(f"'customers' must be a DataFrame with the covariate columns; got {type(customers).__name__}")
    columns = model.covariate_columns_
    absent = [column for column in columns if column not in customers.columns]
    if absent:
        raise DataError(f"'customers' lacks the covariate column {', '.join(map(repr, absent))}")
    # one valuation per distinct covariate profile, weighted by how many customers have it
    profiles = customers[columns].value_counts(sort=False).rename("customers").reset_index()
    values = model.expected_clv_new_customer(
        profiles[columns], horizon=horizon, discount_rate=discount_rate, margin=margin
    )
    if interval is not None:
        from .models._intervals import check_interval

        interval = check_interval(interval)
        patterns = model._new_customer_patterns(profiles[columns], profiles[columns])
        _, value_draws = model._new_customer_value_draws(patterns, values.attrs["horizon"],
                                                         values.attrs["discount_rate"], margin, n_draws, seed)
    profiles = profiles.join(values[["expected_purchases", "value"]])
    levels = [str(level) for level in encoding.levels[by]]
    profiles["level"] = pd.Categorical(profiles[by].astype(str), categories=levels)
    weighted = profiles.assign(
        purchases_sum=profiles["expected_purchases"] * profiles["customers"],
        value_sum=profiles["value"] * profiles["customers"],
    ).groupby("level", observed=False)[["customers", "purchases_sum", "value_sum"]].sum()
    budget = pd.DataFrame(
        {
            "customers": weighted["customers"].astype(np.int64),
            "expected_purchases": weighted["purchases_sum"] / weighted["customers"],
            "value_per_customer": weighted["value_sum"] / weighted["customers"],
        }
    )
    budget["max_acquisition_cost"] = budget["value_per_customer"] / target_ratio
    if interval is not None:
        # each draw's average over the level's customers, then the quantiles over the draws
        of_level = profiles["level"].cat.codes.to_numpy()
        weights = np.zeros((len(levels), len(profiles)))
        weights[of_level, np.arange(len(profiles))] = profiles["customers"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            averages = (value_draws @ weights.T) / weights.sum(axis=1)  # draws x levels
        alpha = (1 - interval) / 2
        lower, upper = np.quantile(averages, [alpha, 1 - alpha], axis=0)
        budget["value_per_customer_lower"], budget["value_per_customer_upper"] = lower, upper
        budget["max_acquisition_cost_lower"] = lower / target_ratio
        budget["max_acquisition_cost_upper"] = upper / target_ratio
    budget.index = pd.Index(levels, name=by)
    budget.attrs.update(values.attrs)
    budget.attrs.update({"target_ratio": target_ratio, "by": by, "reference": encoding.levels[by][0]})
    if interval is not None:
        budget.attrs.update({"interval": interval, "n_draws": int(n_draws)})
    return budget
