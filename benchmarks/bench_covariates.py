"""Fit and scoring speed of the purchase models with covariates, at up to millions of customers.

    python benchmarks/bench_covariates.py --customers 100000 1000000
    python benchmarks/bench_covariates.py --models pareto_nbd --customers 1000000 --numeric

Each model takes its CDNOW-like parameters (weekly) and covariate effects: the acquisition channel (3 levels) and
the region (2 levels) on the purchase rate, the channel on dropout; with ``--numeric`` also an integer age (50
values) on the purchase rate. Customers are drawn from the model's own process with their covariates
(``model.simulate(..., covariates=...)``), first purchases spread over 39 weeks, times rounded to whole days as an
RFM table from a daily log has them. It prints, per model and size:

* the distinct rows the fit works on (RFM row x covariate pattern) against those without covariates;
* the fit's time with covariates and without (same data);
* scoring throughput with covariates: P(alive) and expected purchases in 52 weeks, customers per second;
* the largest distance of an estimate from its generating value, in standard errors.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from clv_predict import BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel

MODELS = {
    "bg_nbd": (BetaGeoModel, {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}),
    "mbg_nbd": (ModifiedBetaGeoModel, {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}),
    "pareto_nbd": (ParetoNBDModel, {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}),
}
EFFECTS = {
    "purchase:channel[app]": 0.3,
    "purchase:channel[shop]": -0.2,
    "purchase:region[south]": 0.15,
    "dropout:channel[app]": -0.3,
    "dropout:channel[shop]": 0.25,
}


def covariate_table(n: int, numeric: bool, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({
        "channel": rng.choice(["web", "app", "shop"], n, p=[0.5, 0.3, 0.2]),
        "region": rng.choice(["north", "south"], n, p=[0.6, 0.4]),
    })
    if numeric:
        table["age"] = rng.integers(20, 70, n).astype(float) - 45.0
    return table


def draw(name: str, n: int, numeric: bool, seed: int = 0):
    cls, params = MODELS[name]
    covariates = covariate_table(n, numeric, seed)
    effects = dict(EFFECTS, **({"purchase:age": 0.01} if numeric else {}))
    truth = cls.from_params(time_unit="W", coefficients=effects, covariates=covariates, **params)
    horizons = np.round(np.random.default_rng(seed + 1).uniform(39.0, 78.0, n) * 7) / 7
    rfm = truth.simulate(n, horizons, seed=seed + 2, covariates=covariates)
    rfm["recency"] = np.round(rfm["recency"] * 7) / 7
    rfm.attrs["time_unit"] = "W"
    return truth, rfm.drop(columns="litt")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--numeric", action="store_true", help="add a numeric covariate (age, 50 values)")
    args = parser.parse_args(argv)
    purchase = ["channel", "region"] + (["age"] if args.numeric else [])
    print(f"{'model':<11} {'customers':>10} {'rows':>9} {'rows no cov':>11} {'fit s':>7} {'fit no cov s':>12} "
          f"{'score cust/s':>13} {'max |err|/se':>12}")
    for name in args.models:
        cls, _ = MODELS[name]
        for n in args.customers:
            truth, rfm = draw(name, n, args.numeric)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                started = time.perf_counter()
                model = cls(purchase_covariates=purchase, dropout_covariates=["channel"]).fit(rfm)
                fit_seconds = time.perf_counter() - started
                started = time.perf_counter()
                plain = cls().fit(rfm)
                plain_seconds = time.perf_counter() - started
                started = time.perf_counter()
                model.probability_alive(rfm)
                model.expected_purchases(rfm, 52)
                score_seconds = time.perf_counter() - started
            error = ((model.params_ - truth.params_) / model.standard_errors_).abs().max()
            print(f"{name:<11} {n:>10,} {model.n_unique_rows_:>9,} {plain.n_unique_rows_:>11,} {fit_seconds:>7.1f} "
                  f"{plain_seconds:>12.1f} {n / score_seconds:>13,.0f} {error:>12.2f}", flush=True)


if __name__ == "__main__":
    main()
