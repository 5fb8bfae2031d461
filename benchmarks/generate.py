"""Write a synthetic transaction log drawn from the BG/NBD + Gamma-Gamma process to Parquet.

    python benchmarks/generate.py --customers 10000000 --seed 1 --output /tmp/clv_bench/log_10000000.parquet

The parameters are CDNOW's published estimates (per week); first purchases are
spread over 2020, the observation period ends on 2021-04-14 (about 2.2
transactions per customer). See ``clv_predict.synthetic.simulate_transactions``.
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


def read_meta(path: Path) -> dict:
    """What ``write_log`` stored about a log file."""
    return json.loads(pq.read_schema(path).metadata[b"clv_predict.synthetic"])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    info = write_log(args.customers, args.seed, args.output)
    print(
        f"{info['customers']:,} customers, {info['rows']:,} transactions drawn in {info['seconds_to_draw']:.1f} s "
        f"({info['seconds_total']:.1f} s with writing) -> {args.output}"
    )


if __name__ == "__main__":
    main()
