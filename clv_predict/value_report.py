"""The customer-value section of the HTML report: cohorts, segments, at-risk customers, acquisition budgets.

:func:`customer_value_section` returns a ``(title, html)`` pair for the ``sections``
argument of :func:`clv_predict.report.build_report` / :func:`~clv_predict.report.write_report`.
Every text that comes from data is escaped: tables go through
:func:`~clv_predict.report.table_html`, free text through :func:`html.escape`.
"""

from __future__ import annotations

import html
import warnings

import numpy as np
import pandas as pd

from . import analytics
from ._validation import plural, to_timestamp
from .evaluation import _label
from .exceptions import DataError, DataWarning
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
    """Build the report section on customer value, as of ``observation_period_end``.

    By default the section is as of the end of the model's training period, where its forecasts start
    (the date the diagnostics of :func:`clv_predict.report.build_report` use), when the log goes on
    after it; otherwise as of the log's last date. The transactions after the as-of date are left out,
    and the section's first line says so.

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
    from .plotting.value import (
        plot_cumulative_value,
        plot_retention_heatmap,
        plot_segment_summary,
    )

    analytics._check_model(model)
    horizon = _YEAR[model.time_unit_] if horizon is None else horizon
    as_of_default = False
    columns = {"customer_id_col": customer_id_col, "datetime_col": datetime_col,
               "monetary_value_col": monetary_value_col}
    if not isinstance(transactions, TransactionLog):
        defaults = ("customer_id", "date", None if input_options.get("quantity_col") else "amount")
        columns = {name: given or default for (name, given), default in zip(columns.items(), defaults)}
    # the log is read and checked once, here, then shared by every table and figure of the section
    log = _as_log(transactions, stacklevel=2, **columns, **input_options)
    trained_to = model.observation_period_end_
    if observation_period_end is None and trained_to is not None and (
        log.first_purchase <= pd.Timestamp(trained_to) < log.last_purchase
    ):
        # as of the day the model's forecasts start from, as the diagnostics are: one date for the whole report
        observation_period_end, as_of_default = trained_to, True
    value = {"horizon": horizon, "discount_rate": discount_rate, "margin": margin,
             "observation_period_end": observation_period_end}
    esc = html.escape

    later = 0
    if observation_period_end is not None:
        dates = log.transactions()["date"]
        later = int((dates > to_timestamp(observation_period_end, "observation_period_end")
                     + pd.Timedelta(days=1) - pd.Timedelta(1)).sum())
    with warnings.catch_warnings():
        # the rows after the as-of date are said once, in the section's settings line, not by every table
        warnings.filterwarnings("ignore", message=r".* dated after observation_period_end .* left out",
                                category=DataWarning)
        segments = analytics.customer_segments(log, model, **value, period=cohort_period)
        tiers = analytics.segment_summary(segments, by="clv_tier")
        by_rfm = analytics.segment_summary(segments, by="rfm_segment")
        budget = analytics.acquisition_budget(log, model, **value, target_ratio=target_ratio, period=cohort_period)
        by_cohort = analytics.cohort_clv(log, model, **value, period=cohort_period)
        matrix = analytics.retention_matrix(log, observation_period_end=observation_period_end, period=cohort_period)
        curves = analytics.cumulative_value(log, observation_period_end=observation_period_end,
                                            period=cohort_period, margin=margin)
        history = _history_table(log, observation_period_end, model.time_unit_, margin, discount_rate)
        alternative = _one_time_buyers_note(log, model, segments, by_rfm)

    unit = _UNIT_NAMES[model.time_unit_]
    top = tiers.iloc[0]
    overall = budget.loc[("overall", "all customers")]
    lost = int(segments["at_risk"].sum())
    headline = (
        f"The top {top['share_of_customers']:.0%} of customers ({tiers.index[0]} tier) hold "
        f"{top['share_of_predicted_value']:.0%} of the value predicted for the next {horizon} {unit}; "
        f"{plural(lost, 'high-value customer')} {'is' if lost == 1 else 'are'} likely lost (P(alive) below "
        f"{segments.attrs['at_risk_p_alive']:g}). At a CLV-to-acquisition-cost ratio of {target_ratio:g}, a new "
        f"customer is worth acquiring for up to {overall['max_acquisition_cost']:,.2f}."
    )
    as_of = segments.attrs["observation_period_end"]
    settings = (
        f"As of {as_of}; {plural(len(segments), 'customer')}; forecasts over {horizon} "
        f"{unit}, margin {margin:g}, discount rate {discount_rate:g} per {unit[:-1]}; cohorts by "
        f"{_PERIOD_NAMES[cohort_period]} of first purchase."
    )
    if as_of_default:
        settings += " The date is the end of the model's training period, where its forecasts start."
    if later:
        settings += (f" The {plural(later, 'transaction')} after {as_of} {'is' if later == 1 else 'are'} left out "
                     "here: the section sees what the model saw.")
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
    flag = {"at_risk": "likely lost (high value)"}  # the flag's count, not the RFM segment named "At risk"
    if alternative is not None:
        by_rfm[alternative[0]] = alternative[1]
    parts += [
        "<h3>Value tiers</h3>", table_html(tiers.rename(columns=flag)),
        "<h3>RFM segments</h3>",
        ("<p class='note'>Segments named from the recency and frequency scores (the standard RFM names: "
         "“At risk” is the segment of customers who bought often but not lately). The column "
         f"“{esc(flag['at_risk'])}” counts the model-based flag of the section below.</p>"),
        table_html(by_rfm.rename(columns=flag)),
    ]
    if alternative is not None:
        parts.append(f"<p class='note'>{esc(alternative[2])}</p>")
    figure = _figure(11.0, 4.4)
    left, right = figure.subplots(1, 2)
    plot_segment_summary(tiers, ax=left)
    plot_segment_summary(by_rfm, ax=right)
    parts.append(figure_html(figure, alt="Share of customers and of predicted value by segment", dpi=dpi))
    flagged = segments[segments["at_risk"]]
    at_risk = flagged.sort_values("historical_value", ascending=False).head(10)
    shown = "the one" if len(at_risk) == 1 else f"the {len(at_risk)} with the highest past value"
    at_risk_text = (
        f"{plural(len(flagged), 'customer')} with revenue of at least "
        f"{segments.attrs['at_risk_value_threshold']:,.2f} and P(alive) below {segments.attrs['at_risk_p_alive']:g} "
        f"as of {as_of} (column at_risk of the segments table){'; ' + shown + ':' if len(at_risk) else '.'}"
    )
    parts += [
        "<h3>High-value customers likely lost</h3>",
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


def _one_time_buyers_note(log, model, segments, by_rfm):
    """Where the purchase model keeps every one-time buyer alive, the answer of its family member that does not.

    Returns None, or ``(column, values by RFM segment, note)``: the mean P(alive) per segment under the
    alternative model (``one_time_buyers_alive_alternative`` of the purchase model, e.g. MBG/NBD for BG/NBD),
    fitted on the same customers up to the model's training end, and a sentence saying why it is there.
    """
    from .models import purchase_model_class

    purchases = model.purchase_model_
    name = getattr(purchases, "one_time_buyers_alive_alternative", None)
    if name is None:
        return None
    cls = purchase_model_class(name)
    regularity = "litt" in cls._fit_columns
    unit = model.time_unit_
    trained_to = model.observation_period_end_ or segments.attrs["observation_period_end"]
    once = segments["n_transactions"] == 1
    try:
        alternative = cls().fit(log.rfm(observation_period_end=trained_to, time_unit=unit, regularity=regularity))
        now = log.rfm(observation_period_end=segments.attrs["observation_period_end"], time_unit=unit)
        p_alive = alternative.probability_alive(now).reindex(segments.index)
    except (ValueError, ArithmeticError) as exc:  # a fit that fails leaves the note without the figures
        return f"mean_p_alive_{cls.label}", np.nan, (
            f"Under {purchases.label} a customer can drop out only after a repeat purchase, so the "
            f"{plural(int(once.sum()), 'customer')} without one have P(alive) = 1 and segments made of them show a "
            f"mean P(alive) near 1. {cls.label} could not be fitted here to give its answer ({exc})."
        )
    means = p_alive.groupby(segments["rfm_segment"], observed=False).mean().reindex(by_rfm.index)
    share_once = once.groupby(segments["rfm_segment"], observed=False).mean().reindex(by_rfm.index)
    mostly_once = [str(s) for s in by_rfm.index if share_once.get(s, 0) >= 0.5 and by_rfm.loc[s, "customers"] > 0]
    examples = "; ".join(
        f"{s}: {by_rfm.loc[s, 'mean_p_alive']:.2f} under {purchases.label}, {means[s]:.2f} under {cls.label}"
        for s in mostly_once
    )
    column = f"mean_p_alive_{cls.label}"  # reads "mean P(alive) MBG/NBD"
    note = (
        f"Under {purchases.label} a customer can drop out only after a repeat purchase, so the "
        f"{plural(int(once.sum()), 'customer')} without one have P(alive) = 1 by assumption, and segments made "
        f"mostly of them show a mean P(alive) near 1{' (' + examples + ')' if examples else ''}. The column "
        f"{_label(column)} is the answer of {cls.label}, the same family fitted on the same customers, which lets "
        "them drop out at their first purchase too: prefer it for these segments."
    )
    return column, means, note


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
