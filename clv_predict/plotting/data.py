"""Data plots: what a :class:`~clv_predict.TransactionLog` holds, before any model is fitted.

How many transactions customers make, what a transaction is worth, how long
customers wait between purchases, and when purchases happen (by weekday, and
month by month, first purchases apart from repeat ones: acquisition that stops
or a season shows there, and both are known reasons why a holdout is missed).

Each function takes the log, ``ax=None`` (a new figure when none is given),
draws only on that Axes and returns it; none calls ``plt.show()``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import DataError
from .value import _axes

__all__ = [
    "plot_days_between_purchases",
    "plot_purchases_by_month",
    "plot_purchases_by_weekday",
    "plot_spend_per_transaction",
    "plot_transactions_per_customer",
]

_BARS = "#1f4e79"
_REPEAT = "#d9822b"


def _transactions(log) -> pd.DataFrame:
    if not hasattr(log, "transactions") or not hasattr(log, "summary"):
        raise DataError(f"log must be a clv_predict.TransactionLog; got {type(log).__name__}")
    return log.transactions()


def _counts_per_customer(frame: pd.DataFrame) -> np.ndarray:
    codes = pd.factorize(frame["customer_id"])[0]
    return np.bincount(codes)


def plot_transactions_per_customer(log, *, ax=None, max_transactions: int = 10):
    """Bar chart of customers by their number of transactions (``max_transactions`` and more in the last bar)."""
    ax = _axes(ax)
    counts = np.minimum(_counts_per_customer(_transactions(log)), max_transactions)
    customers = np.bincount(counts, minlength=max_transactions + 1)[1:]
    labels = [str(k) for k in range(1, max_transactions)] + [f"{max_transactions}+"]
    ax.bar(labels, customers, color=_BARS)
    one_time = customers[0] / customers.sum()
    ax.set_xlabel("transactions (same-day purchases merged)")
    ax.set_ylabel("customers")
    ax.set_title(f"Transactions per customer (one-time buyers {one_time:.0%})")
    return ax


def plot_spend_per_transaction(log, *, ax=None, bins: int = 50, upper_quantile: float = 0.99):
    """Histogram of the value of a transaction, up to ``upper_quantile`` (the rest counted in the title)."""
    frame = _transactions(log)
    if "amount" not in frame:
        raise DataError("the log has no purchase values: build it with monetary_value_col (or quantity_col)")
    ax = _axes(ax)
    amounts = frame["amount"].to_numpy()
    upper = float(np.quantile(amounts, upper_quantile))
    shown = amounts[amounts <= upper]
    ax.hist(shown, bins=bins, color=_BARS)
    mean, median = float(amounts.mean()), float(np.median(amounts))
    ax.axvline(median, color=_REPEAT, linestyle="-", label=f"median {median:,.2f}")
    ax.axvline(mean, color=_REPEAT, linestyle="--", label=f"mean {mean:,.2f}")
    ax.legend(frameon=False)
    ax.set_xlabel("spend per transaction")
    ax.set_ylabel("transactions")
    hidden = amounts.size - shown.size
    ax.set_title("Spend per transaction" + (f" ({hidden:,} above {upper:,.2f} not shown)" if hidden else ""))
    return ax


def plot_days_between_purchases(log, *, ax=None, bins: int = 50, upper_quantile: float = 0.99):
    """Histogram of the days between a customer's consecutive transactions (repeat transactions only)."""
    frame = _transactions(log)
    ax = _axes(ax)
    same = frame["customer_id"].to_numpy()[1:] == frame["customer_id"].to_numpy()[:-1]
    days = frame["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    gaps = np.diff(days)[same]
    if gaps.size == 0:
        ax.text(0.5, 0.5, "no repeat purchases", ha="center", va="center", transform=ax.transAxes)
        return ax
    upper = float(np.quantile(gaps, upper_quantile))
    ax.hist(gaps[gaps <= upper], bins=bins, color=_BARS)
    median = float(np.median(gaps))
    ax.axvline(median, color=_REPEAT, label=f"median {median:g} days")
    ax.legend(frameon=False)
    ax.set_xlabel("days since the customer's previous transaction")
    ax.set_ylabel("repeat transactions")
    ax.set_title("Time between purchases")
    return ax


def _first_or_repeat(frame: pd.DataFrame) -> np.ndarray:
    ids = frame["customer_id"].to_numpy()
    first = np.ones(ids.size, dtype=bool)
    first[1:] = ids[1:] != ids[:-1]
    return first


def plot_purchases_by_weekday(log, *, ax=None):
    """Transactions by day of the week, first purchases and repeat purchases stacked."""
    frame = _transactions(log)
    ax = _axes(ax)
    weekday = frame["date"].dt.day_of_week.to_numpy()
    first = _first_or_repeat(frame)
    names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    firsts = np.bincount(weekday[first], minlength=7)
    repeats = np.bincount(weekday[~first], minlength=7)
    ax.bar(names, firsts, color=_BARS, label="first purchases")
    ax.bar(names, repeats, bottom=firsts, color=_REPEAT, label="repeat purchases")
    ax.set_ylim(0, 1.18 * max(int((firsts + repeats).max()), 1))  # room for the legend above the bars
    ax.legend(frameon=False, loc="upper center", ncols=2)
    ax.set_ylabel("transactions")
    ax.set_title("Purchases by weekday")
    return ax


def plot_purchases_by_month(log, *, ax=None):
    """Transactions in each calendar month of the log, first purchases and repeat purchases stacked."""
    frame = _transactions(log)
    ax = _axes(ax)
    months = frame["date"].to_numpy().astype("datetime64[M]")
    first = _first_or_repeat(frame)
    span = np.arange(months.min(), months.max() + np.timedelta64(1, "M"))
    slot = (months - span[0]).astype(np.int64)
    firsts = np.bincount(slot[first], minlength=span.size)
    repeats = np.bincount(slot[~first], minlength=span.size)
    labels = [str(m) for m in span]
    ax.bar(labels, firsts, color=_BARS, label="first purchases")
    ax.bar(labels, repeats, bottom=firsts, color=_REPEAT, label="repeat purchases")
    step = max(1, span.size // 12)
    ax.set_xticks(range(0, span.size, step), labels[::step], rotation=45, ha="right")
    ax.legend(frameon=False)
    ax.set_ylabel("transactions")
    ax.set_title("Purchases by month")
    return ax


_KINDS = {
    "transactions": plot_transactions_per_customer,
    "spend": plot_spend_per_transaction,
    "interpurchase": plot_days_between_purchases,
    "weekday": plot_purchases_by_weekday,
    "month": plot_purchases_by_month,
}


def plot_log(log, kind: str = "transactions", *, ax=None, **kwargs):
    """One of the plots above by name (what :meth:`clv_predict.TransactionLog.plot` calls)."""
    if kind not in _KINDS:
        raise DataError(f"'kind' must be one of {', '.join(map(repr, _KINDS))}; got {kind!r}")
    return _KINDS[kind](log, ax=ax, **kwargs)
