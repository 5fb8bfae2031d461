"""The one place where inputs are checked.

Every public function funnels its arguments through these helpers so that the
same mistake gets the same message wherever it is made.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd

from .exceptions import DataError, DataWarning

#: Length of one time unit in days. A month is a twelfth of a Julian year,
#: never a hidden 30 days.
TIME_UNIT_DAYS = {"D": 1.0, "W": 7.0, "M": 365.25 / 12.0}

RFM_COLUMNS = ("frequency", "recency", "T")


def plural(count, noun: str, nouns: str | None = None) -> str:
    """A count with its noun in the right number: every message that counts says it this way.

    >>> plural(1, "customer"), plural(2357, "customer"), plural(2, "entry", "entries")
    ('1 customer', '2,357 customers', '2 entries')
    """
    count = int(count)
    return f"{count:,} {noun if count == 1 else (nouns or noun + 's')}"


def check_time_unit(time_unit) -> str:
    if time_unit not in TIME_UNIT_DAYS:
        raise DataError(
            f"'time_unit' must be one of {', '.join(repr(u) for u in TIME_UNIT_DAYS)}; got {time_unit!r}"
        )
    return time_unit


def check_choice(value, name: str, choices) -> str:
    """``value`` if it is one of ``choices``; otherwise a DataError naming the parameter and its options."""
    if not isinstance(value, str) or value not in choices:
        raise DataError(f"'{name}' must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value


def check_columns(frame: pd.DataFrame, columns, *, what: str = "transactions") -> None:
    """Raise a DataError naming every column of ``columns`` that ``frame`` lacks."""
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{what} must be a pandas DataFrame; got {type(frame).__name__}")
    missing = [c for c in columns if c is not None and c not in frame.columns]
    if missing:
        available = ", ".join(repr(str(c)) for c in frame.columns[:20])
        raise DataError(
            f"{what} has no column {', '.join(repr(str(c)) for c in missing)}; "
            f"available columns: {available or 'none'}"
        )


def check_nonnegative_number(value, name: str, *, allow_zero: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise DataError(f"'{name}' must be a finite number; got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise DataError(f"'{name}' must be {bound}; got {value!r}")
    return float(value)


#: Above these a setting is doubtful: a margin is a fraction of revenue; a discount rate is per time unit, and
#: more than 50% per period halves the value of every next period (a percentage or a yearly rate given instead?).
#: An observation end a year after everyone's last purchase makes the whole base look gone.
MARGIN_DOUBTFUL_ABOVE = 1.0
DISCOUNT_RATE_DOUBTFUL_ABOVE = 0.5
DAYS_AFTER_LAST_PURCHASE_DOUBTFUL = 365


def _as_fraction(value: float) -> str:
    return f"; did you mean {value / 100:g}?" if 1 < value <= 100 else ""


def check_margin(margin, *, stacklevel: int = 3) -> float:
    """``margin`` as a float >= 0; a DataWarning when it is above 1 (a percentage given for a fraction?)."""
    value = check_nonnegative_number(margin, "margin")
    if value > MARGIN_DOUBTFUL_ABOVE:
        warnings.warn(
            f"'margin' is {value:g}: the margin is a fraction of revenue (0.3 keeps 30% of it), so {value:g} counts "
            f"{value:.0%} of revenue as profit{_as_fraction(value)}",
            DataWarning,
            stacklevel=stacklevel,
        )
    return value


def check_discount_rate(discount_rate, time_unit: str | None = None, *, stacklevel: int = 3) -> float:
    """``discount_rate`` as a float >= 0; a DataWarning above 0.5 per time unit (a percentage or a yearly rate?)."""
    value = check_nonnegative_number(discount_rate, "discount_rate")
    if value > DISCOUNT_RATE_DOUBTFUL_ABOVE:
        unit = f" ({time_unit!r})" if time_unit else ""
        warnings.warn(
            f"'discount_rate' is {value:g} per time unit{unit}: each period is worth {1 / (1 + value):.0%} of the one "
            f"before; the rate is per time unit, not a percentage nor a yearly rate (10% a year is about "
            f"0.0018 a week){_as_fraction(value)}",
            DataWarning,
            stacklevel=stacklevel,
        )
    return value


def check_end_after_last_purchase(end: pd.Timestamp, last_purchase: pd.Timestamp, name: str, *,
                                  stacklevel: int = 3) -> None:
    """A DataWarning when ``end`` is more than a year after the last purchase of the whole log."""
    gap = (end - last_purchase).days
    if gap > DAYS_AFTER_LAST_PURCHASE_DOUBTFUL:
        warnings.warn(
            f"'{name}' {end:%Y-%m-%d} is {gap} days after the last purchase ({last_purchase:%Y-%m-%d}): nobody "
            "bought anything for more than a year, so every customer looks gone; is it the date you meant?",
            DataWarning,
            stacklevel=stacklevel,
        )


def check_horizon(horizon) -> int:
    """A horizon is a whole number of time units (the CLV sum runs over them)."""
    if isinstance(horizon, bool) or not isinstance(horizon, numbers.Real) or not np.isfinite(horizon):
        raise DataError(f"'horizon' must be a positive whole number of time units; got {horizon!r}")
    if horizon <= 0 or float(horizon) != int(horizon):
        raise DataError(f"'horizon' must be a positive whole number of time units; got {horizon!r}")
    return int(horizon)


def to_timestamp(value, name: str) -> pd.Timestamp:
    """Parse a user-given date (string, date, datetime, Timestamp) to a naive day."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise DataError(f"'{name}' is not a date: {value!r}") from exc
    if stamp is pd.NaT:
        raise DataError(f"'{name}' is not a date: {value!r}")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.normalize()


def numeric_column(frame: pd.DataFrame, column: str, *, what: str, missing: str | None = None) -> np.ndarray:
    """The column ``column`` of a summary as finite floats, or a DataError naming it and its first bad customer.

    ``missing`` is the message when the column is absent (default: the columns there are).
    """
    if column not in frame.columns:
        raise DataError(missing or f"{what} needs a column {column!r}; it has "
                        f"{', '.join(map(repr, frame.columns)) or 'none'}")
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(
            f"{what} column {column!r} has {plural(int(bad.sum()), 'missing or non-numeric value')} "
            f"(first at customer {frame.index[bad][0]!r})"
        )
    return values


def check_rfm(rfm: pd.DataFrame, *, need_monetary: bool = False, what: str = "rfm") -> pd.DataFrame:
    """Check an RFM table and return float columns ``frequency, recency, T`` (+ ``monetary_value``)."""
    columns = list(RFM_COLUMNS) + (["monetary_value"] if need_monetary else [])
    check_columns(rfm, columns, what=what)
    out = {}
    for column in columns:
        values = rfm[column]
        if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iuf":
            # plain numpy numbers (the common, large case): one pass, no copy for float64
            array = values.to_numpy(dtype=float)
            bad = ~np.isfinite(array)
        else:
            values = pd.to_numeric(values, errors="coerce")
            bad = (values.isna() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))).to_numpy()
            array = None
        if bad.any():
            raise DataError(
                f"{what} column '{column}' has {plural(bad.sum(), 'missing or non-numeric value')} "
                f"(first at customer {rfm.index[bad][0]!r})"
            )
        out[column] = values.to_numpy(dtype=float) if array is None else array
    frequency, recency, T = out["frequency"], out["recency"], out["T"]
    problems = []
    if (frequency < 0).any() or (np.floor(frequency) != frequency).any():
        problems.append("'frequency' must hold whole numbers >= 0")
    if (recency < 0).any():
        problems.append("'recency' must be >= 0")
    too_recent = recency > T * (1 + 1e-9) + 1e-12
    if too_recent.any():
        problems.append(f"'recency' exceeds 'T' for {plural(too_recent.sum(), 'customer')}")
    if ((frequency == 0) & (recency != 0)).any():
        problems.append("customers with 'frequency' 0 must have 'recency' 0")
    if (T <= 0).any() and ((T <= 0) & (frequency > 0)).any():
        problems.append("'T' must be > 0 for customers with repeat purchases")
    if problems:
        raise DataError(f"{what} is not a valid RFM summary: " + "; ".join(problems))
    return pd.DataFrame(out, index=rfm.index, copy=False)  # no copy: the models only read these columns
