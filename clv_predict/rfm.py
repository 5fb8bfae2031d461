"""From a transaction log to the RFM summary the models are fitted on.

The conventions are the literature's (Fader, Hardie & Lee 2005):

* all purchases of one customer on one calendar day are one transaction,
  their amounts summed;
* ``frequency`` is the number of repeat transactions (transaction days after
  the first), ``recency`` the time from the first to the last transaction and
  ``T`` the time from the first transaction to the end of the observation
  period, in ``time_unit``;
* ``monetary_value`` is the mean value of the repeat transactions (the first
  is left out, because the Gamma-Gamma model describes repeat spend), 0 for
  customers without repeat transactions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._validation import TIME_UNIT_DAYS, check_time_unit, to_timestamp
from .exceptions import DataError
from .transactions import (  # noqa: F401  (the reading helpers lived here: report, scoring and the CLI import them)
    DUPLICATE_POLICIES,
    MISSING_ID_POLICIES,
    NEGATIVE_AMOUNT_POLICIES,
    TransactionLog,
    _as_log,
    _day,
    _factorize_sorted,
    _iso,
    _Log,
    _merge_days,
    _Policy,
    _policy,
    _read_log,
    _resolve_end,
    _to_days,
)


@dataclass
class _Customers:
    """Per-customer figures after same-day purchases are merged."""

    codes: np.ndarray  # positions in the log's ids, increasing
    first_day: np.ndarray
    last_day: np.ndarray
    n_transactions: np.ndarray
    repeat_total: np.ndarray | None  # summed value of repeat transactions
    # customers with at least one row, when known without another pass (every one of them has a purchase
    # when no row is negative)
    with_rows: int | None = None



def _customers_without_returns(codes, days, amounts) -> _Customers:
    """Per-customer figures in a few linear passes, sorting only the rows between a customer's first and last day.

    For logs without negative amounts (a day's value is then the plain sum of
    its rows), this avoids reordering the rows: amounts are summed in input
    order, so the result does not depend on how customers are batched.
    """
    n_ids = int(codes.max()) + 1
    low = int(days.min())
    span = int(days.max()) - low + 1
    first_day = np.full(n_ids, np.iinfo(np.int64).max, dtype=np.int64)
    last_day = np.full(n_ids, np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(first_day, codes, days)
    np.maximum.at(last_day, codes, days)
    # A customer's transaction days are his distinct (customer, day) pairs: his first day, his last day when
    # later, and the distinct days strictly between, which only the rows between (a minority) need a sort of
    # the combined key to find. Each row looks up its customer's first and last day in one gather of both,
    # packed into one integer.
    n_days = np.where(last_day > first_day, 2, 1)
    n_days[first_day > last_day] = 0  # codes without rows (none when the codes come from a factorisation)
    # (the temporaries below are reused: fresh arrays of tens of millions of rows cost more than the arithmetic)
    if 0 <= low and low + span < 2**31:
        looked_up = np.left_shift(first_day, 32)
        looked_up |= np.maximum(last_day, 0)
        looked_up = looked_up[codes]
        part = np.right_shift(looked_up, 32)
        on_first = days == part
        np.bitwise_and(looked_up, 0xFFFFFFFF, out=looked_up)
        between = days != looked_up
        del looked_up
    else:  # days before 1970 or very far apart: two gathers
        part = first_day[codes]
        on_first = days == part
        np.take(last_day, codes, out=part)
        between = days != part
    between &= ~on_first
    if between.any():
        key = np.sort(codes[between] * span + (days[between] - low))
        distinct = np.empty(key.size, dtype=bool)
        distinct[:1] = True
        np.not_equal(key[1:], key[:-1], out=distinct[1:])
        n_days += np.bincount(key[distinct] // span, minlength=n_ids)
    present = np.flatnonzero(n_days)
    repeat_total = None
    if amounts is not None:
        later_amounts = part.view(np.float64)  # the buffer of the first days, no longer needed
        np.multiply(amounts, ~on_first, out=later_amounts)
        repeat_total = np.bincount(codes, weights=later_amounts, minlength=n_ids)[present]
    return _Customers(
        codes=present,
        first_day=first_day[present],
        last_day=last_day[present],
        n_transactions=n_days[present],
        repeat_total=repeat_total,
        with_rows=int(present.size),
    )


def _customers(codes, days, amounts, report: dict | None = None) -> _Customers:
    if codes.size and (amounts is None or not (amounts < 0).any()):
        return _customers_without_returns(codes, days, amounts)
    t_codes, t_days, t_amounts = _merge_days(codes, days, amounts, report)
    new = np.empty(t_codes.size, dtype=bool)
    new[:1] = True
    np.not_equal(t_codes[1:], t_codes[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, t_codes.size))
    repeat_total = None
    if t_amounts is not None:
        repeat_total = np.add.reduceat(t_amounts, starts) - t_amounts[starts]
    return _Customers(
        codes=t_codes[starts],
        first_day=t_days[starts],
        last_day=t_days[starts + counts - 1],
        n_transactions=counts,
        repeat_total=repeat_total,
    )


def _summary_frame(customers: _Customers, ids: pd.Index, end_day: int, time_unit: str) -> pd.DataFrame:
    unit = TIME_UNIT_DAYS[time_unit]
    frequency = customers.n_transactions - 1
    columns = {
        "frequency": frequency.astype(np.int64),
        "recency": (customers.last_day - customers.first_day) / unit,
        "T": (end_day - customers.first_day) / unit,
    }
    if customers.repeat_total is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            columns["monetary_value"] = np.where(frequency > 0, customers.repeat_total / np.maximum(frequency, 1), 0.0)
    index = ids.take(customers.codes)
    index.name = "customer_id"
    frame = pd.DataFrame(columns, index=index, copy=False)  # the columns are fresh arrays: no need to copy
    frame.attrs.update(
        {
            "time_unit": time_unit,
            "observation_period_end": _iso(end_day),
            "first_purchase": _iso(int(customers.first_day.min())) if customers.codes.size else None,
            "last_purchase": _iso(int(customers.last_day.max())) if customers.codes.size else None,
        }
    )
    return frame


def rfm_summary(
    transactions,
    *,
    observation_period_end=None,
    time_unit: str = "D",
    regularity: bool = False,
    **log_keywords,
) -> pd.DataFrame:
    """Summarise a transaction log into one RFM row per customer.

    A thin wrapper: it builds a :class:`~clv_predict.TransactionLog` with the
    column names and input options and returns its :meth:`~clv_predict.TransactionLog.rfm`.
    To run several summaries or analyses on one log, build the log once.

    Parameters
    ----------
    transactions : TransactionLog or DataFrame
        A :class:`~clv_predict.TransactionLog`, or one row per purchase (or
        per line of a purchase) read with ``log_keywords``.
    observation_period_end : date-like, optional
        End of the observation period; defaults to the last date in the log.
        Purchases after it are left out, with a :class:`DataWarning`.
    time_unit : {"D", "W", "M"}
        Days, weeks (7 days) or months (365.25 / 12 days) for ``recency`` and ``T``.
    **log_keywords
        With a DataFrame: ``customer_id_col``, ``datetime_col``,
        ``monetary_value_col`` and the input options (``negative_amounts``,
        ``quantity_col`` with ``unit_price_col``, ``transaction_col``,
        ``duplicates``, ``missing_ids``, ``dayfirst``) of
        :class:`~clv_predict.TransactionLog`, where each is described.
    regularity : bool, default False
        Add ``litt``: for each customer, the sum over the repeat transactions
        of log(time since the previous transaction), in ``time_unit`` (0 for
        customers without repeat purchases); the regularity statistic of the
        BG/CNBD-k likelihood (BTYDplus's ``elog2cbs``).

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` (sorted), columns ``frequency``, ``recency``,
        ``T``, ``monetary_value`` if asked for and ``litt`` with ``regularity``. ``attrs`` carries
        ``time_unit`` and ``observation_period_end``, which the models read,
        and ``input_report``, the counts of what the input policies did (over
        the whole log).

    Notes
    -----
    Customer ids keep their type; a float column of whole numbers (what a CSV
    with empty ids gives) becomes integers, and a column mixing text and
    numbers is compared as text, with a warning. Time-zone-aware timestamps
    count on the calendar day where the purchase happened, in their own zone;
    a column mixing aware and naive timestamps is read the same way, with a
    warning.

    Examples
    --------
    >>> log = pd.DataFrame({
    ...     "id": [1, 1, 1, 2],
    ...     "day": ["2024-01-01", "2024-01-01", "2024-01-15", "2024-01-08"],
    ...     "value": [10.0, 5.0, 20.0, 7.0]})
    >>> rfm_summary(log, customer_id_col="id", datetime_col="day",
    ...             monetary_value_col="value", observation_period_end="2024-01-29",
    ...             time_unit="W")
                 frequency  recency    T  monetary_value
    customer_id
    1                    1      2.0  4.0            20.0
    2                    0      0.0  3.0             0.0
    """
    log = _as_log(transactions, stacklevel=2, **log_keywords)
    return _summarise(log, observation_period_end, time_unit, regularity, stacklevel=2)


def _summarise(log: TransactionLog, observation_period_end, time_unit, regularity: bool, *, stacklevel: int):
    """The RFM summary of a log: :meth:`TransactionLog.rfm` and :func:`rfm_summary`."""
    time_unit = check_time_unit(time_unit)
    rows = log._rows
    end_day = log._end_day(observation_period_end)
    log._warn_late(end_day, "observation_period_end", " of the summary", stacklevel + 1)
    codes, days, amounts = rows.codes, rows.days, rows.amounts
    if end_day < int(days.max()):
        keep = days <= end_day
        codes, days, amounts = codes[keep], days[keep], None if amounts is None else amounts[keep]
    customers = _customers(codes, days, amounts)  # what netting did was counted once, when the log was read
    if customers.codes.size == 0:
        raise DataError(
            f"no purchase is left to summarise by observation_period_end {_iso(end_day)}: every customer-day "
            "before it was a return"
        )
    frame = _summary_frame(customers, rows.ids, end_day, time_unit)
    if regularity:
        frame["litt"] = _litt(log, end_day, time_unit, len(frame))
    frame.attrs["input_report"] = log.report
    return log._add_customer_columns(frame)


def _litt(log: TransactionLog, end_day: int, time_unit: str, n_customers: int) -> np.ndarray:
    litt = log._until(end_day, time_unit).litt()
    assert litt.size == n_customers  # the same customers, in the same (sorted) order
    return litt


def rfm_train_test_split(
    transactions,
    *,
    train_period_end,
    test_period_end=None,
    time_unit: str = "D",
    regularity: bool = False,
    **log_keywords,
) -> pd.DataFrame:
    """RFM summary of a training period plus what each customer did in the test period.

    A thin wrapper over :meth:`clv_predict.TransactionLog.split`: ``transactions``
    and ``log_keywords`` are those of :func:`rfm_summary`, and ``regularity`` adds
    ``litt`` over the training period as there.

    Customers are those whose first purchase falls in the training period (up
    to and including ``train_period_end``). The test period runs from the day
    after ``train_period_end`` to ``test_period_end`` (default: the last date in
    the log) and is aggregated exactly as the training period: same-day
    purchases merged into one transaction.

    Returns
    -------
    DataFrame
        The training columns of :func:`rfm_summary` plus ``test_frequency``
        (transactions in the test period), ``test_monetary_value`` (their mean
        value, 0 when none; only with ``monetary_value_col``) and ``test_T``
        (length of the test period in ``time_unit``).
    """
    log = _as_log(transactions, stacklevel=2, **log_keywords)
    return _split(log, train_period_end, test_period_end, time_unit, regularity, stacklevel=2)


def _split(log: TransactionLog, train_period_end, test_period_end, time_unit, regularity: bool, *, stacklevel: int):
    """The calibration/holdout table of a log: :meth:`TransactionLog.split` and :func:`rfm_train_test_split`."""
    time_unit = check_time_unit(time_unit)
    rows = log._rows
    train_end = log._end_day(train_period_end, "train_period_end")
    test_end = int(rows.days.max()) if test_period_end is None else _day(to_timestamp(test_period_end, "test_period_end"))
    if test_end <= train_end:
        raise DataError(
            f"'test_period_end' {_iso(test_end)} must be after 'train_period_end' {_iso(train_end)}"
        )
    log._warn_late(test_end, "test_period_end", "", stacklevel + 1)

    in_train = rows.days <= train_end
    train = _customers(rows.codes[in_train], rows.days[in_train], None if rows.amounts is None else rows.amounts[in_train])
    if train.codes.size == 0:
        raise DataError(f"no purchase is left to summarise by train_period_end {_iso(train_end)}")
    in_test = (rows.days > train_end) & (rows.days <= test_end)
    t_codes, _, t_amounts = _merge_days(
        rows.codes[in_test], rows.days[in_test], None if rows.amounts is None else rows.amounts[in_test]
    )
    frame = _summary_frame(train, rows.ids, train_end, time_unit)
    if regularity:
        frame["litt"] = _litt(log, train_end, time_unit, len(frame))
    frame.attrs["input_report"] = log.report
    # keep test transactions of customers known in training only
    position = np.full(rows.ids.size, -1, dtype=np.int64)
    position[train.codes] = np.arange(train.codes.size)
    slot = position[t_codes]
    known = slot >= 0
    test_frequency = np.bincount(slot[known], minlength=train.codes.size)
    frame["test_frequency"] = test_frequency.astype(np.int64)
    if t_amounts is not None:
        test_total = np.bincount(slot[known], weights=t_amounts[known], minlength=train.codes.size)
        frame["test_monetary_value"] = np.where(test_frequency > 0, test_total / np.maximum(test_frequency, 1), 0.0)
    frame["test_T"] = (test_end - train_end) / TIME_UNIT_DAYS[time_unit]
    frame.attrs["test_period_end"] = _iso(test_end)
    return log._add_customer_columns(frame)


def _rfm_from_arrays(ids, days, amounts, end_day: int, time_unit: str, report: dict | None = None) -> pd.DataFrame:
    """RFM summary of flat arrays (one entry per transaction row) as of ``end_day``; ``report`` counts returned days."""
    codes, unique = _factorize_sorted(ids if isinstance(ids, pd.Series) else pd.Series(ids))
    customers = _customers(codes, np.asarray(days, dtype=np.int64), amounts, report)
    return _summary_frame(customers, pd.Index(unique, name="customer_id"), end_day, time_unit)