"""Time of CLVModel.predict with the per-customer bounds against without, in one run.

Run from the repository root:  python benchmarks/bench_intervals.py --customers 1000000
A synthetic log (clv_predict.synthetic.simulate_transactions, seeded; BG/NBD + Gamma-Gamma at CDNOW's
estimates) is summarised weekly and fitted; then predict (52 weeks, 15 % a year discount, margin 0.3) is timed
without and with interval=0.9 (predictive and confidence bounds), alternately, ``--repeats`` times each, and
the best times and their ratio printed, with the machine's load average at the end (the ratio is
measured in one run, so a shared machine slows both alike). The first predict of each kind is left out
(warm-up).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

from clv_predict import CLVModel, rfm_summary
from clv_predict.models._base import _distinct_rows
from clv_predict.synthetic import simulate_transactions

SETTINGS = {"horizon": 52, "discount_rate": 1.15 ** (1 / 52) - 1, "margin": 0.3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--model", default="bg_nbd")
    arguments = parser.parse_args()
    log = simulate_transactions(arguments.customers, seed=7)
    rfm = rfm_summary(log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
                      time_unit="W")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CLVModel(purchase_model=arguments.model).fit(rfm)
    columns = [rfm[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T")]
    distinct = _distinct_rows(columns)[1][0].size
    alive = _distinct_rows([columns[0], columns[2]])[1][0].size
    print(f"{arguments.customers:,} customers ({len(log):,} transactions); {distinct:,} distinct (frequency, "
          f"recency, T) rows, {alive:,} distinct (frequency, T); model {arguments.model}")
    times = {"without": [], "with interval=0.9": []}
    for _ in range(arguments.repeats + 1):
        for label, extra in (("without", {}), ("with interval=0.9", {"interval": 0.9})):
            start = time.perf_counter()
            model.predict(rfm, **SETTINGS, **extra)
            times[label].append(time.perf_counter() - start)
    best = {label: min(values[1:]) for label, values in times.items()}
    for label, value in best.items():
        print(f"  predict {label:<20} {value:7.2f} s")
    print(f"  ratio                        {best['with interval=0.9'] / best['without']:7.1f} x")
    print("  load average (1, 5, 15 min):  " + ", ".join(f"{value:.2f}" for value in os.getloadavg()))


if __name__ == "__main__":
    main()
