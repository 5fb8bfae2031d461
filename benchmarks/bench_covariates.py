"""Fit and scoring speed of the purchase models with covariates, at up to millions of customers.

    python benchmarks/bench_covariates.py --customers 100000 1000000
    python benchmarks/bench_covariates.py --models pareto_nbd --customers 1000000 --numeric
    python benchmarks/bench_covariates.py --models gamma_gamma sbg --customers 1000000 10000000

``gamma_gamma`` (spend covariates) and ``sbg`` (retention covariates) draw from their own definitions (see
:func:`draw_spend` and :func:`draw_contracts`) and print the same columns, scoring being expected spend per
customer (Gamma-Gamma) or DERL at a discount rate of 1% per period (sBG).

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

from clv_predict import (
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    ShiftedBetaGeoModel,
)

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


SPEND = {"p": 6.25, "q": 3.74, "v": 15.44, "spend:channel[app]": 0.2, "spend:channel[shop]": -0.25,
         "spend:region[south]": 0.1}
RETENTION = {"alpha": 0.7, "beta": 1.2, "churn:channel[app]": -0.3, "churn:channel[shop]": 0.4,
             "churn:region[south]": 0.1, "retention:channel[app]": 0.2, "retention:channel[shop]": -0.3,
             "retention:region[south]": 0.0}


def _linear(table: pd.DataFrame, effects: dict, prefix: str) -> np.ndarray:
    """gamma' z of each customer for the ``prefix:`` coefficients of ``effects`` (categorical levels, or numbers)."""
    total = np.zeros(len(table))
    for name, value in effects.items():
        if not name.startswith(prefix + ":"):
            continue
        column, _, level = name.split(":", 1)[1].partition("[")
        total += value * ((table[column] == level.rstrip("]")) if level else table[column])
    return total


def draw_spend(n: int, numeric: bool, seed: int = 0):
    """Repeat customers (1 to 7 repeat purchases) with Gamma-Gamma spend: nu_i ~ Gamma(q, rate v exp(g' z_i)),
    each purchase Gamma(p, rate nu_i); mean spend is continuous, so every customer is a row of her own."""
    rng = np.random.default_rng(seed + 3)
    table = covariate_table(n, numeric, seed)
    effects = dict(SPEND, **({"spend:age": 0.005} if numeric else {}))
    nu = rng.gamma(effects["q"], 1.0 / (effects["v"] * np.exp(_linear(table, effects, "spend"))))
    frequency = rng.integers(1, 8, n)
    table["frequency"] = frequency
    table["monetary_value"] = rng.gamma(effects["p"] * frequency, 1.0 / nu) / frequency
    table["recency"], table["T"] = 30.0, 39.0
    return effects, table


def draw_contracts(n: int, numeric: bool, seed: int = 0, periods: int = 24):
    """Subscribers observed up to ``periods`` periods: theta_i ~ Beta(alpha exp(g_churn' z), beta exp(g_retention'
    z)), lifetime geometric(theta_i); tenure at observation uniform over 1..periods (customers acquired over time)."""
    rng = np.random.default_rng(seed + 4)
    table = covariate_table(n, numeric, seed)
    effects = dict(RETENTION, **({"churn:age": 0.01, "retention:age": 0.0} if numeric else {}))
    theta = rng.beta(effects["alpha"] * np.exp(_linear(table, effects, "churn")),
                     effects["beta"] * np.exp(_linear(table, effects, "retention")))
    lifetime = rng.geometric(np.maximum(theta, 1e-300))
    observed = rng.integers(1, periods + 1, n)
    table["T"], table["churned"] = np.minimum(lifetime, observed), lifetime <= observed
    return effects, table


def _time(function):
    started = time.perf_counter()
    value = function()
    return value, time.perf_counter() - started


def bench_other(name: str, n: int, numeric: bool) -> str:
    """One line of the table for Gamma-Gamma or the sBG."""
    columns = ["channel", "region"] + (["age"] if numeric else [])
    if name == "gamma_gamma":
        effects, table = draw_spend(n, numeric)
        model, fit_seconds = _time(lambda: GammaGammaModel(covariates=columns).fit(table))
        plain, plain_seconds = _time(lambda: GammaGammaModel().fit(table))
        _, score_seconds = _time(lambda: model.expected_spend(table))
    else:
        effects, table = draw_contracts(n, numeric)
        model, fit_seconds = _time(lambda: ShiftedBetaGeoModel(covariates=columns).fit(table))
        plain, plain_seconds = _time(lambda: ShiftedBetaGeoModel().fit(table))
        _, score_seconds = _time(lambda: model.expected_residual_lifetime(table, discount_rate=0.01))
    truth = pd.Series(effects).reindex(model.params_.index)
    error = ((model.params_ - truth) / model.standard_errors_).abs().max()
    return (f"{name:<11} {n:>10,} {model.n_unique_rows_:>9,} {plain.n_unique_rows_:>11,} {fit_seconds:>7.1f} "
            f"{plain_seconds:>12.1f} {n / score_seconds:>13,.0f} {error:>12.2f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=[*MODELS, "gamma_gamma", "sbg"])
    parser.add_argument("--numeric", action="store_true", help="add a numeric covariate (age, 50 values)")
    args = parser.parse_args(argv)
    purchase = ["channel", "region"] + (["age"] if args.numeric else [])
    print(f"{'model':<11} {'customers':>10} {'rows':>9} {'rows no cov':>11} {'fit s':>7} {'fit no cov s':>12} "
          f"{'score cust/s':>13} {'max |err|/se':>12}")
    for name in args.models:
        if name not in MODELS:
            for n in args.customers:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    print(bench_other(name, n, args.numeric), flush=True)
            continue
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
