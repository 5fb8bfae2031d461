"""Calibration proofs (issue 12): holdout counts simulated from each model's own process against the
distributions the model fitted on the calibration period predicts, and the total's interval against the
simulated total over repeated simulations. The README's tables come from benchmarks/uncertainty.py."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import clv_predict as cp
from clv_predict.models import purchase_model_class
from clv_predict.synthetic import simulate_transactions
from clv_predict.uncertainty import (
    FREQUENCY_GROUPS,
    forecast_total,
    holdout_calibration,
)

SPEND = {"p": 6.25, "q": 3.74, "v": 15.44}
MODELS = {
    "bg_nbd": ({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, {}),
    "mbg_nbd": ({"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}, {}),
    "pareto_nbd": ({"r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67}, {}),
    "bg_cnbd_k": ({"r": 0.5, "alpha": 4.414, "a": 0.793, "b": 2.426, "k": 2}, {"k": 2}),
    "mbg_cnbd_k": ({"r": 0.5, "alpha": 4.414, "a": 0.793, "b": 2.426, "k": 3}, {"k": 3}),
}
WEEKS = 39


def simulated_split(name: str, n_customers: int, seed: int) -> pd.DataFrame:
    """12 weeks of acquisition; calibration (39 weeks) and holdout (39 weeks) drawn together."""
    params, _ = MODELS[name]
    log = simulate_transactions(n_customers, {**params, **SPEND}, seed=seed, model=name, acquisition_days=84,
                                observation_days=2 * WEEKS * 7)
    return cp.rfm_train_test_split(
        log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
        train_period_end=pd.Timestamp("2020-01-01") + pd.Timedelta(days=WEEKS * 7 - 1),
        test_period_end=log.attrs["observation_period_end"], time_unit="W", regularity=True,
    )


def fitted(name: str, split: pd.DataFrame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cp.ModelWarning)
        return purchase_model_class(name)(**MODELS[name][1]).fit(split)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
def test_holdout_counts_are_calibrated(name):
    split = simulated_split(name, 50_000, seed=100 + list(MODELS).index(name))
    result = holdout_calibration(fitted(name, split), split, "test_frequency", t=WEEKS, seed=1)
    # randomised PIT uniform: each tenth within one point of 10%
    assert (result["pit"] - 0.1).abs().max() < 0.01, result["pit"]
    # the predicted histogram of counts, summed over customers, matches the simulated one
    assert result["histogram"].attrs["total_variation"] < 0.015
    coverage = result["coverage"]
    for level in (0.8, 0.9):
        # at least the nominal share overall (equal-tailed intervals of counts are conservative) ...
        assert coverage.loc[(level, "all"), "coverage"] >= level
        assert coverage.loc[(level, "all"), "coverage_shortest"] >= level - 0.005
        # ... and in every group of training frequency, within sampling error
        for label, _, _ in FREQUENCY_GROUPS:
            if (level, label) in coverage.index:
                row = coverage.loc[(level, label)]
                tolerance = 2.5 * np.sqrt(level * (1 - level) / row["customers"])
                assert row["coverage"] >= level - tolerance, (level, label, row.to_dict())


@pytest.mark.slow
def test_total_interval_covers_the_simulated_total_at_its_rate():
    repeats, hits = 24, {0.8: 0, 0.9: 0}
    for repeat in range(repeats):
        split = simulated_split("bg_nbd", 3000, seed=1000 + repeat)
        model = fitted("bg_nbd", split)
        actual = split["test_frequency"].sum()
        for level in hits:
            total = forecast_total(model, split, horizon=WEEKS, periods=[WEEKS], interval=level, draws=50,
                                   seed=repeat).iloc[-1]
            hits[level] += bool(total["purchases_lower"] <= actual <= total["purchases_upper"])
    # 24 repeats: a binomial standard error of 6-8 points
    assert 0.75 <= hits[0.9] / repeats
    assert 0.6 <= hits[0.8] / repeats <= 0.97
