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

from ._validation import numeric_column, to_timestamp
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
        problems.append(f"'frequency' exceeds 'recency' for {int((x > t_x).sum())} customers")
    if (t_x > n).any():
        problems.append(f"'recency' exceeds 'T' for {int((t_x > n).sum())} customers")
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


def _end_period(end: pd.Timestamp, period: str, name: str = "observation_period_end") -> pd.Period:
    """The last opportunity that is over by ``end``: its period, or the one before when ``end`` falls inside it."""
    try:
        end_period = pd.Period(end, freq=period)
    except (ValueError, TypeError, AttributeError):
        raise DataError(
            f"'period' must be a pandas period alias such as 'Y', 'Q', 'M' or 'W'; got {period!r}"
        ) from None
    if end.normalize() < end_period.end_time.normalize():
        end_period -= 1  # the period of the end is not over: no opportunity yet
    return end_period


def _period_numbers(dates, period: str, end_period: pd.Period) -> np.ndarray:
    """Each date's period as a whole number, 0 for the last opportunity (ordinals, no Period objects)."""
    return pd.PeriodIndex(pd.DatetimeIndex(dates).to_period(period)).asi8 - end_period.ordinal


def _opportunity_frame(customer, number, amount=None) -> pd.DataFrame:
    """The summary of purchases whose period numbers (0 = the last opportunity; later ones are ignored) are given.

    ``monetary_value`` (with amounts) is the mean value bought per opportunity with a purchase after the first,
    0 without any: the spend Gamma-Gamma describes, as ``rfm_summary`` gives it per repeat purchase.
    """
    frame = pd.DataFrame({"customer_id": customer, "number": np.asarray(number, dtype=np.int64)})
    if amount is not None:
        frame["amount"] = np.asarray(amount, dtype=float)
    first = frame.groupby("customer_id", sort=False)["number"].transform("min").to_numpy()
    frame["opportunity"] = frame["number"].to_numpy() - first
    later = frame[(frame["opportunity"] > 0) & (frame["number"] <= 0)]
    per_opportunity = later.groupby(["customer_id", "opportunity"], sort=False)
    opportunities = per_opportunity.size().reset_index()[["customer_id", "opportunity"]]
    grouped = opportunities.groupby("customer_id", sort=False)["opportunity"]
    ids = pd.unique(frame["customer_id"].to_numpy())
    first_of = pd.Series(first, index=frame["customer_id"].to_numpy()).groupby(level=0, sort=False).first().reindex(ids)
    frequency = grouped.size().reindex(ids, fill_value=0).to_numpy(dtype=np.int64)
    summary = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": grouped.max().reindex(ids, fill_value=0).to_numpy(dtype=np.int64),
            "T": np.maximum(-first_of.to_numpy(dtype=np.int64), 0),
        },
        index=pd.Index(ids, name="customer_id"),
    )
    if amount is not None:
        spent = later.groupby("customer_id", sort=False)["amount"].sum().reindex(ids, fill_value=0.0).to_numpy()
        summary["monetary_value"] = np.where(frequency > 0, spent / np.maximum(frequency, 1), 0.0)
    return summary


def opportunity_summary(log, *, period: str = "Y", observation_period_end=None) -> pd.DataFrame:
    """A discrete-opportunity summary from a transaction log: one opportunity per calendar ``period``.

    A customer's first purchase falls in his acquisition period; every later
    period that is over by ``observation_period_end`` (default: the day of the
    log's last purchase) is an opportunity. ``frequency`` counts the
    opportunities with at least one purchase, ``recency`` is the number of the
    last of them (1 for the period after the acquisition; 0 without any) and
    ``T`` the number of opportunities. With amounts in the log,
    ``monetary_value`` is the mean value bought per opportunity with a purchase
    after the first (0 without any), for the Gamma-Gamma spend model. Customers
    acquired after the end are left out; purchases after it are ignored.

    Parameters
    ----------
    log : TransactionLog
    period : str, default "Y"
        A pandas period alias: "Y" (calendar years), "Q", "M", "W", ...
    observation_period_end : date-like, optional

    Returns
    -------
    DataFrame
        Indexed by ``customer_id``, int64 columns ``frequency``, ``recency``, ``T``
        (and float ``monetary_value``), ready for :class:`~clv_predict.BetaGeoBetaBinomModel`
        and ``CLVModel(purchase_model="bg_bb")``. ``attrs`` holds ``opportunity_period``
        (the period alias, which a fitted model records and checks) and ``observation_period_end``.
    """
    end = log.last_purchase if observation_period_end is None else to_timestamp(
        observation_period_end, "observation_period_end")
    end_period = _end_period(end, period)
    transactions = log.transactions()
    transactions = transactions[transactions["date"] <= end]
    number = _period_numbers(transactions["date"], period, end_period)
    amount = transactions["amount"].to_numpy() if "amount" in transactions.columns else None
    summary = _opportunity_frame(transactions["customer_id"].to_numpy(), number, amount)
    return _stamp(summary, period, end_period)


def _stamp(summary: pd.DataFrame, period: str, end_period: pd.Period) -> pd.DataFrame:
    summary.attrs["summary"] = "opportunities"
    summary.attrs["opportunity_period"] = period
    summary.attrs["observation_period_end"] = str(end_period.end_time.date())
    return summary


def opportunity_train_test_split(log, *, period: str = "Y", train_period_end, test_period_end=None) -> pd.DataFrame:
    """A calibration/holdout split in opportunities: the summary as of ``train_period_end`` plus the holdout.

    The customers acquired by ``train_period_end`` (one row each, as
    :func:`opportunity_summary` gives them) with ``test_frequency``, the holdout
    opportunities (the periods after the training end that are over by
    ``test_period_end``, default the log's last day) with a purchase,
    ``test_T`` their number (the same for everyone), and, with amounts,
    ``test_monetary_value`` (mean value per holdout opportunity with a purchase).
    It is what :func:`clv_predict.evaluate` and :func:`clv_predict.compare_models`
    take for a BG/BB model.
    """
    train_end = to_timestamp(train_period_end, "train_period_end")
    test_end = log.last_purchase if test_period_end is None else to_timestamp(test_period_end, "test_period_end")
    if test_end <= train_end:
        raise DataError(f"'test_period_end' ({test_end.date()}) must be after 'train_period_end' ({train_end.date()})")
    train_period = _end_period(train_end, period, "train_period_end")
    test_period = _end_period(test_end, period, "test_period_end")
    holdout = int(test_period.ordinal - train_period.ordinal)
    if holdout < 1:
        raise DataError(
            f"no {period!r} period is over between train_period_end {train_end.date()} and test_period_end "
            f"{test_end.date()}: the holdout has no opportunity"
        )
    split = opportunity_summary(log, period=period, observation_period_end=train_end)
    transactions = log.transactions()
    number = _period_numbers(transactions["date"], period, train_period)
    in_holdout = (number >= 1) & (number <= holdout) & transactions["customer_id"].isin(split.index).to_numpy()
    chosen = transactions[in_holdout].assign(number=number[in_holdout])
    per_opportunity = chosen.groupby(["customer_id", "number"], sort=False)
    counts = per_opportunity.size().groupby(level=0).size()
    split["test_frequency"] = counts.reindex(split.index, fill_value=0).to_numpy(dtype=np.int64)
    split["test_T"] = holdout
    if "amount" in chosen.columns:
        spent = chosen.groupby("customer_id")["amount"].sum().reindex(split.index, fill_value=0.0).to_numpy()
        frequency = split["test_frequency"].to_numpy()
        split["test_monetary_value"] = np.where(frequency > 0, spent / np.maximum(frequency, 1), 0.0)
    split.attrs["test_period_end"] = str(test_period.end_time.date())
    return split
