"""Pareto/NBD fit and scoring speed, against lifetimes' ParetoNBDFitter.

    python benchmarks/bench_models.py --customers 100000 1000000 --lifetimes-customers 20000

For each size it draws RFM summaries from the Pareto/NBD process itself
(``ParetoNBDModel.simulate``, CDNOW's published parameters, first purchases
spread over 39 weeks), with recency and T rounded to whole days as an RFM table
built from a daily log has them, and prints:

* the native fit's time (compression, multi-start or sample-then-polish, covariance);
* scoring throughput: P(alive) and expected purchases in 52 weeks, customers per second;
* the largest relative difference of the estimates from the generating values.

lifetimes' ParetoNBDFitter (Nelder-Mead on one row per customer, what lifetimes
users run) is timed at ``--lifetimes-customers`` only, a size it finishes in
reasonable time; its time at the other sizes is extrapolated linearly from there
(its cost per evaluation is linear in the rows and its number of evaluations does
not fall with size) and printed as an extrapolation.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from clv_predict import ParetoNBDModel
from clv_predict import _lifetimes

CDNOW = {"r": 0.5534, "alpha": 10.580, "s": 0.6061, "beta": 11.656}


def draw(n: int, seed: int = 0):
    truth = ParetoNBDModel.from_params(**CDNOW, time_unit="W")
    horizons = np.round(np.random.default_rng(seed).uniform(39.0, 78.0, n) * 7) / 7
    rfm = truth.simulate(n, horizons, seed=seed + 1)
    rfm["recency"] = np.round(rfm["recency"] * 7) / 7
    return rfm[["frequency", "recency", "T"]]


def time_native(rfm):
    start = time.perf_counter()
    model = ParetoNBDModel().fit(rfm)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    model.probability_alive(rfm)
    model.expected_purchases(rfm, 52)
    score = time.perf_counter() - start
    return model, fit, score


def time_lifetimes(rfm):
    start = time.perf_counter()
    params = _lifetimes.fit_pareto_nbd(
        rfm["frequency"].to_numpy(), rfm["recency"].to_numpy(), rfm["T"].to_numpy(), np.ones(len(rfm)), 0.0
    )
    return params, time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--lifetimes-customers", type=int, default=20_000)
    args = parser.parse_args(argv)

    small = draw(args.lifetimes_customers, seed=7)
    lifetimes_params, lifetimes_seconds = time_lifetimes(small)
    native_small, native_small_seconds, _ = time_native(small)
    difference = np.max(np.abs(lifetimes_params / native_small.params_.to_numpy() - 1))
    print(
        f"{args.lifetimes_customers:>10,} customers: lifetimes ParetoNBDFitter {lifetimes_seconds:8.2f} s (measured); "
        f"native {native_small_seconds:.2f} s; estimates differ by at most {difference:.1e} (relative)"
    )
    per_customer = lifetimes_seconds / args.lifetimes_customers
    for n in args.customers:
        rfm = draw(n)
        model, fit, score = time_native(rfm)
        truth = np.array(list(CDNOW.values()))
        recovery = np.max(np.abs(model.params_.to_numpy() / truth - 1))
        lifetimes_estimate = per_customer * n
        print(
            f"{n:>10,} customers ({model.n_unique_rows_:,} distinct rows): native fit {fit:6.2f} s "
            f"(starts on {model.convergence_['sample_customers'] or n:,} customers, then all); "
            f"lifetimes ~{lifetimes_estimate:,.0f} s "
            f"(extrapolated linearly from {args.lifetimes_customers:,}), {lifetimes_estimate / fit:,.0f}x; "
            f"scoring {n / score:,.0f} customers/s (P(alive) + 52-week expectation); "
            f"largest relative error of the estimates {recovery:.3f}"
        )


if __name__ == "__main__":
    main()
