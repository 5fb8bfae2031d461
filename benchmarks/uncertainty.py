"""Calibration of the purchase distributions and of the total's interval: the tables of the README's
"How sure is the forecast" section.

Run from the repository root:  python benchmarks/uncertainty.py            (everything, several minutes)
                               python benchmarks/uncertainty.py --quick    (fewer customers and repeats)

1. For each purchase model: 50,000 customers drawn from its own process, calibration (39 weeks) and
   holdout (39 weeks) drawn together, the model fitted on the calibration period; the holdout counts
   against the conditional distributions (randomised PIT deciles, histogram total variation, 80% and
   90% interval coverage by training frequency).
2. The total's 80% and 90% intervals (forecast_total) against the simulated holdout total, over
   repeated simulations of BG/NBD (5,000 customers each).
3. CDNOW: coverage by training frequency, predicted vs observed histogram, whether 1,882 lies inside
   the total's interval, and the bootstrap's time against 100 full refits (CLVTools' approach).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import clv_predict as cp
from clv_predict.models import purchase_model_class
from clv_predict.synthetic import simulate_transactions
from clv_predict.uncertainty import (
    bootstrap_params,
    forecast_total,
    holdout_calibration,
)

SPEND = {"p": 6.25, "q": 3.74, "v": 15.44}
#: The processes simulated: published-like parameters per week; CNBD-k fitted with its true k.
MODELS = {
    "bg_nbd": ({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, {}),
    "mbg_nbd": ({"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}, {}),
    "pareto_nbd": ({"r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67}, {}),
    "bg_cnbd_k": ({"r": 0.5, "alpha": 4.414, "a": 0.793, "b": 2.426, "k": 2}, {"k": 2}),
    "mbg_cnbd_k": ({"r": 0.5, "alpha": 4.414, "a": 0.793, "b": 2.426, "k": 3}, {"k": 3}),
}
WEEKS = 39


def markdown(frame: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (without the optional tabulate package)."""
    frame = frame.reset_index() if frame.index.name or frame.index.names[0] else frame.reset_index(names="")
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + " --- |" * frame.shape[1]]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def simulated_split(model: str, n_customers: int, seed: int) -> pd.DataFrame:
    """Calibration RFM with ``test_frequency``: 12 weeks of acquisition, 39 weeks of calibration, 39 of holdout."""
    params, _ = MODELS[model]
    log = simulate_transactions(n_customers, {**params, **SPEND}, seed=seed, model=model, acquisition_days=84,
                                observation_days=2 * WEEKS * 7)
    start = pd.Timestamp("2020-01-01")
    return cp.rfm_train_test_split(
        log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
        train_period_end=start + pd.Timedelta(days=WEEKS * 7 - 1),
        test_period_end=log.attrs["observation_period_end"], time_unit="W", regularity=True,
    )


def fitted(model: str, split: pd.DataFrame):
    _, settings = MODELS[model]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cp.ModelWarning)
        return purchase_model_class(model)(**settings).fit(split)


def calibration_tables(n_customers: int) -> None:
    print(f"\n## Holdout counts against the conditional distributions ({n_customers:,} customers per model)\n")
    pit_rows, coverage_rows = {}, []
    for number, model in enumerate(MODELS):
        start = time.perf_counter()
        split = simulated_split(model, n_customers, seed=100 + number)
        result = holdout_calibration(fitted(model, split), split, "test_frequency", t=WEEKS, seed=1)
        pit = result["pit"]
        pit_rows[model] = [*(100 * pit).round(1).tolist(), round(100 * float((pit - 0.1).abs().max()), 2),
                           round(result["histogram"].attrs["total_variation"], 4)]
        table = result["coverage"].reset_index()
        table.insert(0, "model", model)
        coverage_rows.append(table)
        print(f"  {model}: {time.perf_counter() - start:.1f} s")
    pit_table = pd.DataFrame(pit_rows, index=[*(f"PIT {k}0-{k + 1}0%" for k in range(10)), "max |decile - 10|",
                                              "histogram TV"]).T
    print("\nRandomised PIT: share of customers per tenth (%), largest deviation from 10 (points), and the total "
          "variation distance between the predicted and simulated histograms of holdout counts\n")
    print(markdown(pit_table))
    coverage = pd.concat(coverage_rows)
    for level in (0.8, 0.9):
        print(f"\nCoverage of the {level:.0%} predictive intervals by training frequency: equal-tailed interval "
              "(coverage, mean width in counts) and shortest set\n")
        part = coverage[coverage["level"] == level]
        wide = part.pivot(index="model", columns="frequency", values="coverage")[
            [label for label, _, _ in cp.uncertainty.FREQUENCY_GROUPS] + ["all"]]
        shortest = part[part["frequency"] == "all"].set_index("model")[["coverage_shortest", "width", "width_shortest"]]
        print(markdown((100 * wide).round(1).join(
            shortest.assign(coverage_shortest=100 * shortest["coverage_shortest"]).round(2))))


def total_coverage(repeats: int, n_customers: int) -> None:
    print(f"\n## The total's interval over {repeats} simulations (BG/NBD, {n_customers:,} customers, 39-week holdout)\n")
    hits = {0.8: [], 0.9: []}
    hits_ci = {0.8: [], 0.9: []}
    start = time.perf_counter()
    for repeat in range(repeats):
        split = simulated_split("bg_nbd", n_customers, seed=1000 + repeat)
        model = fitted("bg_nbd", split)
        actual = split["test_frequency"].sum()
        for level, covered in hits.items():
            total = forecast_total(model, split, horizon=WEEKS, periods=[WEEKS], interval=level, draws=100,
                                   seed=repeat).iloc[-1]
            covered.append(total["purchases_lower"] <= actual <= total["purchases_upper"])
            hits_ci[level].append(total["purchases_ci_lower"] <= actual <= total["purchases_ci_upper"])
    rows = {f"{level:.0%}": {"predictive interval covers": f"{np.mean(hits[level]):.1%}",
                             "parameter-only band covers": f"{np.mean(hits_ci[level]):.1%}",
                             "standard error": f"{np.sqrt(level * (1 - level) / repeats):.1%}"} for level in hits}
    print(markdown(pd.DataFrame(rows).T))
    print(f"\n({time.perf_counter() - start:.0f} s)")


def cdnow(refits: int) -> None:
    print("\n## CDNOW (2,357 customers, 39-week holdout)\n")
    log = cp.datasets.load_cdnow(sample=True)
    split = cp.rfm_train_test_split(
        log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
        train_period_end="1997-09-30", test_period_end="1998-06-30", time_unit="W",
    )
    actual = int(split["test_frequency"].sum())
    for name in ("bg_nbd", "pareto_nbd"):
        model = purchase_model_class(name)().fit(split)
        result = holdout_calibration(model, split, "test_frequency", t=WEEKS, seed=1)
        print(f"\n### {model.label}: coverage by training frequency\n")
        print(markdown(result["coverage"].round(3)))
        print(f"\nHistogram of holdout counts, predicted (summed over customers) and observed "
              f"(total variation {result['histogram'].attrs['total_variation']:.3f}):\n")
        print(markdown(result["histogram"].iloc[:11].round(1).T))
        for method in ("normal", "bootstrap"):
            start = time.perf_counter()
            total = forecast_total(model, split, horizon=WEEKS, periods=[WEEKS], method=method, seed=1,
                                   draws=None if method == "normal" else refits).iloc[-1]
            inside = total["purchases_lower"] <= actual <= total["purchases_upper"]
            print(f"\n{model.label}, {method}: expected {total['expected_purchases']:.0f}, 90% predictive interval "
                  f"[{total['purchases_lower']:.0f}, {total['purchases_upper']:.0f}], parameter-only "
                  f"[{total['purchases_ci_lower']:.0f}, {total['purchases_ci_upper']:.0f}]; actual {actual:,}: "
                  f"{'inside' if inside else 'OUTSIDE'} ({time.perf_counter() - start:.1f} s)")

    print("\n### Bootstrap time (CLVModel, BG/NBD + Gamma-Gamma)\n")
    model = cp.CLVModel().fit(split)
    start = time.perf_counter()
    bootstrap_params(model, split, refits, seed=1)
    weighted = time.perf_counter() - start
    start = time.perf_counter()
    rng = np.random.default_rng(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(refits):
            # CLVTools' approach: resample customers, rebuild the table, refit from scratch
            resample = split.iloc[rng.integers(0, len(split), len(split))].reset_index(drop=True)
            resample.index.name = "customer_id"
            resample.attrs = dict(split.attrs)
            cp.CLVModel().fit(resample)
    full = time.perf_counter() - start
    print(f"{refits} refits on multinomial weights of the distinct rows: {weighted:.1f} s; "
          f"{refits} full refits on resampled customers: {full:.1f} s")


def plots(folder: str) -> None:
    """The CDNOW figures of the README: fan chart against the holdout, calibration plot, histogram."""
    import matplotlib

    matplotlib.use("Agg")
    from pathlib import Path

    import matplotlib.pyplot as plt

    from clv_predict import plotting
    from clv_predict.uncertainty import cumulative_holdout_purchases

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    log = cp.datasets.load_cdnow(sample=True)
    split = cp.rfm_train_test_split(
        log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
        train_period_end="1997-09-30", test_period_end="1998-06-30", time_unit="W",
    )
    model = cp.BetaGeoModel().fit(split)
    total = forecast_total(model, split, horizon=WEEKS, seed=1)
    actual = cumulative_holdout_purchases(log, split, total.index, train_period_end="1997-09-30")
    figure, ax = plt.subplots(figsize=(8, 5))
    plotting.plot_forecast_total(total, actual, ax=ax)
    figure.savefig(folder / "cdnow_forecast_total.png", dpi=100, bbox_inches="tight")
    result = holdout_calibration(model, split, "test_frequency", t=WEEKS, levels=(0.5, 0.6, 0.7, 0.8, 0.9, 0.95),
                                 seed=1)
    figure, ax = plt.subplots(figsize=(7, 6))
    plotting.plot_interval_coverage(result["coverage"], ax=ax)
    figure.savefig(folder / "cdnow_interval_coverage.png", dpi=100, bbox_inches="tight")
    figure, ax = plt.subplots(figsize=(8, 5))
    plotting.plot_count_histogram(result["histogram"], ax=ax)
    figure.savefig(folder / "cdnow_count_histogram.png", dpi=100, bbox_inches="tight")
    print(f"wrote 3 PNGs to {folder}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 customers per model, 40 repeats, 20 refits")
    parser.add_argument("--plots", metavar="FOLDER", help="only draw the CDNOW figures into FOLDER")
    args = parser.parse_args(argv)
    if args.plots:
        plots(args.plots)
        return
    calibration_tables(10_000 if args.quick else 50_000)
    total_coverage(40 if args.quick else 100, 5_000)
    cdnow(20 if args.quick else 100)


if __name__ == "__main__":
    main()
