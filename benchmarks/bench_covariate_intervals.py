"""Time of the uncertainty of a model with covariates: bounds, distributions and the total, run once per pattern.

Run from the repository root:  python benchmarks/bench_covariate_intervals.py --customers 200000 --numeric 500
A synthetic log (clv_predict.synthetic.simulate_customer_log, seeded; BG/NBD + Gamma-Gamma at CDNOW's estimates)
of customers with an acquisition channel (3 levels, on purchasing and spend) is summarised weekly and fitted with
the channel as a covariate and without it; ``CLVModel.predict`` (52 weeks, 15 % a year discount, margin 0.3)
without and with ``interval=0.9``, ``forecast_total`` (100 draws) and ``holdout``-style conditional
distributions are timed on both. Then a numeric covariate with ``--numeric`` distinct values (one pattern each)
gives the cost per pattern.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from clv_predict import BetaGeoModel, CLVModel, rfm_summary
from clv_predict.synthetic import CDNOW_PARAMS, simulate_customer_log
from clv_predict.uncertainty import forecast_total

SETTINGS = {"horizon": 52, "discount_rate": 1.15 ** (1 / 52) - 1, "margin": 0.3}


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--numeric", type=int, default=500, help="distinct values of the numeric covariate")
    arguments = parser.parse_args()
    rng = np.random.default_rng(3)
    n = arguments.customers
    customers = pd.DataFrame({"channel": rng.choice(["web", "shop", "ads"], n, p=[0.5, 0.3, 0.2])},
                             index=pd.RangeIndex(n, name="customer_id"))
    log = simulate_customer_log(customers, dict(CDNOW_PARAMS),
                                {"purchase:channel[shop]": 0.5, "purchase:channel[ads]": -0.3,
                                 "spend:channel[shop]": 0.2}, seed=3)
    rfm = rfm_summary(log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
                      time_unit="W").join(customers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = CLVModel().fit(rfm)
        covariate = CLVModel(purchase_covariates=["channel"], spend_covariates=["channel"]).fit(rfm)
    print(f"{n:,} customers ({len(log):,} transactions); channel: 3 levels on purchasing and spend")
    print("| call | without covariates | with the channel |")
    print("| --- | ---: | ---: |")
    calls = {
        "predict": lambda m: m.predict(rfm, **SETTINGS),
        "predict(interval=0.9)": lambda m: m.predict(rfm, interval=0.9, **SETTINGS),
        "forecast_total (100 draws, 52 periods)": lambda m: forecast_total(m, rfm, horizon=52, draws=100, seed=0),
        "conditional_probability_of_n_purchases (0..10)":
            lambda m: m.purchase_model_.conditional_probability_of_n_purchases(rfm, 52, 10),
    }
    for name, call in calls.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            without = timed(lambda: call(plain))  # noqa: B023 - called at once, inside the loop
            with_channel = timed(lambda: call(covariate))  # noqa: B023
            print(f"| {name} | {without:.2f} s | {with_channel:.2f} s |")

    # a numeric covariate: one pattern per distinct value
    size = min(n, 20 * arguments.numeric)
    part = rfm.iloc[:size].copy()
    part["score"] = rng.integers(0, arguments.numeric, size) / arguments.numeric
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        numeric = BetaGeoModel(purchase_covariates=["score"]).fit(part)
    patterns = part["score"].nunique()
    seconds = timed(lambda: numeric.predict(part, horizon=52, interval=0.9))
    total = timed(lambda: forecast_total(numeric, part, horizon=52, periods=4, draws=100, seed=0))
    print(f"\nnumeric covariate, {size:,} customers in {patterns:,} patterns: predict(interval=0.9) {seconds:.1f} s "
          f"({1000 * seconds / patterns:.1f} ms per pattern); forecast_total (100 draws) {total:.1f} s "
          f"({1000 * total / patterns:.1f} ms per pattern)")


if __name__ == "__main__":
    main()
