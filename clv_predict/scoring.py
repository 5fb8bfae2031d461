"""Batch scoring: a saved model applied to a file of transactions or RFM rows.

Large files are processed in chunks of whole customers so that memory is bound
by the chunk size, not the file: a first pass streams the input, checks it and
spreads its rows over bucket files by a hash of the customer id (so every row
of one customer lands in one bucket); a second pass summarises and scores one
bucket at a time. Output goes to a temporary file that is renamed when it is
complete, so a crash never leaves a file that looks finished.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from . import io as _io
from . import rfm as _rfm
from ._files import (
    _signals_held,
    _temporary_prefix,
    atomic_output,
    remove_stale_partials,
)
from ._validation import check_end_after_last_purchase, check_rfm, to_timestamp
from .exceptions import DataError, DataWarning
from .transactions import _changes, late_rows_message

#: Columns of every scoring output, in this order. ``customer_id`` is an integer when every id of the input is
#: one (written without leading zeros), text otherwise; ``frequency`` is an integer count; customers are in
#: ascending order of their id (numeric for integer ids).
SCORE_COLUMNS = (
    "customer_id",
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "expected_purchases",
    "p_alive",
    "expected_spend",
    "clv",
)

#: The column a written score file adds after :data:`SCORE_COLUMNS`: the model's time unit ("D", "W", "M") on every
#: row, in CSV and Parquet alike (Parquet also has it in its schema metadata), so that a later step reading the
#: file (``--input-kind rfm``, a merge with other scores) can check the unit of ``recency``, ``T`` and the horizon.
TIME_UNIT_COLUMN = "time_unit"

DEFAULT_CHUNK_ROWS = 2_000_000


def _check_model(model):
    from .clv import CLVModel

    if not isinstance(model, CLVModel):
        raise DataError(
            f"scoring needs a CLVModel (purchases and spend); got {type(model).__name__}"
        )
    model._check_fitted()


def score(model, rfm: pd.DataFrame, *, horizon, discount_rate: float = 0.0, margin: float = 1.0) -> pd.DataFrame:
    """Score an RFM table with a fitted :class:`CLVModel`; returns the fixed scoring schema.

    The result has one row per customer and the columns of :data:`SCORE_COLUMNS`
    (``customer_id`` of the table's index type, ``frequency`` an integer), ready to be written to a file.
    """
    _check_model(model)
    checked = check_rfm(rfm, need_monetary=True)
    checked.attrs = dict(rfm.attrs)
    forecast = model.predict(checked, horizon=horizon, discount_rate=discount_rate, margin=margin)
    out = pd.concat([checked, forecast], axis=1)
    ids = checked.index
    out.insert(0, "customer_id", ids.to_numpy() if pd.api.types.is_integer_dtype(ids) else ids.astype(str))
    out = out.reset_index(drop=True)[list(SCORE_COLUMNS)]
    out = out.astype({c: "float64" for c in SCORE_COLUMNS[1:]})
    out.attrs = {"time_unit": model.time_unit_} if model.time_unit_ else {}
    if np.array_equal(out["frequency"], np.round(out["frequency"])):
        out["frequency"] = out["frequency"].astype(np.int64)
    return out


_INTEGER_ID = r"-?(?:0|[1-9][0-9]{0,17})"


def _all_integer_ids(ids) -> bool:
    """Whether every id (text) is an integer written plainly: such ids are kept as integers."""
    ids = pd.Series(pd.unique(np.asarray(ids, dtype=object)), dtype=object).astype(str)
    return bool(ids.str.fullmatch(_INTEGER_ID).all())


def _schema(frame: pd.DataFrame | None, unit: str | None = None) -> pa.Schema:
    integer = frame is not None and pd.api.types.is_integer_dtype(frame["customer_id"])
    unit = unit or (frame.attrs.get("time_unit") if frame is not None else None) or ""
    return pa.schema([("customer_id", pa.int64() if integer else pa.string()), ("frequency", pa.int64())]
                     + [(c, pa.float64()) for c in SCORE_COLUMNS[2:]]
                     + ([(TIME_UNIT_COLUMN, pa.string())] if unit else []),
                     metadata={"time_unit": unit} if unit else None)


def _with_time_unit(frame: pd.DataFrame, unit: str | None) -> pd.DataFrame:
    """The scores as written: :data:`SCORE_COLUMNS`, then the time unit column when the unit is known."""
    unit = unit or frame.attrs.get("time_unit")
    return frame.assign(**{TIME_UNIT_COLUMN: unit}) if unit else frame


def _stated_time_unit(path: Path, sep) -> str | None:
    """The time unit an RFM file states: Parquet schema metadata ``time_unit`` or a CSV column ``time_unit``."""
    if path.is_dir() or _format_of(path) == "parquet":
        try:
            metadata = ds.dataset(str(path), format="parquet").schema.metadata or {}
        except (pa.ArrowInvalid, OSError):
            return None
        unit = metadata.get(b"time_unit")
        return unit.decode() if unit else None
    try:
        header = pd.read_csv(path, nrows=0, sep=sep, engine="python" if sep is None else "c").columns
    except (ValueError, OSError):
        return None
    if "time_unit" not in header:
        return None
    units = set(pd.read_csv(path, usecols=["time_unit"], sep=sep, engine="python" if sep is None else "c",
                            dtype=str)["time_unit"].dropna())
    if not units:  # a header without rows states nothing
        return None
    if len(units) != 1:
        raise DataError(f"the 'time_unit' column of {str(path)!r} must hold one unit; got {sorted(units)}")
    return units.pop()


def _check_rfm_time_unit(path: Path, model_unit: str | None, given: str | None, sep) -> None:
    stated = _stated_time_unit(path, sep)
    if stated is None and given is None:
        raise DataError(f"the RFM file {str(path)!r} does not state its time unit: give time_unit "
                        f"(--time-unit), the unit its recency and T are in (the model's is {model_unit!r})")
    if stated is not None and given is not None and stated != given:
        raise DataError(f"the RFM file {str(path)!r} states time unit {stated!r} but time_unit {given!r} was given")
    unit = stated or given
    if model_unit and unit != model_unit:
        raise DataError(f"the RFM file {str(path)!r} is in time unit {unit!r} but the model was fitted in "
                        f"{model_unit!r}; rebuild the RFM table with time_unit={model_unit!r}")


def _format_of(path: Path) -> str:
    return _io.file_format(path)


def _batches(path: Path, columns, rows: int, string_columns=(), **read_options):
    """Stream ``path`` as pandas DataFrames of at most ``rows`` rows, with the given columns (see :mod:`clv_predict.io`)."""
    yield from _io.iter_transactions(path, columns, chunk_rows=rows, string_columns=string_columns, **read_options)


def _atomic_output(path: Path):
    return atomic_output(path)


@contextlib.contextmanager
def _atomic_folder(path: Path):
    """A temporary folder next to ``path``, renamed to ``path`` once everything in it is written."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise DataError(f"cannot write {str(path)!r}: folder {str(parent)!r} does not exist")
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise DataError(f"cannot write Parquet parts to {str(path)!r}: it exists and is not an empty folder")
    remove_stale_partials(path)
    temporary = None
    try:
        with _signals_held():  # as atomic_output: a signal now is handled once the folder's name is known
            temporary = Path(tempfile.mkdtemp(prefix=_temporary_prefix(path), suffix=".partial", dir=parent))
        yield temporary
        if path.exists():
            path.rmdir()
        os.replace(temporary, path)
    except BaseException:
        import shutil

        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
        raise


class _PartsWriter:
    """Writes each scored chunk as its own Parquet file (``part-00000.parquet``, ...) in a folder."""

    def __init__(self, folder: Path, unit: str | None = None):
        self.folder, self.rows, self.parts, self.schema, self.unit = folder, 0, 0, None, unit

    def write(self, frame: pd.DataFrame) -> None:
        self.schema = self.schema or _schema(frame, self.unit)
        frame = _with_time_unit(frame, self.unit)
        table = pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
        pq.write_table(table, self.folder / f"part-{self.parts:05d}.parquet")
        self.rows += len(frame)
        self.parts += 1

    def close(self) -> None:
        if self.parts == 0:  # an empty result is still a readable dataset with the schema
            self.write(pd.DataFrame({c: pd.Series(dtype={"customer_id": str, "frequency": "int64"}.get(c, float))
                                     for c in SCORE_COLUMNS}))


class _Writer:
    """Appends scored chunks to one CSV or Parquet file with the fixed schema (and the time unit column)."""

    def __init__(self, path: Path, kind: str, unit: str | None = None):
        self.path, self.kind, self._parquet, self.rows, self.schema, self.unit = path, kind, None, 0, None, unit

    def write(self, frame: pd.DataFrame) -> None:
        self.schema = self.schema or _schema(frame, self.unit)
        frame = _with_time_unit(frame, self.unit)
        if self.kind == "parquet":
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(str(self.path), self.schema)
            self._parquet.write_table(pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False))
        else:
            frame.to_csv(self.path, mode="a", header=self.rows == 0, index=False)
        self.rows += len(frame)

    def close(self) -> None:
        if self.kind == "parquet":
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(str(self.path), _schema(None, self.unit))
            self._parquet.close()
        elif self.rows == 0:
            names = list(SCORE_COLUMNS) + ([TIME_UNIT_COLUMN] if self.unit else [])
            pd.DataFrame(columns=names).to_csv(self.path, index=False)


def score_file(
    model,
    input_path,
    output_path,
    *,
    horizon,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    input_kind: str = "transactions",
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    monetary_value_col: str = "amount",
    observation_period_end=None,
    chunk_rows: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    output_parts: bool = False,
    negative_amounts: str = "refuse",
    quantity_col: str | None = None,
    unit_price_col: str | None = None,
    transaction_col: str | None = None,
    missing_ids: str = "refuse",
    dayfirst: bool | None = None,
    sep: str | None = None,
    decimal: str = ".",
    observation_end=None,
    time_unit: str | None = None,
) -> dict:
    """Score every customer of a file with a fitted :class:`CLVModel` and write the result.

    Parameters
    ----------
    model : CLVModel
        A fitted model, usually from :func:`clv_predict.load_model`.
    input_path : path
        CSV (``.csv``, ``.csv.gz``) or Parquet file, or a folder of Parquet parts.
    output_path : path
        ``.csv`` or ``.parquet``; columns :data:`SCORE_COLUMNS` and ``time_unit`` (the model's). With
        ``output_parts=True``, a folder (new or empty) that receives one Parquet
        file per chunk, ``part-00000.parquet`` onwards, readable as one dataset
        (``pandas.read_parquet(folder)``); it appears only once complete.
    horizon, discount_rate, margin
        As in :meth:`CLVModel.predict`, in the model's time unit.
    input_kind : {"transactions", "rfm"}
        A transaction log (summarised here, as of ``observation_period_end``,
        default the last date in the file) or a ready RFM table with ``frequency``,
        ``recency``, ``T``, ``monetary_value`` in the model's time unit.
    chunk_rows : int, optional
        Input rows per chunk (default 2,000,000). Customers are never split
        across chunks; the output equals one-shot output row for row once
        both are ordered by ``customer_id``.
    progress : callable, optional
        Called as ``progress(done, total)`` after each chunk is scored.
    negative_amounts, quantity_col, unit_price_col, transaction_col, missing_ids, dayfirst
        Input policies of a transaction file, as in :func:`clv_predict.rfm_summary`
        (with ``quantity_col`` and ``unit_price_col`` the ``monetary_value_col`` is
        not read). An invoice whose lines straddle two chunks is two transactions
        for ``negative_amounts='drop'``; netting is exact across chunks.
    sep, decimal
        CSV separator (default: read off the header) and decimal mark; see :mod:`clv_predict.io`.
    observation_end
        Deprecated spelling of ``observation_period_end`` (the name of every other function).
    time_unit : {"D", "W", "M"}, optional
        Time unit of an RFM input that does not state its own. RFM tables state it in their
        Parquet schema metadata (``time_unit``, as this function writes it) or in a CSV column
        ``time_unit``; a unit other than the model's is refused, and so is an RFM file that does not
        state one when ``time_unit`` is not given.

    Returns
    -------
    dict
        ``customers`` scored, ``chunks``, ``observation_period_end`` used (also under its old
        key ``observation_end``) and ``output`` path.
    """
    if observation_end is not None:
        if observation_period_end is not None:
            raise TypeError("give 'observation_period_end' only ('observation_end' is its deprecated spelling)")
        warnings.warn("score_file's 'observation_end' is deprecated: use 'observation_period_end'",
                      DeprecationWarning, stacklevel=2)
        observation_period_end = observation_end
    _check_model(model)
    input_path, output_path = Path(input_path), Path(output_path)
    out_kind = "parts" if output_parts else _format_of(output_path)
    if input_kind not in ("transactions", "rfm"):
        raise DataError(f"'input_kind' must be 'transactions' or 'rfm'; got {input_kind!r}")
    chunk_rows = DEFAULT_CHUNK_ROWS if chunk_rows is None else int(chunk_rows)
    if chunk_rows <= 0:
        raise DataError(f"'chunk_rows' must be a positive number of rows; got {chunk_rows!r}")
    # validate these before reading anything
    from ._validation import check_discount_rate, check_horizon, check_margin

    check_horizon(horizon)
    check_discount_rate(discount_rate, getattr(model, "time_unit_", None))
    check_margin(margin)
    settings = {"horizon": horizon, "discount_rate": discount_rate, "margin": margin}

    with (_atomic_folder(output_path) if output_parts else _atomic_output(output_path)) as partial:
        unit = getattr(model, "time_unit_", None)
        writer = _PartsWriter(partial, unit) if output_parts else _Writer(partial, out_kind, unit)
        if input_kind == "rfm":
            _check_rfm_time_unit(input_path, model.time_unit_, time_unit, sep)
            columns = ("customer_id", "frequency", "recency", "T", "monetary_value")
            chunks = 0
            integer_ids = all(  # one id column read first, so that every chunk writes ids of one type
                _all_integer_ids(batch["customer_id"])
                for batch in _batches(input_path, ("customer_id",), chunk_rows, string_columns=("customer_id",),
                                      sep=sep, decimal=decimal)
            )
            for batch in _batches(input_path, columns, chunk_rows, string_columns=("customer_id",), sep=sep, decimal=decimal):
                table = batch.set_index("customer_id")
                if integer_ids:
                    table.index = table.index.astype(np.int64)
                table.attrs["time_unit"] = model.time_unit_
                writer.write(score(model, table, **settings))
                chunks += 1
                if progress:
                    progress(chunks, 0)
            end = None
        else:
            if quantity_col is not None:
                monetary_value_col = None
            policy = _rfm._policy(
                monetary_value_col, negative_amounts=negative_amounts, quantity_col=quantity_col,
                unit_price_col=unit_price_col, transaction_col=transaction_col, missing_ids=missing_ids,
                dayfirst=dayfirst,
            )
            chunks, end = _score_transactions(
                model, input_path, writer, settings, customer_id_col, datetime_col, monetary_value_col,
                observation_period_end, chunk_rows, progress, policy, {"sep": sep, "decimal": decimal},
            )
        writer.close()
    return {"customers": writer.rows, "chunks": chunks, "observation_period_end": end, "observation_end": end,
            "output": str(output_path)}


def _score_transactions(model, path, writer, settings, id_col, date_col, amount_col, observation_period_end, chunk_rows, progress,
                        policy=None, read_options=None):
    policy = policy or _rfm._Policy()
    columns = (id_col, date_col, amount_col, policy.quantity_col, policy.unit_price_col, policy.transaction_col)
    with tempfile.TemporaryDirectory(prefix="clv_predict_buckets_") as folder:
        buckets: list[pq.ParquetWriter | None] = []
        n_buckets = None
        first_day, last_day, total_rows = None, None, 0
        policy_counts = {}
        n_batches = 0
        integer_ids = True
        schema = pa.schema([("id", pa.string()), ("day", pa.int64()), ("amount", pa.float64())])
        for batch in _batches(path, columns, chunk_rows, string_columns=(id_col,), **(read_options or {})):
            log = _rfm._read_log(batch, id_col, date_col, amount_col, policy,
                                 source=(str(path), _io.file_format(path)), first_row=total_rows)
            n_batches += 1
            for key, value in log.report.items():
                if isinstance(value, int) and key != "rows":
                    policy_counts[key] = policy_counts.get(key, 0) + value
            ids = log.ids.take(log.codes)  # keeps pandas' string type: no per-row conversion to text
            total_rows += len(batch)
            first_day = min(first_day, int(log.days.min())) if first_day is not None else int(log.days.min())
            last_day = max(last_day, int(log.days.max())) if last_day is not None else int(log.days.max())
            frame = pd.DataFrame({"id": np.asarray(ids.astype(str)), "day": log.days, "amount": log.amounts})
            integer_ids = integer_ids and _all_integer_ids(log.ids.astype(str))
            if n_buckets is None:
                n_buckets = _bucket_count(path, len(batch), chunk_rows)
                buckets = [None] * n_buckets
            slot = pd.util.hash_array(frame["id"].to_numpy(dtype=object)) % np.uint64(n_buckets)
            for b in np.unique(slot):
                part = pa.Table.from_pandas(frame[slot == b], schema=schema, preserve_index=False)
                if buckets[b] is None:
                    buckets[b] = pq.ParquetWriter(os.path.join(folder, f"{b}.parquet"), schema)
                buckets[b].write_table(part)
        for bucket in buckets:
            if bucket is not None:
                bucket.close()
        files = [os.path.join(folder, f"{b}.parquet") for b in range(len(buckets)) if buckets[b] is not None]
        if len(files) > 1:  # hash buckets hold customers in no order: spread them again by ranges of ids
            files = _range_buckets(files, folder, integer_ids, schema)

        if observation_period_end is None:
            end_day = last_day
        else:
            end_day = _rfm._day(to_timestamp(observation_period_end, "observation_period_end"))
            if end_day < first_day:
                raise DataError(
                    f"'observation_period_end' {_rfm._iso(end_day)} is before the first transaction ({_rfm._iso(first_day)})"
                )
            check_end_after_last_purchase(pd.Timestamp(_rfm._iso(end_day)), pd.Timestamp(_rfm._iso(last_day)),
                                          "observation_period_end", stacklevel=4)
        dropped = 0
        done = 0
        used = files
        for file in files:
            table = pq.read_table(file).to_pandas()
            late = table["day"].to_numpy() > end_day
            dropped += int(late.sum())
            table = table[~late]
            done += 1
            if len(table):
                rfm = _rfm._rfm_from_arrays(
                    table["id"], table["day"].to_numpy(), table["amount"].to_numpy(), end_day, model.time_unit_,
                    policy_counts,
                )
                if integer_ids:
                    rfm.index = rfm.index.astype(np.int64)
                rfm = rfm.sort_index()
                if len(rfm):
                    writer.write(score(model, rfm, **settings))
            if progress:
                progress(done, len(used))
        # the same sentence as rfm_summary and fit say it (one wording, counted with plural()); customers with a
        # negative amount are counted per raw chunk, so over several chunks that count is left out, not overstated
        counted = {**policy_counts, "policy": policy.negative_amounts}
        if n_batches > 1:
            counted.pop("negative_customers", None)
        changed = _changes(counted)
        if changed:
            warnings.warn(changed, DataWarning, stacklevel=3)
        if dropped:
            warnings.warn(
                late_rows_message(dropped, _rfm._iso(end_day)),
                DataWarning,
                stacklevel=3,
            )
    return len(used), _rfm._iso(end_day)


def _id_keys(ids: np.ndarray, integer_ids: bool) -> np.ndarray:
    return ids.astype(np.int64) if integer_ids else ids.astype(object)


def _range_buckets(files, folder, integer_ids: bool, schema) -> list[str]:
    """Rewrite hash buckets as buckets of consecutive ids (in id order), about as many and as large."""
    keys = np.unique(np.concatenate([
        _id_keys(pq.read_table(file, columns=["id"]).column("id").to_numpy(zero_copy_only=False), integer_ids)
        for file in files
    ]))
    edges = keys[np.linspace(0, keys.size, len(files) + 1).astype(int)[1:-1]]
    paths = [os.path.join(folder, f"range-{r}.parquet") for r in range(len(files))]
    writers: list = [None] * len(files)
    for file in files:
        table = pq.read_table(file)
        slot = np.searchsorted(edges, _id_keys(table.column("id").to_numpy(zero_copy_only=False), integer_ids),
                               side="right")
        for r in np.unique(slot):
            if writers[r] is None:
                writers[r] = pq.ParquetWriter(paths[r], schema)
            writers[r].write_table(table.filter(pa.array(slot == r)))
        os.unlink(file)
    for writer in writers:
        if writer is not None:
            writer.close()
    return [path for path, writer in zip(paths, writers) if writer is not None]


def _bucket_count(path: Path, first_batch_rows: int, chunk_rows: int) -> int:
    """Enough buckets that each holds about ``chunk_rows`` rows, from the file's size."""
    if path.is_dir() or _format_of(path) == "parquet":
        try:
            rows = ds.dataset(str(path), format="parquet").count_rows()
        except (pa.ArrowInvalid, OSError):
            rows = first_batch_rows
    else:
        # a CSV's row count is unknown before reading it all: estimate from its size
        size = path.stat().st_size
        sample = min(size, 1 << 20)
        with open(path, "rb") as stream:
            head = stream.read(sample)
        lines = max(head.count(b"\n"), 1)
        rows = int(size / sample * lines) if not path.name.endswith(".gz") else int(size * 8 / sample * lines)
    return max(1, math.ceil(rows / chunk_rows))
