"""Summaries of customers observed at discrete opportunities or on contracts, checked once.

Two shapes of data the continuous-time models do not fit:

* **discrete opportunities** (:class:`~clv_predict.BetaGeoBetaBinomModel`): a
  customer can buy at most once at each of ``T`` opportunities after the first
  purchase (a yearly gala, an annual appeal). ``frequency`` is the number of
  opportunities with a purchase, ``recency`` the last of them (1..T; 0 without
  any), so ``0 <= frequency <= recency <= T``.
* **contracts** (:class:`~clv_predict.ShiftedBetaGeoModel`): ``T`` is the number
  of periods a subscriber has completed and ``churned`` says whether they did
  not renew at the end of period ``T`` (so a churned customer has ``T >= 1``).

:func:`opportunity_summary` builds the first from a :class:`~clv_predict.TransactionLog`,
one opportunity per calendar period.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._validation import numeric_column, plural, to_timestamp
from .exceptions import DataError


def _numeric(summary: pd.DataFrame, column: str, what: str) -> np.ndarray:
    return numeric_column(summary, column, what=what)


def _check_frame(summary, what: str) -> None:
    if not isinstance(summary, pd.DataFrame):
        raise DataError(f"{what} must be a DataFrame; got {type(summary).__name__}")


def check_opportunity_summary(summary: pd.DataFrame, *, what: str = "summary") -> pd.DataFrame:
    """Check a discrete-opportunity summary and return its ``frequency``, ``recency``, ``T`` as floats.

    Examples
    --------
    >>> import pandas as pd
    >>> check_opportunity_summary(pd.DataFrame({"frequency": [2], "recency": [4], "T": [6]})).to_dict("list")
    {'frequency': [2.0], 'recency': [4.0], 'T': [6.0]}
    """
    _check_frame(summary, what)
    x, t_x, n = (_numeric(summary, column, what) for column in ("frequency", "recency", "T"))
    problems = []
    for name, values in (("frequency", x), ("recency", t_x), ("T", n)):
        if (values < 0).any() or (np.floor(values) != values).any():
            problems.append(f"{name!r} must hold whole numbers >= 0 (counts of opportunities)")
    if (x > t_x).any():
        problems.append(f"'frequency' exceeds 'recency' for {plural((x > t_x).sum(), 'customer')}")
    if (t_x > n).any():
        problems.append(f"'recency' exceeds 'T' for {plural((t_x > n).sum(), 'customer')}")
    if ((x == 0) & (t_x != 0)).any():
        problems.append("customers with 'frequency' 0 must have 'recency' 0")
    if problems:
        raise DataError(f"{what} is not a valid discrete-opportunity summary: " + "; ".join(problems))
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": n}, index=summary.index)


def check_contract_summary(summary: pd.DataFrame, *, what: str = "summary") -> pd.DataFrame:
    """Check a contract summary and return its ``T`` (periods completed) and ``churned`` (0 or 1) as floats.

    Examples
    --------
    >>> import pandas as pd
    >>> check_contract_summary(pd.DataFrame({"T": [3, 1], "churned": [False, True]})).to_dict("list")
    {'T': [3.0, 1.0], 'churned': [0.0, 1.0]}
    """
    _check_frame(summary, what)
    T = _numeric(summary, "T", what)
    churned = _numeric(summary, "churned", what)
    problems = []
    if (T < 0).any() or (np.floor(T) != T).any():
        problems.append("'T' must hold whole numbers >= 0 (periods completed)")
    if not np.isin(churned, (0.0, 1.0)).all():
        problems.append("'churned' must be True/False (or 1/0)")
    elif ((churned == 1) & (T < 1)).any():
        problems.append("a churned customer must have completed at least one period ('T' >= 1)")
    if problems:
        raise DataError(f"{what} is not a valid contract summary: " + "; ".join(problems))
    return pd.DataFrame({"T": T, "churned": churned}, index=summary.index)


def check_whole_number(value, name: str, *, minimum: int = 0) -> int:
    """A whole number >= ``minimum`` (a count of opportunities or periods), as an int."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, float, np.floating)) \
            or not np.isfinite(value) or value != int(value) or value < minimum:
        raise DataError(f"{name!r} must be a whole number >= {minimum}; got {value!r}")
    return int(value)


def opportunity_summary(log, *, period: str = "Y", observation_period_end=None) -> pd.DataFrame:
    """A discrete-opportunity summary from a transaction log: one opportunity per calendar ``period``.

    A customer's first purchase falls in his acquisition period; every later
    period that is over by ``observation_period_end`` (default: the day of the
    log's last purchase) is an opportunity. ``frequency`` counts the
    opportunities with at least one purchase, ``recency`` is the number of the
    last of them (1 for the period after the acquisition; 0 without any) and
    ``T`` the number of opportunities. Customers acquired after the end are left
    out; purchases after it are ignored.

    Parameters
    ----------
    log : TransactionLog
    period : str, default "Y"
        A pandas period alias: "Y" (calendar years), "Q", "M", "W", ...
    observation_period_end : date-like, optional

    Returns
    -------
    DataFrame
        Indexed by ``customer_id``, int64 columns ``frequency``, ``recency``, ``T``,
        ready for :class:`~clv_predict.BetaGeoBetaBinomModel`.
    """
    end = log.last_purchase if observation_period_end is None else to_timestamp(
        observation_period_end, "observation_period_end")
    try:
        end_period = pd.Period(end, freq=period)
    except (ValueError, TypeError, AttributeError):
        raise DataError(
            f"'period' must be a pandas period alias such as 'Y', 'Q', 'M' or 'W'; got {period!r}"
        ) from None
    if end.normalize() < end_period.end_time.normalize():
        end_period -= 1  # the period of the end is not over: no opportunity yet
    transactions = log.transactions()
    transactions = transactions[transactions["date"] <= end]
    periods = transactions["date"].dt.to_period(period)
    # each purchase's period as a whole number, 0 for the last opportunity (ordinals, no Period objects)
    number = pd.PeriodIndex(periods).asi8 - end_period.ordinal
    customer = transactions["customer_id"].to_numpy()
    frame = pd.DataFrame({"customer_id": customer, "number": number})
    first = frame.groupby("customer_id", sort=False)["number"].transform("min").to_numpy()
    later = pd.DataFrame({"customer_id": customer, "opportunity": number - first})
    later = later[(later["opportunity"] > 0) & (number <= 0)].drop_duplicates()
    grouped = later.groupby("customer_id", sort=False)["opportunity"]
    ids = pd.unique(customer)
    first_of = pd.Series(first, index=customer).groupby(level=0, sort=False).first().reindex(ids)
    summary = pd.DataFrame(
        {
            "frequency": grouped.size().reindex(ids, fill_value=0).to_numpy(dtype=np.int64),
            "recency": grouped.max().reindex(ids, fill_value=0).to_numpy(dtype=np.int64),
            "T": np.maximum(-first_of.to_numpy(dtype=np.int64), 0),
        },
        index=pd.Index(ids, name="customer_id"),
    )
    return summary
