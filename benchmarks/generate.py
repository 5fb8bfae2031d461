"""Write a synthetic transaction log drawn from the BG/NBD + Gamma-Gamma process to Parquet.

    python benchmarks/generate.py --customers 10000000 --seed 1 --output /tmp/clv_bench/log_10000000.parquet

The parameters are CDNOW's published estimates (per week); first purchases are
spread over 2020, the observation period ends on 2021-04-14 (about 2.2
transactions per customer). See ``clv_predict.synthetic.simulate_transactions``.

With ``--parts N`` the output is a folder of N Parquet files (``part-00000.parquet`` ...), each drawn
separately (seed ``seed * 1000 + i``) over its own range of customer ids, so that logs larger than memory can be
written a part at a time (about 45 million customers give 100 million transactions):

    python benchmarks/generate.py --customers 45300000 --parts 10 --output /tmp/clv_bench/log_100m
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from clv_predict.synthetic import CDNOW_PARAMS, simulate_transactions


def write_log(n_customers: int, seed: int, output: Path) -> dict:
    """Draw the log and write it (atomically) to ``output``; returns what was written."""
    started = time.perf_counter()
    log = simulate_transactions(n_customers, CDNOW_PARAMS, seed=seed)
    drawn = time.perf_counter() - started
    table = pa.Table.from_pandas(log, preserve_index=False)
    meta = {
        "observation_period_end": log.attrs["observation_period_end"],
        "params": log.attrs["params"],
        "time_unit": log.attrs["time_unit"],
        "seed": seed,
        "customers": n_customers,
    }
    table = table.replace_schema_metadata({b"clv_predict.synthetic": json.dumps(meta).encode()})
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".partial")
    pq.write_table(table, partial)
    partial.replace(output)
    return {**meta, "rows": len(log), "seconds_to_draw": drawn, "seconds_total": time.perf_counter() - started}


def write_parts(n_customers: int, parts: int, seed: int, output: Path) -> dict:
    """Draw the log in ``parts`` pieces of consecutive customer ids, one Parquet file each, in folder ``output``
    (written under a temporary name, renamed when complete); returns what was written."""
    started = time.perf_counter()
    partial = output.with_name(output.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    rows, offset, meta = 0, 0, None
    for i in range(parts):
        size = n_customers // parts + (1 if i < n_customers % parts else 0)
        log = simulate_transactions(size, CDNOW_PARAMS, seed=seed * 1000 + i)
        log["customer_id"] += offset
        offset += size
        rows += len(log)
        meta = {"observation_period_end": log.attrs["observation_period_end"], "params": log.attrs["params"],
                "time_unit": log.attrs["time_unit"], "seed": seed, "customers": n_customers, "parts": parts}
        table = pa.Table.from_pandas(log, preserve_index=False)
        table = table.replace_schema_metadata({b"clv_predict.synthetic": json.dumps(meta).encode()})
        pq.write_table(table, partial / f"part-{i:05d}.parquet")
        del log, table
    partial.replace(output)
    return {**meta, "rows": rows, "seconds_total": time.perf_counter() - started}


def read_meta(path: Path) -> dict:
    """What ``write_log`` or ``write_parts`` stored about a log file or folder."""
    path = Path(path)
    if path.is_dir():
        path = min(path.glob("*.parquet"))
    return json.loads(pq.read_schema(path).metadata[b"clv_predict.synthetic"])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--parts", type=int, help="write a folder of this many Parquet parts (drawn one at a time)")
    args = parser.parse_args(argv)
    if args.parts:
        info = write_parts(args.customers, args.parts, args.seed, args.output)
        print(f"{info['customers']:,} customers, {info['rows']:,} transactions in {args.parts} parts written in "
              f"{info['seconds_total']:.1f} s -> {args.output}")
        return
    info = write_log(args.customers, args.seed, args.output)
    print(
        f"{info['customers']:,} customers, {info['rows']:,} transactions drawn in {info['seconds_to_draw']:.1f} s "
        f"({info['seconds_total']:.1f} s with writing) -> {args.output}"
    )


if __name__ == "__main__":
    main()
