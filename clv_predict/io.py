"""Reading transaction files: CSV (with the variants users meet) and Parquet.

CSV files come with a byte-order mark, spaces around header names, semicolons
or tabs between fields, quoted numbers and decimal commas. This module reads
them as they are and never guesses silently:

* a byte-order mark is skipped and header names are stripped of spaces;
* the separator, unless given, is read off the header line: the one of
  ``,`` ``;`` tab ``|`` that occurs there; a header that holds more than one
  of them is refused with a request to name it;
* the columns asked for must all be found, else the error names the columns
  that are there and the separator used, so a wrong separator shows at once;
* quoted numbers are numbers; a decimal comma must be asked for
  (``decimal=","``), otherwise such values stop the summary with an error
  that suggests it. Day-first dates are the summary's business
  (:func:`clv_predict.rfm_summary`'s ``dayfirst``).

Every problem comes out as a :class:`~clv_predict.exceptions.DataError`
naming the file.
"""

from __future__ import annotations

import csv
import gzip
import re
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ._validation import check_columns
from .exceptions import DataError

#: Separators recognised in a header line when none is given.
SEPARATORS = (",", ";", "\t", "|")

_SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

# What pandas, gzip and pyarrow raise on a malformed file; each becomes a DataError naming it.
_CSV_ERRORS = (
    pd.errors.ParserError,
    pd.errors.EmptyDataError,
    UnicodeDecodeError,
    csv.Error,
    EOFError,
    zlib.error,
    gzip.BadGzipFile,
    ValueError,
    OverflowError,
    MemoryError,
)


def file_format(path) -> str:
    """``"csv"`` or ``"parquet"`` from the file name (a folder is a Parquet data set)."""
    path = Path(path)
    name = path.name.lower()
    if path.is_dir() or name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz", ".txt", ".tsv", ".txt.gz", ".tsv.gz")):
        return "csv"
    raise DataError(
        f"cannot tell the format of {str(path)!r}: use a .csv, .csv.gz or .parquet file (or a folder of Parquet parts)"
    )


def _header_line(path: Path) -> str:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as stream:
            head = stream.read(1 << 16)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"input file {str(path)!r} cannot be read: {exc}") from None
    if not head.strip():
        raise DataError(f"input file {str(path)!r} is empty")
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut by the 64 KiB read
            raise DataError(f"input file {str(path)!r} is not UTF-8 text") from None
        text = head[: exc.start].decode("utf-8-sig")
    return text.lstrip("\r\n").splitlines()[0] if text.strip() else ""


def sniff_separator(path, sep=None) -> str:
    """The field separator of a CSV file: ``sep`` if given, else the one its header line uses.

    Raises a DataError when the header holds several candidate separators.
    """
    if sep is not None:
        if not isinstance(sep, str) or len(sep) != 1 or sep in "\r\n\"":
            raise DataError(f"'sep' must be one character such as ',' or ';'; got {sep!r}")
        return sep
    header = _header_line(Path(path))
    unquoted = "".join(header.split('"')[0::2])  # text outside quotes
    found = [s for s in SEPARATORS if s in unquoted]
    if len(found) > 1:
        names = " and ".join(f"{_SEPARATOR_NAMES[s]} ({s!r})" for s in found)
        raise DataError(
            f"the header of {str(path)!r} holds {names}; say which separates the fields with sep= (--sep)"
        )
    return found[0] if found else ","


def _check_read_options(decimal) -> None:
    if not isinstance(decimal, str) or decimal not in (".", ","):
        raise DataError(f"'decimal' must be '.' or ','; got {decimal!r}")


def _text(column: pd.Series) -> pd.Series:
    """Ids as text; whole floats (what a numeric id column with gaps becomes) without their '.0'."""
    if pd.api.types.is_float_dtype(column.dtype):
        values = column.to_numpy(dtype=float, na_value=np.nan)
        present = ~np.isnan(values)
        kept = values[present]
        if np.all(np.isfinite(kept) & (kept == np.floor(kept)) & (np.abs(kept) < 2**53)):
            out = pd.Series(None, index=column.index, dtype=object)
            out[present] = kept.astype(np.int64).astype(str)
            return out
    return column.astype(str).where(column.notna())


def iter_transactions(path, columns, *, chunk_rows: int = 1_000_000, string_columns=(), sep=None, decimal: str = "."):
    """Stream a CSV or Parquet file as DataFrames of at most ``chunk_rows`` rows holding ``columns``.

    Parameters
    ----------
    path : path
        ``.csv``, ``.csv.gz``, ``.parquet`` or a folder of Parquet parts.
    columns : sequence of str
        Columns to read (all must exist; ``None`` entries are skipped).
    string_columns : sequence of str
        Columns read as text (customer ids, so that '00123' stays '00123').
    sep : str, optional
        CSV field separator; by default read off the header line.
    decimal : {".", ","}
        CSV decimal mark.
    """
    path = Path(path)
    columns = [c for c in columns if c is not None]
    if not path.exists():
        raise DataError(f"input file {str(path)!r} does not exist")
    _check_read_options(decimal)
    if file_format(path) == "csv":
        yield from _csv_batches(path, columns, chunk_rows, string_columns, sep, decimal)
    else:
        yield from _parquet_batches(path, columns, chunk_rows, string_columns)


def _csv_batches(path: Path, columns, rows: int, string_columns, sep, decimal):
    if path.is_dir():
        raise DataError(f"input file {str(path)!r} is a folder, not a CSV file")
    if path.stat().st_size == 0:
        raise DataError(f"input file {str(path)!r} is empty")
    sep = sniff_separator(path, sep)
    where = f"input file {str(path)!r} (read with {_SEPARATOR_NAMES.get(sep, repr(sep))} separator)"
    try:
        # the header may carry spaces: text columns are named as the header spells them
        header = pd.read_csv(path, sep=sep, nrows=0, encoding="utf-8-sig", skipinitialspace=True)
        raw_names = {str(name).strip(): name for name in header.columns}
        dtype = {raw_names[c]: str for c in string_columns if c in raw_names}
        reader = pd.read_csv(
            path, sep=sep, decimal=decimal, chunksize=rows, dtype=dtype or None, encoding="utf-8-sig",
            skipinitialspace=True, low_memory=False, index_col=False,
        )
        rows_read = 0
        for chunk in _chunks(reader, where, lambda: _first_long_line(path, sep, len(header.columns))):
            chunk.columns = [str(name).strip() for name in chunk.columns]
            if rows_read == 0:
                check_columns(chunk, columns, what=where)
            if len(chunk) == 0:
                continue
            rows_read += len(chunk)
            yield chunk[list(columns)]
        if rows_read == 0:
            raise DataError(f"input file {str(path)!r} is empty: it has a header but no rows")
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"input file {str(path)!r} is empty") from None
    except UnicodeDecodeError:
        raise DataError(f"input file {str(path)!r} is not UTF-8 text") from None
    except _CSV_ERRORS as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        # pandas' tokenizer: "Error tokenizing data. C error: Expected 3 fields in line 5, saw 4"
        long_row = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
        if long_row:
            # pandas counts records, not the file's lines (a quoted field may span lines): find the line
            expected, line, seen = (int(g) for g in long_row.groups())
            line, seen, expected = _first_long_line(path, sep, expected) or (line, seen, expected)
            message = f"line {line:,} has {seen} fields, the header {expected}"
        raise DataError(f"{where} is not valid CSV: {message}") from None
    except OSError as exc:
        raise DataError(f"input file {str(path)!r} cannot be read: {exc}") from None


def _chunks(reader, where: str, find_line=None):
    """The reader's chunks; a row with more fields than the header is an error, not a silent shift.

    pandas says only that some row is too long; ``find_line()`` looks for the first one (a
    second read of the file, on this error path only) so that the message names its line.
    """
    iterator = iter(reader)
    while True:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            chunk = next(iterator, None)
        for warning in caught:
            if issubclass(warning.category, pd.errors.ParserWarning):
                found = find_line() if find_line is not None else None
                at = f"line {found[0]:,} has {found[1]} fields, the header {found[2]}" if found else \
                    "some rows have more fields than the header"
                raise DataError(f"{where} is not valid CSV: {at}")
        if chunk is None:
            return
        yield chunk


def _first_long_line(path: Path, sep: str, n_fields: int):
    """``(line, fields, n_fields)`` of the first record with more than ``n_fields`` fields, or None.

    The line is the file's own (1 is the header), counted as an editor does, also when quoted
    fields span lines.
    """
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=sep, skipinitialspace=True)
            start = 1
            for record in reader:
                if len(record) > n_fields:
                    return start, len(record), n_fields
                start = reader.line_num + 1
    except (OSError, UnicodeDecodeError, csv.Error, EOFError, zlib.error):
        return None
    return None


def _parquet_batches(path: Path, columns, rows: int, string_columns):
    try:
        dataset = ds.dataset(str(path), format="parquet")
        names = dataset.schema.names
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"input file {str(path)!r} is not a readable Parquet file: {exc}") from None
    check_columns(pd.DataFrame(columns=names), columns, what=f"input file {str(path)!r}")
    empty = True
    try:
        for batch in _file_batches(dataset, list(columns), rows):
            if batch.num_rows == 0:
                continue
            empty = False
            # the pandas metadata in a file is only a hint: a damaged one must not decide the read
            frame = batch.to_pandas(ignore_metadata=True)
            for column in string_columns:
                if column in frame.columns:
                    frame[column] = _text(frame[column])
            yield frame
    except (pa.ArrowException, OSError, ValueError, TypeError, OverflowError, KeyError, IndexError, MemoryError) as exc:
        raise DataError(f"input file {str(path)!r} is not a readable Parquet file: {type(exc).__name__}: {exc}") from None
    if empty:
        raise DataError(f"input file {str(path)!r} has no rows")


def _file_batches(dataset: ds.Dataset, columns: list, rows: int):
    """The batches of each file of a Parquet data set in turn, in the data set's order of files.

    One file at a time rather than the data set's scanner, which reads ahead across files: on a folder of ten
    parts of 10 million rows it held 3.2 GB to hand out 24 MB batches, and took twice as long on two cores.
    """
    for fragment in dataset.get_fragments():
        with dataset.filesystem.open_input_file(fragment.path) as source:
            yield from pq.ParquetFile(source).iter_batches(batch_size=rows, columns=columns)


def read_transactions(path, columns=None, *, sep=None, decimal: str = ".", string_columns=()) -> pd.DataFrame:
    """Read a whole CSV or Parquet transaction file into one DataFrame.

    Parameters
    ----------
    path : path
        ``.csv``, ``.csv.gz``, ``.parquet`` or a folder of Parquet parts.
    columns : sequence of str, optional
        Columns to keep (all must exist); default all of them.
    sep, decimal, string_columns
        As in :func:`iter_transactions`.

    Examples
    --------
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "log.csv")
    >>> with open(path, "w", encoding="utf-8-sig") as f:
    ...     _ = f.write(' customer_id ; date ; amount \\n7;03/02/2024;"12,50"\\n')
    >>> read_transactions(path, decimal=",")
       customer_id        date  amount
    0            7  03/02/2024    12.5
    """
    if columns is None:
        path = Path(path)
        if path.exists() and file_format(path) == "csv" and not path.is_dir():
            sep = sniff_separator(path, sep)
            try:
                header = pd.read_csv(path, sep=sep, nrows=0, encoding="utf-8-sig", skipinitialspace=True)
            except _CSV_ERRORS + (OSError,) as exc:
                raise DataError(f"input file {str(path)!r} is not valid CSV: {exc}") from None
            columns = [str(name).strip() for name in header.columns]
        elif path.exists() and file_format(path) == "parquet":
            try:
                columns = ds.dataset(str(path), format="parquet").schema.names
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise DataError(f"input file {str(path)!r} is not a readable Parquet file: {exc}") from None
        else:
            columns = []
    frames = list(iter_transactions(path, columns, string_columns=string_columns, sep=sep, decimal=decimal))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
