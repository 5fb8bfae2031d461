"""Transaction logs larger than memory: summarised bucket by bucket of whole customers.

Two passes over the input, memory bound by the chunk size:

1. *Reading and bucketing.* The file (CSV, Parquet, or a folder of Parquet parts) is read in chunks of
   ``chunk_rows`` rows. Each chunk is checked and its input policies applied as in
   :class:`~clv_predict.TransactionLog`, then its rows (customer id, day, amount) are spread over temporary
   bucket files by *ranges* of customer id: every row of a customer lands in one bucket, the buckets hold
   consecutive ids, and a customer's rows stay in the order of the input (so sums of amounts are the same to
   the last bit as in memory). The ranges are cut at quantiles of a sample of the ids (the first chunk, and
   for Parquet a spread of its row groups), so that each bucket holds about ``chunk_rows`` rows; a bucket
   that came out much larger (ids sorted in the file, a CSV whose size misled the estimate) is cut again
   before it is read. Buckets are Arrow IPC streams, uncompressed: about 20 bytes a row for integer ids
   (8 id, 4 day, 8 amount), plus the id's text for text ids.
2. *Summarising.* One bucket at a time: its customers' RFM rows (exactly those of
   :func:`clv_predict.rfm_summary`), handed on in ascending id order: to scoring
   (:func:`clv_predict.score_file`), or compressed to their distinct rows with customer counts for fitting
   (:func:`fit_file`), so that the fit sees a table whose size follows the distinct rows, not the customers.

The bucket files live in a temporary folder (``tmp_dir``, default the system's) removed when the work ends,
also on an error or an interruption.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from . import io as _io
from . import rfm as _rfm
from ._progress import as_progress
from ._validation import check_end_after_last_purchase, check_time_unit, to_timestamp
from .exceptions import DataError, DataWarning
from .transactions import _changes, _grouped, _merge_days, late_rows_message

__all__ = ["BYTES_PER_ROW", "fit_file"]

DEFAULT_CHUNK_ROWS = 2_000_000

#: Temporary space a streamed transaction row takes, in bytes, with integer customer ids (text ids add their
#: length plus 4 bytes).
BYTES_PER_ROW = 20

# more bucket files than this would mean many small writes for nothing: a tiny chunk_rows is raised instead
_MAX_BUCKETS = 256
# a bucket this many times chunk_rows is cut again before it is summarised
_OVERSIZE = 2
# the fit's distinct rows are merged whenever this many (or chunk_rows) pile up from the buckets
_MERGE_ROWS = 1_000_000
# ids drawn from a Parquet input to place the bucket boundaries
_SAMPLE_IDS = 1_000_000

#: The steps a streamed run reports (see :mod:`clv_predict._progress`).
READING, SUMMARISING, SCORING, FITTING = "reading", "summarising", "scoring", "fitting"


@dataclass
class _Buckets:
    """What the first pass wrote: bucket files in ascending order of customer id, and what it saw."""

    folder: str
    files: list  # (path, rows), in id order
    integer_ids: bool
    first_day: int
    last_day: int
    rows: int  # rows read
    report: dict = field(default_factory=dict)  # what the input policies did, counted over every chunk


class _TextIds(Exception):
    """A chunk holds text ids after integer ones: the first pass starts again with text ids throughout."""


def _schema(integer: bool) -> pa.Schema:
    return pa.schema([("id", pa.int64() if integer else pa.string()), ("day", pa.int32()), ("amount", pa.float64())])


def estimated_rows(path: Path) -> int:
    """Rows of the input: exact for Parquet (from its metadata), estimated from the size for CSV."""
    if path.is_dir() or _io.file_format(path) == "parquet":
        try:
            return int(ds.dataset(str(path), format="parquet").count_rows())
        except (pa.ArrowInvalid, OSError):
            return 0
    size = path.stat().st_size
    sample = min(size, 1 << 20)
    with open(path, "rb") as stream:
        head = stream.read(sample)
    if path.name.lower().endswith(".gz"):
        return int(size * 8 / max(sample, 1) * 30)  # about 8x compression, 30 bytes a line: a rough guess
    lines = max(head.count(b"\n"), 1)
    return int(size / max(sample, 1) * lines)


# ---------------------------------------------------------------------------------------------- bucket keys
def _keys(ids: pd.Index, integer: bool | None) -> np.ndarray:
    """A chunk's distinct customer ids as bucket keys: int64 (``integer``), else text in ascending order.

    ``integer=None`` decides from these ids: integers when every one is (text written as a plain integer
    counts, as in the scoring output). Raises :class:`_TextIds` when ``integer`` is True and they are not.
    """
    from .scoring import _all_integer_ids

    if pd.api.types.is_integer_dtype(ids.dtype):
        if integer is False:
            return np.sort(np.asarray(ids.astype(str), dtype=object))
        return np.asarray(ids, dtype=np.int64)
    if integer is not False and _all_integer_ids(ids):
        return np.asarray(ids, dtype=object).astype(np.int64)
    if integer:
        raise _TextIds()
    text = np.asarray(ids.astype(str), dtype=object)
    return text if (text[1:] >= text[:-1]).all() else np.sort(text)


def _edges(sample: np.ndarray, n_buckets: int, integer: bool) -> np.ndarray:
    """Bucket boundaries: ``n_buckets - 1`` quantiles of the sampled ids (fewer where ids repeat)."""
    if n_buckets <= 1 or sample.size == 0:
        return np.array([], dtype=np.int64 if integer else object)
    ordered = np.sort(sample) if integer else np.asarray(pd.Index(sample).sort_values(), dtype=object)
    picks = ordered[(np.arange(1, n_buckets) * ordered.size) // n_buckets]
    return np.unique(picks) if integer else np.asarray(pd.unique(picks), dtype=object)


def _slots(keys: np.ndarray, edges: np.ndarray, integer: bool) -> np.ndarray:
    """The bucket of each key: how many boundaries are at or below it (text keys must be in ascending order)."""
    if integer:
        return np.searchsorted(edges, keys, side="right").astype(np.int64)
    # text: look up the few boundaries among the sorted keys (not each key among the boundaries)
    marks = np.zeros(keys.size + 1, dtype=np.int64)
    np.add.at(marks, np.searchsorted(keys, edges, side="left"), 1)
    return np.cumsum(marks)[: keys.size]


def _spans_the_ids(path: Path, id_col: str, sample: np.ndarray, integer: bool) -> bool:
    """Whether the ids of the first chunk cover nearly the whole range of a Parquet input's integer ids (read
    from its row-group statistics): then they place the bucket boundaries well without a further sample."""
    if not integer or sample.size == 0:
        return False
    try:
        low = high = None
        for fragment in ds.dataset(str(path), format="parquet").get_fragments():
            for group in fragment.row_groups:
                statistics = group.statistics.get(id_col)
                if not statistics or statistics.get("min") is None:
                    return False
                low = statistics["min"] if low is None else min(low, statistics["min"])
                high = statistics["max"] if high is None else max(high, statistics["max"])
    except (pa.ArrowException, OSError, ValueError, TypeError, AttributeError):
        return False
    if low is None:
        return False
    seen_low, seen_high = int(sample.min()), int(sample.max())
    return (seen_high - seen_low) >= 0.9 * (int(high) - int(low))


def _parquet_sample(path: Path, id_col: str, integer: bool) -> np.ndarray:
    """Customer ids from row groups spread over a Parquet input, as bucket keys (empty if they cannot be read)."""
    try:
        pieces = [(fragment, group.id) for fragment in ds.dataset(str(path), format="parquet").get_fragments()
                  for group in fragment.row_groups]
        if not pieces:
            return np.array([], dtype=np.int64 if integer else object)
        chosen = [pieces[i] for i in np.unique(np.linspace(0, len(pieces) - 1, min(len(pieces), 8)).astype(int))]
        values = []
        for fragment, group in chosen:
            column = fragment.subset(row_group_ids=[group]).to_table(columns=[id_col]).column(0).drop_null()
            step = max(1, len(column) // (_SAMPLE_IDS // len(chosen)))
            values.append(column.to_pandas().iloc[::step])
        raw = pd.concat(values, ignore_index=True)
        if integer:
            return pd.to_numeric(raw, errors="coerce").dropna().to_numpy().astype(np.int64)
        return np.asarray(raw.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)),
                          dtype=object)
    except (pa.ArrowException, OSError, ValueError, TypeError, OverflowError):
        return np.array([], dtype=np.int64 if integer else object)


class _Partitioner:
    """Appends rows to bucket files by bucket number; rows of one bucket keep the order they are given in."""

    def __init__(self, folder: str, prefix: str, n_buckets: int, integer: bool):
        self.folder, self.prefix, self.integer = folder, prefix, integer
        self.schema = _schema(integer)
        self.writers: list = [None] * n_buckets
        self.rows = np.zeros(n_buckets, dtype=np.int64)

    def path(self, bucket: int) -> str:
        return os.path.join(self.folder, f"{self.prefix}{bucket:04d}.arrow")

    def add(self, slots: np.ndarray, keys, days: np.ndarray, amounts: np.ndarray) -> None:
        """Rows with their bucket (``slots``); ``keys`` int64 per row, or a pyarrow string array per row."""
        counts = np.bincount(slots, minlength=len(self.writers))
        self.rows += counts
        filled = np.flatnonzero(counts)
        if filled.size == 1:  # the whole batch goes to one bucket: no reordering
            order = None
        else:
            # a stable sort keeps each customer's rows in input order (small integers sort by radix)
            order = np.argsort(slots.astype(np.uint16 if len(self.writers) < 2**16 else np.int64), kind="stable")
        if order is not None:
            keys = keys[order] if self.integer else keys.take(pa.array(order))
            days, amounts = days[order], amounts[order]
        id_column = pa.array(keys, type=pa.int64()) if self.integer else keys
        columns = [id_column, pa.array(days.astype(np.int32, copy=False)), pa.array(amounts, type=pa.float64())]
        table = pa.RecordBatch.from_arrays(columns, schema=self.schema)
        start = 0
        ends = np.cumsum(counts)
        for bucket in filled:
            end = int(ends[bucket])
            start = end - int(counts[bucket])
            if self.writers[bucket] is None:
                self.writers[bucket] = pa.ipc.new_stream(pa.OSFile(self.path(bucket), "wb"), self.schema)
            self.writers[bucket].write_batch(table.slice(start, end - start))

    def close(self) -> list:
        """Close every file; returns (path, rows) of the buckets that received rows, in bucket order."""
        files = []
        for bucket, writer in enumerate(self.writers):
            if writer is not None:
                writer.close()
                files.append((self.path(bucket), int(self.rows[bucket])))
        self.writers = [None] * len(self.writers)
        return files

    def abandon(self) -> None:
        for writer in self.writers:
            if writer is not None:
                try:
                    writer.close()
                except (pa.ArrowException, OSError):
                    pass
        self.writers = [None] * len(self.writers)


# ---------------------------------------------------------------------------------------------- first pass
def bucket_transactions(path: Path, folder: str, *, id_col, date_col, amount_col, policy, read_options,
                        chunk_rows: int, steps) -> _Buckets:
    """Read ``path`` in chunks, check it, and write its rows to bucket files of whole customers in ``folder``."""
    if not path.exists():
        raise DataError(f"input file {str(path)!r} does not exist")
    if amount_col is None and policy.quantity_col is None:
        raise DataError("the amounts are needed: give monetary_value_col (--amount-col) or quantity_col with "
                        "unit_price_col")
    try:
        return _bucket_once(path, folder, id_col, date_col, amount_col, policy, read_options, chunk_rows, steps, None)
    except _TextIds:
        for name in os.listdir(folder):
            os.unlink(os.path.join(folder, name))
        return _bucket_once(path, folder, id_col, date_col, amount_col, policy, read_options, chunk_rows, steps, False)


def _bucket_once(path, folder, id_col, date_col, amount_col, policy, read_options, chunk_rows, steps, integer):
    parquet = path.is_dir() or _io.file_format(path) == "parquet"
    columns = (id_col, date_col, amount_col, policy.quantity_col, policy.unit_price_col, policy.transaction_col)
    total = estimated_rows(path)
    n_buckets = min(_MAX_BUCKETS, max(1, math.ceil(total / chunk_rows)))
    report: dict = {}
    rows = 0
    first_day = last_day = None
    partitioner = edges = None
    steps.start(READING, total or None, "rows")
    try:
        # Parquet ids keep their type (integers stay integers); CSV ids are read as text so that '00123' stays
        for batch in _io.iter_transactions(path, columns, chunk_rows=chunk_rows,
                                           string_columns=() if parquet else (id_col,), **read_options):
            log = _rfm._read_log(batch, id_col, date_col, amount_col, policy,
                                 source=(str(path), "parquet" if parquet else "csv"), first_row=rows)
            rows += len(batch)
            for key, value in log.report.items():
                if isinstance(value, int) and key != "rows":
                    report[key] = report.get(key, 0) + value
            if log.codes.size:
                keys = _keys(log.ids, integer)
                integer = keys.dtype == np.int64
                if partitioner is None:
                    sample = keys[log.codes]
                    if parquet and n_buckets > 1 and not _spans_the_ids(path, id_col, sample, integer):
                        sample = np.concatenate([sample, _parquet_sample(path, id_col, integer)])
                    edges = _edges(sample, n_buckets, integer)
                    partitioner = _Partitioner(folder, "bucket-", edges.size + 1, integer)
                slots = _slots(keys, edges, integer)[log.codes]
                row_keys = keys[log.codes] if integer else pa.array(keys, type=pa.string()).take(pa.array(log.codes))
                partitioner.add(slots, row_keys, log.days, log.amounts)
                low, high = int(log.days.min()), int(log.days.max())
                first_day = low if first_day is None else min(first_day, low)
                last_day = high if last_day is None else max(last_day, high)
            steps.advance(len(batch))
    except BaseException:
        if partitioner is not None:
            partitioner.abandon()
        raise
    steps.finish()
    if partitioner is None:
        raise DataError(f"no purchase is left in {str(path)!r} once its input policies are applied")
    return _Buckets(folder, partitioner.close(), bool(integer), first_day, last_day, rows, report)


# ---------------------------------------------------------------------------------------------- second pass
def _read_bucket(file: str, integer: bool) -> pa.Table:
    with pa.memory_map(file) as source:
        return pa.ipc.open_stream(source).read_all()


def _split(file: str, rows: int, integer: bool, chunk_rows: int, depth: int = 0):
    """Bucket files no larger than about ``_OVERSIZE * chunk_rows`` rows covering ``file``'s customers, in order.

    A bucket that came out too large is cut at quantiles of its own ids (recursively); one that cannot be
    cut (a single customer) is kept whole.
    """
    if rows <= _OVERSIZE * chunk_rows or depth > 4:
        yield file
        return
    table = _read_bucket(file, integer)
    keys = table.column("id").combine_chunks()
    n_parts = min(_MAX_BUCKETS, math.ceil(rows / chunk_rows))
    step = max(1, len(keys) // _SAMPLE_IDS)
    if integer:
        edges = _edges(keys.to_numpy()[::step], n_parts, True)
    else:
        edges = _edges(np.asarray(keys.to_pandas().iloc[::step], dtype=object), n_parts, False)
    if edges.size == 0:
        yield file
        return
    folder, name = os.path.split(file)
    partitioner = _Partitioner(folder, name.removesuffix(".arrow") + "-", edges.size + 1, integer)
    try:
        for batch in table.to_batches(max_chunksize=chunk_rows):
            ids = batch.column(0)
            if integer:
                slots = _slots(ids.to_numpy(), edges, True)
            else:
                encoded = ids.dictionary_encode()
                dictionary = np.asarray(encoded.dictionary.to_pandas(), dtype=object)
                order = np.argsort(dictionary, kind="stable")
                slot_of = np.empty(dictionary.size, dtype=np.int64)
                slot_of[order] = _slots(dictionary[order], edges, False)
                slots = slot_of[encoded.indices.to_numpy()]
            partitioner.add(slots, ids.to_numpy() if integer else ids, batch.column(1).to_numpy(),
                            batch.column(2).to_numpy())
    except BaseException:
        partitioner.abandon()
        raise
    parts = partitioner.close()
    del table, keys
    os.unlink(file)
    for part, part_rows in parts:
        yield from _split(part, part_rows, integer, chunk_rows, depth + 1)


def _bucket_arrays(file: str, integer: bool):
    """A bucket's rows: customer ids (sorted Index), each row's code in it, days (int64) and amounts."""
    table = _read_bucket(file, integer)
    days = table.column("day").to_numpy().astype(np.int64)
    amounts = table.column("amount").to_numpy()
    if integer:
        codes, unique = _rfm._factorize_sorted(pd.Series(table.column("id").to_numpy(), copy=False))
        return pd.Index(unique, name="customer_id"), codes, days, amounts
    encoded = table.column("id").combine_chunks().dictionary_encode()
    dictionary = pd.Index(np.asarray(encoded.dictionary.to_pandas(), dtype=object))
    order = dictionary.argsort()
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    return dictionary.take(order).rename("customer_id"), rank[encoded.indices.to_numpy()], days, amounts


def end_of_observation(buckets: _Buckets, observation_period_end, *, stacklevel: int) -> int:
    """The observation end as a day: the given one (checked against the data) or the last day of the input."""
    if observation_period_end is None:
        return buckets.last_day
    end_day = _rfm._day(to_timestamp(observation_period_end, "observation_period_end"))
    if end_day < buckets.first_day:
        raise DataError(
            f"'observation_period_end' {_rfm._iso(end_day)} is before the first transaction "
            f"({_rfm._iso(buckets.first_day)})"
        )
    check_end_after_last_purchase(pd.Timestamp(_rfm._iso(end_day)), pd.Timestamp(_rfm._iso(buckets.last_day)),
                                  "observation_period_end", stacklevel=stacklevel + 1)
    return end_day


def summaries(buckets: _Buckets, end_day: int, time_unit: str, *, chunk_rows: int, regularity: bool, steps,
              step: str, summarise=None):
    """RFM summary of each bucket in ascending id order (customers of no purchase by ``end_day`` left out).

    ``summarise``, when given, makes each bucket's summary instead, from its rows: a purchase model's
    ``_summary_of_arrays(ids, days, amounts, end_day, report)`` (scoring asks the model for its own summary).
    Each bucket file is removed once read. ``buckets.report`` gains the late rows (``late_rows``) and the
    customer-days that netting left without a purchase.
    """
    steps.start(step, len(buckets.files), "chunks")
    late = 0
    for file, rows in buckets.files:
        for part in _split(file, rows, buckets.integer_ids, chunk_rows):
            ids, codes, days, amounts = _bucket_arrays(part, buckets.integer_ids)
            os.unlink(part)
            if end_day < int(days.max()):
                keep = days <= end_day
                late += int(keep.size - np.count_nonzero(keep))
                codes, days, amounts = codes[keep], days[keep], amounts[keep]
            if codes.size == 0:
                continue
            if summarise is not None:
                frame = summarise(pd.Series(np.asarray(ids.take(codes)), copy=False), days, amounts, end_day,
                                  buckets.report)
                if len(frame):
                    yield frame if frame.index.is_monotonic_increasing else frame.sort_index()
                continue
            customers = _rfm._customers(codes, days, amounts, buckets.report)
            if customers.codes.size == 0:
                continue
            frame = _rfm._summary_frame(customers, ids, end_day, time_unit)
            if regularity:
                merged = _merge_days(codes, days, amounts)
                frame["litt"] = _grouped(ids, *merged, end_day, time_unit).litt()
            yield frame
        steps.advance(1)
    steps.finish()
    buckets.report["late_rows"] = late


def warn_input_report(buckets: _Buckets, policy, end_day: int, *, stacklevel: int) -> None:
    """What the input policies did and how many rows fell after the observation end, as warnings."""
    counts = buckets.report
    # the same sentence as rfm_summary and fit say it (one wording, counted with plural()); customers with a
    # negative amount are counted per raw chunk, so over several chunks that count is left out, not overstated
    counted = {key: value for key, value in counts.items() if key != "late_rows"}
    counted["policy"] = policy.negative_amounts
    if buckets.rows > 0 and len(buckets.files) > 1:
        counted.pop("negative_customers", None)
    changed = _changes(counted)
    if changed:
        warnings.warn(changed, DataWarning, stacklevel=stacklevel + 1)
    if counts.get("late_rows"):
        warnings.warn(late_rows_message(counts["late_rows"], _rfm._iso(end_day)), DataWarning,
                      stacklevel=stacklevel + 1)


class _InBackground:
    """Hands each frame to ``writer.write`` in a thread, so that the next bucket is summarised and scored while
    the previous one is written (encoding and writing Parquet or CSV release the GIL for the most part).

    One write at a time is pending, so memory holds at most two buckets' results.
    """

    def __init__(self, writer):
        from concurrent.futures import ThreadPoolExecutor

        self.writer, self.pool, self.pending = writer, ThreadPoolExecutor(max_workers=1), None

    def write(self, frame) -> None:
        self.wait()
        self.pending = self.pool.submit(self.writer.write, frame)

    def wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()  # raises the write's error here


@contextlib.contextmanager
def in_background(writer):
    """``writer`` wrapped in :class:`_InBackground`; every write is finished (or failed) when the block ends,
    also when it ends by an error or an interruption (so the temporary output is never written after removal)."""
    background = _InBackground(writer)
    try:
        yield background
        background.wait()
    finally:
        background.pool.shutdown(wait=True)


_BUCKETS_PREFIX = "clv_predict_buckets_"


def temporary_folder(tmp_dir=None) -> tempfile.TemporaryDirectory:
    """The folder of the bucket files: in ``tmp_dir`` (default the system's temporary folder), removed on exit.

    Its name carries the process id, so that the folders a killed process left (SIGKILL gives no chance to clean
    up) are removed by the next run that uses the same ``tmp_dir``, as the partial outputs are.
    """
    if tmp_dir is not None:
        tmp_dir = Path(tmp_dir)
        if not tmp_dir.is_dir():
            raise DataError(f"'tmp_dir' {str(tmp_dir)!r} is not an existing folder")
    base = tmp_dir if tmp_dir is not None else Path(tempfile.gettempdir())
    remove_stale_buckets(base)
    return tempfile.TemporaryDirectory(prefix=f"{_BUCKETS_PREFIX}{os.getpid()}_", dir=base,
                                       ignore_cleanup_errors=True)


def remove_stale_buckets(base: Path) -> list:
    """Remove the bucket folders in ``base`` of processes that no longer run; returns what was removed."""
    import re
    import shutil

    from ._files import _process_is_gone

    pattern = re.compile(re.escape(_BUCKETS_PREFIX) + r"(\d+)_[A-Za-z0-9_]+$")
    removed = []
    try:
        entries = [entry for entry in base.iterdir() if entry.name.startswith(_BUCKETS_PREFIX)]
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if (match and int(match.group(1)) != os.getpid() and entry.is_dir() and not entry.is_symlink()
                and _process_is_gone(int(match.group(1)))):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


# ---------------------------------------------------------------------------------------------- fitting
class _DistinctRows:
    """The distinct rows of the buckets' summaries with how many customers share each, merged as they come.

    Each bucket's rows are compressed at once; whenever the rows kept pile up past ``limit``, they are
    compressed together (weights add up), so memory follows the distinct rows of the whole log, not the
    number of buckets times theirs.
    """

    def __init__(self, names: list, limit: int):
        self.names, self.limit, self.parts, self.rows = names, limit, [], 0

    def add(self, frame: pd.DataFrame) -> None:
        from ._rows import compress

        if len(frame) == 0:
            return
        unique, weights = compress({name: frame[name].to_numpy(dtype=float) for name in self.names})
        self.parts.append((unique, weights))
        self.rows += weights.size
        if self.rows > self.limit and len(self.parts) > 1:
            self.parts = [self._merge()]
            self.rows = self.parts[0][1].size

    def _merge(self) -> tuple[dict, np.ndarray]:
        from ._rows import compress

        columns = {name: np.concatenate([unique[name] for unique, _ in self.parts]) for name in self.names}
        weights = np.concatenate([weights for _, weights in self.parts])
        self.parts = []
        return compress(columns, weights)

    def table(self) -> pd.DataFrame:
        """The rows with a ``customers`` column (emptied here)."""
        if not self.parts:
            return pd.DataFrame({**{name: pd.Series(dtype=float) for name in self.names},
                                 "customers": pd.Series(dtype=float)})
        unique, weights = self.parts[0] if len(self.parts) == 1 else self._merge()
        self.parts = []
        return pd.DataFrame({**unique, "customers": weights}, copy=False)


def fit_file(
    input_path,
    *,
    time_unit: str = "W",
    purchase_model="bg_nbd",
    penalizer_coef: float = 0.0,
    spend_penalizer_coef: float = 0.0,
    engine: str = "native",
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    monetary_value_col: str | None = "amount",
    observation_period_end=None,
    chunk_rows: int | None = None,
    negative_amounts: str = "refuse",
    quantity_col: str | None = None,
    unit_price_col: str | None = None,
    transaction_col: str | None = None,
    missing_ids: str = "refuse",
    dayfirst: bool | None = None,
    sep: str | None = None,
    decimal: str = ".",
    tmp_dir=None,
    progress=None,
):
    """Fit a :class:`~clv_predict.CLVModel` on a transaction file larger than memory.

    The file is read in chunks and its customers summarised bucket by bucket (see
    :mod:`clv_predict.streaming`); each bucket's RFM rows are compressed at once to their distinct rows with
    the number of customers sharing each, and the models are fitted on those rows, merged. The estimates are
    those of ``CLVModel(...).fit(rfm_summary(log, ...))`` on the whole log in memory; memory is bound by the
    chunk size and the distinct rows, not by the customers.

    Parameters
    ----------
    input_path : path
        CSV (``.csv``, ``.csv.gz``) or Parquet file, or a folder of Parquet parts.
    time_unit : {"D", "W", "M"}, default "W"
        Unit of ``recency`` and ``T``, recorded in the model.
    purchase_model, penalizer_coef, spend_penalizer_coef, engine
        As in :class:`~clv_predict.CLVModel` (any purchase model of the family).
    customer_id_col, datetime_col, monetary_value_col, negative_amounts, quantity_col, unit_price_col, \
transaction_col, missing_ids, dayfirst, sep, decimal
        Columns and input policies, as in :func:`clv_predict.score_file`.
    observation_period_end : date-like, optional
        End of the training period; default the last date in the file. Later rows are left out, with a
        :class:`~clv_predict.exceptions.DataWarning`.
    chunk_rows : int, optional
        Input rows per chunk and about the rows of each bucket (default 2,000,000).
    tmp_dir : path, optional
        Folder for the temporary bucket files (default the system's temporary folder): about
        :data:`BYTES_PER_ROW` bytes per input row, removed when the function returns or fails.
    progress : Progress or callable, optional
        Told of the steps (reading, summarising, fitting); see :mod:`clv_predict._progress`.

    Returns
    -------
    CLVModel
        Fitted; ``observation_period_end_`` and ``training_period_`` as from the in-memory fit.

    Examples
    --------
    >>> import os, tempfile
    >>> from clv_predict.datasets import load_cdnow
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "log.parquet")
    >>> log = load_cdnow()
    >>> log[log["date"] <= "1997-09-30"].to_parquet(path)  # the training period of the CDNOW studies
    >>> model = fit_file(path, time_unit="W", observation_period_end="1997-09-30", chunk_rows=2000)
    >>> round(float(model.params_["r"]), 3), model.n_customers_
    (0.243, 2357)
    """
    from . import rfm as rfm_module
    from .clv import CLVModel
    from .models import GammaGammaModel

    input_path = Path(input_path)
    if not input_path.exists():
        raise DataError(f"input file {str(input_path)!r} does not exist")
    time_unit = check_time_unit(time_unit)
    chunk_rows = _chunk_rows(chunk_rows)
    steps = as_progress(progress, SUMMARISING)
    model = CLVModel(penalizer_coef, spend_penalizer_coef, engine=engine, purchase_model=purchase_model)
    purchases = model._new_purchase_model()
    if purchases.family != "purchases in continuous time":
        raise DataError(f"fit_file fits the purchase models in continuous time; {purchases.label} counts "
                        "opportunities: summarise the log with opportunity_summary and fit in memory")
    purchases._check_settings()
    GammaGammaModel(spend_penalizer_coef, engine=engine)._check_settings()
    fit_columns = list(purchases._fit_columns)
    if quantity_col is not None:
        monetary_value_col = None
    policy = rfm_module._policy(
        monetary_value_col, negative_amounts=negative_amounts, quantity_col=quantity_col,
        unit_price_col=unit_price_col, transaction_col=transaction_col, missing_ids=missing_ids, dayfirst=dayfirst,
    )
    purchase_rows = _DistinctRows(fit_columns, max(chunk_rows, _MERGE_ROWS))
    spend_rows = _DistinctRows(["frequency", "monetary_value"], max(chunk_rows, _MERGE_ROWS))
    first = last = None
    customers = 0
    with temporary_folder(tmp_dir) as folder:
        buckets = bucket_transactions(input_path, folder, id_col=customer_id_col, date_col=datetime_col,
                                      amount_col=monetary_value_col, policy=policy,
                                      read_options={"sep": sep, "decimal": decimal}, chunk_rows=chunk_rows,
                                      steps=steps)
        end_day = end_of_observation(buckets, observation_period_end, stacklevel=2)
        for frame in summaries(buckets, end_day, time_unit, chunk_rows=chunk_rows,
                               regularity="litt" in fit_columns, steps=steps, step=SUMMARISING):
            customers += len(frame)
            first = min(first or frame.attrs["first_purchase"], frame.attrs["first_purchase"])
            last = max(last or frame.attrs["last_purchase"], frame.attrs["last_purchase"])
            purchase_rows.add(frame)
            spend_rows.add(frame[frame["frequency"] > 0])  # the spend model's customers: the repeat buyers
            del frame
    if customers == 0:
        raise DataError(
            f"no purchase is left to summarise by observation_period_end {_rfm._iso(end_day)}: every customer-day "
            "before it was a return"
        )
    warn_input_report(buckets, policy, end_day, stacklevel=2)
    attrs = {"time_unit": time_unit, "observation_period_end": _rfm._iso(end_day), "first_purchase": first,
             "last_purchase": last}
    purchase_rows = purchase_rows.table()
    # the spend model reads frequency and monetary value only; recency and T complete a valid RFM table
    spend_rows = spend_rows.table().assign(recency=0.0, T=1.0)
    purchase_rows.attrs.update(attrs)
    spend_rows.attrs.update(attrs)
    steps.start(FITTING, None, "models")
    if len(spend_rows) == 0:
        raise DataError("no customer has repeat purchases with positive value, so the Gamma-Gamma spend model "
                        "cannot be fitted")
    model.purchase_model_ = purchases.fit(purchase_rows, time_unit=time_unit, weights="customers")
    model.spend_model_ = GammaGammaModel(spend_penalizer_coef, engine=engine).fit(
        spend_rows, time_unit=time_unit, weights="customers")
    model._take_training_figures()
    steps.finish()
    return model


def _chunk_rows(chunk_rows) -> int:
    chunk_rows = DEFAULT_CHUNK_ROWS if chunk_rows is None else chunk_rows
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)) or chunk_rows <= 0:
        raise DataError(f"'chunk_rows' must be a positive number of rows; got {chunk_rows!r}")
    return int(chunk_rows)
