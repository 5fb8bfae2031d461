"""Customer value analytics on the CDNOW master: the figures the README quotes, and how long each step takes.

Run from the repository root:  python benchmarks/customer_value.py
With ``--customers N`` it times every customer-value step on a simulated log of N customers instead
(:func:`clv_predict.synthetic.simulate_transactions`, seeded), before and after the TransactionLog: each
step given the DataFrame and the column keywords (it reads and checks the log again), then each step given
one TransactionLog built once.
"""

from __future__ import annotations

import argparse
import time
import warnings

from clv_predict import CLVModel, TransactionLog, analytics, rfm_summary
from clv_predict.datasets import load_cdnow

COLUMNS = {"customer_id_col": "customer_id", "datetime_col": "date", "monetary_value_col": "amount"}
MARGIN = 0.3
WEEKLY_DISCOUNT = 1.15 ** (1 / 52) - 1  # 15% a year
VALUE = {"horizon": 52, "discount_rate": WEEKLY_DISCOUNT, "margin": MARGIN}


def timed(label, function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    print(f"  {label:<28} {time.perf_counter() - start:6.2f} s")
    return result


def scale(n_customers: int) -> None:
    """Every customer-value step on a simulated log, before (each step reads and checks the log again, as the
    keyword functions do) and after (one TransactionLog, read and checked once, handed to every step)."""
    from clv_predict.synthetic import simulate_transactions

    log = simulate_transactions(n_customers, seed=7, acquisition_days=730, observation_days=1095)
    print(f"Simulated log: {n_customers:,} customers, {len(log):,} rows, "
          f"{log['date'].min():%Y-%m-%d} to {log['date'].max():%Y-%m-%d}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CLVModel().fit(rfm_summary(log, **COLUMNS, time_unit="W"))
    start = time.perf_counter()
    transaction_log = TransactionLog(log, **COLUMNS)
    transaction_log.summary()  # what a user looks at first; it also merges and sorts the transactions, once
    read = time.perf_counter() - start
    print(f"  {'step':<24} {'before (keywords)':>18} {'after (one log)':>16}")
    print(f"  {'TransactionLog + summary':<24} {'':>18} {read:14.2f} s")
    total_before, total_after = 0.0, read
    # each step before, then after, so that the machine's drift touches both alike
    for label, step in _steps(COLUMNS, model):
        old = _timed(step, log, COLUMNS)
        new = _timed(step, transaction_log, {})
        total_before, total_after = total_before + old, total_after + new
        print(f"  {label:<24} {old:16.2f} s {new:14.2f} s")
    print(f"  {'total':<24} {total_before:16.2f} s {total_after:14.2f} s")


def _timed(step, source, columns) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        step(source, columns)
        return time.perf_counter() - start


def _steps(columns, model) -> list:
    """(label, step(source, columns)): ``source`` a DataFrame with ``columns`` (the keyword path) or a log without."""

    def amountless(c):
        return {k: v for k, v in c.items() if k != "monetary_value_col"}

    return [
        ("rfm (W)", lambda t, c: rfm_summary(t, **c, time_unit="W")),
        ("historical_clv (Q)", lambda t, c: analytics.historical_clv(t, **c, time_unit="W", margin=MARGIN)),
        ("acquisition_cohorts (M)", lambda t, c: analytics.acquisition_cohorts(t, **c)),
        ("retention_matrix (M)", lambda t, c: analytics.retention_matrix(t, **amountless(c))),
        ("cumulative_value (M)", lambda t, c: analytics.cumulative_value(t, **c, margin=MARGIN)),
        ("interpurchase_times", lambda t, c: analytics.interpurchase_times(t, **amountless(c), time_unit="W")),
        ("customer_segments", lambda t, c: analytics.customer_segments(t, model, **c, **VALUE)),
        ("compare_clv", lambda t, c: analytics.compare_clv(t, model, **c, **VALUE)),
        ("acquisition_budget", lambda t, c: analytics.acquisition_budget(t, model, **c, **VALUE, target_ratio=3)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, help="time a simulated log of this many customers instead of CDNOW")
    args = parser.parse_args()
    if args.customers:
        scale(args.customers)
        return
    log = load_cdnow(sample=False)
    print(f"CDNOW master: {log['customer_id'].nunique():,} customers, {len(log):,} rows")
    print("Timings:")
    summaries = {
        period: timed(f"historical_clv_summary ({period})", analytics.historical_clv_summary, log, **COLUMNS,
                      time_unit="W", period=period, margin=MARGIN, discount_rate=WEEKLY_DISCOUNT)["value"]
        for period in ("M", "Q")
    }
    timed("historical_clv", analytics.historical_clv, log, **COLUMNS, time_unit="W", margin=MARGIN)
    timed("retention_matrix", analytics.retention_matrix, log, customer_id_col="customer_id", datetime_col="date")
    curves = timed("cumulative_value", analytics.cumulative_value, log, **COLUMNS, margin=MARGIN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one customer with zero repeat spend is left out of the spend fit
        model = timed("CLVModel().fit", CLVModel().fit, rfm_summary(log, **COLUMNS, time_unit="W"))
    comparison = timed("compare_clv", analytics.compare_clv, log, model, **COLUMNS, **VALUE)
    segments = timed("customer_segments", analytics.customer_segments, log, model, **COLUMNS, **VALUE)
    budget = timed("acquisition_budget", analytics.acquisition_budget, log, model, **COLUMNS, **VALUE,
                   target_ratio=3, period="M")

    print("Figures (margin 0.3, 15% a year, 52-week forecasts):")
    for period, name in (("M", "month"), ("Q", "quarter")):
        s = summaries[period]
        print(f"  retention per {name} {s['retention_rate']:.1%}: classic CLV {s['clv_formula']:.2f}, "
              f"retention form {s['clv_retention']:.2f}; realised so far {s['historical_value_per_customer']:.2f}")
    ranks = comparison.corr(method="spearman")
    print(f"  rank correlation with predicted CLV: realised value {ranks.loc['historical_value', 'predicted_clv']:.2f}, "
          f"classic formula {ranks.loc['clv_formula', 'predicted_clv']:.2f}")
    tiers = analytics.segment_summary(segments)
    print(f"  Platinum: {tiers.loc['Platinum', 'share_of_customers']:.1%} of customers, "
          f"{tiers.loc['Platinum', 'share_of_predicted_value']:.1%} of predicted value")
    once = segments[segments["n_transactions"] == 1]
    print(f"  one-time buyers: {len(once):,}, P(alive) {once['p_alive'].min():g} to {once['p_alive'].max():g}, "
          f"CLV {once['clv'].min():.2f} to {once['clv'].max():.2f}; at risk: {int(segments['at_risk'].sum()):,}")
    print("  value per acquired customer at 12 months: "
          + ", ".join(f"{cohort} {value:.2f}" for cohort, value in curves[12].items()))
    cost = budget["max_acquisition_cost"]
    print(f"  affordable acquisition cost at CLV/CAC 3: overall {cost[('overall', 'all customers')]:.2f}; "
          + ", ".join(f"{group} {cost[('cohort', group)]:.2f}" for group in budget.loc['cohort'].index))


if __name__ == "__main__":
    main()
