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

import warnings

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


def opportunity_summary(log, *, period: str = "Y", observation_period_end=None,
                        opportunity_dates=None) -> pd.DataFrame:
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
    opportunity_dates : list of date-like, optional
        Instead of calendar periods, the dates of the opportunities (a gala, an
        appeal): opportunity ``i`` runs from its date to the day before the next
        one, and the opportunities dated by ``observation_period_end`` count. A
        purchase before the first date falls in an acquisition window of its own.
        The summary then states no ``opportunity_period``.

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
    transactions = log.transactions()
    transactions = transactions[transactions["date"] <= end]
    amount = transactions["amount"].to_numpy() if "amount" in transactions.columns else None
    if opportunity_dates is not None:
        number = _dated_numbers(transactions["date"], opportunity_dates, end)
        summary = _opportunity_frame(transactions["customer_id"].to_numpy(), number, amount)
        summary.attrs.update({"summary": "opportunities", "observation_period_end": str(end.date())})
        return summary
    end_period = _end_period(end, period)
    number = _period_numbers(transactions["date"], period, end_period)
    summary = _opportunity_frame(transactions["customer_id"].to_numpy(), number, amount)
    return _stamp(summary, period, end_period)


def _dated_numbers(dates: pd.Series, opportunity_dates, end: pd.Timestamp) -> np.ndarray:
    """Each purchase's opportunity among ``opportunity_dates`` as a whole number, 0 for the last one by ``end``."""
    try:
        given = pd.DatetimeIndex(pd.to_datetime(list(opportunity_dates))).normalize()
    except (ValueError, TypeError):
        raise DataError(f"'opportunity_dates' must be a list of dates; got {opportunity_dates!r}") from None
    if given.size == 0 or given.hasnans or not given.is_monotonic_increasing or given.has_duplicates:
        raise DataError("'opportunity_dates' must be one or more distinct dates in increasing order")
    held = int((given <= end).sum())
    if held == 0:
        raise DataError(f"no opportunity date is on or before the observation end {end.date()}")
    # opportunity i covers [date_i, date_(i+1)); before the first date: an acquisition window (-held)
    return np.searchsorted(given.to_numpy(), dates.to_numpy(), side="right") - held


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


# ---------------------------------------------------------------------------------------------- contracts

#: Contract periods: months in one period for calendar periods, else days.
_PERIOD_MONTHS = {"Y": 12, "Q": 3, "M": 1}
_PERIOD_DAYS = {"W": 7, "D": 1}


def _check_period(period: str) -> str:
    if period not in _PERIOD_MONTHS and period not in _PERIOD_DAYS:
        raise DataError(f"'period' must be one of 'Y', 'Q', 'M', 'W', 'D' (the length of a contract period); "
                        f"got {period!r}")
    return period


def _completed_periods(start: pd.Series, end: pd.Series, period: str) -> tuple[np.ndarray, np.ndarray]:
    """Whole periods from ``start`` to ``end`` (floor) and whether ``end`` falls exactly on a period boundary.

    Calendar periods step by months as a contract does (15 January, 15 February, ...): a month is
    complete on the same day of the next month.
    """
    if period in _PERIOD_DAYS:
        days = ((end - start).dt.days).to_numpy(dtype=np.int64)
        return days // _PERIOD_DAYS[period], days % _PERIOD_DAYS[period] == 0
    months = ((end.dt.year - start.dt.year) * 12 + (end.dt.month - start.dt.month)).to_numpy(dtype=np.int64)
    early = (end.dt.day < start.dt.day).to_numpy()
    months = months - early
    step = _PERIOD_MONTHS[period]
    return months // step, (months % step == 0) & (end.dt.day == start.dt.day).to_numpy()


def _dates(frame: pd.DataFrame, column: str, what: str, *, allow_missing: bool = False) -> pd.Series:
    if column not in frame.columns:
        raise DataError(f"{what} has no column {column!r}")
    with warnings.catch_warnings():  # pandas warns when it parses text one by one; the bad values are said below
        warnings.simplefilter("ignore", UserWarning)
        values = pd.to_datetime(frame[column], errors="coerce")
    bad = values.isna() & (frame[column].notna() if allow_missing else True)
    if bad.any():
        count = int(bad.sum())
        raise DataError(f"{what} column {column!r} has {plural(count, 'value')} that {'is' if count == 1 else 'are'} "
                        f"not a date (first at row {int(np.flatnonzero(bad.to_numpy())[0])})")
    return values.dt.normalize()


def _contract_frame(ids, T, churned, extra: pd.DataFrame | None, period: str, end: pd.Timestamp) -> pd.DataFrame:
    summary = pd.DataFrame({"T": np.asarray(T, dtype=np.int64), "churned": np.asarray(churned, dtype=bool)},
                           index=pd.Index(ids, name="customer_id"))
    if extra is not None:
        for column in extra.columns:
            summary[column] = extra[column].to_numpy()
    summary.attrs.update({"summary": "contracts", "contract_period": period,
                          "observation_period_end": str(end.date())})
    return summary


def subscription_summary(subscriptions: pd.DataFrame, *, customer_id_col: str = "customer_id",
                         start_col: str = "start", end_col: str = "end", period: str = "M",
                         observation_period_end=None, keep=()) -> pd.DataFrame:
    """A contract summary from a subscription table: one row per customer, ``start`` and ``end`` (empty while
    active), in contract periods of length ``period``.

    A customer who ended paid for every period begun before the end: ``T`` is that
    number and ``churned`` is True (he did not renew at the end of period ``T``). A
    customer still active at ``observation_period_end`` (default: the latest start
    or end date) has completed ``T`` whole periods and renewed after each:
    ``churned`` is False. An end after the observation end counts as active.
    Customers who start after it are left out.

    Parameters
    ----------
    subscriptions : DataFrame
    customer_id_col, start_col, end_col : str
    period : {"Y", "Q", "M", "W", "D"}, default "M"
        The length of one contract period; calendar periods step by months (a
        monthly contract from 15 January renews on 15 February).
    observation_period_end : date-like, optional
    keep : list of str
        Further columns to carry into the summary (a segment or a cohort column, a price).

    Returns
    -------
    DataFrame
        Indexed by ``customer_id``: ``T`` (int64) and ``churned`` (bool), ready for
        :class:`~clv_predict.ShiftedBetaGeoModel`; ``attrs`` holds ``contract_period``.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"customer_id": [1, 2, 3], "start": ["2024-01-15", "2024-01-15", "2024-03-01"],
    ...                       "end": ["2024-04-10", None, "2024-04-01"]})
    >>> subscription_summary(table, observation_period_end="2024-06-30").to_dict("list")
    {'T': [3, 5, 1], 'churned': [True, False, True]}
    """
    _check_frame(subscriptions, "subscriptions")
    period = _check_period(period)
    if customer_id_col not in subscriptions.columns:
        raise DataError(f"subscriptions has no column {customer_id_col!r}")
    ids = subscriptions[customer_id_col]
    if ids.isna().any():
        raise DataError(f"subscriptions column {customer_id_col!r} has {plural(int(ids.isna().sum()), 'missing id')}")
    if ids.duplicated().any():
        raise DataError(f"subscriptions has {plural(int(ids.duplicated().sum()), 'customer')} on more than one row: "
                        "give one row per customer (or summarise a log of renewals with renewal_summary)")
    start = _dates(subscriptions, start_col, "subscriptions")
    end = _dates(subscriptions, end_col, "subscriptions", allow_missing=True)
    before = end.notna() & (end < start)
    if before.any():
        raise DataError(f"subscriptions has {plural(int(before.sum()), 'customer')} whose {end_col!r} is before "
                        f"the {start_col!r} (first: {ids[before].iloc[0]!r})")
    if observation_period_end is None:
        observed_end = max(start.max(), end.max()) if end.notna().any() else start.max()
    else:
        observed_end = to_timestamp(observation_period_end, "observation_period_end")
    kept = start <= observed_end
    missing = [column for column in keep if column not in subscriptions.columns]
    if missing:
        raise DataError(f"subscriptions has no column {missing[0]!r} to keep")
    churned = (end.notna() & (end <= observed_end))[kept]
    start, end = start[kept], end[kept]
    stop = end.where(churned, observed_end)
    completed, aligned = _completed_periods(start, stop, period)
    # a churned customer paid for every period begun before his end: at least one
    T = np.where(churned, np.maximum(completed + ~aligned, 1), completed)
    extra = subscriptions.loc[kept, list(keep)] if keep else None
    return _contract_frame(ids[kept].to_numpy(), T, churned.to_numpy(), extra, period, observed_end)


def renewal_summary(renewals: pd.DataFrame, *, customer_id_col: str = "customer_id", datetime_col: str = "date",
                    period: str = "M", observation_period_end=None) -> pd.DataFrame:
    """A contract summary from a log of payments, one row per paid period (the first and every renewal).

    A customer with ``k`` payments whose last paid period is over by
    ``observation_period_end`` (default: the last payment date) without a renewal
    churned after ``T = k`` periods; one whose last period still runs has completed
    ``T = k - 1`` periods and renewed after each (``churned`` False). Payments after
    the end are ignored.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"customer_id": [1, 1, 1, 2, 2],
    ...                     "date": ["2024-01-01", "2024-02-01", "2024-03-01", "2024-01-01", "2024-02-01"]})
    >>> renewal_summary(log, period="M", observation_period_end="2024-03-15").to_dict("list")
    {'T': [2, 2], 'churned': [False, True]}
    """
    _check_frame(renewals, "renewals")
    period = _check_period(period)
    if customer_id_col not in renewals.columns:
        raise DataError(f"renewals has no column {customer_id_col!r}")
    dates = _dates(renewals, datetime_col, "renewals")
    end = dates.max() if observation_period_end is None else to_timestamp(observation_period_end,
                                                                          "observation_period_end")
    frame = pd.DataFrame({"customer_id": renewals[customer_id_col].to_numpy(), "date": dates.to_numpy()})
    frame = frame[frame["date"] <= end].drop_duplicates()
    grouped = frame.groupby("customer_id", sort=True)["date"]
    payments = grouped.size()
    last = grouped.max()
    # the last paid period is over once a whole period has passed since its payment
    completed, _ = _completed_periods(last, pd.Series(end, index=last.index), period)
    over = completed >= 1
    T = np.where(over, payments.to_numpy(), payments.to_numpy() - 1)
    return _contract_frame(payments.index.to_numpy(), T, over, None, period, end)


def survivor_summary(survivors) -> pd.DataFrame:
    """A compressed contract summary from a cohort's counts: its size, then how many are left at the start of
    each period ("1,000 customers, 631 renewed after year 1, ..."). Column ``weights`` says how many customers
    each row stands for (``fit(summary, weights="weights")``).

    Examples
    --------
    >>> survivor_summary([1000, 631, 468]).to_dict("list")
    {'T': [1, 2, 2], 'churned': [True, True, False], 'weights': [369.0, 163.0, 468.0]}
    """
    counts = np.asarray(survivors, dtype=float).ravel()
    if counts.size < 2 or not np.all(np.isfinite(counts)) or (counts < 0).any() or (np.diff(counts) > 0).any() \
            or (np.floor(counts) != counts).any():
        raise DataError(
            "'survivors' must be two or more whole numbers >= 0 that do not increase (a cohort's size, then "
            f"how many are left at the start of each period); got {survivors!r}"
        )
    periods = np.arange(1, counts.size)
    summary = pd.DataFrame(
        {
            "T": np.concatenate([periods, [counts.size - 1]]).astype(np.int64),
            "churned": np.concatenate([np.ones(periods.size, bool), [False]]),
            "weights": np.concatenate([counts[:-1] - counts[1:], [counts[-1]]]),
        }
    )
    summary.attrs["summary"] = "contracts"
    return summary


def observed_retention(summary: pd.DataFrame, weights=None) -> pd.DataFrame:
    """Renewal decisions by tenure in a contract summary: at the end of period ``t``, ``decided`` customers had
    completed it, ``renewed`` of them renewed, ``retention`` = renewed / decided.

    Examples
    --------
    >>> observed_retention(survivor_summary([1000, 631, 468]), weights="weights")["retention"].round(3).tolist()
    [0.631, 0.742]
    """
    checked = check_contract_summary(summary)
    if isinstance(weights, str):
        weights = numeric_column(summary, weights, what="summary")
    w = np.ones(len(checked)) if weights is None else np.asarray(weights, dtype=float)
    T, churned = checked["T"].to_numpy().astype(np.int64), checked["churned"].to_numpy() > 0
    top = int(T.max()) if T.size else 0
    # a customer with T completed periods decided at the end of periods 1..T; renewed at all of them,
    # except a churned one at T
    decided = np.bincount(T, weights=w, minlength=top + 1)[::-1].cumsum()[::-1][1:]
    churn_at = np.bincount(T[churned], weights=w[churned], minlength=top + 1)[1:]
    table = pd.DataFrame({"decided": decided, "renewed": decided - churn_at},
                         index=pd.Index(np.arange(1, top + 1), name="period"))
    with np.errstate(invalid="ignore", divide="ignore"):
        table["retention"] = table["renewed"] / table["decided"]
    return table
