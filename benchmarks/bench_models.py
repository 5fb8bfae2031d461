"""Fit and scoring speed of every purchase model of the family, against lifetimes' fitters where it has one.

    python benchmarks/bench_models.py --customers 100000 1000000 --lifetimes-customers 5000
    python benchmarks/bench_models.py --models pareto_nbd --customers 10000000 --lifetimes-customers 0

For each model it takes the parameters fitted on CDNOW (weekly, training to 1997-09-30; the CNBD-k models with
k = 2, since CDNOW's own k is 1 and would only repeat BG/NBD and MBG/NBD) and, for each size, draws RFM summaries
from that model's own process (``model.simulate``; first purchases spread over 39 weeks, times rounded to whole
days as an RFM table built from a daily log has them, ``litt`` kept exact). It prints:

* the native fit's time (compression, multi-start or sample-then-polish, covariance; the CNBD-k models' fixed k);
* scoring throughput: P(alive) and expected purchases in 52 weeks, customers per second;
* the largest relative difference of the estimates from the generating values.

lifetimes' fitters (BetaGeoFitter, ParetoNBDFitter, ModifiedBetaGeoFitter: one row per customer, what lifetimes
users run) are timed at ``--lifetimes-customers`` only, a size they finish in reasonable time; their time at the
other sizes is extrapolated linearly from there (their cost per evaluation is linear in the rows and their number of
evaluations does not fall with size) and printed as an extrapolation.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import clv_predict as cp
from clv_predict import _lifetimes
from clv_predict.datasets import load_cdnow
from clv_predict.models import PURCHASE_MODELS, purchase_model_class

LIFETIMES = {"bg_nbd": _lifetimes.fit_bgnbd, "pareto_nbd": _lifetimes.fit_pareto_nbd, "mbg_nbd": _lifetimes.fit_mbgnbd}


def generating_models() -> dict:
    """Each model with its CDNOW estimates (the CNBD-k models at k = 2)."""
    log = cp.TransactionLog(load_cdnow(), customer_id_col="customer_id", datetime_col="date")
    models = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the holdout's rows are left out on purpose
        rfm = log.rfm(observation_period_end="1997-09-30", time_unit="W", regularity=True)
        for name in PURCHASE_MODELS:
            cls = purchase_model_class(name)
            settings = {"k": 2} if "k" in cls._extra_param_names else {}
            fitted = cls(**settings).fit(rfm)
            models[name] = cls.from_params(time_unit="W", **fitted.params_.to_dict())
    return models


def draw(truth, n: int, seed: int = 0):
    horizons = np.round(np.random.default_rng(seed).uniform(39.0, 78.0, n) * 7) / 7
    rfm = truth.simulate(n, horizons, seed=seed + 1)
    rfm["recency"] = np.round(rfm["recency"] * 7) / 7
    rfm.attrs["time_unit"] = "W"
    return rfm[list(truth._fit_columns)]


def time_native(truth, rfm):
    settings = {"k": int(truth.params_["k"])} if "k" in truth.params_ else {}
    start = time.perf_counter()
    model = type(truth)(**settings).fit(rfm)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    model.probability_alive(rfm)
    model.expected_purchases(rfm, 52)
    return model, fit, time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=list(PURCHASE_MODELS), default=list(PURCHASE_MODELS))
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--lifetimes-customers", type=int, default=5_000,
                        help="size at which lifetimes' fitters are timed (0: not at all)")
    args = parser.parse_args(argv)

    truths = generating_models()
    for name in args.models:
        truth = truths[name]
        print(f"{truth.label}: generating parameters "
              + ", ".join(f"{k} {v:.4g}" for k, v in truth.params_.items()))
        per_customer = None
        if name in LIFETIMES and args.lifetimes_customers:
            small = draw(truth, args.lifetimes_customers, seed=7)
            start = time.perf_counter()
            params = LIFETIMES[name](small["frequency"].to_numpy(), small["recency"].to_numpy(), small["T"].to_numpy(),
                                     np.ones(len(small)), 0.0)
            seconds = time.perf_counter() - start
            native, native_seconds, _ = time_native(truth, small)
            difference = np.max(np.abs(params / native.params_.to_numpy() - 1))
            per_customer = seconds / args.lifetimes_customers
            print(f"  {args.lifetimes_customers:>10,} customers: lifetimes {seconds:7.2f} s (measured); native "
                  f"{native_seconds:.2f} s; estimates differ by at most {difference:.1e} (relative)")
        for n in args.customers:
            rfm = draw(truth, n)
            model, fit, score = time_native(truth, rfm)
            names = list(truth._param_names)
            recovery = np.max(np.abs(model.params_[names].to_numpy() / truth.params_[names].to_numpy() - 1))
            versus = ""
            if per_customer is not None:
                estimate = per_customer * n
                versus = (f"; lifetimes ~{estimate:,.0f} s (extrapolated linearly from {args.lifetimes_customers:,}),"
                          f" {estimate / fit:,.0f}x")
            print(f"  {n:>10,} customers ({model.n_unique_rows_:,} distinct rows): native fit {fit:6.2f} s{versus}; "
                  f"scoring {n / score:,.0f} customers/s (P(alive) + 52-week expectation); largest relative error "
                  f"of the estimates {recovery:.3f}")


if __name__ == "__main__":
    main()
