"""The transaction log: read and checked once, described, then handed to every summary, model and analysis.

A :class:`TransactionLog` is the one door of the data. It is built once from a
DataFrame (or read from a CSV or Parquet file, or a folder of Parquet parts)
with the column names and the input policies, validated once (every error and
warning about the input is raised or given here, and only here), and holds
the purchases compactly as numpy arrays. Everything downstream takes it:
:meth:`TransactionLog.rfm` and :meth:`TransactionLog.split` (the summaries the
models are fitted on), every function of :mod:`clv_predict.analytics`, the
customer-value report, the data plots of :mod:`clv_predict.plotting.data`. The
keyword functions (``rfm_summary(df, customer_id_col=..., ...)``) build one and
use it, so they mean exactly the same.

Conventions (Fader, Hardie & Lee 2005): all purchases of one customer on one
calendar day are one transaction, their amounts summed; a day whose returns
cancel its purchases (``negative_amounts="net"``) is not a purchase.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd

from ._validation import (
    TIME_UNIT_DAYS,
    check_choice,
    check_columns,
    check_end_after_last_purchase,
    check_time_unit,
    plural,
    to_timestamp,
)
from .exceptions import DataError, DataWarning

__all__ = ["TransactionLog"]

_EPOCH_DAY = np.datetime64("1970-01-01", "D")


@dataclass
class _Log:
    """A validated transaction log as flat arrays (one entry per input row)."""

    ids: pd.Index  # unique customer ids, sorted
    codes: np.ndarray  # int64 position of each row's customer in ``ids``
    days: np.ndarray  # int64 days since 1970-01-01
    amounts: np.ndarray | None  # float64
    report: dict = field(default_factory=dict)  # what the input policies did, counted



class _Where:
    """Names a row of the input in messages as the user can find it.

    A file read from disk: its line (the header is line 1, so data row 0 is line 2) or, in a Parquet file, its
    row counted from 1. A DataFrame: its position, with its index label when that is not the position. Positions
    count the rows given, also after rows without an id or duplicates were left out.
    """

    def __init__(self, index: pd.Index, source: tuple[str, str] | None = None, positions: np.ndarray | None = None):
        self.index = index
        self.source = source  # (path, "csv" or "parquet")
        self.positions = np.arange(len(index)) if positions is None else positions

    def keep(self, mask: np.ndarray) -> _Where:
        return _Where(self.index[mask], self.source, self.positions[mask])

    def __call__(self, i: int) -> str:
        position = int(self.positions[i])
        if self.source is not None:
            path, kind = self.source
            if kind == "csv":
                return f"line {position + 2} of {path!r}"
            return f"row {position + 1} of {path!r} (counting from 1)"
        label = self.index[i]
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool) and label == position:
            return f"row {position}"
        return f"row at position {position} (index label {label!r})"


#: customer's purchases of that day, or drop the negative rows (transactions).
NEGATIVE_AMOUNT_POLICIES = ("refuse", "net", "drop")
DUPLICATE_POLICIES = ("keep", "report", "drop")
MISSING_ID_POLICIES = ("refuse", "drop")


@dataclass(frozen=True)
class _Policy:
    """How ``_read_log`` treats doubtful rows (the keyword options of :func:`rfm_summary`)."""

    negative_amounts: str = "refuse"
    duplicates: str = "keep"
    missing_ids: str = "refuse"
    dayfirst: bool | None = None
    quantity_col: str | None = None
    unit_price_col: str | None = None
    transaction_col: str | None = None

    def check(self, monetary_value_col) -> _Policy:
        check_choice(self.negative_amounts, "negative_amounts", NEGATIVE_AMOUNT_POLICIES)
        check_choice(self.duplicates, "duplicates", DUPLICATE_POLICIES)
        check_choice(self.missing_ids, "missing_ids", MISSING_ID_POLICIES)
        if self.dayfirst not in (None, True, False):
            raise DataError(f"'dayfirst' must be True, False or None; got {self.dayfirst!r}")
        if (self.quantity_col is None) != (self.unit_price_col is None):
            raise DataError("'quantity_col' and 'unit_price_col' go together: the amount is quantity x unit price")
        if self.quantity_col is not None and monetary_value_col is not None:
            raise DataError(
                "give either 'monetary_value_col' or 'quantity_col' with 'unit_price_col', not both"
            )
        return self


def _policy(monetary_value_col, **options) -> _Policy:
    return _Policy(**options).check(monetary_value_col)


def _numbers(column: pd.Series, name: str, where: _Where | None = None) -> np.ndarray:
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "iuf":
        # plain numpy numbers, the common case at scale: one check, no conversion (for float64 a view of the
        # caller's column, which nothing here writes to)
        array = column.to_numpy(dtype=np.float64)
        if np.isfinite(array).all():
            return array
    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        rows = np.flatnonzero(bad)
        where = where or _Where(column.index)
        example = column.iloc[rows[0]]
        hint = ""
        if isinstance(example, str) and "," in example:
            hint = (
                " (a decimal comma? read the file with decimal=',' (--decimal ,); "
                "a thousands separator? remove it first)"
            )
        raise DataError(
            f"column '{name}' has {plural(rows.size, 'missing or non-numeric value')} "
            f"(first at {where(rows[0])}: {example!r}){hint}"
        )
    return values.to_numpy(dtype=np.float64)


def _customer_ids(raw: pd.Series, name: str, report: dict) -> pd.Series:
    """One type of id per log: whole floats become integers, a mix of text and numbers becomes text."""
    if pd.api.types.is_float_dtype(raw.dtype):
        values = raw.to_numpy(dtype=float, na_value=np.nan)
        if np.all(np.isfinite(values) & (values == np.floor(values))) and np.all(np.abs(values) < 2**53):
            # a numeric id column with gaps is read as float (17850.0): the ids are the integers
            return pd.Series(values.astype(np.int64), index=raw.index, name=raw.name)
        return raw
    if raw.dtype == object:
        kind = pd.api.types.infer_dtype(raw, skipna=True)
        if kind in ("mixed-integer-float", "floating"):
            values = pd.to_numeric(raw).to_numpy(dtype=float)
            if np.all(np.isfinite(values) & (values == np.floor(values)) & (np.abs(values) < 2**53)):
                return pd.Series(values.astype(np.int64), index=raw.index, name=raw.name)
        if kind in ("mixed", "mixed-integer"):
            as_text = raw.map(_id_text)
            report["ids_made_text"] = int(as_text.nunique())
            warnings.warn(
                f"column '{name}' mixes text and numeric customer ids; all were compared as text "
                f"(so 17850 and '17850' are one customer)",
                DataWarning,
                stacklevel=4,
            )
            return as_text
    return raw


def _id_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_log(transactions, customer_id_col, datetime_col, monetary_value_col, policy: _Policy | None = None,
              *, source: tuple[str, str] | None = None, first_row: int = 0) -> _Log:
    """Validate a transaction log and apply the input policies; rows that survive become flat arrays.

    ``report`` of the result counts what each policy did (for warnings and the summary's attrs). ``source``
    is the file the log was read from and its format, ``(path, "csv" or "parquet")`` (its rows in order, as
    :func:`clv_predict.io.read_transactions` gives them): errors then name its lines; ``first_row`` is the
    position in it of the first row given (a chunk of a file read in chunks).
    """
    policy = policy or _Policy()
    line_items = policy.quantity_col is not None
    check_columns(
        transactions,
        [customer_id_col, datetime_col, monetary_value_col, policy.quantity_col, policy.unit_price_col,
         policy.transaction_col],
    )
    if len(transactions) == 0:
        raise DataError("transactions is empty: there is nothing to summarise")
    report = {"rows": len(transactions)}
    where = _Where(transactions.index, source, np.arange(len(transactions)) + first_row)

    if policy.duplicates != "keep":
        duplicated = transactions.duplicated(keep="first").to_numpy()
        report["duplicate_rows"] = int(duplicated.sum())
        if policy.duplicates == "drop" and duplicated.any():
            transactions = transactions[~duplicated]
            where = where.keep(~duplicated)
            report["duplicate_rows_dropped"] = int(duplicated.sum())

    raw_ids = transactions[customer_id_col]
    missing = raw_ids.isna().to_numpy(dtype=bool, copy=True)
    if pd.api.types.is_string_dtype(raw_ids.dtype) or raw_ids.dtype == object:
        missing |= (raw_ids.astype("string").str.strip() == "").fillna(False).to_numpy(dtype=bool)
    if missing.any():
        rows = np.flatnonzero(missing)
        if policy.missing_ids == "refuse":
            raise DataError(
                f"column '{customer_id_col}' has {plural(rows.size, 'row')} without a customer id "
                f"(first at {where(rows[0])}); drop or fill them first, or pass missing_ids='drop'"
            )
        report["missing_id_rows_dropped"] = int(rows.size)
        transactions = transactions[~missing]
        where = where.keep(~missing)
        if len(transactions) == 0:
            raise DataError(f"column '{customer_id_col}' has no customer id on any row")
        raw_ids = transactions[customer_id_col]
    raw_ids = _customer_ids(raw_ids, customer_id_col, report)
    codes, ids = _factorize_sorted(raw_ids)
    ids = pd.Index(ids, name="customer_id")

    days = _to_days(transactions[datetime_col], datetime_col, dayfirst=policy.dayfirst, where=where)

    amounts = None
    if line_items:
        quantity = _numbers(transactions[policy.quantity_col], policy.quantity_col, where)
        price = _numbers(transactions[policy.unit_price_col], policy.unit_price_col, where)
        amounts = quantity * price
        amount_name = f"{policy.quantity_col} x {policy.unit_price_col}"
    elif monetary_value_col is not None:
        amounts = _numbers(transactions[monetary_value_col], monetary_value_col, where)
        amount_name = monetary_value_col

    unit = "rows"
    if policy.transaction_col is not None:
        codes, days, amounts = _group_transactions(
            transactions[policy.transaction_col], policy.transaction_col, codes, days, amounts, where
        )
        report["transactions"] = int(codes.size)
        unit = "transactions"

    if amounts is not None:
        negative = amounts < 0
        if negative.any():
            n_negative, n_customers = int(negative.sum()), int(np.unique(codes[negative]).size)
            if policy.negative_amounts == "refuse":
                what = (plural(n_negative, "negative amount") if unit == "rows" else
                        f"{plural(n_negative, 'transaction')} ({policy.transaction_col}) with a negative total")
                raise DataError(
                    f"column '{amount_name}' has {what} "
                    f"from {plural(n_customers, 'customer')} (returns or cancellations?); "
                    "pass negative_amounts='net' (--negative-amounts net) to net them against the same customer's purchases that day, "
                    "or negative_amounts='drop' to leave them out"
                )
            report[f"negative_{unit}"] = n_negative
            report["negative_customers"] = n_customers
            if policy.negative_amounts == "drop":
                keep = ~negative
                codes, days, amounts = codes[keep], days[keep], amounts[keep]
                if codes.size == 0:
                    raise DataError(f"column '{amount_name}' has only negative amounts: no purchase is left")
    report["policy"] = policy.negative_amounts
    return _Log(ids=ids, codes=codes, days=days, amounts=amounts, report=report)


def _group_transactions(column: pd.Series, name: str, codes, days, amounts, where: _Where | None = None):
    """One entry per (customer, transaction id): its first day and the sum of its lines."""
    missing = column.isna().to_numpy()
    if missing.any():
        rows = np.flatnonzero(missing)
        raise DataError(
            f"column '{name}' has {plural(rows.size, 'row')} without a transaction id "
            f"(first at {(where or _Where(column.index))(rows[0])})"
        )
    keys = pd.MultiIndex.from_arrays([codes, column.astype(str).to_numpy()])
    group, _ = keys.factorize()
    n = int(group.max()) + 1
    first_day = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_day, group, days)
    group_codes = np.empty(n, dtype=np.int64)
    group_codes[group] = codes
    totals = None if amounts is None else np.bincount(group, weights=amounts, minlength=n)
    return group_codes, first_day, totals


_SLASHED_DATE = r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2,4})\b"


def _date_order(column: pd.Series, name: str, dayfirst: bool | None, where: _Where | None = None) -> bool:
    """Whether to read day-first, from the user's word checked against the data; never a silent guess.

    A value that is a date in neither order (``32/13/1997``) is refused as not a date, naming its row.
    """
    present = np.flatnonzero(column.notna().to_numpy())
    text = column.iloc[present].astype(str).reset_index(drop=True)  # indexed by position among present values
    parts = text.str.extract(_SLASHED_DATE).dropna()
    if parts.empty:
        return bool(dayfirst)
    text = text.loc[parts.index]
    first, second = parts[0].astype(int), parts[1].astype(int)
    impossible = (first > 31) | (second > 31) | ((first > 12) & (second > 12)) | (first == 0) | (second == 0)
    if impossible.any():
        bad = text[impossible]
        where = where or _Where(column.index)
        raise DataError(
            f"column '{name}' has {_not_dates(len(bad))} (first at {where(int(present[bad.index[0]]))}: {bad.iloc[0]!r})"
        )
    proves_dayfirst, proves_monthfirst = (first > 12).any(), (second > 12).any()
    if proves_dayfirst and proves_monthfirst:
        raise DataError(
            f"column '{name}' mixes day-first and month-first dates "
            f"(e.g. {text[first > 12].iloc[0]!r} and {text[second > 12].iloc[0]!r})"
        )
    if proves_dayfirst and dayfirst is False:
        raise DataError(
            f"column '{name}' has day-first dates such as {text[first > 12].iloc[0]!r} but dayfirst=False was given"
        )
    if proves_monthfirst and dayfirst is True:
        raise DataError(
            f"column '{name}' has month-first dates such as {text[second > 12].iloc[0]!r} but dayfirst=True was given"
        )
    if dayfirst is None:
        if proves_dayfirst or proves_monthfirst:
            return bool(proves_dayfirst)
        if (first != second).any():
            example = text[first != second].iloc[0]
            raise DataError(
                f"column '{name}' has dates such as {example!r} that read differently day-first and month-first; "
                "say which with dayfirst=True or dayfirst=False (--dayfirst / --monthfirst on the command line)"
            )
    return bool(dayfirst)


def _not_dates(count: int) -> str:
    return f"{plural(count, 'value')} that {'is not a date' if count == 1 else 'are not dates'}"


def _local_days(column: pd.Series, name: str, dayfirst: bool) -> pd.Series:
    """Parse value by value a column that mixes time zones: each stamp on the calendar day written in it."""
    parsed, zoned = {}, set()
    for value in pd.unique(column.dropna()):
        try:
            stamp = pd.Timestamp(pd.to_datetime(value, dayfirst=dayfirst))
        except (ValueError, TypeError, OverflowError):
            stamp = pd.NaT
        if stamp is not pd.NaT and stamp.tzinfo is not None:
            zoned.add(value)
            stamp = stamp.tz_localize(None)
        parsed[value] = stamp
    stamps = pd.to_datetime(column.map(parsed))
    n_zoned = int(column.isin(zoned).sum())
    n_naive = int(stamps.notna().sum()) - n_zoned
    if n_zoned and n_naive:
        warnings.warn(
            f"column '{name}' mixes {plural(n_zoned, 'timestamp')} with a time zone and {n_naive} without one; each was "
            "taken on the calendar day written in it (no conversion between zones)",
            DataWarning,
            stacklevel=5,
        )
    return stamps


def _to_days(column: pd.Series, name: str, dayfirst: bool | None = None, where: _Where | None = None) -> np.ndarray:
    """Whole days since 1970-01-01 for each row; errors name the column and the first bad row.

    Time-zone-aware stamps count on the calendar day where the purchase happened,
    in their own zone; so do naive stamps mixed with them (with a warning).
    """
    where = where or _Where(column.index)
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        # the calendar day where the purchase happened, in the log's own zone
        stamps = column.dt.tz_localize(None)
    elif pd.api.types.is_datetime64_any_dtype(column.dtype):
        stamps = column
    else:
        try:
            with warnings.catch_warnings():
                # pandas 2 warns (pandas 3 raises) on mixed time zones: both are handled below
                warnings.simplefilter("ignore", FutureWarning)
                # odd values make pandas fall back to dateutil or warn of future parsing: they are judged below
                warnings.filterwarnings("ignore", message="Could not infer format", category=UserWarning)
                warnings.filterwarnings("ignore", message="Parsing integer or float values")
                warnings.filterwarnings("ignore", category=RuntimeWarning)
                # ISO 8601 first (dates and datetimes may be mixed); otherwise the format pandas infers from the first value
                stamps = pd.to_datetime(column, errors="coerce", format="ISO8601")
                if (stamps.isna() & column.notna()).any():
                    order = _date_order(column, name, dayfirst, where)
                    inferred = pd.to_datetime(column, errors="coerce", dayfirst=order)
                    if inferred.notna().sum() > stamps.notna().sum():
                        stamps = inferred
        except ValueError as exc:
            if "time zone" not in str(exc).lower() and "timezone" not in str(exc).lower():
                raise
            stamps = None  # parsed value by value below
        if stamps is None or stamps.dtype == object:
            stamps = _local_days(column, name, bool(dayfirst))
        if isinstance(stamps.dtype, pd.DatetimeTZDtype):
            stamps = stamps.dt.tz_localize(None)
        unparsed = stamps.isna() & column.notna()
        if unparsed.any():
            rows = np.flatnonzero(unparsed.to_numpy())
            raise DataError(
                f"column '{name}' has {_not_dates(rows.size)} "
                f"(first at {where(rows[0])}: {column.iloc[rows[0]]!r})"
            )
    missing = stamps.isna()
    if missing.any():
        rows = np.flatnonzero(missing.to_numpy())
        raise DataError(f"column '{name}' has {plural(rows.size, 'missing date')} (first at {where(rows[0])})")
    return stamps.to_numpy().astype("datetime64[D]").view(np.int64)  # the cast is a fresh array: view it


def _merge_days(codes, days, amounts, report: dict | None = None):
    """Collapse rows to one per (customer, day); returns codes, days, amounts of transactions.

    A day whose returns (negative amounts, kept by ``negative_amounts='net'``)
    cancel or exceed its purchases is not a purchase and is left out; a day of
    zero-value purchases without returns is a purchase.
    """
    order = np.lexsort((days, codes))
    codes, days = codes[order], days[order]
    new = np.empty(codes.size, dtype=bool)
    new[:1] = True
    np.not_equal(codes[1:], codes[:-1], out=new[1:])
    new[1:] |= days[1:] != days[:-1]
    starts = np.flatnonzero(new)
    if amounts is None or not starts.size:
        return codes[starts], days[starts], None if amounts is None else amounts[:0]
    amounts = amounts[order]
    merged = np.add.reduceat(amounts, starts)
    returned = amounts < 0
    if returned.any():
        had_return = np.add.reduceat(returned.astype(np.int64), starts) > 0
        gross = np.add.reduceat(np.where(returned, 0.0, amounts), starts)
        # rounding leaves 1e-14 where everything bought that day was returned
        purchase = ~had_return | (merged > 1e-9 * np.maximum(gross, 1.0))
        if report is not None:
            report["days_not_purchases"] = report.get("days_not_purchases", 0) + int((~purchase).sum())
            report["days_netted"] = report.get("days_netted", 0) + int((had_return & purchase).sum())
        starts, merged = starts[purchase], merged[purchase]
    return codes[starts], days[starts], merged


def _factorize_sorted(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (int64 positions) of each value in its sorted unique values, and those values.

    Integer ids, the common case at scale, skip hashing: a dense range is mapped
    with one boolean table, a sparse one with one sort.
    """
    array = values.to_numpy() if isinstance(values.dtype, np.dtype) else None
    if array is None or array.dtype.kind not in "iu" or array.size == 0:
        # hash first, then sort only the distinct values (pandas' sort=True sorts strings slowly in Python)
        codes, unique = pd.factorize(values)
        try:
            order = pd.Index(unique).argsort()
        except TypeError:  # values that do not compare with each other: pandas' own safe sort
            codes, unique = pd.factorize(values, sort=True)
            return codes.astype(np.int64), unique
        rank = np.empty(order.size, dtype=np.int64)
        rank[order] = np.arange(order.size)
        return rank[codes], pd.Index(unique).take(order)
    low, high = int(array.min()), int(array.max())
    # a table over the id range is faster than sorting the column while the range is not far wider than the
    # column (a chunk of a large log holds a fraction of its ids, spread over their whole range); its size is
    # capped so that a sparse range sorts instead
    if high - low <= 4 * array.size + 1024 or (high - low <= 32 * array.size and high - low < 2**26):
        # small non-negative ids index the table themselves: no shifted copy of the column
        offsets = array if 0 <= low <= 1024 else array - array.dtype.type(low)
        base = 0 if offsets is array else low
        present = np.zeros(high - base + 1, dtype=bool)
        present[offsets] = True
        if present[low - base:].all():  # every id from the lowest to the highest occurs: codes are a shift
            codes = (offsets - array.dtype.type(low - base)).astype(np.int64, copy=False)
            if array.dtype == np.int64:  # the common case: the ids are a range, which pandas stores as two numbers
                return codes, pd.RangeIndex(low, high + 1)
            return codes, np.arange(low, high + 1, dtype=array.dtype)
        position = np.cumsum(present, dtype=np.int32 if present.size < 2**31 else np.int64)
        position -= 1
        return position[offsets].astype(np.int64), np.flatnonzero(present).astype(array.dtype) + array.dtype.type(base)
    unique, codes = np.unique(array, return_inverse=True)
    return codes.astype(np.int64).reshape(-1), unique


def _day(stamp: pd.Timestamp) -> int:
    return int((np.datetime64(stamp.date(), "D") - _EPOCH_DAY).astype(np.int64))


def _iso(day: int) -> str:
    return str(_EPOCH_DAY + np.timedelta64(int(day), "D"))



def _resolve_end(log: _Log, end, name: str) -> int:
    if end is None:
        return int(log.days.max())
    end_day = _day(to_timestamp(end, name))
    if end_day < log.days.min():
        raise DataError(f"'{name}' {_iso(end_day)} is before the first transaction ({_iso(int(log.days.min()))})")
    check_end_after_last_purchase(pd.Timestamp(_iso(end_day)), pd.Timestamp(_iso(int(log.days.max()))), name,
                                  stacklevel=5)
    return end_day


# ---------------------------------------------------------------------------- the merged transactions
@dataclass
class _Transactions:
    """Transactions (same-day purchases merged) sorted by customer then day, as of ``end_day``."""

    ids: pd.Index  # customers present, in the order of their codes (sorted)
    codes: np.ndarray  # 0..n_customers-1 for each transaction
    days: np.ndarray  # days since 1970-01-01
    amounts: np.ndarray | None
    starts: np.ndarray  # position of each customer's first transaction
    counts: np.ndarray  # transactions per customer
    end_day: int
    time_unit: str
    #: Adds the log's customer-table columns to a summary (see :meth:`TransactionLog.with_customers`), or None.
    join_customers: object = None

    @property
    def first_day(self) -> np.ndarray:
        return self.days[self.starts]

    @property
    def last_day(self) -> np.ndarray:
        return self.days[self.starts + self.counts - 1]

    def revenue(self) -> np.ndarray:
        return np.add.reduceat(self.amounts, self.starts)

    def repeat(self) -> np.ndarray:
        """True for every transaction after a customer's first."""
        repeat = np.ones(self.codes.size, dtype=bool)
        repeat[self.starts] = False
        return repeat

    def gaps(self) -> np.ndarray:
        """Days since the customer's previous transaction, for every transaction (meaningless at ``starts``)."""
        return np.diff(self.days, prepend=self.days[:1])

    def litt(self) -> np.ndarray:
        """Per customer, the sum over repeat transactions of log(time since the previous one) in ``time_unit``."""
        repeat = self.repeat()
        logs = np.log(self.gaps()[repeat] / TIME_UNIT_DAYS[self.time_unit])
        return np.bincount(self.codes[repeat], weights=logs, minlength=self.ids.size)

    def rfm(self) -> pd.DataFrame:
        """The :func:`clv_predict.rfm_summary` of these transactions, in the same customer order."""
        from . import (
            rfm as _rfm,  # the summary stands after the log on the data's one-way line
        )

        repeat_total = None if self.amounts is None else self.revenue() - self.amounts[self.starts]
        customers = _rfm._Customers(
            codes=np.arange(self.ids.size), first_day=self.first_day, last_day=self.last_day,
            n_transactions=self.counts, repeat_total=repeat_total,
        )
        frame = _rfm._summary_frame(customers, self.ids, self.end_day, self.time_unit)
        return frame if self.join_customers is None else self.join_customers(frame)


def _starts(codes: np.ndarray) -> np.ndarray:
    """Positions where a run of equal (sorted) codes begins."""
    new = np.empty(codes.size, dtype=bool)
    new[:1] = True
    np.not_equal(codes[1:], codes[:-1], out=new[1:])
    return np.flatnonzero(new)


def _grouped(ids: pd.Index, codes, days, amounts, end_day: int, time_unit: str) -> _Transactions:
    """Transactions sorted by customer code then day, re-coded densely over the customers present."""
    if codes.size == 0:
        raise DataError("transactions has no purchase left to analyse (every day was a net return)")
    starts = _starts(codes)
    counts = np.diff(np.append(starts, codes.size))
    present = ids.take(codes[starts])
    present.name = "customer_id"
    dense = np.repeat(np.arange(starts.size, dtype=np.int64), counts)
    return _Transactions(present, dense, days, amounts, starts, counts, end_day, time_unit)


def _were(count: int) -> str:
    return "was" if count == 1 else "were"


def late_rows_message(count: int, end: str, *, name: str = "observation_period_end",
                      suffix: str = " of the summary") -> str:
    """What every reader says of the rows after the end it summarises to: one wording everywhere."""
    return f"{plural(count, 'transaction')} dated after {name} {end} {_were(count)} left out{suffix}"


def _changes(report: dict) -> str:
    """What the input policies changed, in one sentence (empty when nothing)."""
    parts = []
    if report.get("missing_id_rows_dropped"):
        n = report["missing_id_rows_dropped"]
        parts.append(f"{plural(n, 'row')} without a customer id {_were(n)} dropped")
    if report.get("duplicate_rows"):
        n = report["duplicate_rows"]
        verb = f"{_were(n)} dropped" if report.get("duplicate_rows_dropped") else f"{_were(n)} kept (duplicates='drop' drops them)"
        what = "row is an exact duplicate" if n == 1 else "rows are exact duplicates"
        parts.append(f"{n} {what} of an earlier row and {verb}")
    for unit in ("rows", "transactions"):
        n_negative = report.get(f"negative_{unit}")
        if n_negative:
            done = "dropped" if report["policy"] == "drop" else "netted against the same day's purchases"
            customers = report.get("negative_customers")
            whose = f" from {plural(customers, 'customer')}" if customers else ""
            parts.append(f"{plural(n_negative, unit[:-1])} with a negative amount{whose} {_were(n_negative)} {done}")
    if report.get("days_not_purchases"):
        parts.append(
            f"{plural(report['days_not_purchases'], 'customer-day')} whose purchases were all returned (or that held "
            f"only returns) {'is not a purchase' if report['days_not_purchases'] == 1 else 'are not purchases'}"
        )
    if report.get("customers_without_purchase"):
        n = report["customers_without_purchase"]
        parts.append(f"{plural(n, 'customer')} {'has' if n == 1 else 'have'} no purchase left and "
                     f"{'is' if n == 1 else 'are'} not in the summary")
    return "; ".join(parts)


#: The keyword options about reading a log (besides the column names), accepted wherever a log is built.
_INPUT_OPTIONS = frozenset(f.name for f in fields(_Policy))


# ---------------------------------------------------------------------------- the public object
class TransactionLog:
    """A transaction log, validated once: the one input of every summary, model and analysis.

    Parameters
    ----------
    transactions : DataFrame
        One row per purchase (or per line of a purchase).
    customer_id_col, datetime_col : str
        Columns holding the customer id and the purchase date or datetime.
    monetary_value_col : str, optional
        Column holding the purchase value. When given, summaries have a
        ``monetary_value`` column. Zero values are valid purchases; negative
        values follow ``negative_amounts``.
    negative_amounts : {"refuse", "net", "drop"}, default "refuse"
        Returns and cancellations. "refuse" raises a :class:`DataError` naming
        how many rows and customers have negative amounts. "net" adds them to
        the same customer's purchases of the same day: a day whose purchases
        were all returned (or that holds only returns) is not a purchase, so
        frequency falls and monetary value is net of same-day returns; a
        return of an earlier day's purchase is not set against that purchase.
        "drop" leaves negative rows out: frequency and monetary value are those
        of the gross purchases. Both report what they did in a :class:`DataWarning`.
    quantity_col, unit_price_col : str, optional
        For a line-item log: the amount of a row is quantity x unit price
        (instead of ``monetary_value_col``).
    transaction_col : str, optional
        Invoice or order id. The lines of one invoice make one transaction:
        its value is their sum, its date the earliest line's, and
        ``negative_amounts`` applies to invoice totals (a cancellation
        invoice is one negative transaction). Invoices of one customer on one
        day are still one purchase, as the models count days.
    duplicates : {"keep", "report", "drop"}, default "keep"
        Exact duplicate rows (every column equal). "keep" takes them as
        separate purchases without looking (CDNOW has genuine ones); "report"
        counts them in a :class:`DataWarning`; "drop" keeps the first of each.
    missing_ids : {"refuse", "drop"}, default "refuse"
        Rows without a customer id (empty or blank): an error, or dropped
        with a :class:`DataWarning` giving their number.
    dayfirst : bool, optional
        For dates such as ``03/04/2024``: True reads day-first, False
        month-first. Left as None, ISO dates need nothing and slashed dates
        must settle the order themselves (a day above 12), else a
        :class:`DataError` asks; a choice the data contradicts is refused.

    These keywords are spelled out here only: :func:`clv_predict.rfm_summary`,
    the analytics functions and the report build a log from them.

    Attributes
    ----------
    customer_ids : Index
        The customers with at least one purchase, sorted (named ``customer_id``).
    n_customers, n_transactions : int
        Customers, and transactions after same-day purchases are merged.
    first_purchase, last_purchase : Timestamp
        The first and the last day of the log.
    has_amounts : bool
        Whether the log holds purchase values.
    report : dict
        The counts of what each input policy did (``rows``, ``duplicate_rows``,
        ``negative_rows``, ``days_not_purchases``, ...).

    Notes
    -----
    Validation happens here, once: what the policies changed is said in one
    :class:`~clv_predict.DataWarning`, and errors are
    :class:`~clv_predict.DataError` naming the column. The rows are kept as
    flat arrays (customer code, day, amount); the merged, sorted transactions
    are built from them on first use and kept.

    Examples
    --------
    >>> frame = pd.DataFrame({
    ...     "id": [1, 1, 1, 2],
    ...     "day": ["2024-01-01", "2024-01-01", "2024-01-15", "2024-01-08"],
    ...     "value": [10.0, 5.0, 20.0, 7.0]})
    >>> log = TransactionLog(frame, customer_id_col="id", datetime_col="day", monetary_value_col="value")
    >>> log
    TransactionLog: 2 customers, 3 transactions (4 rows) from 2024-01-01 to 2024-01-15
    >>> log.rfm(observation_period_end="2024-01-29", time_unit="W")
                 frequency  recency    T  monetary_value
    customer_id
    1                    1      2.0  4.0            20.0
    2                    0      0.0  3.0             0.0
    >>> log.summary().loc[["customers", "one-time buyers (share)", "spend per transaction (mean)"]]
                                  value
    statistic
    customers                         2
    one-time buyers (share)         0.5
    spend per transaction (mean)   14.0
    """

    def __init__(
        self,
        transactions: pd.DataFrame,
        *,
        customer_id_col: str,
        datetime_col: str,
        monetary_value_col: str | None = None,
        negative_amounts: str = "refuse",
        quantity_col: str | None = None,
        unit_price_col: str | None = None,
        transaction_col: str | None = None,
        duplicates: str = "keep",
        missing_ids: str = "refuse",
        dayfirst: bool | None = None,
    ):
        policy = _Policy(
            negative_amounts=negative_amounts, quantity_col=quantity_col, unit_price_col=unit_price_col,
            transaction_col=transaction_col, duplicates=duplicates, missing_ids=missing_ids, dayfirst=dayfirst,
        )
        self._open(transactions, customer_id_col, datetime_col, monetary_value_col, policy, stacklevel=3)

    @classmethod
    def from_frame(cls, transactions: pd.DataFrame, **columns_and_policies) -> TransactionLog:
        """The same as ``TransactionLog(transactions, ...)``: a log from a DataFrame."""
        return cls(transactions, **columns_and_policies)

    @classmethod
    def read(
        cls,
        path,
        *,
        customer_id_col: str,
        datetime_col: str,
        monetary_value_col: str | None = None,
        sep: str | None = None,
        decimal: str = ".",
        **policies,
    ) -> TransactionLog:
        """Read a log from a CSV (``.csv``, ``.csv.gz``) or Parquet file, or a folder of Parquet parts.

        Only the columns the log needs are read. ``sep`` and ``decimal`` are
        those of :func:`clv_predict.io.read_transactions`; ``policies`` those
        of the constructor.
        """
        from .io import file_format, read_transactions

        unknown = sorted(set(policies) - _INPUT_OPTIONS)
        if unknown:
            raise TypeError(_unknown_option(unknown[0]))
        policy = _Policy(**policies).check(monetary_value_col)
        columns = [customer_id_col, datetime_col, monetary_value_col, policy.quantity_col, policy.unit_price_col,
                   policy.transaction_col]
        frame = read_transactions(path, [c for c in columns if c], sep=sep, decimal=decimal)
        log = cls.__new__(cls)
        log._open(frame, customer_id_col, datetime_col, monetary_value_col, policy, stacklevel=3,
                  source=(str(path), file_format(path)))
        return log

    @classmethod
    def _build(cls, transactions, *, customer_id_col, datetime_col, monetary_value_col=None, stacklevel: int,
               warn: bool = True, **options) -> TransactionLog:
        """A log from the keywords of the functions that take a DataFrame (their thin wrapper's one step)."""
        unknown = sorted(set(options) - _INPUT_OPTIONS)
        if unknown:
            raise TypeError(_unknown_option(unknown[0]))
        log = cls.__new__(cls)
        log._open(transactions, customer_id_col, datetime_col, monetary_value_col, _Policy(**options),
                  stacklevel=stacklevel + 1, warn=warn)
        return log

    def _open(self, transactions, customer_id_col, datetime_col, monetary_value_col, policy: _Policy, *,
              stacklevel: int, warn: bool = True, source: tuple[str, str] | None = None) -> None:
        policy.check(monetary_value_col)
        if not isinstance(transactions, pd.DataFrame):
            raise DataError(f"transactions must be a pandas DataFrame; got {type(transactions).__name__}")
        if policy.quantity_col is not None:
            monetary_value_col = None
        self._columns = {"customer_id_col": customer_id_col, "datetime_col": datetime_col,
                         "monetary_value_col": monetary_value_col}
        self._policy = policy
        self._rows = _read_log(transactions, customer_id_col, datetime_col, monetary_value_col, policy, source=source)
        self._merged: _Transactions | None = None
        report = self._rows.report
        report["customers_without_purchase"] = 0
        if self._rows.amounts is not None and (self._rows.amounts < 0).any():
            # returns netted against purchases: which days stay purchases is known only after merging
            with_rows = int(np.count_nonzero(np.bincount(self._rows.codes, minlength=self._rows.ids.size)))
            merged = _merge_days(self._rows.codes, self._rows.days, self._rows.amounts, report)
            if merged[0].size:
                self._merged = _grouped(self._rows.ids, *merged, int(self._rows.days.max()), "D")
            report["customers_without_purchase"] = with_rows - (0 if self._merged is None else self._merged.ids.size)
            if self._merged is None:
                raise DataError(
                    "no purchase is left to summarise: every customer-day was a return or was left out "
                    f"(input report: {report})"
                )
        message = _changes(report)
        if message and warn:
            warnings.warn(message, DataWarning, stacklevel=stacklevel)

    # ------------------------------------------------------------------ what the log is
    @property
    def columns(self) -> dict:
        """The column keywords the log was built with."""
        return dict(self._columns)

    @property
    def policies(self) -> dict:
        """The input policies the log was built with."""
        return {f.name: getattr(self._policy, f.name) for f in fields(self._policy)}

    @property
    def report(self) -> dict:
        return dict(self._rows.report)

    @property
    def has_amounts(self) -> bool:
        return self._rows.amounts is not None

    @property
    def customer_ids(self) -> pd.Index:
        return self._all().ids

    @property
    def n_customers(self) -> int:
        return int(self._all().ids.size)

    @property
    def n_transactions(self) -> int:
        return int(self._all().codes.size)

    @property
    def first_purchase(self) -> pd.Timestamp:
        return pd.Timestamp(_iso(int(self._all().days.min())))

    @property
    def last_purchase(self) -> pd.Timestamp:
        return pd.Timestamp(_iso(int(self._all().days.max())))

    def transactions(self) -> pd.DataFrame:
        """The transactions, one row per customer and purchase day, sorted by customer then date.

        Columns ``customer_id``, ``date`` and, with amounts, ``amount`` (the day's net value).
        """
        tx = self._all()
        frame = pd.DataFrame({"customer_id": tx.ids.take(tx.codes),
                              "date": tx.days.astype("datetime64[D]").astype("datetime64[ns]")})
        if tx.amounts is not None:
            frame["amount"] = tx.amounts
        return frame

    # ------------------------------------------------------------------ the summaries the models take
    def rfm(self, *, observation_period_end=None, time_unit: str = "D", regularity: bool = False) -> pd.DataFrame:
        """One RFM row per customer as of ``observation_period_end``: see :func:`clv_predict.rfm_summary`.

        ``regularity=True`` adds ``litt``, the sum over each customer's repeat
        transactions of log(time since the previous transaction) in
        ``time_unit`` (0 without repeat purchases), which the BG/CNBD-k
        likelihood needs.
        """
        from .rfm import _summarise

        return _summarise(self, observation_period_end, time_unit, regularity, stacklevel=3)

    def split(self, *, train_period_end, test_period_end=None, time_unit: str = "D",
              regularity: bool = False) -> pd.DataFrame:
        """Training-period RFM plus each customer's test-period figures: see :func:`clv_predict.rfm_train_test_split`."""
        from .rfm import _split

        return _split(self, train_period_end, test_period_end, time_unit, regularity, stacklevel=3)

    # ------------------------------------------------------------------ internals shared by the summaries
    def _all(self) -> _Transactions:
        """All transactions, merged and sorted once (on first use)."""
        if self._merged is None:
            rows = self._rows
            merged = _merge_days(rows.codes, rows.days, rows.amounts)  # no returns here: nothing to count
            self._merged = _grouped(rows.ids, *merged, int(rows.days.max()), "D")
        return self._merged

    def _end_day(self, end, name: str = "observation_period_end") -> int:
        return _resolve_end(self._rows, end, name)

    def _warn_late(self, end_day: int, name: str, suffix: str, stacklevel: int) -> None:
        late = int(np.count_nonzero(self._rows.days > end_day))
        if late:
            warnings.warn(
                late_rows_message(late, _iso(end_day), name=name, suffix=suffix),
                DataWarning,
                stacklevel=stacklevel + 1,
            )

    def _until(self, end_day: int, time_unit: str) -> _Transactions:
        """The transactions up to and including ``end_day``, durations in ``time_unit``."""
        tx = self._all()
        join = self._add_customer_columns if getattr(self, "_customer_table", None) is not None else None
        if end_day >= int(tx.days.max()):
            return replace(tx, end_day=end_day, time_unit=time_unit, join_customers=join)
        keep = tx.days <= end_day
        amounts = None if tx.amounts is None else tx.amounts[keep]
        return replace(_grouped(tx.ids, tx.codes[keep], tx.days[keep], amounts, end_day, time_unit),
                       join_customers=join)

    # ------------------------------------------------------------------ a customer table (covariates)
    def with_customers(self, customers: pd.DataFrame, columns=None) -> TransactionLog:
        """This log with a customer table: every summary built from it carries the table's ``columns``.

        ``customers`` is indexed by customer id (see :func:`clv_predict.customers.read_customer_table`);
        :meth:`rfm`, :meth:`split` and the summaries the analytics and the report build from the log
        get its ``columns`` (default: all), joined on the id, so that a model with covariates finds
        them. A customer of the log missing from the table is an error naming her.

        Examples
        --------
        >>> frame = pd.DataFrame({"id": [1, 2], "day": ["2024-01-01", "2024-01-08"], "value": [10.0, 7.0]})
        >>> log = TransactionLog(frame, customer_id_col="id", datetime_col="day", monetary_value_col="value")
        >>> table = pd.DataFrame({"channel": ["web", "shop"]}, index=pd.Index(["1", "2"], name="customer_id"))
        >>> log.with_customers(table).rfm(time_unit="W")["channel"].tolist()
        ['web', 'shop']
        """
        import copy

        if not isinstance(customers, pd.DataFrame):
            raise DataError(f"'customers' must be a DataFrame indexed by customer id; got {type(customers).__name__}")
        other = copy.copy(self)
        other._customer_table = customers
        other._customer_columns = list(customers.columns) if columns is None else list(dict.fromkeys(columns))
        return other

    def _add_customer_columns(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` (a summary of this log) with the customer table's columns, if the log has one."""
        table = getattr(self, "_customer_table", None)
        if table is None or not self._customer_columns:
            return frame
        from .customers import join_customers

        joined = join_customers(frame, table, self._customer_columns)
        joined.attrs = dict(frame.attrs)
        return joined

    def _window(self, observation_period_end, time_unit, *, stacklevel: int, suffix: str = "") -> _Transactions:
        """:meth:`_until` the resolved ``observation_period_end``, saying how many rows fell after it."""
        time_unit = check_time_unit(time_unit)
        end_day = self._end_day(observation_period_end)
        self._warn_late(end_day, "observation_period_end", suffix, stacklevel + 1)
        return self._until(end_day, time_unit)

    # ------------------------------------------------------------------ what the log tells before modelling
    def summary(self) -> pd.DataFrame:
        """What the data is, before any model: size, span, repeat buying, spend, timing and what the policies did.

        Returns
        -------
        DataFrame
            Indexed by ``statistic``, one column ``value``.
        """
        tx = self._all()
        report = self._rows.report
        gaps = tx.gaps()[tx.repeat()]
        rows = [
            ("customers", int(tx.ids.size)),
            ("transactions", int(tx.codes.size)),
            ("rows read", int(report["rows"])),
            ("first purchase", _iso(int(tx.days.min()))),
            ("last purchase", _iso(int(tx.days.max()))),
            ("days spanned", int(tx.days.max() - tx.days.min() + 1)),
            ("transactions per customer (mean)", float(tx.codes.size / tx.ids.size)),
            ("one-time buyers (share)", float(np.mean(tx.counts == 1))),
            ("repeat customers", int(np.count_nonzero(tx.counts > 1))),
            ("days between purchases (mean)", float(gaps.mean()) if gaps.size else float("nan")),
            ("days between purchases (median)", float(np.median(gaps)) if gaps.size else float("nan")),
        ]
        if tx.amounts is not None:
            rows += [
                ("spend per transaction (mean)", float(tx.amounts.mean())),
                ("spend per transaction (median)", float(np.median(tx.amounts))),
                ("total spend", float(tx.amounts.sum())),
                ("zero-value purchases", int(np.count_nonzero(tx.amounts == 0))),
            ]
        policy = self._policy
        rows += [
            ("rows without a customer id dropped", int(report.get("missing_id_rows_dropped", 0))),
            ("exact duplicate rows" + (" dropped" if policy.duplicates == "drop" else ""),
             int(report["duplicate_rows"]) if "duplicate_rows" in report else "not checked (duplicates='keep')"),
        ]
        if self.has_amounts:
            unit = "transactions" if policy.transaction_col is not None else "rows"
            done = {"net": " netted", "drop": " dropped", "refuse": ""}[policy.negative_amounts]
            rows += [
                (f"returns (negative {unit}){done}", int(report.get(f"negative_{unit}", 0))),
                ("customer-days fully returned (not purchases)", int(report.get("days_not_purchases", 0))),
                ("customers without a purchase left", int(report.get("customers_without_purchase", 0))),
            ]
        table = pd.DataFrame({"value": pd.Series(dict(rows), dtype=object)})
        table.index.name = "statistic"
        return table

    def __repr__(self) -> str:
        tx = self._all()
        return (
            f"TransactionLog: {plural(tx.ids.size, 'customer')}, {plural(tx.codes.size, 'transaction')} "
            f"({plural(self._rows.report['rows'], 'row')}) from {_iso(int(tx.days.min()))} to {_iso(int(tx.days.max()))}"
        )

    def _repr_html_(self) -> str:
        import html

        table = self.summary()
        values = [f"{v:,.4g}" if isinstance(v, float) else (f"{v:,}" if isinstance(v, int) else str(v))
                  for v in table["value"]]
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(str(name))}</th><td>{html.escape(value)}</td></tr>"
            for name, value in zip(table.index, values)
        )
        columns = ", ".join(f"{k[:-4]}={v!r}" for k, v in self._columns.items() if v is not None)
        return (f"<div><p><b>TransactionLog</b> ({html.escape(columns)})</p>"
                f"<table>{body}</table></div>")

    def plot(self, kind: str = "transactions", *, ax=None, **kwargs):
        """Draw one data plot of :mod:`clv_predict.plotting.data` on ``ax``; returns the Axes.

        ``kind`` is ``"transactions"`` (per customer), ``"spend"`` (per
        transaction), ``"interpurchase"`` (times between purchases),
        ``"weekday"`` or ``"month"`` (purchases by weekday or calendar month).
        """
        from .plotting import (
            data,  # plotting is a leaf: imported only when a plot is asked for
        )

        return data.plot_log(self, kind, ax=ax, **kwargs)


def _unknown_option(name: str) -> str:
    return f"unexpected keyword argument {name!r}; the input options are {', '.join(sorted(_INPUT_OPTIONS))}"


def _as_log(transactions, *, stacklevel: int, customer_id_col=None, datetime_col=None, monetary_value_col=None,
            **options) -> TransactionLog:
    """``transactions`` itself when it is a :class:`TransactionLog`, else a log built from the column keywords."""
    if isinstance(transactions, TransactionLog):
        given = [name for name, value in (("customer_id_col", customer_id_col), ("datetime_col", datetime_col),
                                          ("monetary_value_col", monetary_value_col)) if value is not None]
        given += sorted(options)
        if given:
            raise TypeError(
                f"{given[0]!r} is given with a TransactionLog: the log holds its columns and input options"
            )
        return transactions
    if customer_id_col is None or datetime_col is None:
        raise TypeError("pass a TransactionLog, or a DataFrame with customer_id_col and datetime_col")
    return TransactionLog._build(transactions, customer_id_col=customer_id_col, datetime_col=datetime_col,
                                 monetary_value_col=monetary_value_col, stacklevel=stacklevel + 1, **options)
