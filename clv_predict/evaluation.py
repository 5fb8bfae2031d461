"""How well a fitted model forecast a holdout period, next to the simple baselines users compare against.

The input is a calibration/holdout split from :func:`clv_predict.rfm_train_test_split`: the
model was fitted on the training columns (``frequency``, ``recency``, ``T``, ``monetary_value``)
and is judged on what each customer then did in the test period (``test_frequency``,
``test_monetary_value`` over ``test_T`` time units).

Three forecasts are compared, customer by customer:

``model``
    the purchase model's expected purchases in the holdout, times Gamma-Gamma expected spend.
``historical_rate``
    The customer's repeat-purchase rate so far, ``frequency / T``, carried forward over the
    holdout, times his own average order value (``monetary_value``; the population's for
    customers without repeat purchases).
``classic_formula``
    CLV = average order value x purchase frequency x expected lifespan, the formula of
    marketing textbooks, per customer: the same rate and order value as ``historical_rate``,
    and a lifespan ``L = mean(T) / churn`` where ``churn = 1 - repeat rate`` (the share of
    customers who never bought again). With a constant churn hazard ``1 / L`` a customer is
    expected to stay active ``L (1 - exp(-H / L))`` of an ``H``-unit holdout.

Each method's "predicted CLV" for ranking is its predicted holdout revenue (margin 1, no
discounting), compared with the revenue each customer really brought in the holdout.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._validation import check_columns, check_rfm
from .clv import CLVModel
from .exceptions import DataError
from .models import PurchaseModel, is_purchase_model
from .transactions import TransactionLog

METHODS = {
    "model": "purchase model + Gamma-Gamma",
    "historical_rate": "historical purchase rate carried forward",
    "classic_formula": "classic formula: order value x frequency x lifespan",
}

#: Training frequencies 0 .. FREQUENCY_BINS - 1 get a row each; the rest share the last row ("7+").
FREQUENCY_BINS = 7


def _purchase_model(model) -> PurchaseModel:
    """The purchase model of a CLVModel, or the purchase model given (BG/NBD, Pareto/NBD, ...)."""
    if isinstance(model, CLVModel):
        model._check_fitted()
        return model.purchase_model_
    if is_purchase_model(model):  # continuous time (BetaGeoModel, ...) or discrete opportunities (BG/BB)
        model._check_fitted()
        return model
    raise DataError(f"'model' must be a fitted CLVModel or purchase model (BetaGeoModel, ...); got {type(model).__name__}")


def _holdout_length(split: pd.DataFrame) -> float:
    check_columns(split, ["test_frequency", "test_T"], what="split")
    lengths = pd.to_numeric(split["test_T"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if len(lengths) == 0:
        raise DataError("split has no customers to evaluate")
    if not np.all(np.isfinite(lengths)) or np.any(lengths <= 0):
        raise DataError("split column 'test_T' must hold the positive length of the holdout period")
    if np.ptp(lengths) > 1e-9 * lengths.max():
        raise DataError("split column 'test_T' must be the same for every customer (one holdout period)")
    return float(lengths[0])


def _actual_counts(split: pd.DataFrame) -> np.ndarray:
    counts = pd.to_numeric(split["test_frequency"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise DataError("split column 'test_frequency' must hold counts >= 0")
    return counts


def frequency_bin_labels(frequency, bins: int = FREQUENCY_BINS) -> pd.Categorical:
    """Label training frequencies ``0 .. bins - 1`` by themselves and the rest ``'{bins}+'``.

    >>> list(frequency_bin_labels([0, 3, 7, 12]))
    ['0', '3', '7+', '7+']
    """
    frequency = np.asarray(frequency, dtype=float)
    labels = [str(n) for n in range(bins)] + [f"{bins}+"]
    codes = np.minimum(frequency, bins).astype(int)
    return pd.Categorical.from_codes(codes, categories=labels, ordered=True)


def capture_curve(score, value) -> tuple[np.ndarray, np.ndarray]:
    """Share of total ``value`` held by the top share of customers ranked by ``score``.

    Customers with equal scores are one block, spread evenly along the curve (the expected
    curve over every order of the tied customers), so ties neither help nor hurt.

    Returns
    -------
    (share_of_customers, share_of_value) : arrays starting at (0, 0) and ending at (1, 1).

    Examples
    --------
    >>> x, y = capture_curve([3, 2, 1, 0], [6, 3, 1, 0])
    >>> x.tolist(), y.tolist()
    ([0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 0.6, 0.9, 1.0, 1.0])
    """
    score = np.asarray(score, dtype=float)
    value = np.asarray(value, dtype=float)
    if score.shape != value.shape or score.ndim != 1 or score.size == 0:
        raise DataError("capture_curve needs two one-dimensional arrays of the same, non-zero length")
    if not (np.all(np.isfinite(score)) and np.all(np.isfinite(value))):
        raise DataError("capture_curve needs finite scores and values (no NaN or infinity)")
    total = value.sum()
    if total <= 0:
        raise DataError("the values to capture sum to 0 or less: there is nothing to rank customers by")
    frame = pd.DataFrame({"score": score, "value": value})
    blocks = frame.groupby("score", sort=True)["value"].agg(["size", "sum"]).iloc[::-1]
    x = np.concatenate([[0.0], np.cumsum(blocks["size"].to_numpy()) / score.size])
    y = np.concatenate([[0.0], np.cumsum(blocks["sum"].to_numpy()) / total])
    return x, y


def _area(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


def gini_coefficient(values) -> float:
    """Gini coefficient of non-negative values: 0 when all are equal, towards 1 when one holds everything.

    >>> gini_coefficient([1, 1, 1, 1])
    0.0
    >>> gini_coefficient([0, 0, 0, 4])
    0.75
    """
    values = np.asarray(values, dtype=float)
    if values.size and np.any(values < 0):
        raise DataError("the Gini coefficient is defined for values >= 0")
    x, y = capture_curve(values, values)
    return 2 * _area(x, y) - 1


def ranking_quality(score, value) -> dict:
    """How well ``score`` ranks customers by realised ``value``.

    Returns ``gini`` (normalised: 1 for the ranking by ``value`` itself, 0 for a random one,
    negative when worse than random) and ``top_decile_capture`` (the share of total value
    held by the 10% of customers with the highest scores).

    >>> ranking_quality([3, 2, 1, 0], [6, 3, 1, 0])["gini"]
    1.0
    """
    x, y = capture_curve(score, value)
    best_x, best_y = capture_curve(value, value)
    best = 2 * _area(best_x, best_y) - 1
    gini = (2 * _area(x, y) - 1) / best if best > 0 else float("nan")
    return {"gini": float(gini), "top_decile_capture": float(np.interp(0.1, x, y))}


def _metrics(actual: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    if actual.size == 0:
        return float("nan"), float("nan")
    error = predicted - actual
    return float(np.mean(np.abs(error))), float(np.sqrt(np.mean(error**2)))


def _percent(predicted: float, actual: float) -> float:
    return 100.0 * (predicted - actual) / actual if actual else float("nan")


@dataclass
class HoldoutEvaluation:
    """What :func:`evaluate` found. Every table is a DataFrame; ``_repr_html_`` shows them in a notebook.

    Attributes
    ----------
    aggregate : DataFrame
        Indexed by (``method``, ``quantity``) with quantity ``purchases`` (repeat transactions)
        and ``revenue``: ``actual``, ``predicted``, ``error`` (predicted - actual) and
        ``percent_error`` (in percent of actual).
    per_customer : DataFrame
        Indexed by ``method``: MAE and RMSE of holdout purchases and revenue over all customers,
        and of the mean spend per transaction over the customers who bought in the holdout.
    by_frequency : DataFrame
        Indexed by training frequency (``'0'`` .. ``'6'``, ``'7+'``): number of customers and
        their mean holdout purchases, actual and predicted by each method.
    ranking : DataFrame
        Indexed by ``method``: normalised ``gini`` and ``top_decile_capture`` of each method's
        predicted holdout revenue against the realised one (the row ``perfect`` ranks by the
        realised revenue itself).
    predictions : DataFrame
        Per customer (indexed by ``customer_id``): actual and predicted purchases and revenue.
    settings : dict
        Period ends, time unit, holdout length and the figures behind the baselines.
    """

    aggregate: pd.DataFrame
    per_customer: pd.DataFrame
    by_frequency: pd.DataFrame
    ranking: pd.DataFrame
    predictions: pd.DataFrame
    settings: dict = field(default_factory=dict)

    def tables(self) -> dict:
        """The result tables by name, in reading order."""
        return {
            "Aggregate holdout forecast": self.aggregate,
            "Per-customer errors": self.per_customer,
            "Mean holdout purchases by training frequency": self.by_frequency,
            "Ranking of customers by predicted value": self.ranking,
        }

    def headline(self) -> str:
        """One sentence: the model's holdout purchase forecast against the actual."""
        row = self.aggregate.loc[("model", "purchases")]
        s = self.settings
        return (
            f"Holdout {s['train_period_end']} to {s['test_period_end']} ({s['holdout_length']:.4g} "
            f"{s['time_unit_name']}): {row['actual']:,.0f} repeat transactions, the model predicted "
            f"{row['predicted']:,.0f} ({row['percent_error']:+.1f}%)."
        )

    def __repr__(self) -> str:
        parts = [self.headline()]
        for title, table in self.tables().items():
            parts.append(f"\n{title}\n{table.to_string(float_format=_number)}")
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        parts = [f"<p>{html.escape(self.headline())}</p>"]
        for title, table in self.tables().items():
            parts.append(f"<h4>{html.escape(title)}</h4>")
            parts.append(table_html(table))
        return "\n".join(parts)


def _number(value: float) -> str:
    """Four significant digits, but whole numbers with thousands separators from 1,000 on."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


#: Values smaller than this are shown as "<0.0001" (or the column's precision), never in e-notation.
_SMALLEST_SHOWN = 1e-4


def column_formatter(values, name=""):
    """How a report table shows one column: the same number of decimals on every row, never e-notation.

    * integers (and floats that all are whole numbers): thousands separators, no decimals;
    * columns named ``share_*`` holding fractions: percentages with one decimal;
    * other numbers: enough decimals that the column's smallest value (from 0.0001 on) keeps about four
      significant digits, at most four; two at most when the column reaches 100, none from 1,000 on;
      a non-zero value too small for those decimals reads ``<0.01`` (or ``>-0.01``), not ``0.00``;
      a column whose values span more than four orders of magnitude (unlike quantities, one per row)
      gives each value about four significant digits instead;
    * missing values read ``n/a``; text and flags are shown as they are (returns None).

    >>> f = column_formatter(pd.Series([2.035e-18, 0.01989, 0.3535]))
    >>> [f(v) for v in (2.035e-18, 0.01989, 0.3535)]
    ['<0.0001', '0.0199', '0.3535']
    >>> f = column_formatter(pd.Series([7.372e-15, 20.29, 172.5]))
    >>> [f(v) for v in (7.372e-15, 20.29, 172.5)]
    ['<0.01', '20.29', '172.50']
    >>> column_formatter(pd.Series([1411, 439]))(1411), column_formatter(pd.Series([0.05, 0.4]), "share_x")(0.05)
    ('1,411', '5.0%')
    >>> f = column_formatter(pd.Series([2357.0, 0.03961, 36.45]))  # unlike quantities: each its own digits
    >>> [f(v) for v in (2357.0, 0.03961, 36.45)]
    ['2,357', '0.0396', '36.45']
    """
    series = pd.Series(values)
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return None
    numbers = series.to_numpy(dtype=float, na_value=np.nan)
    finite = numbers[np.isfinite(numbers)]
    magnitudes = np.abs(finite)

    def shown(text_of):
        def formatted(value):
            if value is None or pd.isna(value):
                return "n/a"
            value = float(value)
            return text_of(value) if np.isfinite(value) else ("n/a" if np.isnan(value) else f"{value}")
        return formatted

    if pd.api.types.is_integer_dtype(series) or (finite.size and np.all(finite == np.round(finite))
                                                 and np.all(magnitudes < 1e15)):
        return shown(lambda v: f"{v:,.0f}")
    if str(name).startswith("share_") and finite.size and finite.min() >= 0 and finite.max() <= 1 + 1e-9:
        return shown(lambda v: "<0.1%" if 0 < v < 0.0005 else f"{v:.1%}")
    usual = magnitudes[magnitudes >= _SMALLEST_SHOWN]
    if usual.size and usual.max() / usual.min() > 1e4:
        # a column of unlike quantities (a table of metrics in rows): each value to four significant digits
        return shown(_significant)
    decimals = int(np.clip(3 - np.floor(np.log10(usual.min())), 0, 4)) if usual.size else 4
    largest = magnitudes.max() if magnitudes.size else 0.0
    if largest >= 1000:
        decimals = 0
    elif largest >= 100:
        decimals = min(decimals, 2)
    step = 10.0 ** -decimals

    def text(v):
        if 0 < abs(v) < step / 2:
            return f"{'<' if v > 0 else '>-'}{step:.{decimals}f}"
        return f"{v:,.{decimals}f}"

    return shown(text)


def _significant(value: float) -> str:
    """About four significant digits, thousands separators, never e-notation (tiny values read <0.0001)."""
    if value == 0 or abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) < _SMALLEST_SHOWN / 2:
        return "<0.0001" if value > 0 else ">-0.0001"
    decimals = int(np.clip(3 - np.floor(np.log10(abs(value))), 0, 4))
    return f"{value:,.{decimals}f}"


def _label(name):
    """A column or index name as a header reads best: words separated by spaces, so that it may wrap.

    >>> _label("share_of_customers"), _label("mean_p_alive")
    ('share of customers', 'mean P(alive)')
    """
    if not isinstance(name, str):
        return name
    return re.sub(r"(^|_)p_alive(?=_|$)", r"\1P(alive)", name).replace("_", " ")


def table_html(table: pd.DataFrame) -> str:
    """A DataFrame as an HTML table that fits a laptop screen, every text escaped.

    Each numeric column has one format (:func:`column_formatter`: the same decimals on every row,
    thousands separators, percentages for ``share_*`` columns, no e-notation). Header words are
    separated by spaces (``share_of_customers`` reads "share of customers") so that headers wrap while
    cells and row labels do not; the table sits in a ``div.table-wrap``.
    """
    formatters = [column_formatter(table.iloc[:, i], table.columns[i]) for i in range(table.shape[1])]
    shown = table.rename(columns=_label)
    shown.index = shown.index.set_names([_label(n) for n in shown.index.names])
    if isinstance(shown.columns, pd.MultiIndex):
        shown.columns = shown.columns.set_names([_label(n) for n in shown.columns.names])
    else:
        shown.columns.name = _label(shown.columns.name)
    body = shown.to_html(formatters=[f or (lambda v: "n/a" if v is None or (not isinstance(v, str) and pd.isna(v))
                                           else str(v)) for f in formatters],
                         escape=True, na_rep="n/a", border=0, classes="clv-table")
    body = body.replace(' style="text-align: right;"', "")
    return f"<div class='table-wrap'>{body}</div>"


def evaluate(model, split, *, train_period_end=None, test_period_end=None) -> HoldoutEvaluation:
    """Judge a fitted model on the holdout period of a calibration/holdout split.

    Parameters
    ----------
    model : CLVModel or BetaGeoModel
        Fitted on the training columns of ``split`` (or loaded with :func:`clv_predict.load_model`).
        With a BetaGeoModel only purchases are evaluated; the revenue figures are NaN.
    split : DataFrame or TransactionLog
        From :func:`clv_predict.rfm_train_test_split`, in the model's time unit (for a model of
        discrete opportunities, BG/BB: :func:`clv_predict.discrete.opportunity_train_test_split`, in
        the model's opportunity period). Revenue is
        evaluated when it has ``monetary_value`` and ``test_monetary_value``. A
        :class:`~clv_predict.TransactionLog` is split here, in the model's time unit, at
        ``train_period_end`` (default: the end of the model's training) and ``test_period_end``
        (default: the log's last day).

    Returns
    -------
    HoldoutEvaluation

    Examples
    --------
    >>> from clv_predict import CLVModel, rfm_train_test_split
    >>> from clv_predict.datasets import load_cdnow
    >>> split = rfm_train_test_split(load_cdnow(), customer_id_col="customer_id", datetime_col="date",
    ...                              monetary_value_col="amount", train_period_end="1997-09-30",
    ...                              test_period_end="1998-06-30", time_unit="W")
    >>> result = evaluate(CLVModel().fit(split), split)
    >>> result.aggregate.loc[("model", "purchases"), ["actual", "predicted"]].round().tolist()
    [1882.0, 1653.0]
    """
    purchases_model = _purchase_model(model)
    if isinstance(split, TransactionLog):
        end = train_period_end or purchases_model.observation_period_end_
        if end is None:
            raise DataError("the model does not know where its training period ended: give train_period_end")
        split = purchases_model._holdout_split(split, end, test_period_end)
    horizon = _holdout_length(split)
    actual_purchases = _actual_counts(split)
    # expected_purchases checks the RFM columns and refuses a split in another time unit
    model_purchases = purchases_model.expected_purchases(split, horizon).to_numpy()
    rfm = check_rfm(split)
    frequency, T = rfm["frequency"].to_numpy(), rfm["T"].to_numpy()

    has_money = isinstance(model, CLVModel) and {"monetary_value", "test_monetary_value"} <= set(split.columns)
    if has_money:
        money = check_rfm(split, need_monetary=True)["monetary_value"].to_numpy()
        test_spend = pd.to_numeric(split["test_monetary_value"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if not np.all(np.isfinite(test_spend)) or np.any(test_spend < 0):
            raise DataError("split column 'test_monetary_value' must hold amounts >= 0")
        model_spend = model.spend_model_.expected_spend(split).to_numpy()
        actual_revenue = actual_purchases * test_spend
        repeat = frequency > 0
        population_order_value = float((money * frequency).sum() / frequency.sum()) if repeat.any() else float("nan")
        order_value = np.where(repeat, money, population_order_value)
    else:
        test_spend = model_spend = actual_revenue = order_value = np.full(len(split), np.nan)

    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(T > 0, frequency / np.where(T > 0, T, 1.0), 0.0)
    repeat_rate = float(np.mean(frequency > 0))
    churn = 1.0 - repeat_rate
    lifespan = float(np.mean(T) / churn) if churn > 0 else float("inf")
    active_time = lifespan * -np.expm1(-horizon / lifespan) if np.isfinite(lifespan) else horizon

    purchases = {
        "model": model_purchases,
        "historical_rate": rate * horizon,
        "classic_formula": rate * active_time,
    }
    spend = {"model": model_spend, "historical_rate": order_value, "classic_formula": order_value}
    revenue = {method: purchases[method] * spend[method] for method in METHODS}

    index = pd.Index(split.index, name="customer_id")
    columns = {"actual_purchases": actual_purchases}
    columns.update({f"{m}_purchases": purchases[m] for m in METHODS})
    columns["actual_revenue"] = actual_revenue
    columns.update({f"{m}_revenue": revenue[m] for m in METHODS})
    predictions = pd.DataFrame(columns, index=index)

    aggregate_rows = []
    for method in METHODS:
        for quantity, actual, predicted in (
            ("purchases", actual_purchases, purchases[method]),
            ("revenue", actual_revenue, revenue[method]),
        ):
            a, p = float(np.sum(actual)), float(np.sum(predicted))
            aggregate_rows.append((method, quantity, a, p, p - a, _percent(p, a)))
    aggregate = pd.DataFrame(
        aggregate_rows, columns=["method", "quantity", "actual", "predicted", "error", "percent_error"]
    ).set_index(["method", "quantity"])

    buyers = actual_purchases > 0
    error_rows = {}
    for method in METHODS:
        p_mae, p_rmse = _metrics(actual_purchases, purchases[method])
        r_mae, r_rmse = _metrics(actual_revenue, revenue[method])
        s_mae, s_rmse = _metrics(test_spend[buyers], spend[method][buyers])
        error_rows[method] = {
            "purchases_mae": p_mae, "purchases_rmse": p_rmse,
            "revenue_mae": r_mae, "revenue_rmse": r_rmse,
            "spend_mae": s_mae, "spend_rmse": s_rmse,
        }
    per_customer = pd.DataFrame.from_dict(error_rows, orient="index")
    per_customer.index.name = "method"

    bins = frequency_bin_labels(frequency)
    grouped = pd.DataFrame(
        {"customers": 1, "actual": actual_purchases, **{m: purchases[m] for m in METHODS}}
    ).groupby(bins, observed=False)
    by_frequency = grouped.mean().assign(customers=grouped.size())
    by_frequency.index = pd.Index(by_frequency.index.astype(str), name="training_frequency")

    ranking_rows = {}
    if has_money and actual_revenue.sum() > 0:
        for method in METHODS:
            if np.all(np.isfinite(revenue[method])):
                ranking_rows[method] = ranking_quality(revenue[method], actual_revenue)
            else:  # e.g. Gamma-Gamma q <= 1 leaves the spend of non-repeat customers undefined
                ranking_rows[method] = {"gini": float("nan"), "top_decile_capture": float("nan")}
        ranking_rows["perfect"] = ranking_quality(actual_revenue, actual_revenue)
    ranking = pd.DataFrame.from_dict(ranking_rows, orient="index", columns=["gini", "top_decile_capture"])
    ranking.index.name = "method"

    unit_names = {"D": "days", "W": "weeks", "M": "months"}
    settings = {
        "train_period_end": split.attrs.get("observation_period_end"),
        "test_period_end": split.attrs.get("test_period_end"),
        "time_unit": purchases_model.time_unit_,
        "time_unit_name": unit_names.get(purchases_model.time_unit_, getattr(purchases_model, "unit_name", "time units")),
        "holdout_length": horizon,
        "n_customers": len(split),
        "repeat_rate": repeat_rate,
        "classic_lifespan": lifespan,
        "classic_active_time": float(active_time),
        "population_order_value": population_order_value if has_money else float("nan"),
        "methods": {**METHODS, "model": f"{purchases_model.label} + Gamma-Gamma" if has_money else purchases_model.label},
    }
    return HoldoutEvaluation(aggregate, per_customer, by_frequency, ranking, predictions, settings)
