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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._validation import TIME_UNIT_DAYS, check_choice, check_columns, check_time_unit, to_timestamp
from .exceptions import DataError, DataWarning

_EPOCH_DAY = np.datetime64("1970-01-01", "D")


@dataclass
class _Log:
    """A validated transaction log as flat arrays (one entry per input row)."""

    ids: pd.Index  # unique customer ids, sorted
    codes: np.ndarray  # int64 position of each row's customer in ``ids``
    days: np.ndarray  # int64 days since 1970-01-01
    amounts: np.ndarray | None  # float64
    report: dict = field(default_factory=dict)  # what the input policies did, counted


@dataclass
class _Customers:
    """Per-customer figures after same-day purchases are merged."""

    codes: np.ndarray  # positions in _Log.ids, increasing
    first_day: np.ndarray
    last_day: np.ndarray
    n_transactions: np.ndarray
    repeat_total: np.ndarray | None  # summed value of repeat transactions
    # customers with at least one row, when known without another pass (every one of them has a purchase
    # when no row is negative)
    with_rows: int | None = None


#: What ``negative_amounts`` may be: refuse the log, net returns against the same
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

    def check(self, monetary_value_col) -> "_Policy":
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


def _numbers(column: pd.Series, name: str) -> np.ndarray:
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
        example = column.iloc[rows[0]]
        hint = ""
        if isinstance(example, str) and "," in example:
            hint = (
                " (a decimal comma? read the file with decimal=',' (--decimal ,); "
                "a thousands separator? remove it first)"
            )
        raise DataError(
            f"column '{name}' has {rows.size} missing or non-numeric values "
            f"(first at row {rows[0]}: {example!r}){hint}"
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


def _read_log(transactions, customer_id_col, datetime_col, monetary_value_col, policy: _Policy | None = None) -> _Log:
    """Validate a transaction log and apply the input policies; rows that survive become flat arrays.

    ``report`` of the result counts what each policy did (for warnings and the summary's attrs).
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
    report = {"rows": int(len(transactions))}

    if policy.duplicates != "keep":
        duplicated = transactions.duplicated(keep="first").to_numpy()
        report["duplicate_rows"] = int(duplicated.sum())
        if policy.duplicates == "drop" and duplicated.any():
            transactions = transactions[~duplicated]
            report["duplicate_rows_dropped"] = int(duplicated.sum())

    raw_ids = transactions[customer_id_col]
    missing = raw_ids.isna().to_numpy(dtype=bool, copy=True)
    if pd.api.types.is_string_dtype(raw_ids.dtype) or raw_ids.dtype == object:
        missing |= (raw_ids.astype("string").str.strip() == "").fillna(False).to_numpy(dtype=bool)
    if missing.any():
        rows = np.flatnonzero(missing)
        if policy.missing_ids == "refuse":
            raise DataError(
                f"column '{customer_id_col}' has {rows.size} rows without a customer id "
                f"(first at row {rows[0]}); drop or fill them first, or pass missing_ids='drop'"
            )
        report["missing_id_rows_dropped"] = int(rows.size)
        transactions = transactions[~missing]
        if len(transactions) == 0:
            raise DataError(f"column '{customer_id_col}' has no customer id on any row")
        raw_ids = transactions[customer_id_col]
    raw_ids = _customer_ids(raw_ids, customer_id_col, report)
    codes, ids = _factorize_sorted(raw_ids)
    ids = pd.Index(ids, name="customer_id")

    days = _to_days(transactions[datetime_col], datetime_col, dayfirst=policy.dayfirst)

    amounts = None
    if line_items:
        quantity = _numbers(transactions[policy.quantity_col], policy.quantity_col)
        price = _numbers(transactions[policy.unit_price_col], policy.unit_price_col)
        amounts = quantity * price
        amount_name = f"{policy.quantity_col} x {policy.unit_price_col}"
    elif monetary_value_col is not None:
        amounts = _numbers(transactions[monetary_value_col], monetary_value_col)
        amount_name = monetary_value_col

    unit = "rows"
    if policy.transaction_col is not None:
        codes, days, amounts = _group_transactions(transactions[policy.transaction_col], policy.transaction_col, codes, days, amounts)
        report["transactions"] = int(codes.size)
        unit = "transactions"

    if amounts is not None:
        negative = amounts < 0
        if negative.any():
            n_negative, n_customers = int(negative.sum()), int(np.unique(codes[negative]).size)
            if policy.negative_amounts == "refuse":
                what = "negative amounts" if unit == "rows" else f"transactions ({policy.transaction_col}) with a negative total"
                raise DataError(
                    f"column '{amount_name}' has {n_negative} {what} "
                    f"from {n_customers} customers (returns or cancellations?); "
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


def _group_transactions(column: pd.Series, name: str, codes, days, amounts):
    """One entry per (customer, transaction id): its first day and the sum of its lines."""
    missing = column.isna().to_numpy()
    if missing.any():
        rows = np.flatnonzero(missing)
        raise DataError(
            f"column '{name}' has {rows.size} rows without a transaction id (first at row {rows[0]})"
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


def _date_order(column: pd.Series, name: str, dayfirst: bool | None) -> bool:
    """Whether to read day-first, from the user's word checked against the data; never a silent guess."""
    text = column.dropna().astype(str)
    parts = text.str.extract(_SLASHED_DATE).dropna()
    if parts.empty:
        return bool(dayfirst)
    text = text.loc[parts.index]
    first, second = parts[0].astype(int), parts[1].astype(int)
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
            f"column '{name}' mixes {n_zoned} timestamps with a time zone and {n_naive} without one; each was "
            "taken on the calendar day written in it (no conversion between zones)",
            DataWarning,
            stacklevel=5,
        )
    return stamps


def _to_days(column: pd.Series, name: str, dayfirst: bool | None = None) -> np.ndarray:
    """Whole days since 1970-01-01 for each row; errors name the column and the first bad row.

    Time-zone-aware stamps count on the calendar day where the purchase happened,
    in their own zone; so do naive stamps mixed with them (with a warning).
    """
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
                    order = _date_order(column, name, dayfirst)
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
                f"column '{name}' has {rows.size} values that are not dates "
                f"(first at row {rows[0]}: {column.iloc[rows[0]]!r})"
            )
    missing = stamps.isna()
    if missing.any():
        rows = np.flatnonzero(missing.to_numpy())
        raise DataError(f"column '{name}' has {rows.size} missing dates (first at row {rows[0]})")
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
    if high - low <= 4 * array.size + 1024:
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
        position = np.cumsum(present, dtype=np.int64) - 1
        return position[offsets], np.flatnonzero(present).astype(array.dtype) + array.dtype.type(base)
    unique, codes = np.unique(array, return_inverse=True)
    return codes.astype(np.int64).reshape(-1), unique


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
    transactions: pd.DataFrame,
    *,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str | None = None,
    observation_period_end=None,
    time_unit: str = "D",
    negative_amounts: str = "refuse",
    quantity_col: str | None = None,
    unit_price_col: str | None = None,
    transaction_col: str | None = None,
    duplicates: str = "keep",
    missing_ids: str = "refuse",
    dayfirst: bool | None = None,
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
        values follow ``negative_amounts``.
    observation_period_end : date-like, optional
        End of the observation period; defaults to the last date in the log.
        Purchases after it are left out, with a :class:`DataWarning`.
    time_unit : {"D", "W", "M"}
        Days, weeks (7 days) or months (365.25 / 12 days) for ``recency`` and ``T``.
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

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` (sorted), columns ``frequency``, ``recency``,
        ``T`` and ``monetary_value`` if asked for. ``attrs`` carries
        ``time_unit`` and ``observation_period_end``, which the models read,
        and ``input_report``, the counts of what the input policies did.

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
    time_unit = check_time_unit(time_unit)
    policy = _policy(
        monetary_value_col, negative_amounts=negative_amounts, quantity_col=quantity_col,
        unit_price_col=unit_price_col, transaction_col=transaction_col, duplicates=duplicates,
        missing_ids=missing_ids, dayfirst=dayfirst,
    )
    log = _read_log(transactions, customer_id_col, datetime_col, monetary_value_col, policy)
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
        log = _Log(log.ids, log.codes[keep], log.days[keep], None if log.amounts is None else log.amounts[keep], log.report)
    customers = _customers(log.codes, log.days, log.amounts, log.report)
    _finish_report(log, customers)
    frame = _summary_frame(customers, log.ids, end_day, time_unit)
    frame.attrs["input_report"] = log.report
    return frame


def _finish_report(log: _Log, customers: _Customers, *, stacklevel: int = 3) -> None:
    """Count the customers the policies left without a purchase; one DataWarning saying what changed."""
    report = log.report
    with_rows = customers.with_rows
    if with_rows is None:
        with_rows = int(np.count_nonzero(np.bincount(log.codes, minlength=log.ids.size)))
    report["customers_without_purchase"] = with_rows - customers.codes.size
    if customers.codes.size == 0:
        raise DataError(
            "no purchase is left to summarise: every customer-day was a return or was left out "
            f"(input report: {report})"
        )
    parts = []
    if report.get("missing_id_rows_dropped"):
        parts.append(f"{report['missing_id_rows_dropped']} rows without a customer id were dropped")
    if report.get("duplicate_rows"):
        verb = "were dropped" if report.get("duplicate_rows_dropped") else "were kept (duplicates='drop' drops them)"
        parts.append(f"{report['duplicate_rows']} rows are exact duplicates of an earlier row and {verb}")
    for unit in ("rows", "transactions"):
        n_negative = report.get(f"negative_{unit}")
        if n_negative:
            done = "dropped" if report["policy"] == "drop" else "netted against the same day's purchases"
            parts.append(
                f"{n_negative} {unit} with a negative amount from {report['negative_customers']} customers were {done}"
            )
    if report.get("days_not_purchases"):
        parts.append(
            f"{report['days_not_purchases']} customer-days whose purchases were all returned (or that held only "
            "returns) are not purchases"
        )
    if report["customers_without_purchase"]:
        parts.append(f"{report['customers_without_purchase']} customers have no purchase left and are not in the summary")
    if parts:
        warnings.warn("; ".join(parts), DataWarning, stacklevel=stacklevel)


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
    negative_amounts: str = "refuse",
    quantity_col: str | None = None,
    unit_price_col: str | None = None,
    transaction_col: str | None = None,
    duplicates: str = "keep",
    missing_ids: str = "refuse",
    dayfirst: bool | None = None,
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
    policy = _policy(
        monetary_value_col, negative_amounts=negative_amounts, quantity_col=quantity_col,
        unit_price_col=unit_price_col, transaction_col=transaction_col, duplicates=duplicates,
        missing_ids=missing_ids, dayfirst=dayfirst,
    )
    log = _read_log(transactions, customer_id_col, datetime_col, monetary_value_col, policy)
    train_end = _resolve_end(log, train_period_end, "train_period_end")
    test_end = int(log.days.max()) if test_period_end is None else _day(to_timestamp(test_period_end, "test_period_end"))
    if test_end <= train_end:
        raise DataError(
            f"'test_period_end' {_iso(test_end)} must be after 'train_period_end' {_iso(train_end)}"
        )
    after = log.days > test_end
    if after.any():
        warnings.warn(
            f"{int(after.sum())} transactions dated after test_period_end {_iso(test_end)} were left out",
            DataWarning,
            stacklevel=2,
        )

    in_train = log.days <= train_end
    train = _customers(
        log.codes[in_train], log.days[in_train], None if log.amounts is None else log.amounts[in_train], log.report
    )
    in_test = (log.days > train_end) & (log.days <= test_end)
    t_codes, t_days, t_amounts = _merge_days(
        log.codes[in_test], log.days[in_test], None if log.amounts is None else log.amounts[in_test], log.report
    )
    _finish_report(_Log(log.ids, log.codes[in_train], log.days[in_train], None, log.report), train)
    frame = _summary_frame(train, log.ids, train_end, time_unit)
    frame.attrs["input_report"] = log.report
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


def _rfm_from_arrays(ids, days, amounts, end_day: int, time_unit: str, report: dict | None = None) -> pd.DataFrame:
    """RFM summary of flat arrays (one entry per transaction row) as of ``end_day``; ``report`` counts returned days."""
    codes, unique = _factorize_sorted(ids if isinstance(ids, pd.Series) else pd.Series(ids))
    customers = _customers(codes, np.asarray(days, dtype=np.int64), amounts, report)
    return _summary_frame(customers, pd.Index(unique, name="customer_id"), end_day, time_unit)
