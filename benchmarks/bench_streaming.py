"""Larger than memory: streaming against in-memory fit and scoring, Dask, and a 100M-transaction log.

    python benchmarks/bench_streaming.py --customers 10000000 --big-customers 45300000

Prints, in one run (every measured step in a fresh process, its peak memory the process's high-water mark):

* what this machine reads and writes per second (the physical limit of each stage): 1 GiB written to the page
  cache, then synced to disk; read back; the log's Parquet file read with pyarrow;
* scoring at ``--customers``: the in-memory path (read the Parquet log, ``rfm_summary``, ``score``, write the
  scores to Parquet) against ``score_file`` (streaming, default chunks), time ratio and peak memory;
* fitting at ``--customers``: read + ``rfm_summary`` + ``CLVModel.fit`` against ``fit_file``, with the largest
  relative difference of the estimates;
* the Dask path (``clv_predict.dask``) at ``--customers`` on a two-worker ``LocalCluster``: summary, fit,
  scores written to Parquet; peak memory of the client plus each worker;
* with ``--big-customers``: a log of that many customers written as Parquet parts by ``generate.py --parts``
  (about 2.2 transactions a customer), fitted with ``fit_file`` and scored with ``score_file`` end to end,
  against 12x the in-memory path at ``--customers`` (read, summary, fit, score, write).

No figure here is asserted anywhere; the machine is shared, so the load average is printed with them.
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


class _Steps:
    """A progress receiver that times each step of score_file / fit_file."""

    def __init__(self):
        self.times, self.current, self.started = {}, None, None

    def start(self, step, total=None, unit="rows"):
        self.finish()
        self.current, self.started = step, time.perf_counter()

    def advance(self, done):
        pass

    def finish(self):
        if self.current is not None:
            self.times[self.current] = self.times.get(self.current, 0.0) + time.perf_counter() - self.started
            self.current = None


class _Timed:
    """While active, adds up the wall-clock time spent in ``owner.name`` (a function, method or generator
    function: for a generator, the time of producing each item)."""

    def __init__(self, owner, name):
        self.owner, self.name, self.seconds = owner, name, 0.0

    def __enter__(self):
        import inspect

        self.original = original = getattr(self.owner, self.name)
        timed = self

        if inspect.isgeneratorfunction(original):
            def wrapper(*args, **kwargs):
                iterator = original(*args, **kwargs)
                while True:
                    started = time.perf_counter()
                    try:
                        item = next(iterator)
                    except StopIteration:
                        timed.seconds += time.perf_counter() - started
                        return
                    timed.seconds += time.perf_counter() - started
                    yield item
        else:
            def wrapper(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    timed.seconds += time.perf_counter() - started

        setattr(self.owner, self.name, wrapper)
        return self

    def __exit__(self, *exc):
        setattr(self.owner, self.name, self.original)


def _stage_timers():
    """What each stage of a streamed run costs (the writes run in a thread, beside the next bucket's work)."""
    from clv_predict import io, rfm, scoring, streaming

    return {
        "read Parquet into pandas": _Timed(io, "iter_transactions"),
        "check the rows (policies, ids, dates)": _Timed(rfm, "_read_log"),
        "write the buckets": _Timed(streaming._Partitioner, "add"),
        "read a bucket back": _Timed(streaming, "_bucket_arrays"),
        "summarise (RFM)": _Timed(rfm, "_customers"),
        "forecast (score)": _Timed(scoring, "score"),
        "write the scores (in a thread)": _Timed(scoring._Writer, "write"),
    }


# ------------------------------------------------------------------------------------------------ child steps
def io_limits(path: Path, workdir: Path) -> dict:
    import numpy as np
    import pyarrow.parquet as pq

    block = np.random.default_rng(0).random(64 * 1024**2 // 8)
    target = workdir / "io_probe.bin"
    started = time.perf_counter()
    with open(target, "wb") as stream:
        stream.writelines(block.data for _ in range(16))
        cached = time.perf_counter() - started
        stream.flush()
        os.fsync(stream.fileno())
    synced = time.perf_counter() - started
    started = time.perf_counter()
    with open(target, "rb") as stream:
        while stream.readinto(block.data):
            pass
    read = time.perf_counter() - started
    target.unlink()
    started = time.perf_counter()
    table = pq.read_table(path, columns=["customer_id", "date", "amount"])
    parquet = time.perf_counter() - started
    return {"write_cache_gbs": 1.0737 / cached, "write_disk_gbs": 1.0737 / synced, "read_gbs": 1.0737 / read,
            "parquet_read_s": parquet, "parquet_file_gb": path.stat().st_size / 1e9,
            "parquet_table_gb": table.nbytes / 1e9, "rows": table.num_rows}


def memory_score(path: Path, model_path: Path) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from clv_predict import load_model, rfm_summary, score
    from clv_predict.scoring import _PARQUET_OPTIONS, _schema

    model = load_model(model_path)
    times = {}
    started = time.perf_counter()
    log = pq.read_table(path, columns=["customer_id", "date", "amount"]).to_pandas()
    times["read"] = time.perf_counter() - started
    rfm = rfm_summary(log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
                      time_unit="W")
    del log
    times["rfm"] = time.perf_counter() - started - times["read"]
    mark = time.perf_counter()
    scored = score(model, rfm, horizon=52, discount_rate=0.002)
    del rfm
    times["score"] = time.perf_counter() - mark
    mark = time.perf_counter()
    pq.write_table(pa.Table.from_pandas(scored, schema=_schema(scored), preserve_index=False),
                   path.with_name(path.stem + "_scores_memory.parquet"), **_PARQUET_OPTIONS)
    times["write"] = time.perf_counter() - mark
    return {"seconds": time.perf_counter() - started, "times": times, "peak_gb": _peak_gb(), "customers": len(scored)}


def stream_score(path: Path, model_path: Path, chunk_rows) -> dict:
    from clv_predict import load_model, score_file

    model = load_model(model_path)
    steps = _Steps()
    out = path.with_name(path.name.removesuffix(".parquet") + "_scores_streamed.parquet")
    timers = _stage_timers()
    import contextlib

    with contextlib.ExitStack() as stack:
        for timer in timers.values():
            stack.enter_context(timer)
        started = time.perf_counter()
        result = score_file(model, path, out, horizon=52, discount_rate=0.002, chunk_rows=chunk_rows, progress=steps)
        seconds = time.perf_counter() - started
    steps.finish()
    return {"seconds": seconds, "times": steps.times, "peak_gb": _peak_gb(), "customers": result["customers"],
            "chunks": result["chunks"], "output_gb": out.stat().st_size / 1e9,
            "stages": {name: timer.seconds for name, timer in timers.items()}}


def memory_fit(path: Path, model_path: Path) -> dict:
    import pyarrow.parquet as pq

    from clv_predict import CLVModel, rfm_summary

    started = time.perf_counter()
    log = pq.read_table(path, columns=["customer_id", "date", "amount"]).to_pandas()
    rfm = rfm_summary(log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
                      time_unit="W")
    del log
    model = CLVModel().fit(rfm)
    seconds = time.perf_counter() - started
    model.save(model_path)
    return {"seconds": seconds, "peak_gb": _peak_gb(), "params": model.params_.to_dict(),
            "customers": model.n_customers_}


def stream_fit(path: Path, chunk_rows) -> dict:
    from clv_predict import fit_file

    steps = _Steps()
    started = time.perf_counter()
    model = fit_file(path, time_unit="W", chunk_rows=chunk_rows, progress=steps)
    seconds = time.perf_counter() - started
    steps.finish()
    return {"seconds": seconds, "times": steps.times, "peak_gb": _peak_gb(), "params": model.params_.to_dict(),
            "customers": model.n_customers_, "distinct_rows": model.purchase_model_.n_unique_rows_,
            "spend_rows": model.spend_model_.n_unique_rows_}


def dask_path(path: Path) -> dict:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    from clv_predict import dask as clv_dask

    out = path.with_name(path.stem + "_scores_dask")
    started = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        log = dd.read_parquet(str(path), columns=["customer_id", "date", "amount"], split_row_groups=True)
        rfm = clv_dask.rfm_summary(log, customer_id_col="customer_id", datetime_col="date",
                                   monetary_value_col="amount", time_unit="W").persist()
        model = clv_dask.fit(rfm, time_unit="W")
        clv_dask.predict(model, rfm, horizon=52, discount_rate=0.002).to_parquet(str(out))
        seconds = time.perf_counter() - started

        def worker_peak():
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

        workers = client.run(worker_peak)
    return {"seconds": seconds, "client_peak_gb": _peak_gb(), "worker_peaks_gb": sorted(workers.values()),
            "params": model.params_.to_dict(), "partitions": log.npartitions}


STEPS = {"io": io_limits, "memory-score": memory_score, "stream-score": stream_score, "memory-fit": memory_fit,
         "stream-fit": stream_fit, "dask": dask_path}


def _child(step: str, *args, timeout=None) -> dict:
    command = [sys.executable, __file__, "--child", step, *map(str, args)]
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=timeout).stdout
    return json.loads(output.strip().splitlines()[-1])


def _max_difference(a: dict, b: dict) -> float:
    return max(abs(a[k] - b[k]) / abs(b[k]) for k in b)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--big-customers", type=int, help="also the end-to-end run on this many customers (parts)")
    parser.add_argument("--parts", type=int, default=10, help="Parquet parts of the big log (default: 10)")
    parser.add_argument("--chunk-rows", type=int, default=None, help="chunk rows of the streamed runs (default: the package's)")
    parser.add_argument("--dask-timeout", type=int, default=1200, help="seconds the Dask run may take (default: 1200)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/clv_bench"))
    parser.add_argument("--skip", nargs="*", default=[], choices=sorted(STEPS), help="steps not to run")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        warnings.simplefilter("ignore")
        step, *rest = args.child
        converted = [None if value == "None" else (int(value) if value.isdigit() else Path(value)) for value in rest]
        print(json.dumps(STEPS[step](*converted)))
        return

    from generate import write_log, write_parts

    load = os.getloadavg()[0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1024**3:.0f} GB RAM, "
          f"Python {platform.python_version()}, load average {load:.1f} at the start")
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"log_{args.customers}_seed{args.seed}.parquet"
    if not path.exists():
        info = write_log(args.customers, args.seed, path)
        print(f"drew {args.customers:,} customers ({info['rows']:,} transactions) -> {path}")
    model_path = path.with_name(path.stem + "_streaming_model.joblib")
    figures = {"load_start": load}
    n = args.customers

    if "io" not in args.skip:
        io = figures["io"] = _child("io", path, args.workdir)
        print(f"\n== this machine's reading and writing: 1 GiB written to the page cache {io['write_cache_gbs']:.2f} GB/s, "
              f"to disk (fsync) {io['write_disk_gbs']:.2f} GB/s; read back {io['read_gbs']:.2f} GB/s; "
              f"the {io['parquet_file_gb']:.2f} GB Parquet log ({io['rows']:,} rows, {io['parquet_table_gb']:.2f} GB "
              f"in Arrow) read in {io['parquet_read_s']:.2f} s")

    fit_memory = figures["memory-fit"] = _child("memory-fit", path, model_path)
    print(f"\n== fit at {n:,} customers")
    print(f"  in memory (read + rfm_summary + fit): {fit_memory['seconds']:.1f} s, peak {fit_memory['peak_gb']:.2f} GB")
    if "stream-fit" not in args.skip:
        fit_stream = figures["stream-fit"] = _child("stream-fit", path, args.chunk_rows)
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in fit_stream["times"].items())
        print(f"  fit_file: {fit_stream['seconds']:.1f} s ({steps}), peak {fit_stream['peak_gb']:.2f} GB; "
              f"{fit_stream['distinct_rows']:,} distinct purchase rows, {fit_stream['spend_rows']:,} spend rows; "
              f"time {fit_stream['seconds'] / fit_memory['seconds']:.2f}x; estimates equal to "
              f"{_max_difference(fit_stream['params'], fit_memory['params']):.1e} relative")

    score_memory = figures["memory-score"] = _child("memory-score", path, model_path)
    t = score_memory["times"]
    print(f"\n== score at {n:,} customers")
    print(f"  in memory: {score_memory['seconds']:.1f} s (read {t['read']:.1f}, rfm {t['rfm']:.1f}, score {t['score']:.1f}, "
          f"write {t['write']:.1f}), peak {score_memory['peak_gb']:.2f} GB")
    if "stream-score" not in args.skip:
        score_stream = figures["stream-score"] = _child("stream-score", path, model_path, args.chunk_rows)
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in score_stream["times"].items())
        print(f"  score_file: {score_stream['seconds']:.1f} s ({steps}; {score_stream['chunks']} buckets), peak "
              f"{score_stream['peak_gb']:.2f} GB -> time {score_stream['seconds'] / score_memory['seconds']:.2f}x the "
              f"in-memory path, memory {score_stream['peak_gb'] / score_memory['peak_gb']:.2f}x")
        print("  its stages: " + "; ".join(f"{k} {v:.1f} s" for k, v in score_stream["stages"].items()))

    if "dask" not in args.skip:
        try:
            dask = figures["dask"] = _child("dask", path, timeout=args.dask_timeout)
        except subprocess.CalledProcessError as exc:
            print(f"\n== Dask: failed: {exc.stderr.strip().splitlines()[-1] if exc.stderr else exc}")
        except subprocess.TimeoutExpired:
            print(f"\n== Dask: did not finish within {args.dask_timeout} s (stopped)")
        else:
            total = dask["client_peak_gb"] + sum(dask["worker_peaks_gb"])
            print(f"\n== Dask, two-worker LocalCluster, {n:,} customers ({dask['partitions']} partitions): summary + fit + "
                  f"scores to Parquet {dask['seconds']:.1f} s; peak client {dask['client_peak_gb']:.2f} GB + workers "
                  f"{' + '.join(f'{w:.2f}' for w in dask['worker_peaks_gb'])} GB = {total:.2f} GB; estimates equal "
                  f"to {_max_difference(dask['params'], fit_memory['params']):.1e} relative")

    if args.big_customers:
        big = args.workdir / f"log_{args.big_customers}_parts{args.parts}_seed{args.seed}"
        if not big.exists():
            info = write_parts(args.big_customers, args.parts, args.seed, big)
            print(f"\ndrew {args.big_customers:,} customers ({info['rows']:,} transactions) in {args.parts} parts -> {big}")
        fitted = figures["big-fit"] = _child("stream-fit", big, args.chunk_rows)
        # scoring reads a model file: the smaller log's model stands in (the same process, the cost does not
        # depend on the parameters)
        scored = figures["big-score"] = _child("stream-score", big, model_path, args.chunk_rows)
        memory_total = fit_memory["seconds"] + score_memory["times"]["score"] + score_memory["times"]["write"]
        total = fitted["seconds"] + scored["seconds"]
        print(f"\n== {args.big_customers:,} customers, {scored['customers']:,} scored, Parquet parts in")
        print(f"  fit_file {fitted['seconds']:.1f} s (peak {fitted['peak_gb']:.2f} GB) + score_file {scored['seconds']:.1f} s "
              f"(peak {scored['peak_gb']:.2f} GB) = {total:.1f} s; 12x the in-memory path at {n:,} (read + rfm + fit + "
              f"score + write, {memory_total:.1f} s) is {12 * memory_total:.1f} s -> {total / (12 * memory_total):.2f} of it")
    figures["load_end"] = os.getloadavg()[0]
    print(f"\nload average {figures['load_end']:.1f} at the end (2 cores)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
