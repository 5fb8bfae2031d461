"""One self-contained HTML report on a fitted model: parameters, holdout evaluation, every diagnostic plot.

The file needs nothing else to be read: the plots are embedded as base64 PNG images and the
style sheet is inline. Every text that comes from data (customer ids, column names, file
names, table cells) is escaped with :func:`html.escape`.

Other parts of the package (or a user) add their own sections through the ``sections``
argument of :func:`build_report` / :func:`write_report`: a sequence of ``(title, html)``
pairs appended after the built-in sections. The title is escaped here; the html is inserted
as given, so it must be escaped by whoever builds it (:func:`table_html` does that for a
DataFrame, and :func:`figure_html` embeds a matplotlib Figure).
"""

from __future__ import annotations

import base64
import html
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ._files import atomic_output
from ._validation import TIME_UNIT_DAYS, plural, to_timestamp
from .clv import CLVModel
from .evaluation import evaluate, table_html
from .exceptions import DataError, ModelWarning
from .models import PurchaseModel
from .rfm import _merge_days, _policy, _read_log, rfm_summary, rfm_train_test_split
from .transactions import TransactionLog

__all__ = ["build_report", "figure_html", "forecast_settings", "render_plots", "table_html", "write_diagnostics",
           "write_report"]

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1180px;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
.table-wrap { max-width: 100%; overflow-x: auto; }  /* a scroll bar only for a table no layout can fit */
table.clv-table { border-collapse: collapse; margin: .5em 0 1.2em; font-size: .82em; font-variant-numeric: tabular-nums; }
table.clv-table th, table.clv-table td { padding: .25em .45em; border-bottom: 1px solid #e3e3e3; text-align: right; }
table.clv-table td, table.clv-table tbody th { white-space: nowrap; }  /* numbers and row labels on one line */
table.clv-table thead th { background: #f3f5f8; vertical-align: bottom; min-width: 3em; }  /* headers wrap */
.note { font-size: .9em; color: #444; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #555; }
.meta { color: #555; font-size: .9em; }
.warning { background: #fff4e5; border-left: 4px solid #d9822b; padding: .3em 1em; }
.headline { font-size: 1.1em; background: #f3f5f8; padding: .6em 1em; border-left: 4px solid #1f4e79; }
"""


@dataclass
class Plot:
    """One rendered diagnostic plot."""

    slug: str  # file-name friendly name, e.g. "tracking_cumulative"
    title: str
    caption: str
    png: bytes


def _figure():
    from matplotlib.figure import Figure

    # a bare Figure, not pyplot: rendering a report leaves no global matplotlib state behind
    figure = Figure(figsize=(8, 4.8))
    # fixed margins that fit every diagnostic plot (two-line tick labels, colour bars); an automatic layout
    # engine measures every text and takes about a third of the rendering time
    figure.subplots_adjust(left=0.09, right=0.88, bottom=0.16, top=0.89)
    return figure


#: White space kept around a plot's drawn content, in inches: the image is cropped to its content plus this.
PNG_PAD_INCHES = 0.08


def _png(figure, dpi: int) -> bytes:
    buffer = io.BytesIO()
    # cropped to what is drawn: fixed figure margins would leave a tenth of every image empty
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", pad_inches=PNG_PAD_INCHES)
    return buffer.getvalue()


def figure_html(figure_or_png, *, alt: str = "", caption: str = "", dpi: int = 100) -> str:
    """A matplotlib Figure (or PNG bytes) as an ``<figure>`` with an embedded base64 image.

    ``alt`` and ``caption`` are plain text and are escaped here.
    """
    png = figure_or_png if isinstance(figure_or_png, bytes) else _png(figure_or_png, dpi)
    data = base64.b64encode(png).decode("ascii")
    caption_html = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt, quote=True)}">{caption_html}</figure>'


def _pick_customer(split: pd.DataFrame, clv: pd.Series | None):
    """A customer worth showing: the highest predicted value (or most repeat purchases) in training."""
    if clv is not None and clv.notna().any():
        return clv.idxmax()
    return split["frequency"].idxmax()


def render_plots(
    model,
    transactions: pd.DataFrame,
    split: pd.DataFrame,
    *,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    customer_id=None,
    dpi: int = 100,
    horizon: int | None = None,
) -> list[Plot]:
    """Draw every diagnostic plot of :mod:`clv_predict.plotting.diagnostics` and return them as PNG.

    ``split`` is the calibration/holdout split of ``transactions`` the model is judged on;
    ``customer_id`` picks whose P(alive) history is drawn (default: the highest predicted CLV over
    ``horizon``, by default the holdout's length, or a year without a holdout).
    """
    from .plotting import diagnostics as d

    is_clv = isinstance(model, CLVModel)
    has_holdout = "test_frequency" in split.columns
    if horizon is None:
        horizon = _default_horizon(model.time_unit_, float(split["test_T"].iloc[0]) if has_holdout else None)
    clv = model.predict(split, horizon=horizon)["clv"] if is_clv else None
    if customer_id is None:
        customer_id = _pick_customer(split, clv)
    unit = {"D": "days", "W": "weeks", "M": "months"}.get(model.time_unit_, "time units")
    columns = {"customer_id_col": customer_id_col, "datetime_col": datetime_col}
    test_end = split.attrs.get("test_period_end")
    specs = [
        ("frequency_distribution", "Repeat-purchase frequency",
         "Customers by number of repeat purchases in the training period, and the number the model expects "
         "(the model's exact probabilities at each customer's age).",
         lambda ax: d.plot_frequency_distribution(model, split, ax=ax)),
        ("calibration_holdout", "Calibration vs holdout",
         "Mean holdout purchases of customers grouped by training repeat purchases, actual and predicted.",
         lambda ax: d.plot_calibration_holdout(model, split, ax=ax)),
    ]
    if not has_holdout:
        specs = specs[:1]
    specs += [
        ("tracking_cumulative", "Tracking: cumulative repeat transactions",
         "Cumulative repeat transactions of the training cohort, actual and expected, over calendar time.",
         lambda ax: d.plot_tracking(model, transactions, test_period_end=test_end, ax=ax, **columns)),
        ("tracking_weekly", "Tracking: repeat transactions per week",
         "Repeat transactions of the training cohort in each 7-day period, actual and expected.",
         lambda ax: d.plot_tracking(model, transactions, test_period_end=test_end, cumulative=False, ax=ax, **columns)),
        ("expected_purchases_matrix", "Expected purchases by frequency and recency",
         "Expected purchases in the next time unit of a customer as old as the oldest in training.",
         lambda ax: d.plot_expected_purchases_matrix(model, split, ax=ax)),
        ("probability_alive_matrix", "P(alive) by frequency and recency",
         "Probability that a customer as old as the oldest in training is still active.",
         lambda ax: d.plot_probability_alive_matrix(model, split, ax=ax)),
        ("probability_alive_history", f"P(alive) history of customer {customer_id}",
         f"P(alive) of customer {customer_id} on each day, from the purchases logged up to that day.",
         lambda ax: d.plot_probability_alive_history(model, transactions, customer_id, ax=ax, **columns)),
    ]
    if is_clv:
        defined = clv[np.isfinite(clv) & (clv >= 0)]
        left_out = len(clv) - len(defined)
        note = (f" {plural(left_out, 'customer')} whose predicted CLV is undefined or negative "
                f"{'is' if left_out == 1 else 'are'} left out "
                "(see the warnings about the fit above)." if left_out else "")
        specs.append(
            ("spend_distribution", "Gamma-Gamma fit",
             "Mean spend per repeat transaction of the repeat customers, and the density the Gamma-Gamma model implies.",
             lambda ax: d.plot_spend_distribution(model, split, ax=ax)),
        )
        if len(defined):
            specs.append(
                ("value_concentration", "Value concentration",
                 f"Share of the total predicted {horizon}-{unit[:-1]} CLV held by the top customers.{note}",
                 lambda ax: d.plot_value_concentration(defined, ax=ax)),
            )
    specs += [
        ("purchase_rate_distribution", "Heterogeneity in purchase rate",
         "Fitted Gamma distribution of the purchase rate of active customers.",
         lambda ax: d.plot_purchase_rate_distribution(model, ax=ax)),
        ("dropout_distribution", "Heterogeneity in dropout probability",
         "Fitted Beta distribution of the probability of dropping out after a purchase.",
         lambda ax: d.plot_dropout_distribution(model, ax=ax)),
    ]
    plots = []
    for slug, title, caption, draw in specs:
        figure = _figure()
        draw(figure.add_subplot())
        plots.append(Plot(slug, title, caption, _png(figure, dpi)))
    return plots


_YEAR = {"D": 365, "W": 52, "M": 12}
_UNIT_NAMES = {"D": "days", "W": "weeks", "M": "months"}


def _default_horizon(time_unit: str, holdout_length: float | None) -> int:
    """The report's forecast horizon: the holdout's length (whole time units), or a year without a holdout."""
    if holdout_length is None or holdout_length <= 0:
        return _YEAR[time_unit]
    return max(1, round(holdout_length))


def forecast_settings(model, transactions, *, train_period_end=None, test_period_end=None, horizon=None) -> dict:
    """The as-of date and horizon every section of a report on ``model`` uses by default.

    The as-of date is the end of the model's training (``train_period_end``, default the model's
    observation end): the diagnostics judge forecasts made then, and the customer-value section
    (:func:`clv_predict.value_report.customer_value_section`) should speak of the same day. The
    horizon is the holdout's length in the model's time unit (to ``test_period_end``, default the
    last purchase of ``transactions``), or a year when the log ends by the training end.

    Returns ``{"observation_period_end": "YYYY-MM-DD", "horizon": int}``, the keywords of
    ``customer_value_section``.
    """
    model._check_fitted()
    end = train_period_end if train_period_end is not None else model.observation_period_end_
    if end is None:
        raise DataError("the model does not know where its training period ended: give train_period_end")
    end = to_timestamp(end, "train_period_end")
    if horizon is None:
        if test_period_end is not None:
            last = to_timestamp(test_period_end, "test_period_end")
        elif isinstance(transactions, TransactionLog):
            last = transactions.last_purchase
        else:
            last = None
        length = None if last is None else (last - end) / pd.Timedelta(days=TIME_UNIT_DAYS[model.time_unit_])
        horizon = _default_horizon(model.time_unit_, length)
    return {"observation_period_end": f"{end:%Y-%m-%d}", "horizon": int(horizon)}


def _clean_log(transactions, customer_id_col, datetime_col, monetary_value_col, input_policy) -> tuple:
    """The log as one row per (customer, purchase day), after the input policies of :func:`rfm_summary`.

    Every part of the report then reads the same purchases, whatever the raw log held (line
    items, returns netted or dropped, rows without id dropped). Returns the frame and the name
    of its amount column (None without amounts). A :class:`~clv_predict.TransactionLog` is
    already that: its transactions are taken as they are, not read and checked again.
    """
    if isinstance(transactions, TransactionLog):
        frame = transactions.transactions().rename(columns={"customer_id": customer_id_col, "date": datetime_col})
        if "amount" not in frame.columns or monetary_value_col is None:
            return frame.drop(columns="amount", errors="ignore"), None
        return frame.rename(columns={"amount": monetary_value_col}), monetary_value_col
    policy = _policy(monetary_value_col, **dict(input_policy or {}))
    log = _read_log(transactions, customer_id_col, datetime_col, monetary_value_col, policy)
    codes, days, amounts = _merge_days(log.codes, log.days, log.amounts)
    columns = {
        customer_id_col: log.ids.take(codes).to_numpy(),
        datetime_col: days.astype("datetime64[D]").astype("datetime64[ns]"),
    }
    amount_col = None
    if amounts is not None:
        amount_col = monetary_value_col or "amount"
        while amount_col in columns:
            amount_col = f"_{amount_col}"
        columns[amount_col] = amounts
    return pd.DataFrame(columns), amount_col


def _find_customer(ids: pd.Series, customer_id, column: str):
    """The id as the log holds it; text such as '509' from a command line matches the number 509."""
    if (ids == customer_id).any():
        return customer_id
    if isinstance(customer_id, str):
        as_text = ids.astype(str)
        matches = ids[as_text == customer_id.strip()]
        if len(matches):
            return matches.iloc[0]
    raise DataError(f"customer {customer_id!r} is not in column '{column}' of the transactions")


def _prepare(model, transactions, *, customer_id_col, datetime_col, monetary_value_col, train_period_end,
             test_period_end, customer_id, dpi, input_policy=None, horizon=None):
    if not isinstance(model, (CLVModel, PurchaseModel)):
        raise DataError(f"'model' must be a fitted CLVModel or purchase model (BetaGeoModel, ...); got {type(model).__name__}")
    model._check_fitted()
    if model.time_unit_ is None:
        raise DataError("the model does not record its time unit, so the holdout cannot be summarised in it")
    if isinstance(transactions, TransactionLog):  # the log names its own columns and policies
        given = transactions.columns
        input_policy = transactions.policies
        customer_id_col, datetime_col = given["customer_id_col"], given["datetime_col"]
        monetary_value_col = given.get("monetary_value_col") or ("amount" if transactions.has_amounts else None)
    line_items = bool(input_policy and input_policy.get("quantity_col"))
    shown_columns = [c for c in (customer_id_col, datetime_col, monetary_value_col) if c is not None]
    if line_items and monetary_value_col == "amount" and isinstance(transactions, TransactionLog):
        shown_columns.remove("amount")  # the amount is quantity x unit price, shown as such
    if line_items:
        shown_columns.append(f"{input_policy['quantity_col']} x {input_policy.get('unit_price_col')}")
    if not isinstance(model, CLVModel):
        monetary_value_col = None
        if line_items:
            input_policy = {k: v for k, v in input_policy.items() if k not in ("quantity_col", "unit_price_col")}
    # a log with a customer table (covariates) gives them to the summaries built below
    add_customers = transactions._add_customer_columns if isinstance(transactions, TransactionLog) else None
    transactions, monetary_value_col = _clean_log(
        transactions, customer_id_col, datetime_col, monetary_value_col, input_policy
    )
    trained_to = model.observation_period_end_
    if train_period_end is None:
        if trained_to is None:
            raise DataError("the model does not know where its training period ended: give train_period_end")
        train_period_end = trained_to
    elif trained_to is not None and to_timestamp(train_period_end, "train_period_end") != pd.Timestamp(trained_to):
        warnings.warn(
            f"train_period_end {to_timestamp(train_period_end, 'train_period_end'):%Y-%m-%d} differs from the end "
            f"of the model's training period ({trained_to}): the holdout evaluation compares unlike periods",
            ModelWarning,
            stacklevel=3,
        )
    if customer_id is not None:
        customer_id = _find_customer(transactions[customer_id_col], customer_id, customer_id_col)
    train_end = to_timestamp(train_period_end, "train_period_end")
    last = transactions[datetime_col].max()
    columns = {"customer_id_col": customer_id_col, "datetime_col": datetime_col, "monetary_value_col": monetary_value_col}
    if test_period_end is None and last <= train_end:
        # nothing after training to judge the forecasts on: report the fit alone
        split = rfm_summary(transactions, observation_period_end=train_end, time_unit=model.time_unit_, **columns)
        split = add_customers(split) if add_customers else split
        split.attrs["no_holdout"] = f"{last:%Y-%m-%d}"
        result = None
    else:
        split = rfm_train_test_split(
            transactions, train_period_end=train_end, test_period_end=test_period_end, time_unit=model.time_unit_,
            **columns,
        )
        split = add_customers(split) if add_customers else split
        result = evaluate(model, split)
    if horizon is None:
        horizon = _default_horizon(model.time_unit_, float(split["test_T"].iloc[0]) if result is not None else None)
    plots = render_plots(model, transactions, split, customer_id_col=customer_id_col, datetime_col=datetime_col,
                         customer_id=customer_id, dpi=dpi, horizon=horizon)
    if result is not None:
        split.attrs["uncertainty_plots"] = _uncertainty_plots(
            model, transactions, split, customer_id_col=customer_id_col, datetime_col=datetime_col, dpi=dpi
        )
    split.attrs["columns"] = shown_columns
    split.attrs["report_horizon"] = int(horizon)
    return split, result, plots


def fit_warnings(model) -> list[str]:
    """Plain-text warnings about a fitted model that a reader of its forecasts must see first."""
    parts = [(model.purchase_model_, model.purchase_model_.label), (model.spend_model_, "Gamma-Gamma")] \
        if isinstance(model, CLVModel) else [(model, model.label)]
    notes = []
    for part, name in parts:
        convergence = getattr(part, "convergence_", None) or {}
        if convergence and not convergence.get("converged", True):
            notes.append(
                f"The {name} fit did not converge ({convergence.get('message', 'no report')}; largest gradient "
                f"{convergence.get('gradient_norm', float('nan')):.3g}): its estimates, and everything computed "
                "from them below, may be wrong."
            )
        errors = getattr(part, "standard_errors_", None)
        if errors is not None and errors.isna().any():
            notes.append(f"The {name} standard errors are not available (the likelihood is flat at the estimates).")
    if isinstance(model, CLVModel) and model.spend_model_.params_["q"] <= 1:
        notes.append(
            f"Gamma-Gamma q = {model.spend_model_.params_['q']:.3g} <= 1: the population mean spend is infinite, "
            "so the spend and CLV of customers without repeat purchases are undefined."
        )
    return notes


def _ranking_once(ranking: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The ranking table with rows that rank customers identically shown once, and a note saying which.

    The historical rate and the classic formula both predict (order value x purchase rate) times a factor
    common to every customer, so they order customers the same way by construction: one row, not two.
    """
    rows = list(ranking.index)
    merged, note = ranking, ""
    if {"historical_rate", "classic_formula"} <= set(rows):
        first, second = ranking.loc["historical_rate"], ranking.loc["classic_formula"]
        if np.allclose(first.to_numpy(dtype=float), second.to_numpy(dtype=float), equal_nan=True):
            merged = ranking.drop(index="classic_formula").rename(index={"historical_rate": "historical_rate, classic_formula"})
            note = ("historical_rate and classic_formula rank customers identically by construction (both are the "
                    "customer's order value x purchase rate times a factor common to all), so their ranking is "
                    "shown once.")
    return merged, note


def _document(model, split, result, plots, *, title, source, sections) -> str:
    from . import __version__

    esc = html.escape
    notes = fit_warnings(model)
    unit_name = {"D": "days", "W": "weeks", "M": "months"}.get(model.time_unit_, "time units")
    if result is None:
        period = f"training period to {split.attrs['observation_period_end']}, no holdout"
        headline = (
            f"No holdout: the transactions end on {split.attrs['no_holdout']}, by the end of training "
            f"({split.attrs['observation_period_end']}), so there is nothing to judge the forecasts on. Fit the model "
            "on an earlier period, or give a log that goes on after it, to get the holdout evaluation."
        )
    else:
        s = result.settings
        period = (f"training period to {s['train_period_end']}, holdout to {s['test_period_end']} "
                  f"({s['holdout_length']:.4g} {s['time_unit_name']})")
        headline = result.headline()
    as_of, horizon = split.attrs["observation_period_end"], split.attrs["report_horizon"]
    forecasts = f"forecasts as of {as_of} over {horizon} {unit_name}"
    meta = [
        f"Model: {type(model).__name__}, time unit {unit_name}",
        period,
        forecasts,
        plural(len(split), "customer"),
        f"clv_predict {__version__}",
    ]
    columns = split.attrs.get("columns")
    if columns:
        meta.insert(0, "columns " + ", ".join(map(str, columns)))
    if source:
        meta.insert(0, f"Data: {source}")
    body = [
        f"<h1>{esc(title)}</h1>",
        f"<p class='meta'>{esc('; '.join(meta))}</p>",
        f"<p class='headline'>{esc(headline)}</p>",
        *(["<div class='warning'><b>Warnings</b><ul>"] + [f"<li>{esc(n)}</li>" for n in notes] + ["</ul></div>"]
          if notes else []),
        "<h2>Parameters</h2>",
        f"<p class='meta'>Fitted on the transactions up to {esc(as_of)}.</p>",
        "<p>Estimates with standard errors and 95% normal confidence bounds.</p>",
        table_html(model.summary()),
    ]
    if result is not None:
        body += [
            "<h2>Holdout evaluation</h2>",
            (f"<p class='meta'>Forecasts as of {esc(as_of)} over the holdout, {s['holdout_length']:.4g} "
             f"{esc(s['time_unit_name'])} to {esc(str(s['test_period_end']))}.</p>"),
            "<p>Forecasts for the holdout period made from the training period only, against what customers did. "
            "Methods: " + "; ".join(f"<b>{esc(k)}</b>: {esc(v)}" for k, v in s["methods"].items()) + ". "
            f"The classic formula uses a lifespan of {s['classic_lifespan']:.1f} {esc(s['time_unit_name'])} "
            f"(repeat rate {s['repeat_rate']:.1%}). Percent errors are (predicted - actual) / actual.</p>",
        ]
        for table_title, table in result.tables().items():
            body.append(f"<h3>{esc(table_title)}</h3>")
            if table is result.ranking:
                table, note = _ranking_once(table)
                if note:
                    body.append(f"<p class='note'>{esc(note)}</p>")
            body.append(table_html(table) if len(table) else "<p>Not available (no revenue in the data).</p>")
    body.append("<h2>Diagnostic plots</h2>")
    body.append(f"<p class='meta'>As of {esc(as_of)}; CLV and expected purchases over {horizon} {esc(unit_name)} "
                "(the customer whose P(alive) history is drawn has the highest such CLV).</p>")
    for plot in plots:
        body.append(f"<h3 id='{esc(plot.slug)}'>{esc(plot.title)}</h3>")
        body.append(figure_html(plot.png, alt=plot.title, caption=plot.caption))
    uncertainty = split.attrs.get("uncertainty_plots")
    if uncertainty is not None:
        body += _uncertainty_section(uncertainty)
    for section_title, section_html in sections:
        body.append(f"<h2>{esc(str(section_title))}</h2>")
        body.append(str(section_html))
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{esc(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def build_report(
    model,
    transactions: pd.DataFrame,
    *,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    monetary_value_col: str | None = "amount",
    train_period_end=None,
    test_period_end=None,
    customer_id=None,
    title: str = "Customer lifetime value model: diagnostics",
    source: str | None = None,
    sections=(),
    input_policy: dict | None = None,
    dpi: int = 100,
    horizon: int | None = None,
    margin: float = 1.0,
    discount_rate: float = 0.0,
) -> str:
    """The report as one HTML string.

    Parameters
    ----------
    model : CLVModel or BetaGeoModel
        Fitted on the transactions up to ``train_period_end`` (e.g. loaded with
        :func:`clv_predict.load_model`).
    transactions : DataFrame or TransactionLog
        The transaction log covering the training period and the holdout after it (a
        :class:`~clv_predict.TransactionLog` brings its own columns and input policies). When it
        ends by the training end, the report shows the fit alone: no evaluation tables and no
        calibration plot, and a headline that says why.
    customer_id_col, datetime_col, monetary_value_col : str
        Its columns (``monetary_value_col`` is ignored for a BetaGeoModel).
    train_period_end : date-like, optional
        End of training (default: the model's observation end). A different date gives a
        :class:`~clv_predict.exceptions.ModelWarning`.
    test_period_end : date-like, optional
        End of the holdout (default: the last date in the log).
    customer_id : optional
        Whose P(alive) history to draw (default: the customer with the highest predicted CLV).
    title : str
        Heading of the report.
    source : str, optional
        Where the data came from (a file name), shown under the heading.
    sections : sequence of (title, html) pairs
        Extra sections appended at the end. Titles are escaped; the html is inserted as it is,
        so escape any data in it (:func:`table_html`, :func:`figure_html` do).
    input_policy : dict, optional
        How to read a raw log, as the keywords of :func:`clv_predict.rfm_summary` that the model
        was fitted with: ``negative_amounts``, ``quantity_col`` and ``unit_price_col`` (line
        items; then leave ``monetary_value_col`` None), ``transaction_col``, ``missing_ids``,
        ``duplicates``, ``dayfirst``.
    horizon : int, optional
        Forecast horizon of the diagnostics' CLV (value concentration, the customer whose P(alive)
        history is drawn), in the model's time unit; default the holdout's length, or a year without a
        holdout. Every section states its as-of date (the end of training) and horizon at its top; give
        a customer-value section the same with :func:`forecast_settings`.
    margin, discount_rate : float
        Profit margin and discount rate per time unit of the values in the "Covariates" section of a
        model with covariates (a new customer's value by profile); the command line's ``--margin`` and
        ``--discount-rate``.

    Returns
    -------
    str
        A complete HTML document with no external assets.
    """
    split, result, plots = _prepare(
        model, transactions, customer_id_col=customer_id_col, datetime_col=datetime_col,
        monetary_value_col=monetary_value_col, train_period_end=train_period_end,
        test_period_end=test_period_end, customer_id=customer_id, dpi=dpi, input_policy=input_policy,
        horizon=horizon,
    )
    from .covariate_report import report_sections

    # a model with covariates: what they say, profiles valued at the report's margin and discount rate
    sections = [*report_sections(model, split, margin=margin, discount_rate=discount_rate), *sections]
    return _document(model, split, result, plots, title=title, source=source, sections=sections)


# --------------------------------------------------------------------------- how sure the forecast is (issue 12)
#: Covariate patterns among the customers above which the report leaves out "How sure the forecast is".
_MOST_PATTERNS = 200


def _uncertainty_plots(model, transactions, split, *, customer_id_col, datetime_col, dpi) -> list | str:
    """The fan chart of the holdout total and the calibration plot of the customers' intervals, or why not."""
    from . import plotting
    from .uncertainty import (
        cumulative_holdout_purchases,
        forecast_total,
        holdout_calibration,
    )

    purchases = model.purchase_model_ if isinstance(model, CLVModel) else model
    holdout = float(split["test_T"].max())
    horizon = max(int(np.floor(holdout)), 1)
    try:
        found = purchases._covariate_patterns(split)
        patterns = 0 if found is None else found[1].shape[0]
        if patterns > _MOST_PATTERNS:
            # the distributions and the total run once per covariate pattern: a numeric covariate makes nearly
            # one per customer, tens of milliseconds each
            return (f"Not shown: the model's covariates give the customers {patterns:,} distinct patterns (a numeric "
                    f"covariate), and the bounds are computed once per pattern, too slow for a report above "
                    f"{_MOST_PATTERNS}; call forecast_total and holdout_calibration directly, or use the numeric "
                    "covariate in bands.")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            total = forecast_total(purchases, split, horizon=horizon, periods=min(horizon, 20), draws=100, seed=0)
            coverage = holdout_calibration(purchases, split, "test_frequency", t=holdout,
                                           levels=(0.5, 0.6, 0.7, 0.8, 0.9, 0.95), seed=0)
    except (DataError, NotImplementedError) as reason:
        return f"Not available: {reason}"
    actual = cumulative_holdout_purchases(transactions, split, total.index, train_period_end=split.attrs[
        "observation_period_end"], customer_id_col=customer_id_col, datetime_col=datetime_col,
        time_unit=model.time_unit_)
    last = total.iloc[-1]
    inside = last["purchases_lower"] <= actual.iloc[-1] <= last["purchases_upper"]
    figure = _figure()
    plotting.plot_forecast_total(total, actual, ax=figure.add_subplot())
    fan = Plot("forecast_total", "Total purchases of the base: forecast with its interval, and the holdout",
               f"After {horizon:g} {_UNIT_NAMES.get(model.time_unit_, 'time units')} the base made {int(actual.iloc[-1]):,} purchases; the forecast was "
               f"{last['expected_purchases']:,.0f}, 90% predictive interval [{last['purchases_lower']:,.0f}, "
               f"{last['purchases_upper']:,.0f}] ({'inside' if inside else 'outside'}). The inner band is the "
               "parameters' uncertainty alone.", _png(figure, dpi))
    figure = _figure()
    plotting.plot_interval_coverage(coverage["coverage"], ax=figure.add_subplot())
    calibration = Plot("interval_coverage", "Calibration of the customers' predictive intervals",
                       "Share of customers whose holdout purchases fell inside their predictive interval, by "
                       "training frequency: on or above the diagonal is calibrated (counts are discrete, so "
                       "equal-tailed intervals are conservative).", _png(figure, dpi))
    return [fan, calibration]


def _uncertainty_section(plots) -> list[str]:
    body = ["<h2>How sure the forecast is</h2>"]
    if isinstance(plots, str):
        return body + [f"<p>{html.escape(plots)}</p>"]
    for plot in plots:
        body.append(f"<h3 id='{html.escape(plot.slug)}'>{html.escape(plot.title)}</h3>")
        body.append(figure_html(plot.png, alt=plot.title, caption=plot.caption))
    return body


def _write_atomic(path: Path, data: bytes) -> None:
    with atomic_output(path, suffix=".tmp") as temporary:
        temporary.write_bytes(data)


def write_report(path, model, transactions: pd.DataFrame, **options) -> Path:
    """Write :func:`build_report` to ``path`` (atomically: a failure leaves no partial file).

    ``options`` are those of :func:`build_report`; ``sections`` adds extra ``(title, html)``
    sections. Returns the path written.
    """
    path = Path(path)
    if not (path.parent if str(path.parent) else Path(".")).is_dir():
        raise DataError(f"the folder of the output file {str(path)!r} does not exist")
    document = build_report(model, transactions, **options)
    _write_atomic(path, document.encode("utf-8"))
    return path


def write_diagnostics(output_dir, model, transactions: pd.DataFrame, *, report_name: str = "report.html",
                      **options) -> dict:
    """Write every diagnostic plot as ``plots/<name>.png`` and the report as ``report_name`` into ``output_dir``.

    ``options`` are those of :func:`build_report`. The plots are drawn once and used for both.
    Returns ``{"report": path, "plots": [paths]}``.
    """
    output_dir = Path(output_dir)
    section_options = {k: options.pop(k) for k in ("title", "source", "sections") if k in options}
    split, result, plots = _prepare(
        model, transactions,
        customer_id_col=options.pop("customer_id_col", "customer_id"),
        datetime_col=options.pop("datetime_col", "date"),
        monetary_value_col=options.pop("monetary_value_col", "amount"),
        train_period_end=options.pop("train_period_end", None),
        test_period_end=options.pop("test_period_end", None),
        customer_id=options.pop("customer_id", None),
        dpi=options.pop("dpi", 100),
        input_policy=options.pop("input_policy", None),
        horizon=options.pop("horizon", None),
    )
    if options:
        raise TypeError(f"write_diagnostics() got unexpected options: {', '.join(sorted(options))}")
    document = _document(
        model, split, result, plots,
        title=section_options.get("title", "Customer lifetime value model: diagnostics"),
        source=section_options.get("source"),
        sections=section_options.get("sections", ()),
    )
    plot_dir = output_dir / "plots"
    plot_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for plot in plots:
        target = plot_dir / f"{plot.slug}.png"
        _write_atomic(target, plot.png)
        written.append(target)
    report_path = output_dir / report_name
    _write_atomic(report_path, document.encode("utf-8"))
    return {"report": report_path, "plots": written}
