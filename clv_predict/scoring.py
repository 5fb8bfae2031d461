"""Batch scoring: a saved model applied to a file of transactions or RFM rows.

Large files are processed in chunks of whole customers so that memory is bound
by the chunk size, not the file: a first pass streams the input, checks it and
spreads its rows over bucket files by ranges of customer id (so every row of
one customer lands in one bucket, and buckets come in id order); a second pass
summarises and scores one bucket at a time (see :mod:`clv_predict.streaming`). Output goes to a temporary file that is renamed when it is
complete, so a crash never leaves a file that looks finished.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from pathlib import Path

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
from ._validation import check_rfm
from .exceptions import DataError

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

#: Columns added after :data:`SCORE_COLUMNS` when scoring with an ``interval`` (see :meth:`CLVModel.predict`):
#: predictive bounds of the customer's purchases and value, then confidence bounds of their expectations.
INTERVAL_COLUMNS = (
    "purchases_lower",
    "purchases_upper",
    "clv_lower",
    "clv_upper",
    "purchases_ci_lower",
    "purchases_ci_upper",
    "clv_ci_lower",
    "clv_ci_upper",
)
#: Whole numbers (counts) in a score file: the rest after ``customer_id`` are floats.
INTEGER_COLUMNS = ("frequency", "purchases_lower", "purchases_upper")

#: The column a written score file adds after :data:`SCORE_COLUMNS`: the model's time unit ("D", "W", "M") on every
#: row, in CSV and Parquet alike (Parquet also has it in its schema metadata), so that a later step reading the
#: file (``--input-kind rfm``, a merge with other scores) can check the unit of ``recency``, ``T`` and the horizon.
TIME_UNIT_COLUMN = "time_unit"

DEFAULT_CHUNK_ROWS = 2_000_000

#: The family of purchase models whose summaries are in a time unit (the others count opportunities).
_CONTINUOUS = "purchases in continuous time"


def _check_model(model):
    from .clv import CLVModel

    if not isinstance(model, CLVModel):
        raise DataError(
            f"scoring needs a CLVModel (purchases and spend); got {type(model).__name__}"
        )
    model._check_fitted()


def _columns(interval) -> tuple[str, ...]:
    return SCORE_COLUMNS + (INTERVAL_COLUMNS if interval is not None else ())


def score(
    model, rfm: pd.DataFrame, *, horizon, discount_rate: float = 0.0, margin: float = 1.0, interval: float | None = None
) -> pd.DataFrame:
    """Score an RFM table with a fitted :class:`CLVModel`; returns the fixed scoring schema.

    The result has one row per customer and the columns of :data:`SCORE_COLUMNS`
    (``customer_id`` of the table's index type, ``frequency`` an integer), ready to be written to a file;
    with ``interval`` (such as 0.9) also those of :data:`INTERVAL_COLUMNS`.
    A model with covariates reads them from ``rfm`` (see :func:`clv_predict.customers.join_customers`).
    """
    _check_model(model)
    checked = check_rfm(rfm, need_monetary=True)
    _take_covariates(model, rfm, checked)
    checked.attrs = dict(rfm.attrs)
    bounds = {} if interval is None else {"interval": interval}
    forecast = model.predict(checked, horizon=horizon, discount_rate=discount_rate, margin=margin, **bounds)
    out = pd.concat([checked, forecast], axis=1)
    ids = checked.index
    out.insert(0, "customer_id", ids.to_numpy() if pd.api.types.is_integer_dtype(ids) else ids.astype(str))
    columns = _columns(interval)
    out = out.reset_index(drop=True)[list(columns)]
    out = out.astype({c: "float64" for c in columns[1:]})
    out.attrs = {"time_unit": model.time_unit_} if model.time_unit_ else {}
    for column in INTEGER_COLUMNS:
        if column in out.columns and np.array_equal(out[column], np.round(out[column])):
            out[column] = out[column].astype(np.int64)
    return out


def _take_covariates(model, rfm: pd.DataFrame, checked: pd.DataFrame) -> None:
    """Copy the model's covariate columns from ``rfm`` into ``checked``; refuse a table that lacks one."""
    columns = model.covariate_columns_
    absent = [column for column in columns if column not in rfm.columns]
    if absent:
        raise DataError(
            f"the input has no covariate column {', '.join(map(repr, absent))}, which the model was fitted with: "
            "add it to the input or give a customer table that has it (customers=..., --customers)"
        )
    for column in columns:
        checked[column] = rfm[column].to_numpy()


def _customer_table(model, customers, customers_id_col: str, sep, decimal) -> pd.DataFrame | None:
    """The customer table of ``score_file`` (a DataFrame indexed by id, or a file), with the model's columns."""
    if customers is None:
        return None
    from .customers import read_customer_table

    if isinstance(customers, pd.DataFrame):
        return customers
    return read_customer_table(customers, customer_id_col=customers_id_col, sep=sep, decimal=decimal)


def _file_columns(path: Path, sep) -> list[str]:
    """The column names of a CSV or Parquet input."""
    if path.is_dir() or _format_of(path) == "parquet":
        try:
            return list(ds.dataset(str(path), format="parquet").schema.names)
        except (pa.ArrowInvalid, OSError):
            return []
    try:
        sep = _io.sniff_separator(path, sep)
        header = pd.read_csv(path, nrows=0, sep=sep, encoding="utf-8-sig", skipinitialspace=True).columns
    except (ValueError, OSError, DataError):
        return []
    return [str(name).strip() for name in header]


def _with_customers(model, rfm: pd.DataFrame, customers: pd.DataFrame | None) -> pd.DataFrame:
    """``rfm`` with the model's covariate columns it lacks taken from the customer table."""
    columns = model.covariate_columns_
    if customers is None or not columns:
        return rfm
    from .customers import join_customers

    joined = join_customers(rfm, customers, columns)
    joined.attrs = dict(rfm.attrs)
    return joined


_INTEGER_ID = r"-?(?:0|[1-9][0-9]{0,17})"


def _all_integer_ids(ids) -> bool:
    """Whether every id (text) is an integer written plainly: such ids are kept as integers."""
    ids = pd.Series(pd.unique(np.asarray(ids, dtype=object)), dtype=object).astype(str)
    return bool(ids.str.fullmatch(_INTEGER_ID).all())


def _schema(frame: pd.DataFrame | None, columns=SCORE_COLUMNS, unit: str | None = None) -> pa.Schema:
    integer = frame is not None and pd.api.types.is_integer_dtype(frame["customer_id"])
    unit = unit or (frame.attrs.get("time_unit") if frame is not None else None) or ""
    columns = columns if frame is None else tuple(c for c in frame.columns if c != TIME_UNIT_COLUMN)
    return pa.schema([("customer_id", pa.int64() if integer else pa.string()), ("frequency", pa.int64())]
                     + [(c, pa.int64() if c in INTEGER_COLUMNS else pa.float64()) for c in columns[2:]]
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


# scores are floats that rarely repeat: trying a dictionary for each column would triple the writing time
_PARQUET_OPTIONS = {"use_dictionary": False}


class _PartsWriter:
    """Writes each scored chunk as its own Parquet file (``part-00000.parquet``, ...) in a folder."""

    def __init__(self, folder: Path, columns=SCORE_COLUMNS, unit: str | None = None):
        self.folder, self.rows, self.parts, self.schema, self.columns, self.unit = folder, 0, 0, None, columns, unit

    def write(self, frame: pd.DataFrame) -> None:
        self.schema = self.schema or _schema(frame, self.columns, self.unit)
        frame = _with_time_unit(frame, self.unit)
        table = pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
        pq.write_table(table, self.folder / f"part-{self.parts:05d}.parquet", **_PARQUET_OPTIONS)
        self.rows += len(frame)
        self.parts += 1

    def close(self) -> None:
        if self.parts == 0:  # an empty result is still a readable dataset with the schema
            self.write(pd.DataFrame({c: pd.Series(dtype=str if c == "customer_id" else
                                                  "int64" if c in INTEGER_COLUMNS else float)
                                     for c in self.columns}))


class _Writer:
    """Appends scored chunks to one CSV or Parquet file with the fixed schema (and the time unit column)."""

    def __init__(self, path: Path, kind: str, columns=SCORE_COLUMNS, unit: str | None = None):
        self.path, self.kind, self._parquet, self.rows, self.schema, self.unit = path, kind, None, 0, None, unit
        self.columns = columns

    def write(self, frame: pd.DataFrame) -> None:
        self.schema = self.schema or _schema(frame, self.columns, self.unit)
        frame = _with_time_unit(frame, self.unit)
        if self.kind == "parquet":
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(str(self.path), self.schema, **_PARQUET_OPTIONS)
            self._parquet.write_table(pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False))
        else:
            frame.to_csv(self.path, mode="a", header=self.rows == 0, index=False)
        self.rows += len(frame)

    def close(self) -> None:
        if self.kind == "parquet":
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(str(self.path), _schema(None, self.columns, self.unit), **_PARQUET_OPTIONS)
            self._parquet.close()
        elif self.rows == 0:
            names = list(self.columns) + ([TIME_UNIT_COLUMN] if self.unit else [])
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
    progress=None,
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
    interval: float | None = None,
    customers=None,
    customers_id_col: str | None = None,
    tmp_dir=None,
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
    interval : float, optional
        With a level such as 0.9, the output also has the bounds of
        :data:`INTERVAL_COLUMNS` (predictive and confidence; see :meth:`CLVModel.predict`).
        The bounds depend on each customer's own history only, so chunked scoring
        gives the same bounds as one-shot scoring.
    input_kind : {"transactions", "rfm"}
        A transaction log (summarised here, as of ``observation_period_end``,
        default the last date in the file) or a ready RFM table with ``frequency``,
        ``recency``, ``T``, ``monetary_value`` in the model's time unit.
    chunk_rows : int, optional
        Input rows per chunk (default 2,000,000), and about the rows of each
        bucket of whole customers (see :mod:`clv_predict.streaming`). Customers
        are never split across chunks; the output equals one-shot output row
        for row, customers in ascending order of their id.
    progress : Progress or callable, optional
        Told of the steps (reading, scoring): a :class:`clv_predict._progress.Progress`,
        or a callable ``progress(done, total)`` called after each chunk is scored.
    tmp_dir : path, optional
        Folder for the temporary bucket files of a transaction input (default the
        system's temporary folder): about 20 bytes per input row with integer ids
        (:data:`clv_predict.streaming.BYTES_PER_ROW`; text ids add their length),
        removed when the function returns, fails or is interrupted.
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
    customers : path or DataFrame, optional
        A customer table (one row per customer: channel, region, plan, ...) for a model with
        covariates: a CSV or Parquet file with the id column ``customers_id_col``, or a DataFrame
        indexed by customer id. The model's covariate columns are read from the input when it has
        them (an RFM file), else from this table, joined on the id; a customer missing from it, an id
        on two rows, or a covariate column in neither is an error naming it.
    customers_id_col : str, optional
        The id column of a customer table file (default: ``customer_id_col``).

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
    from .models._intervals import check_interval

    interval = check_interval(interval)
    settings = {"horizon": horizon, "discount_rate": discount_rate, "margin": margin, "interval": interval}
    columns = _columns(interval)
    customer_table = _customer_table(model, customers, customers_id_col or customer_id_col, sep, decimal)
    covariates = model.covariate_columns_
    from ._progress import as_progress

    steps = as_progress(progress, "scoring")

    with (_atomic_folder(output_path) if output_parts else _atomic_output(output_path)) as partial:
        unit = getattr(model, "time_unit_", None)
        writer = _PartsWriter(partial, columns, unit) if output_parts else _Writer(partial, out_kind, columns, unit)
        if input_kind == "rfm":
            if model.purchase_model_.family == _CONTINUOUS:  # a summary in opportunities states no time unit
                _check_rfm_time_unit(input_path, model.time_unit_, time_unit, sep)
            present = set(_file_columns(input_path, sep))
            in_file = [column for column in covariates if column in present]
            if customer_table is None and len(in_file) < len(covariates):
                absent = [column for column in covariates if column not in present]
                raise DataError(
                    f"the RFM file {str(input_path)!r} has no covariate column {', '.join(map(repr, absent))}, which "
                    "the model was fitted with: add it or give a customer table that has it (customers=..., --customers)"
                )
            read_columns = ("customer_id", "frequency", "recency", "T", "monetary_value", *in_file)
            chunks = 0
            steps.start("scoring", None, "chunks")
            integer_ids = all(  # one id column read first, so that every chunk writes ids of one type
                _all_integer_ids(batch["customer_id"])
                for batch in _batches(input_path, ("customer_id",), chunk_rows, string_columns=("customer_id",),
                                      sep=sep, decimal=decimal)
            )
            batches = _batches(input_path, read_columns, chunk_rows, string_columns=("customer_id",), sep=sep,
                               decimal=decimal)
            for chunks, batch in enumerate(batches, start=1):
                table = batch.set_index("customer_id")
                if integer_ids:
                    table.index = table.index.astype(np.int64)
                table.attrs["time_unit"] = model.time_unit_
                table = _with_customers(model, table, customer_table)
                writer.write(score(model, table, **settings))
                steps.advance(1)
            steps.finish()
            end = None
        else:
            if quantity_col is not None:
                monetary_value_col = None
            policy = _rfm._policy(
                monetary_value_col, negative_amounts=negative_amounts, quantity_col=quantity_col,
                unit_price_col=unit_price_col, transaction_col=transaction_col, missing_ids=missing_ids,
                dayfirst=dayfirst,
            )
            if covariates and customer_table is None:
                raise DataError(
                    f"the model reads the covariate column{'s' if len(covariates) > 1 else ''} "
                    f"{', '.join(map(repr, covariates))} of each customer: give a customer table that has "
                    f"{'them' if len(covariates) > 1 else 'it'} (customers=..., --customers)"
                )
            chunks, end = _score_transactions(
                model, input_path, writer, settings, customer_id_col, datetime_col, monetary_value_col,
                observation_period_end, chunk_rows, steps, policy, {"sep": sep, "decimal": decimal}, tmp_dir,
                customer_table,
            )
        writer.close()
    return {"customers": writer.rows, "chunks": chunks, "observation_period_end": end, "observation_end": end,
            "output": str(output_path)}


def _score_transactions(model, path, writer, settings, id_col, date_col, amount_col, observation_period_end, chunk_rows,
                        steps, policy=None, read_options=None, tmp_dir=None, customer_table=None):
    """Score a transaction file bucket by bucket of whole customers (see :mod:`clv_predict.streaming`)."""
    from . import streaming

    policy = policy or _rfm._Policy()
    with streaming.temporary_folder(tmp_dir) as folder:
        buckets = streaming.bucket_transactions(path, folder, id_col=id_col, date_col=date_col, amount_col=amount_col,
                                                policy=policy, read_options=read_options or {}, chunk_rows=chunk_rows,
                                                steps=steps)
        end_day = streaming.end_of_observation(buckets, observation_period_end, stacklevel=4)
        with streaming.in_background(writer) as background:
            # each bucket summarised by the purchase model's own summary: RFM in its time unit, or opportunities
            for rfm in streaming.summaries(buckets, end_day, model.time_unit_, chunk_rows=chunk_rows,
                                           regularity=False, steps=steps, step=streaming.SCORING,
                                           summarise=model.purchase_model_._summary_of_arrays):
                background.write(score(model, _with_customers(model, rfm, customer_table), **settings))
    streaming.warn_input_report(buckets, policy, end_day, stacklevel=4)
    return len(buckets.files), _rfm._iso(end_day)
