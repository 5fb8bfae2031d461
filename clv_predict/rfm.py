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

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._validation import TIME_UNIT_DAYS, check_columns, check_time_unit, to_timestamp
from .exceptions import DataError, DataWarning

_EPOCH_DAY = np.datetime64("1970-01-01", "D")


@dataclass
class _Log:
    """A validated transaction log as flat arrays (one entry per input row)."""

    ids: pd.Index  # unique customer ids, sorted
    codes: np.ndarray  # int64 position of each row's customer in ``ids``
    days: np.ndarray  # int64 days since 1970-01-01
    amounts: np.ndarray | None  # float64


@dataclass
class _Customers:
    """Per-customer figures after same-day purchases are merged."""

    codes: np.ndarray  # positions in _Log.ids, increasing
    first_day: np.ndarray
    last_day: np.ndarray
    n_transactions: np.ndarray
    repeat_total: np.ndarray | None  # summed value of repeat transactions


def _read_log(transactions, customer_id_col, datetime_col, monetary_value_col) -> _Log:
    check_columns(transactions, [customer_id_col, datetime_col, monetary_value_col])
    if len(transactions) == 0:
        raise DataError("transactions is empty: there is nothing to summarise")

    raw_ids = transactions[customer_id_col]
    missing = raw_ids.isna()
    if missing.any():
        rows = np.flatnonzero(missing.to_numpy())
        raise DataError(
            f"column '{customer_id_col}' has {rows.size} rows without a customer id "
            f"(first at row {rows[0]}); drop or fill them first"
        )
    codes, ids = pd.factorize(raw_ids, sort=True)
    ids = pd.Index(ids, name="customer_id")

    days = _to_days(transactions[datetime_col], datetime_col)

    amounts = None
    if monetary_value_col is not None:
        values = pd.to_numeric(transactions[monetary_value_col], errors="coerce")
        bad = values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            rows = np.flatnonzero(bad)
            raise DataError(
                f"column '{monetary_value_col}' has {rows.size} missing or non-numeric values "
                f"(first at row {rows[0]}: {transactions[monetary_value_col].iloc[rows[0]]!r})"
            )
        amounts = values.to_numpy(dtype=np.float64)
        negative = amounts < 0
        if negative.any():
            n_customers = np.unique(codes[negative]).size
            raise DataError(
                f"column '{monetary_value_col}' has {int(negative.sum())} negative amounts "
                f"from {n_customers} customers (returns or cancellations?); "
                "remove them or net them against purchases before summarising"
            )
    return _Log(ids=ids, codes=codes.astype(np.int64), days=days, amounts=amounts)


def _to_days(column: pd.Series, name: str) -> np.ndarray:
    """Whole days since 1970-01-01 for each row; errors name the column and the first bad row."""
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        # the calendar day where the purchase happened, in the log's own zone
        stamps = column.dt.tz_localize(None)
    elif pd.api.types.is_datetime64_any_dtype(column.dtype):
        stamps = column
    else:
        # ISO 8601 first (dates and datetimes may be mixed); otherwise the format pandas infers from the first value
        stamps = pd.to_datetime(column, errors="coerce", format="ISO8601")
        if (stamps.isna() & column.notna()).any():
            inferred = pd.to_datetime(column, errors="coerce")
            if inferred.notna().sum() > stamps.notna().sum():
                stamps = inferred
        if isinstance(stamps.dtype, pd.DatetimeTZDtype):
            stamps = stamps.dt.tz_localize(None)
        unparsed = stamps.isna() & column.notna()
        if unparsed.any():
            rows = np.flatnonzero(unparsed.to_numpy())
            raise DataError(
                f"column '{name}' has {rows.size} values that are not dates "
                f"(first at row {rows[0]}: {column.iloc[rows[0]]!r})"
            )
    missing = stamps.isna()
    if missing.any():
        rows = np.flatnonzero(missing.to_numpy())
        raise DataError(f"column '{name}' has {rows.size} missing dates (first at row {rows[0]})")
    return stamps.to_numpy().astype("datetime64[D]").astype(np.int64)


def _merge_days(codes, days, amounts):
    """Collapse rows to one per (customer, day); returns codes, days, amounts of transactions."""
    order = np.lexsort((days, codes))
    codes, days = codes[order], days[order]
    new = np.empty(codes.size, dtype=bool)
    new[:1] = True
    np.not_equal(codes[1:], codes[:-1], out=new[1:])
    new[1:] |= days[1:] != days[:-1]
    starts = np.flatnonzero(new)
    merged_amounts = None if amounts is None else np.add.reduceat(amounts[order], starts) if starts.size else amounts[:0]
    return codes[starts], days[starts], merged_amounts


def _customers(codes, days, amounts) -> _Customers:
    t_codes, t_days, t_amounts = _merge_days(codes, days, amounts)
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


def _day(stamp: pd.Timestamp) -> int:
    return int((np.datetime64(stamp.date(), "D") - _EPOCH_DAY).astype(np.int64))


def _iso(day: int) -> str:
    return str(_EPOCH_DAY + np.timedelta64(int(day), "D"))


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
    frame = pd.DataFrame(columns, index=index)
    frame.attrs.update(
        {
            "time_unit": time_unit,
            "observation_period_end": _iso(end_day),
            "first_purchase": _iso(int(customers.first_day.min())),
            "last_purchase": _iso(int(customers.last_day.max())),
        }
    )
    return frame


def rfm_summary(
    transactions: pd.DataFrame,
    *,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str | None = None,
    observation_period_end=None,
    time_unit: str = "D",
) -> pd.DataFrame:
    """Summarise a transaction log into one RFM row per customer.

    Parameters
    ----------
    transactions : DataFrame
        One row per purchase (or per line of a purchase).
    customer_id_col, datetime_col : str
        Columns holding the customer id and the purchase date or datetime.
    monetary_value_col : str, optional
        Column holding the purchase value. When given, the summary has a
        ``monetary_value`` column. Zero values are valid purchases; negative
        values are refused.
    observation_period_end : date-like, optional
        End of the observation period; defaults to the last date in the log.
        Purchases after it are left out, with a :class:`DataWarning`.
    time_unit : {"D", "W", "M"}
        Days, weeks (7 days) or months (365.25 / 12 days) for ``recency`` and ``T``.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` (sorted), columns ``frequency``, ``recency``,
        ``T`` and ``monetary_value`` if asked for. ``attrs`` carries
        ``time_unit`` and ``observation_period_end``, which the models read.

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
    time_unit = check_time_unit(time_unit)
    log = _read_log(transactions, customer_id_col, datetime_col, monetary_value_col)
    end_day = _resolve_end(log, observation_period_end, "observation_period_end")
    after = log.days > end_day
    if after.any():
        warnings.warn(
            f"{int(after.sum())} transactions dated after observation_period_end {_iso(end_day)} "
            "were left out of the summary",
            DataWarning,
            stacklevel=2,
        )
        keep = ~after
        log = _Log(log.ids, log.codes[keep], log.days[keep], None if log.amounts is None else log.amounts[keep])
    customers = _customers(log.codes, log.days, log.amounts)
    return _summary_frame(customers, log.ids, end_day, time_unit)


def _resolve_end(log: _Log, end, name: str) -> int:
    if end is None:
        return int(log.days.max())
    end_day = _day(to_timestamp(end, name))
    if end_day < log.days.min():
        raise DataError(f"'{name}' {_iso(end_day)} is before the first transaction ({_iso(int(log.days.min()))})")
    return end_day


def rfm_train_test_split(
    transactions: pd.DataFrame,
    *,
    customer_id_col: str,
    datetime_col: str,
    train_period_end,
    test_period_end=None,
    monetary_value_col: str | None = None,
    time_unit: str = "D",
) -> pd.DataFrame:
    """RFM summary of a training period plus what each customer did in the test period.

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
    time_unit = check_time_unit(time_unit)
    log = _read_log(transactions, customer_id_col, datetime_col, monetary_value_col)
    train_end = _resolve_end(log, train_period_end, "train_period_end")
    test_end = int(log.days.max()) if test_period_end is None else _day(to_timestamp(test_period_end, "test_period_end"))
    if test_end <= train_end:
        raise DataError(
            f"'test_period_end' {_iso(test_end)} must be after 'train_period_end' {_iso(train_end)}"
        )

    in_train = log.days <= train_end
    train = _customers(
        log.codes[in_train], log.days[in_train], None if log.amounts is None else log.amounts[in_train]
    )
    frame = _summary_frame(train, log.ids, train_end, time_unit)

    in_test = (log.days > train_end) & (log.days <= test_end)
    t_codes, t_days, t_amounts = _merge_days(
        log.codes[in_test], log.days[in_test], None if log.amounts is None else log.amounts[in_test]
    )
    # keep test transactions of customers known in training only
    position = np.full(log.ids.size, -1, dtype=np.int64)
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
    return frame


def _rfm_from_arrays(ids, days, amounts, end_day: int, time_unit: str) -> pd.DataFrame:
    """RFM summary of flat arrays (one entry per transaction row) as of ``end_day``."""
    codes, unique = pd.factorize(ids, sort=True)
    customers = _customers(codes.astype(np.int64), np.asarray(days, dtype=np.int64), amounts)
    return _summary_frame(customers, pd.Index(unique, name="customer_id"), end_day, time_unit)
