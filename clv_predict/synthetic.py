"""Synthetic transaction logs drawn from the models' own processes.

Useful to check that fits recover the parameters that generated the data, and to
measure speed on logs of any size (``benchmarks/`` uses it for ten million
customers). Everything is vectorised numpy: ten million customers take a few
seconds.

The process, per customer:

* the first purchase falls on a day drawn uniformly from the acquisition window;
* repeat purchases follow the chosen purchase model's own process (``model``:
  BG/NBD by default, Fader, Hardie & Lee 2005: while alive, a Poisson process
  with rate ``lambda ~ Gamma(r, rate alpha)`` per ``time_unit``, and dropout
  after each repeat purchase with probability ``p ~ Beta(a, b)``; every model of
  :data:`clv_predict.models.PURCHASE_MODELS` draws its own);
* each purchase (the first one included) has a value drawn from
  ``Gamma(p, rate nu)``, with the customer's ``nu ~ Gamma(q, rate v)`` (Fader & Hardie 2013).

Purchases are dated by the day they fall on, so two purchases of one customer
on one day become one transaction in the RFM summary, as in real logs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._validation import TIME_UNIT_DAYS, check_time_unit, to_timestamp
from .exceptions import DataError
from .models import purchase_model_class

#: The published CDNOW estimates, per week: BG/NBD (Fader, Hardie & Lee 2005) and Gamma-Gamma (Fader & Hardie 2013).
CDNOW_PARAMS = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "p": 6.25, "q": 3.74, "v": 15.44}


_SPEND_PARAMS = ("p", "q", "v")


def _check_params(params, purchase_names) -> dict:
    if params is None:
        if tuple(purchase_names) != ("r", "alpha", "a", "b"):
            raise DataError("'params' must be given for this model (the defaults are BG/NBD's CDNOW estimates)")
        params = CDNOW_PARAMS
    params = dict(params)
    names = (*purchase_names, *_SPEND_PARAMS)
    missing = [name for name in names if name not in params]
    if missing:
        raise DataError(f"'params' lacks {', '.join(map(repr, missing))}; it needs {', '.join(names)}")
    for name in names:
        value = params[name]
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value) or value <= 0:
            raise DataError(f"parameter {name!r} must be a finite number > 0; got {value!r}")
    return {name: float(params[name]) for name in names}


def simulate_transactions(
    n_customers: int,
    params: dict | None = None,
    *,
    seed=None,
    start="2020-01-01",
    acquisition_days: int = 365,
    observation_days: int = 470,
    time_unit: str = "W",
    order: str = "date",
    model: str = "bg_nbd",
) -> pd.DataFrame:
    """Draw a transaction log of ``n_customers`` from a purchase model's process + Gamma-Gamma spend.

    Parameters
    ----------
    n_customers : int
        Number of customers (each makes a first purchase in the acquisition window).
    params : dict, optional
        The purchase model's parameters (``r, alpha, a, b`` for BG/NBD; ``r, alpha, s,
        beta`` for Pareto/NBD; ...) and ``p, q, v`` (Gamma-Gamma), with time parameters
        per ``time_unit``; defaults to :data:`CDNOW_PARAMS` (BG/NBD).
    seed : int or numpy Generator, optional
        Seed of the random draws; the same seed gives the same log.
    start : date-like
        Day on which the acquisition window opens.
    acquisition_days : int, default 365
        First purchases are spread uniformly over this many days.
    observation_days : int, default 470
        The observation period ends on ``start + observation_days - 1``; no
        purchase falls after it. With the defaults and CDNOW's parameters the log
        holds about 2.2 transactions per customer.
    time_unit : {"D", "W", "M"}
        The unit ``alpha`` is stated in.
    order : {"date", "customer"}
        Rows sorted by date (as a log is written), or grouped by customer.
    model : str, default "bg_nbd"
        The purchase model whose process draws the repeat purchases (a name of
        :data:`clv_predict.models.PURCHASE_MODELS`).

    Returns
    -------
    DataFrame
        Columns ``customer_id`` (int64, 0 .. n_customers - 1), ``date``
        (datetime64, whole days) and ``amount`` (float64, rounded to cents,
        at least 0.01). ``attrs`` holds ``observation_period_end``, ``params``
        and ``time_unit``.

    Examples
    --------
    >>> log = simulate_transactions(1000, seed=1)
    >>> list(log.columns), log["customer_id"].nunique()
    (['customer_id', 'date', 'amount'], 1000)
    >>> log.attrs["observation_period_end"]
    '2021-04-14'
    """
    if isinstance(n_customers, bool) or not isinstance(n_customers, (int, np.integer)) or n_customers <= 0:
        raise DataError(f"'n_customers' must be a positive whole number; got {n_customers!r}")
    if not 0 < acquisition_days <= observation_days:
        raise DataError(
            f"'acquisition_days' must be between 1 and observation_days ({observation_days}); got {acquisition_days!r}"
        )
    if order not in ("date", "customer"):
        raise DataError(f"'order' must be 'date' or 'customer'; got {order!r}")
    purchases = purchase_model_class(model)
    params = _check_params(params, purchases._param_names + purchases._extra_param_names)
    purchases = purchases.from_params(**{name: params[name] for name in purchases._param_names
                                         + purchases._extra_param_names})
    unit_days = TIME_UNIT_DAYS[check_time_unit(time_unit)]
    first_day = np.datetime64(to_timestamp(start, "start").date(), "D")
    rng = np.random.default_rng(seed)
    n = int(n_customers)

    # per-customer traits; the purchase process runs in time units
    nu = rng.gamma(params["q"], 1.0 / params["v"], n)
    acquired = rng.integers(0, acquisition_days, n)
    horizon = (observation_days - 1 - acquired).astype(np.float64)  # days from first purchase to the end
    owner, times = purchases._simulate_repeat_times(purchases._params(), horizon / unit_days, rng)
    offsets = np.minimum(np.floor(times * unit_days), horizon[owner]).astype(np.int64)

    customer = np.concatenate((np.arange(n), owner))
    day = np.concatenate((acquired, acquired[owner] + offsets))
    amount = rng.gamma(params["p"], 1.0 / nu[customer])
    amount = np.maximum(np.round(amount, 2), 0.01)
    if order == "date":
        sort = np.argsort(day, kind="stable")
    else:
        sort = np.argsort(customer, kind="stable")
    log = pd.DataFrame(
        {
            "customer_id": customer[sort],
            "date": (first_day + day[sort].astype("timedelta64[D]")).astype("datetime64[s]"),
            "amount": amount[sort],
        }
    )
    log.attrs.update(
        {
            "observation_period_end": str(first_day + np.timedelta64(observation_days - 1, "D")),
            "params": params,
            "time_unit": time_unit,
        }
    )
    return log


#: The donations estimates of BG/BB (Fader, Hardie & Shang 2010) with a Gamma-Gamma spend per gift.
DONATIONS_PARAMS = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783, "p": 6.0, "q": 4.0, "v": 60.0}


def simulate_opportunity_transactions(
    n_customers: int,
    params: dict | None = None,
    *,
    n_opportunities: int = 6,
    first_period="1995",
    period: str = "Y",
    n_cohorts: int = 1,
    seed=None,
) -> pd.DataFrame:
    """Draw a transaction log from the BG/BB process (one purchase at most per period) + Gamma-Gamma spend.

    Each customer makes a first purchase in one of the first ``n_cohorts`` periods
    from ``first_period`` (the acquisition), then, while alive, buys at each later
    period with his own probability ``p ~ Beta(alpha, beta)``; before each period he
    dies with probability ``theta ~ Beta(gamma, delta)``. The log ends with the
    ``n_opportunities``-th period after the first cohort's; every purchase is dated
    on a day drawn uniformly within its period and has a value drawn as in
    :func:`simulate_transactions`.

    Returns
    -------
    DataFrame
        ``customer_id``, ``date``, ``amount``, sorted by date; ``attrs`` holds
        ``observation_period_end`` (the last day of the last period), ``period``
        and ``params``.

    Examples
    --------
    >>> log = simulate_opportunity_transactions(500, seed=1)
    >>> int(log["date"].dt.year.min()), int(log["date"].dt.year.max()), log.attrs["observation_period_end"]
    (1995, 2001, '2001-12-31')
    """
    from .discrete import check_whole_number

    n = check_whole_number(n_customers, "n_customers", minimum=1)
    opportunities = check_whole_number(n_opportunities, "n_opportunities", minimum=1)
    cohorts = check_whole_number(n_cohorts, "n_cohorts", minimum=1)
    if cohorts > opportunities:
        raise DataError(f"'n_cohorts' ({cohorts}) must not exceed 'n_opportunities' ({opportunities})")
    names = ("alpha", "beta", "gamma", "delta")
    params = dict(DONATIONS_PARAMS if params is None else params)
    _check_params(params, names)
    try:
        first = pd.Period(first_period, freq=period)
    except (ValueError, TypeError, AttributeError):
        raise DataError(f"'first_period' {first_period!r} and 'period' {period!r} must name a pandas period") from None
    rng = np.random.default_rng(seed)
    p = rng.beta(params["alpha"], params["beta"], n)
    theta = rng.beta(params["gamma"], params["delta"], n)
    nu = rng.gamma(params["q"], 1.0 / params["v"], n)
    cohort = rng.integers(0, cohorts, n)
    alive_for = rng.geometric(np.maximum(theta, 1e-300)) - 1  # opportunities at which he is still alive
    later = np.arange(1, opportunities + 1)
    buys = (rng.random((n, opportunities)) < p[:, None]) & (later[None, :] <= alive_for[:, None]) \
        & (cohort[:, None] + later[None, :] <= opportunities)
    owner, step = np.nonzero(buys)
    customer = np.concatenate((np.arange(n), owner))
    offset = np.concatenate((cohort, cohort[owner] + later[step]))
    starts = np.array([(first + k).start_time.value for k in range(opportunities + 1)], dtype="datetime64[ns]")
    ends = np.array([(first + k).end_time.normalize().value for k in range(opportunities + 1)], dtype="datetime64[ns]")
    lengths = ((ends - starts) // np.timedelta64(1, "D")).astype(np.int64) + 1
    day = np.floor(rng.random(customer.size) * lengths[offset]).astype(np.int64)
    dates = (starts[offset] + day.astype("timedelta64[D]")).astype("datetime64[s]")
    amount = np.maximum(np.round(rng.gamma(params["p"], 1.0 / nu[customer]), 2), 0.01)
    order = np.lexsort((customer, dates))
    log = pd.DataFrame({"customer_id": customer[order], "date": dates[order], "amount": amount[order]})
    log.attrs.update({"observation_period_end": str((first + opportunities).end_time.date()), "period": period,
                      "params": params})
    return log
