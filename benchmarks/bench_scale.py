"""Scale benchmark: file in to scores out on synthetic logs, against lifetimes and DuckDB.

    python benchmarks/bench_scale.py --customers 100000 1000000 10000000

For each size it draws (once, cached in ``--workdir``) a log from the true
BG/NBD + Gamma-Gamma process with CDNOW's parameters, then in a fresh process
runs the whole path and prints each stage's time and the peak memory:

* read: the Parquet file into pandas (pyarrow);
* rfm: ``rfm_summary`` (weekly, as of the generator's observation end);
* fit: ``CLVModel`` (BG/NBD on all customers, Gamma-Gamma on repeat buyers);
* score: ``predict`` (52 weeks, 0.2 % weekly discount, margin 1);
* write: the scores to Parquet.

Then, in the same process and after the peak memory is read:

* fit against lifetimes' fitters on one row per customer (what lifetimes users
  run); with the same parameters (largest relative difference printed). Above
  ``--lifetimes-max`` customers lifetimes is not run and its time is
  extrapolated linearly from the largest size it ran at, which is stated;
* scoring throughput against lifetimes' ``customer_lifetime_value`` on a sample;
* parameter recovery against the generating values;
* with ``--peers``: the same RFM aggregation in DuckDB SQL over the same file
  (``pip install duckdb``) and lifetimes' ``summary_data_from_transaction_data``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PARAM_NAMES = ("r", "alpha", "a", "b", "p", "q", "v")


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


class _Clock:
    def __init__(self):
        self.times = {}

    def __call__(self, name):
        clock = self

        class _Stage:
            def __enter__(self):
                self.start = time.perf_counter()

            def __exit__(self, *exc):
                clock.times[name] = time.perf_counter() - self.start

        return _Stage()


class _Accumulated:
    """Wraps a module function for the duration of a ``with`` block and adds up the time spent in it."""

    def __init__(self, module, name):
        self.module, self.name, self.seconds = module, name, 0.0

    def __enter__(self):
        self.original = original = getattr(self.module, self.name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        setattr(self.module, self.name, timed)
        return self

    def __exit__(self, *exc):
        setattr(self.module, self.name, self.original)


def run_path(log_path: Path, lifetimes_max: int, peers: bool, lifetimes_rfm_max: int) -> dict:
    """The whole path on one file, then the comparisons; returns the figures as a dict."""
    import pandas as pd
    import pyarrow.parquet as pq
    from generate import read_meta

    from clv_predict import CLVModel, rfm_summary

    meta = read_meta(log_path)
    end = meta["observation_period_end"]
    clock = _Clock()
    with clock("read"):
        log = pq.read_table(log_path, columns=["customer_id", "date", "amount"]).to_pandas()
    n_rows = len(log)
    with clock("rfm"):
        rfm = rfm_summary(log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
                          observation_period_end=end, time_unit="W")
    del log
    from clv_predict import models as models_module

    # the fit's optimisation (on the distinct rows) timed apart from the rest (validating and compressing the
    # summary, one pass over the customers); both run in the main thread one after the other
    model_class = models_module._ParametricModel
    with _Accumulated(model_class, "_optimise") as optimising, _Accumulated(model_class, "_set_covariance") as covariance:
        with clock("fit"):
            model = CLVModel(engine="native").fit(rfm)
    with clock("score"):
        scores = model.predict(rfm, horizon=52, discount_rate=0.002, margin=1.0)
    with clock("write"):
        out = log_path.with_name(log_path.stem + "_scores.parquet")
        pd.concat([rfm, scores], axis=1).to_parquet(out)
    peak = _peak_gb()
    result = {
        "customers": len(rfm),
        "transactions": n_rows,
        "unique_rows_bgnbd": model.purchase_model_.n_unique_rows_,
        "unique_rows_gg": model.spend_model_.n_unique_rows_,
        "times": dict(clock.times),
        "fit_optimise_s": optimising.seconds + covariance.seconds,
        "peak_gb": peak,
        "params": model.params_.to_dict(),
        "true_params": meta["params"],
        "converged": bool(model.purchase_model_.convergence_["converged"] and model.spend_model_.convergence_["converged"]),
    }
    del scores
    model.save(log_path.with_name(log_path.stem + "_model.joblib"))

    result["lifetimes"] = _lifetimes_figures(rfm, model, lifetimes_max)
    if peers:
        result["peers"] = _peer_figures(log_path, end, len(rfm), lifetimes_rfm_max)
    return result


def _lifetimes_fitters():
    from clv_predict import _lifetimes

    with _lifetimes._contained():
        from lifetimes import BetaGeoFitter, GammaGammaFitter
    return BetaGeoFitter, GammaGammaFitter


def _lifetimes_figures(rfm, model, lifetimes_max: int) -> dict:
    """lifetimes fitted row per customer (timed), and its CLV routine's throughput on a sample."""
    from clv_predict import _lifetimes

    BetaGeoFitter, GammaGammaFitter = _lifetimes_fitters()
    figures = {}
    if len(rfm) <= lifetimes_max:
        repeat = rfm[(rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)]
        with _lifetimes._contained():
            started = time.perf_counter()
            bgf = BetaGeoFitter().fit(rfm["frequency"], rfm["recency"], rfm["T"])
            figures["fit_bgnbd_s"] = time.perf_counter() - started
            started = time.perf_counter()
            ggf = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
            figures["fit_gg_s"] = time.perf_counter() - started
        theirs = np.concatenate([bgf.params_[["r", "alpha", "a", "b"]].to_numpy(), ggf.params_[["p", "q", "v"]].to_numpy()])
        ours = model.params_.to_numpy()
        figures["params"] = dict(zip(PARAM_NAMES, theirs.tolist()))
        figures["max_relative_difference"] = float(np.max(np.abs(ours - theirs) / np.abs(theirs)))
    # lifetimes' discounted CLV routine on a sample: customers per second
    sample = rfm.sample(n=min(len(rfm), 20_000), random_state=0)
    bgf = BetaGeoFitter()
    bgf.params_ = model.purchase_model_.params_.copy()
    ggf = GammaGammaFitter()
    ggf.params_ = model.spend_model_.params_.copy()
    bgf.predict = bgf.conditional_expected_number_of_purchases_up_to_time  # what lifetimes' fit would attach
    with _lifetimes._contained():
        started = time.perf_counter()
        # time=12 months of 30 days = 360 days, freq="W": lifetimes' own unit conventions
        ggf.customer_lifetime_value(bgf, sample["frequency"], sample["recency"], sample["T"],
                                    sample["monetary_value"], time=12, discount_rate=0.01, freq="W")
        figures["score_customers_per_s"] = len(sample) / (time.perf_counter() - started)
    return figures


def _peer_figures(log_path: Path, end: str, n_customers: int, lifetimes_max: int) -> dict:
    figures = {}
    try:
        import duckdb
    except ImportError:
        figures["duckdb"] = "not installed (pip install duckdb)"
    else:
        query = f"""
            WITH days AS (
                SELECT customer_id, CAST(date AS DATE) AS day, SUM(amount) AS amount
                FROM read_parquet('{log_path}') WHERE CAST(date AS DATE) <= DATE '{end}'
                GROUP BY customer_id, day
            ), customers AS (
                SELECT customer_id, MIN(day) AS first_day, MAX(day) AS last_day, COUNT(*) AS n,
                       SUM(amount) AS total, arg_min(amount, day) AS first_amount
                FROM days GROUP BY customer_id
            )
            SELECT customer_id, n - 1 AS frequency, (last_day - first_day) / 7.0 AS recency,
                   (DATE '{end}' - first_day) / 7.0 AS T,
                   CASE WHEN n > 1 THEN (total - first_amount) / (n - 1) ELSE 0 END AS monetary_value
            FROM customers ORDER BY customer_id
        """
        started = time.perf_counter()
        frame = duckdb.sql(query).df()
        figures["duckdb_rfm_s"] = time.perf_counter() - started
        figures["duckdb_customers"] = len(frame)
        del frame
    if n_customers <= lifetimes_max:
        import pyarrow.parquet as pq

        from clv_predict import _lifetimes

        log = pq.read_table(log_path, columns=["customer_id", "date", "amount"]).to_pandas()
        with _lifetimes._contained():
            from lifetimes.utils import summary_data_from_transaction_data

            started = time.perf_counter()
            try:
                summary_data_from_transaction_data(log, "customer_id", "date", monetary_value_col="amount",
                                                   observation_period_end=end, freq="W")
            except Exception as exc:  # lifetimes 0.11.3 predates pandas 3
                figures["lifetimes_rfm"] = f"fails: {type(exc).__name__}: {str(exc)[:120]}"
            else:
                figures["lifetimes_rfm_s"] = time.perf_counter() - started
    return figures


def run_score_file(log_path: Path, chunk_rows: int) -> dict:
    """Batch scoring of the whole file in chunks of whole customers (streaming), in its own process."""
    from clv_predict import load_model, score_file

    model = load_model(log_path.with_name(log_path.stem + "_model.joblib"))
    out = log_path.with_name(log_path.stem + "_streamed")
    if out.exists():
        import shutil

        shutil.rmtree(out)
    started = time.perf_counter()
    result = score_file(model, log_path, out, horizon=52, discount_rate=0.002, chunk_rows=chunk_rows, output_parts=True)
    return {"seconds": time.perf_counter() - started, "peak_gb": _peak_gb(), "chunks": result["chunks"],
            "customers": result["customers"], "chunk_rows": chunk_rows}


# ---------------------------------------------------------------------------------------------------- report
def _print_size(result: dict, lifetimes_reference: dict | None) -> None:
    t = result["times"]
    total = sum(t.values())
    n = result["customers"]
    print(f"\n== {n:,} customers, {result['transactions']:,} transactions "
          f"({result['unique_rows_bgnbd']:,} distinct BG/NBD rows, {result['unique_rows_gg']:,} Gamma-Gamma rows)")
    print(f"  read {t['read']:.2f} s | rfm {t['rfm']:.2f} s | fit {t['fit']:.2f} s | score {t['score']:.2f} s "
          f"({n / t['score'] / 1e6:.2f} M customers/s) | write {t['write']:.2f} s | total {total:.1f} s | "
          f"peak memory {result['peak_gb']:.2f} GB")
    optimise = result["fit_optimise_s"]
    print(f"  fit {t['fit']:.2f} s = optimise and covariance {optimise:.2f} s (on the distinct rows) + validate and "
          f"compress the summary {t['fit'] - optimise:.2f} s (one pass over the customers)")
    lt = result["lifetimes"]
    if "fit_bgnbd_s" in lt:
        lifetimes_fit = lt["fit_bgnbd_s"] + lt["fit_gg_s"]
        print(f"  lifetimes fit, one row per customer: {lifetimes_fit:.1f} s (BG/NBD {lt['fit_bgnbd_s']:.1f} s, "
              f"Gamma-Gamma {lt['fit_gg_s']:.1f} s) -> ours is {lifetimes_fit / t['fit']:.0f}x faster; "
              f"parameters equal to {lt['max_relative_difference']:.1e} relative")
    elif lifetimes_reference:
        factor = n / lifetimes_reference["customers"]
        lifetimes_fit = factor * (lifetimes_reference["lifetimes"]["fit_bgnbd_s"] + lifetimes_reference["lifetimes"]["fit_gg_s"])
        print(f"  lifetimes fit, one row per customer: ~{lifetimes_fit:.0f} s EXTRAPOLATED linearly from "
              f"{lifetimes_reference['customers']:,} customers (not run) -> ours is ~{lifetimes_fit / t['fit']:.0f}x faster")
    print(f"  lifetimes customer_lifetime_value: {lt['score_customers_per_s']:,.0f} customers/s "
          f"-> ours {n / t['score'] / lt['score_customers_per_s']:.0f}x")
    recovery = ", ".join(
        f"{k} {result['params'][k]:.3f} ({result['true_params'][k]:.3f}, {100 * (result['params'][k] / result['true_params'][k] - 1):+.1f}%)"
        for k in PARAM_NAMES
    )
    print(f"  recovery, fitted (generating, error): {recovery}; converged: {result['converged']}")
    streamed = result.get("score_file")
    if streamed:
        print(f"  score_file (streaming, {streamed['chunk_rows']:,}-row chunks, {streamed['chunks']} chunks, Parquet parts "
              f"out): {streamed['seconds']:.1f} s for {streamed['customers']:,} customers, peak memory {streamed['peak_gb']:.2f} GB")
    peers = result.get("peers")
    if peers:
        duck = peers.get("duckdb_rfm_s")
        print("  RFM from the file: ours (read + rfm) "
              f"{t['read'] + t['rfm']:.1f} s | DuckDB SQL " + (f"{duck:.1f} s" if duck else str(peers.get("duckdb"))))
        if "lifetimes_rfm_s" in peers:
            print(f"  RFM from a DataFrame in memory: ours {t['rfm']:.1f} s | lifetimes summary_data_from_transaction_data "
                  f"{peers['lifetimes_rfm_s']:.1f} s ({peers['lifetimes_rfm_s'] / t['rfm']:.1f}x)")
        else:
            print(f"  lifetimes summary_data_from_transaction_data: {peers.get('lifetimes_rfm', 'not run (size)')}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/clv_bench"))
    parser.add_argument("--lifetimes-max", type=int, default=1_000_000,
                        help="largest size at which lifetimes is run (above: extrapolated)")
    parser.add_argument("--peers", action="store_true", help="also time DuckDB SQL and lifetimes' RFM summary")
    parser.add_argument("--lifetimes-rfm-max", type=int, default=None,
                        help="largest size at which lifetimes' summary_data_from_transaction_data runs (default: --lifetimes-max)")
    parser.add_argument("--score-file", type=int, metavar="CHUNK_ROWS",
                        help="also time score_file (streaming, chunks of this many rows, Parquet parts out)")
    parser.add_argument("--run-path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--run-score-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    if args.run_score_file:
        warnings.simplefilter("ignore")
        print(json.dumps(run_score_file(args.run_score_file, args.score_file)))
        return
    if args.run_path:  # child process: one size, figures as JSON on stdout
        warnings.simplefilter("ignore")
        print(json.dumps(run_path(args.run_path, args.lifetimes_max, args.peers,
                                  args.lifetimes_rfm_max or args.lifetimes_max)))
        return

    from generate import write_log

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1024**3:.0f} GB RAM, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")
    results, reference = [], None
    for n in sorted(args.customers):
        path = args.workdir / f"log_{n}_seed{args.seed}.parquet"
        if not path.exists():
            info = write_log(n, args.seed, path)
            print(f"drew {n:,} customers ({info['rows']:,} transactions) in {info['seconds_to_draw']:.1f} s -> {path}")
        command = [sys.executable, __file__, "--run-path", str(path), "--lifetimes-max", str(args.lifetimes_max),
                   "--lifetimes-rfm-max", str(args.lifetimes_rfm_max or args.lifetimes_max)]
        if args.peers:
            command.append("--peers")
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        result = json.loads(output.strip().splitlines()[-1])
        if args.score_file:
            command = [sys.executable, __file__, "--run-score-file", str(path), "--score-file", str(args.score_file)]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            result["score_file"] = json.loads(output.strip().splitlines()[-1])
        _print_size(result, reference)
        if "fit_bgnbd_s" in result["lifetimes"]:
            reference = result
        results.append(result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
