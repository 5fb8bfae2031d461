"""The customer-value section of the HTML report: cohorts, segments, at-risk customers, acquisition budgets.

:func:`customer_value_section` returns a ``(title, html)`` pair for the ``sections``
argument of :func:`clv_predict.report.build_report` / :func:`~clv_predict.report.write_report`.
Every text that comes from data is escaped: tables go through
:func:`~clv_predict.report.table_html`, free text through :func:`html.escape`.
"""

from __future__ import annotations

import html

from . import analytics
from .exceptions import DataError
from .report import figure_html, table_html
from .transactions import TransactionLog, _as_log

__all__ = ["customer_value_section"]

#: One year in each time unit: the default forecast horizon of the section.
_YEAR = {"D": 365, "W": 52, "M": 12}
_UNIT_NAMES = {"D": "days", "W": "weeks", "M": "months"}
_PERIOD_NAMES = {"M": "month", "Q": "quarter", "Y": "year"}


def _figure(width: float = 8.0, height: float = 4.8):
    from matplotlib.figure import Figure

    # a bare Figure, not pyplot: building the section leaves no global matplotlib state behind
    return Figure(figsize=(width, height), layout="constrained")


def customer_value_section(
    transactions,
    model,
    *,
    customer_id_col: str | None = None,
    datetime_col: str | None = None,
    monetary_value_col: str | None = None,
    horizon: int | None = None,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    target_ratio: float = 3.0,
    cohort_period: str = "M",
    observation_period_end=None,
    dpi: int = 100,
    **input_options,
) -> tuple[str, str]:
    """Build the report section on customer value, as of ``observation_period_end`` (default: the log's last date).

    Parameters
    ----------
    transactions, model
        The transaction log (a :class:`~clv_predict.TransactionLog`, or a DataFrame read with
        the column keywords, by default ``customer_id``, ``date`` and ``amount``) and a fitted
        :class:`~clv_predict.CLVModel` (it may have been fitted on an earlier part of the log).
    horizon : int, optional
        Forecast horizon in the model's time unit (default: one year).
    discount_rate, margin, target_ratio
        As in :func:`clv_predict.analytics.acquisition_budget`.
    cohort_period : {"M", "Q", "Y"}
        Calendar period of the acquisition cohorts.
    **input_options
        The input options of :func:`clv_predict.rfm_summary` (only with a DataFrame).

    Returns
    -------
    (str, str)
        The section title and its HTML.
    """
    from .plotting.value import plot_cumulative_value, plot_retention_heatmap, plot_segment_summary

    analytics._check_model(model)
    horizon = _YEAR[model.time_unit_] if horizon is None else horizon
    columns = {"customer_id_col": customer_id_col, "datetime_col": datetime_col,
               "monetary_value_col": monetary_value_col}
    if not isinstance(transactions, TransactionLog):
        defaults = ("customer_id", "date", None if input_options.get("quantity_col") else "amount")
        columns = {name: given or default for (name, given), default in zip(columns.items(), defaults)}
    # the log is read and checked once, here, then shared by every table and figure of the section
    log = _as_log(transactions, stacklevel=2, **columns, **input_options)
    value = {"horizon": horizon, "discount_rate": discount_rate, "margin": margin,
             "observation_period_end": observation_period_end}
    esc = html.escape

    segments = analytics.customer_segments(log, model, **value, period=cohort_period)
    tiers = analytics.segment_summary(segments, by="clv_tier")
    by_rfm = analytics.segment_summary(segments, by="rfm_segment")
    budget = analytics.acquisition_budget(log, model, **value, target_ratio=target_ratio, period=cohort_period)
    by_cohort = analytics.cohort_clv(log, model, **value, period=cohort_period)
    matrix = analytics.retention_matrix(log, observation_period_end=observation_period_end, period=cohort_period)
    curves = analytics.cumulative_value(log, observation_period_end=observation_period_end, period=cohort_period,
                                        margin=margin)
    history = _history_table(log, observation_period_end, model.time_unit_, margin, discount_rate)

    unit = _UNIT_NAMES[model.time_unit_]
    top = tiers.iloc[0]
    overall = budget.loc[("overall", "all customers")]
    headline = (
        f"The top {top['share_of_customers']:.0%} of customers ({tiers.index[0]} tier) hold "
        f"{top['share_of_predicted_value']:.0%} of the value predicted for the next {horizon} {unit}; "
        f"{int(segments['at_risk'].sum()):,} customers with high past value are at risk (P(alive) below "
        f"{segments.attrs['at_risk_p_alive']:g}). At a CLV-to-acquisition-cost ratio of {target_ratio:g}, a new "
        f"customer is worth acquiring for up to {overall['max_acquisition_cost']:,.2f}."
    )
    settings = (
        f"As of {segments.attrs['observation_period_end']}; {len(segments):,} customers; forecasts over {horizon} "
        f"{unit}, margin {margin:g}, discount rate {discount_rate:g} per {unit[:-1]}; cohorts by "
        f"{_PERIOD_NAMES[cohort_period]} of first purchase."
    )
    parts = [
        f"<p class='meta'>{esc(settings)}</p>",
        f"<p class='headline'>{esc(headline)}</p>",
        "<h3>Historical CLV</h3>",
        "<p>What customers have spent, and the textbook formulas built on the averages. They give every customer "
        "the same retention and count a skipped period as a lost customer; compare them with the model's "
        "forecasts below, not with each other's totals.</p>",
        history,
        "<h3>Acquisition cohorts</h3>",
        table_html(by_cohort),
    ]
    figure = _figure(8.0, max(2.6, 0.35 * len(matrix) + 1.6))
    plot_retention_heatmap(matrix, ax=figure.add_subplot())
    parts.append(figure_html(figure, alt="Retention by cohort", dpi=dpi,
                             caption="Share of each acquisition cohort buying in each period since acquisition."))
    figure = _figure()
    plot_cumulative_value(curves, ax=figure.add_subplot())
    parts.append(figure_html(figure, alt="Cumulative value by cohort", dpi=dpi,
                             caption="Value per acquired customer by cohort age: compare cohorts at the same age."))
    parts += ["<h3>Value tiers</h3>", table_html(tiers), "<h3>RFM segments</h3>", table_html(by_rfm)]
    figure = _figure(11.0, 4.4)
    left, right = figure.subplots(1, 2)
    plot_segment_summary(tiers, ax=left)
    plot_segment_summary(by_rfm, ax=right)
    parts.append(figure_html(figure, alt="Share of customers and of predicted value by segment", dpi=dpi))
    flagged = segments[segments["at_risk"]]
    at_risk = flagged.sort_values("historical_value", ascending=False).head(10)
    at_risk_text = (
        f"{len(flagged):,} customers with revenue of at least {segments.attrs['at_risk_value_threshold']:,.2f} "
        f"and P(alive) below {segments.attrs['at_risk_p_alive']:g}; the ten with the highest past value:"
    )
    parts += [
        "<h3>Customers at risk</h3>",
        f"<p>{esc(at_risk_text)}</p>",
        table_html(at_risk[["n_transactions", "total_revenue", "time_since_last_purchase", "p_alive", "clv",
                            "rfm_segment"]]) if len(at_risk) else "<p>None.</p>",
        "<h3>Acquisition budget</h3>",
        "<p>Value of an acquired customer = margin on revenue so far + predicted CLV over the horizon, averaged "
        "over the group; the affordable acquisition cost is that value divided by the target ratio. Tiers and "
        "segments are known only after the fact: their rows price look-alikes.</p>",
        table_html(budget),
    ]
    return "Customer value", "\n".join(parts)


def _history_table(log, observation_period_end, time_unit, margin, discount_rate) -> str:
    """The historical summary with quarterly retention, or monthly when the log is too short for quarters."""
    for period in ("Q", "M"):
        try:
            summary = analytics.historical_clv_summary(log, observation_period_end=observation_period_end,
                                                       time_unit=time_unit, period=period, margin=margin,
                                                       discount_rate=discount_rate)
        except DataError:
            continue
        return table_html(summary)
    return "<p>Not available: the log spans fewer than two complete months, so retention cannot be measured.</p>"
