"""Malformed-input fuzzing of the CSV and Parquet readers (through the RFM summary) and of ``load_model``.

Only the package's own clear errors may come out: :class:`~clv_predict.DataError` for a transaction
file, :class:`~clv_predict.ModelFileError` for a model file (both name the file). Anything else, a
crash, a hang or a raw pandas/pyarrow/pickle exception, is a finding.

The suite runs a short, derandomized pass. For a longer hunt, with fresh random inputs each run::

    CLV_FUZZ_EXAMPLES=20000 CLV_FUZZ_RANDOM=1 python -m pytest tests/fuzz -q -p no:cacheprovider

(``CLV_FUZZ_EXAMPLES`` examples per target; failures are printed with the input that caused them and
saved in hypothesis' example database, ``.hypothesis/``, so the next run tries them first.)
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tempfile
import warnings
from pathlib import Path

import joblib
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clv_predict import ClvWarning, DataError, ModelFileError, load_model, rfm_summary
from clv_predict.io import read_transactions

EXAMPLES = int(os.environ.get("CLV_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=not os.environ.get("CLV_FUZZ_RANDOM"),
    deadline=None,
    database=None if not os.environ.get("CLV_FUZZ_RANDOM") else settings.default.database,
    suppress_health_check=list(HealthCheck),
)
COLUMNS = ["customer_id", "date", "amount"]

VALID_CSV = (
    b"customer_id,date,amount\n"
    b"1,2024-01-01,10.5\n1,2024-01-05,3\n2,2024-01-02,7.25\n3,2024-02-01,0\n2,2024-03-01,12\n"
)


def _mutate(data: bytes, edits) -> bytes:
    """Apply (position, kind, byte) edits: replace, insert or delete one byte, or cut the file there."""
    buffer = bytearray(data)
    for position, kind, value in edits:
        if not buffer:
            break
        i = position % len(buffer)
        if kind == 0:
            buffer[i] = value
        elif kind == 1:
            buffer.insert(i, value)
        elif kind == 2:
            del buffer[i]
        else:
            del buffer[i:]
    return bytes(buffer)


edits = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 3), st.integers(0, 255)), min_size=1, max_size=8)

# text made of the pieces CSV parsers trip on
csv_tokens = st.sampled_from(
    [",", ";", "\t", "|", '"', "\n", "\r\n", " ", "\ufeff", "", "customer_id", "date", "amount", "1", "-3.5", "1e308",
     "nan", "inf", "2024-01-01", "01/02/2024", "13/01/2024", "2024-01-01T10:00+02:00", "9999-99-99", "0001-01-01",
     "NULL", "é", "\x00", "1,5", "'", "#", "=", "1" * 40]
)


def _summarise(frame: pd.DataFrame) -> None:
    rfm_summary(frame, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
                negative_amounts="net", missing_ids="drop")


def _read_and_summarise(path: Path, **options) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClvWarning)
        try:
            frame = read_transactions(path, COLUMNS, **options)
            _summarise(frame)
        except DataError as error:
            assert str(error)  # a message, naming the file or the column
            if "input file" in str(error):
                assert path.name in str(error)


@FUZZ
@given(edits=edits, compress=st.booleans())
def test_mutated_csv_files_give_data_errors_only(edits, compress):
    data = _mutate(VALID_CSV, edits)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("log.csv.gz" if compress else "log.csv")
        if compress:
            data = _mutate(gzip.compress(VALID_CSV), edits)
        path.write_bytes(data)
        _read_and_summarise(path)


@FUZZ
@given(tokens=st.lists(csv_tokens, max_size=60), sep=st.sampled_from([None, ",", ";"]), decimal=st.sampled_from([".", ","]))
def test_generated_csv_text_gives_data_errors_only(tokens, sep, decimal):
    text = "customer_id,date,amount\n" + "".join(tokens)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.csv"
        path.write_text(text, encoding="utf-8")
        _read_and_summarise(path, sep=sep, decimal=decimal)


def _valid_parquet() -> bytes:
    frame = pd.DataFrame(
        {"customer_id": [1, 1, 2, 3], "date": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-02", "2024-02-01"]),
         "amount": [10.5, 3.0, 7.25, 0.0]}
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


VALID_PARQUET = _valid_parquet()


@FUZZ
@given(edits=edits)
def test_mutated_parquet_files_give_data_errors_only(edits):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.parquet"
        path.write_bytes(_mutate(VALID_PARQUET, edits))
        _read_and_summarise(path)


@FUZZ
@given(
    ids=st.lists(st.one_of(st.none(), st.integers(-5, 5), st.text(max_size=3), st.floats(allow_nan=True)), min_size=1, max_size=8),
    dates=st.lists(st.one_of(st.none(), csv_tokens, st.datetimes()), min_size=1, max_size=8),
    amounts=st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), csv_tokens), min_size=1, max_size=8),
)
def test_frames_of_odd_values_give_data_errors_only(ids, dates, amounts):
    n = min(len(ids), len(dates), len(amounts))
    frame = pd.DataFrame({"customer_id": ids[:n], "date": dates[:n], "amount": amounts[:n]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClvWarning)
        try:
            _summarise(frame)
        except DataError as error:
            assert str(error)


@pytest.fixture(scope="module")
def model_bytes(cdnow_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "model.joblib"
    cdnow_model.save(path)
    return path.read_bytes()


def _load(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.joblib"
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ClvWarning)
            try:
                load_model(path)
            except ModelFileError as error:
                assert "model.joblib" in str(error)


@FUZZ
@given(edits=edits)
def test_mutated_model_files_give_model_file_errors_only(model_bytes, edits):
    _load(_mutate(model_bytes, edits))


# plain-data contents a model file could hold instead of the right one
contents = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=12,
)


@FUZZ
@given(data=st.data())
def test_well_formed_pickles_of_the_wrong_content_give_model_file_errors_only(model_bytes, data):
    real = joblib.load(io.BytesIO(model_bytes))
    # keep the format marker (so the loader reads on) but replace or drop parts of the content
    content = dict(real)
    for key in data.draw(st.lists(st.sampled_from(sorted(real)), max_size=4)):
        if data.draw(st.booleans()):
            content.pop(key, None)
        else:
            content[key] = data.draw(contents)
    buffer = io.BytesIO()
    pickle.dump(content, buffer, protocol=data.draw(st.integers(2, pickle.HIGHEST_PROTOCOL)))
    _load(buffer.getvalue())


def test_a_pickle_that_would_run_code_is_refused():
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo owned > /dev/null",))

    with pytest.raises(ModelFileError, match="could run code"):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "evil.joblib"
            path.write_bytes(pickle.dumps(Payload()))
            load_model(path)
