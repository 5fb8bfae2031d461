"""Time of the bounds of the discrete-time models at millions of customers.

    python benchmarks/bench_discrete_intervals.py --customers 1000000

BG/BB: customers drawn from the model's process (donations-like parameters, 10 opportunities observed) with
Gamma-Gamma spend; ``CLVModel(purchase_model="bg_bb").predict`` for the next 5 and 20 opportunities, without and
with ``interval=0.9``. sBG: subscribers of tenures 1 to 24 (alpha 0.9, beta 2.5); ``score_contracts`` without and
with ``interval=0.9``, every future renewal and the next 24. Prints seconds and the ratio.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from clv_predict import CLVModel, ShiftedBetaGeoModel
from clv_predict.contracts import score_contracts


def bg_bb_summary(n: int, seed: int = 1, observed: int = 10) -> pd.DataFrame:
    """Opportunity summaries with mean spend, drawn from BG/BB and Gamma-Gamma (p 6, q 4, v 150)."""
    rng = np.random.default_rng(seed)
    p = rng.beta(1.204, 0.750, n)
    theta = rng.beta(0.657, 2.783, n)
    alive = np.minimum(rng.geometric(theta) - 1, observed)
    bought = (rng.random((n, observed)) < p[:, None]) & (np.arange(1, observed + 1)[None, :] <= alive[:, None])
    x = bought.sum(axis=1)
    spend = rng.gamma(6.0 * np.maximum(x, 1), 1.0) / rng.gamma(4.0, 1.0 / 150.0, n) / np.maximum(x, 1)
    return pd.DataFrame({"frequency": x, "recency": np.where(x > 0, observed - np.argmax(bought[:, ::-1], axis=1), 0),
                         "T": observed, "monetary_value": np.where(x > 0, spend, 0.0)})


def contract_summary(n: int, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lifetime = rng.geometric(rng.beta(0.9, 2.5, n))
    observed = rng.integers(1, 25, n)
    return pd.DataFrame({"T": np.minimum(lifetime, observed), "churned": lifetime <= observed})


def _seconds(function, *args, **kwargs) -> float:
    started = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - started


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[1_000_000])
    args = parser.parse_args(argv)
    print(f"{'model':<6} {'customers':>10} {'horizon':>8} {'without s':>10} {'with interval s':>16} {'ratio':>6}")
    for n in args.customers:
        summary = bg_bb_summary(n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = CLVModel(purchase_model="bg_bb").fit(summary)
        for horizon in (5, 20):
            plain = _seconds(model.predict, summary, horizon=horizon, discount_rate=0.1)
            bounded = _seconds(model.predict, summary, horizon=horizon, discount_rate=0.1, interval=0.9)
            print(f"{'BG/BB':<6} {n:>10,} {horizon:>8} {plain:>10.2f} {bounded:>16.2f} {bounded / plain:>6.1f}",
                  flush=True)
        contracts = contract_summary(n)
        sbg = ShiftedBetaGeoModel().fit(contracts)
        for horizon in (None, 24):
            plain = _seconds(score_contracts, sbg, contracts, discount_rate=0.01, horizon=horizon)
            bounded = _seconds(score_contracts, sbg, contracts, discount_rate=0.01, horizon=horizon, interval=0.9)
            shown = "all" if horizon is None else str(horizon)
            print(f"{'sBG':<6} {n:>10,} {shown:>8} {plain:>10.2f} {bounded:>16.2f} {bounded / plain:>6.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
