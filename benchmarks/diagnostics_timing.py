"""Time the holdout evaluation, the diagnostic plots and the HTML report on CDNOW (sample and master).

Run: python benchmarks/diagnostics_timing.py
Prints, for each data set, the customers, the model's holdout error and the seconds each step took.
"""

from __future__ import annotations

import time

import matplotlib

matplotlib.use("Agg")

from clv_predict import CLVModel, evaluate, rfm_train_test_split
from clv_predict.datasets import load_cdnow
from clv_predict.report import build_report, render_plots


def main() -> None:
    for sample in (True, False):
        log = load_cdnow(sample=sample)
        split = rfm_train_test_split(log, customer_id_col="customer_id", datetime_col="date",
                                     monetary_value_col="amount", train_period_end="1997-09-30",
                                     test_period_end="1998-06-30", time_unit="W")
        model = CLVModel().fit(split)
        start = time.perf_counter()
        result = evaluate(model, split)
        evaluated = time.perf_counter()
        plots = render_plots(model, log, split)
        plotted = time.perf_counter()
        document = build_report(model, log, test_period_end="1998-06-30")
        reported = time.perf_counter()
        row = result.aggregate.loc[("model", "purchases")]
        print(
            f"CDNOW {'sample' if sample else 'master'}: {len(split):,} customers; holdout actual {row['actual']:,.0f}, "
            f"predicted {row['predicted']:,.0f} ({row['percent_error']:+.1f}%); evaluate {evaluated - start:.2f} s, "
            f"{len(plots)} plots {plotted - evaluated:.2f} s, whole report {reported - plotted:.2f} s "
            f"({len(document) / 1e6:.2f} MB)"
        )


if __name__ == "__main__":
    main()
