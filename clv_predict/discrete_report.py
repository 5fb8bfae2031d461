"""HTML reports on the discrete-time models: BG/BB (purchases at opportunities) and the sBG (contracts).

Like :mod:`clv_predict.report`, one self-contained file (plots embedded as PNG, style
inline, every text from data escaped). The opportunity report judges a
``CLVModel(purchase_model="bg_bb")`` on a holdout of opportunities with the plots of
Fader, Hardie & Shang (2010); the contract report shows an sBG's parameters, lifetime,
retention by tenure against the constant-retention formula, and optionally one sBG per
segment.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from .evaluation import evaluate, table_html
from .exceptions import DataError
from .report import _STYLE, _write_atomic, figure_html

__all__ = ["build_contract_report", "build_opportunity_report", "write_contract_report", "write_opportunity_report"]


def _figure(width: float = 8.0, height: float = 4.8):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _page(title: str, meta: str, sections) -> str:
    body = [f"<h1>{html.escape(title)}</h1>", f"<p class='meta'>{html.escape(meta)}</p>"]
    for heading, content in sections:
        body.append(f"<h2>{html.escape(heading)}</h2>\n{content}")
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _write(path, document: str) -> Path:
    path = Path(path)
    if not (path.parent if str(path.parent) else Path(".")).is_dir():
        raise DataError(f"the folder of the output file {str(path)!r} does not exist")
    _write_atomic(path, document.encode("utf-8"))
    return path


# ---------------------------------------------------------------------------------------------- opportunities


def build_opportunity_report(model, log, *, train_period_end=None, test_period_end=None, margin: float = 1.0,
                             discount_rate: float = 0.0, horizon: int = 5, title: str | None = None,
                             source: str | None = None, dpi: int = 100) -> str:
    """The report on a ``CLVModel`` whose purchase model counts opportunities (BG/BB), as one HTML string.

    ``log`` (a :class:`~clv_predict.TransactionLog`) covers training and, after
    ``train_period_end`` (default: the model's observation end), the holdout; without
    a holdout the report shows the fit alone. CLV is over the next ``horizon``
    opportunities, discounted per opportunity.
    """
    from .discrete import opportunity_summary, opportunity_train_test_split
    from .plotting.discrete import (
        plot_holdout_by_frequency,
        plot_holdout_by_recency,
        plot_opportunity_alive_matrix,
        plot_opportunity_frequency,
        plot_opportunity_tracking,
    )

    model._check_fitted()
    purchases = model.purchase_model_
    period = purchases.period_
    if period is None:
        raise DataError("the model does not know its opportunity period, so the log cannot be summarised: fit it on "
                        "opportunity_summary(log, period=...)")
    train_end = train_period_end or purchases.observation_period_end_
    if train_end is None:
        raise DataError("the model does not know where its training period ended: give train_period_end")
    has_holdout = log.last_purchase > pd.Timestamp(train_end) and (
        test_period_end is None or pd.Timestamp(test_period_end) > pd.Timestamp(train_end))
    split = None
    if has_holdout:
        try:
            split = opportunity_train_test_split(log, period=period, train_period_end=train_end,
                                                 test_period_end=test_period_end)
        except DataError:  # no whole period after the training end: the fit alone
            split = None
    summary = split if split is not None else opportunity_summary(log, period=period,
                                                                  observation_period_end=train_end)
    sections = []
    parameters = model.summary()
    sections.append(("Parameters", "<p>" + html.escape(
        f"{purchases.label} + Gamma-Gamma fitted on {model.n_customers_:,} customers "
        f"({model.n_repeat_customers_:,} bought again), one opportunity per period {period!r}, training to "
        f"{train_end}. {purchases.label} log-likelihood {purchases.log_likelihood_:,.2f}.") + "</p>"
        + table_html(parameters)))
    forecast = model.predict(summary, horizon=horizon, discount_rate=discount_rate, margin=margin)
    figures = []
    figure = _figure()
    plot_opportunity_frequency(model, summary, ax=figure.subplots())
    figures.append(figure_html(figure, alt="Customers by opportunities with a purchase, data and model",
                               caption="Customers by number of opportunities with a purchase in training.", dpi=dpi))
    if split is not None:
        result = evaluate(model, split)
        sections.append(("Holdout evaluation", f"<p class='headline'>{html.escape(result.headline())}</p>"
                         + "".join(f"<h3>{html.escape(name)}</h3>{table_html(table)}"
                                   for name, table in result.tables().items())))
        for plot, what in ((plot_holdout_by_frequency, "frequency"), (plot_holdout_by_recency, "recency")):
            figure = _figure()
            plot(model, split, ax=figure.subplots())
            figures.append(figure_html(figure, alt=f"Holdout purchases by calibration {what}",
                                       caption=f"Mean holdout purchases by calibration {what}: data and model.",
                                       dpi=dpi))
    else:
        sections.append(("Holdout evaluation", "<p class='headline'>" + html.escape(
            f"The log ends by the training end ({train_end}) or has no whole {period!r} period after it: "
            "the report shows the fit alone.") + "</p>"))
    figure = _figure()
    plot_opportunity_tracking(model, log, train_period_end=train_end, test_period_end=test_period_end,
                              ax=figure.subplots())
    figures.append(figure_html(figure, alt="Repeat purchases by period, data and model",
                               caption="Repeat purchases per period of the customers acquired in training.", dpi=dpi))
    figure = _figure()
    n = int(summary["T"].max())
    plot_opportunity_alive_matrix(model, max(n, 1), ax=figure.subplots())
    figures.append(figure_html(figure, alt="P(alive) by frequency and recency",
                               caption=f"P(alive at the next opportunity) after {max(n, 1)} opportunities.", dpi=dpi))
    sections.append(("Diagnostic plots", "\n".join(figures)))
    value = forecast["clv"].describe()[["count", "mean", "50%", "max"]].to_frame("clv").T
    sections.append(("Customer value", "<p>" + html.escape(
        f"CLV over the next {horizon} opportunities, margin {margin:g}, discount rate {discount_rate:g} per "
        f"opportunity: {forecast['clv'].sum():,.2f} in all for {len(forecast):,} customers; expected purchases "
        f"{forecast['expected_purchases'].sum():,.0f}.") + "</p>" + table_html(value)))
    heading = title or f"{purchases.label} model of purchases at discrete opportunities"
    return _page(heading, f"Source: {source or 'transaction log'}", sections)


def write_opportunity_report(path, model, log, **options) -> Path:
    """Write :func:`build_opportunity_report` to ``path`` atomically; returns the path."""
    return _write(path, build_opportunity_report(model, log, **options))


# ---------------------------------------------------------------------------------------------- contracts


def build_contract_report(model, summary: pd.DataFrame, *, discount_rate: float = 0.1, margin: float = 1.0,
                          segment_col: str | None = None, weights=None, title: str | None = None,
                          source: str | None = None, dpi: int = 100) -> str:
    """The report on a fitted :class:`~clv_predict.ShiftedBetaGeoModel` and the contract summary of its
    customers, as one HTML string: parameters and lifetime, retention by tenure (observed, sBG, constant),
    what the constant-retention formula makes of the same customers, and with ``segment_col`` one sBG per segment.
    ``margin`` is the margin per period per customer; ``discount_rate`` is per period."""
    from .contracts import constant_retention_comparison, fit_segments, lifetime_table
    from .plotting.discrete import plot_retention_by_tenure, plot_segment_retention

    model._check_fitted()
    period = model.period_ or summary.attrs.get("contract_period")
    periods = f"contract period {period!r}" if period else "periods as the summary counts them"
    lifetimes = lifetime_table({"all customers": model}, discount_rate=discount_rate)
    note = lifetimes["note"].iloc[0]
    sections = [("Parameters and lifetime", "<p>" + html.escape(
        f"sBG fitted on {model.n_customers_:,} customers ({model.n_repeat_customers_:,} churned), {periods}. Median lifetime {lifetimes['median_lifetime'].iloc[0]} periods; expected "
        + ("infinite" if note else f"{lifetimes['expected_lifetime'].iloc[0]:.2f}")
        + f" periods; discounted ({discount_rate:g} per period) {lifetimes['discounted_lifetime'].iloc[0]:.2f}. "
        + (note + "." if note else "")) + "</p>" + table_html(model.summary())
        + table_html(lifetimes.drop(columns=["note"])))]
    comparison = constant_retention_comparison(model, summary, discount_rate=discount_rate, margin=margin,
                                               weights=weights)
    figure = _figure()
    plot_retention_by_tenure(model, summary, weights=weights, ax=figure.subplots())
    sections.append(("Retention by tenure and the constant-retention formula",
                     f"<p class='headline'>{html.escape(comparison.headline())}</p>"
                     + figure_html(figure, alt="Retention by tenure: observed, sBG, constant",
                                   caption="Share renewing at the end of each period: observed, the sBG's "
                                           "and the constant rate of the practitioners' formula.", dpi=dpi)
                     + table_html(comparison.by_tenure) + table_html(comparison.by_customer_tenure)))
    if segment_col is not None:
        models = fit_segments(summary, segment_col, weights=weights)
        figure = _figure()
        plot_segment_retention(models, ax=figure.subplots())
        sections.append((f"Segments by {segment_col}", table_html(
            lifetime_table(models, discount_rate=discount_rate).drop(columns=["note"]))
            + figure_html(figure, alt="Retention by tenure per segment", caption="sBG retention per segment.",
                          dpi=dpi)))
    return _page(title or "sBG model of contract renewals", f"Source: {source or 'contract summary'}", sections)


def write_contract_report(path, model, summary: pd.DataFrame, **options) -> Path:
    """Write :func:`build_contract_report` to ``path`` atomically; returns the path."""
    return _write(path, build_contract_report(model, summary, **options))
