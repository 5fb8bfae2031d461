"""Logs larger than memory: fit_file and score_file bucket by bucket equal the in-memory path."""

import os

import numpy as np
import pandas as pd
import pytest

from clv_predict import CLVModel, DataError, fit_file, rfm_summary, score, score_file
from clv_predict.exceptions import DataWarning
from clv_predict.models import PURCHASE_MODELS, purchase_model
from clv_predict.synthetic import CDNOW_PARAMS, simulate_transactions

SUMMARY = ("customer_id", "frequency", "recency", "T", "monetary_value")
COLUMNS = {"customer_id_col": "customer_id", "datetime_col": "date", "monetary_value_col": "amount"}


def _model(name):
    """A purchase model by name; the CNBD-k models at a fixed k (choosing k fits several)."""
    model = purchase_model(name)
    if hasattr(model, "k"):
        model.k = 2
    return model


@pytest.fixture(scope="module")
def log():
    frame = simulate_transactions(1500, CDNOW_PARAMS, seed=3)
    return frame.sample(frac=1.0, random_state=4).reset_index(drop=True)  # customers' rows spread over the file


@pytest.fixture(scope="module")
def files(tmp_path_factory, log):
    folder = tmp_path_factory.mktemp("streaming")
    parquet, csv, parts = folder / "log.parquet", folder / "log.csv", folder / "parts"
    log.to_parquet(parquet, index=False)
    log.to_csv(csv, index=False)
    parts.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(log)), 3)):
        log.iloc[rows].to_parquet(parts / f"part-{i}.parquet", index=False)
    return {"parquet": parquet, "csv": csv, "parts": parts}


def _in_memory(log, name, **summary):
    rfm = rfm_summary(log, time_unit="W", regularity=name in ("bg_cnbd_k", "mbg_cnbd_k"), **COLUMNS, **summary)
    return rfm, CLVModel(purchase_model=_model(name)).fit(rfm)


def _same_fit(streamed, expected):
    pd.testing.assert_series_equal(streamed.params_, expected.params_, rtol=1e-10, atol=0)
    for attribute in ("n_customers_", "n_repeat_customers_", "observation_period_end_", "training_period_",
                      "time_unit_"):
        assert getattr(streamed, attribute) == getattr(expected, attribute), attribute
    assert streamed.spend_model_.n_customers_ == expected.spend_model_.n_customers_


@pytest.mark.parametrize("name", list(PURCHASE_MODELS))
def test_fit_file_equals_the_fit_in_memory(name, log, files, tmp_path):
    _, expected = _in_memory(log, name)
    streamed = fit_file(files["parquet"], time_unit="W", purchase_model=_model(name), chunk_rows=500, tmp_dir=tmp_path)
    _same_fit(streamed, expected)
    assert os.listdir(tmp_path) == []  # the bucket files are gone


@pytest.mark.parametrize("name", ["bg_nbd", "bg_cnbd_k"])
def test_distinct_rows_merged_along_the_way_fit_the_same(name, log, files, monkeypatch):
    from clv_predict import streaming

    monkeypatch.setattr(streaming, "_MERGE_ROWS", 150)  # merge the rows of every few buckets
    _, expected = _in_memory(log, name)
    _same_fit(fit_file(files["parquet"], time_unit="W", purchase_model=_model(name), chunk_rows=120), expected)


@pytest.mark.parametrize("kind", ["csv", "parts"])
def test_fit_file_reads_csv_and_parquet_parts(kind, log, files):
    _, expected = _in_memory(log, "bg_nbd")
    _same_fit(fit_file(files[kind], time_unit="W", chunk_rows=700), expected)


def test_fit_file_observation_end_leaves_later_rows_out(log, files):
    with pytest.warns(DataWarning, match="left out"):
        _, expected = _in_memory(log, "bg_nbd", observation_period_end="2020-12-31")
    with pytest.warns(DataWarning, match=r"transactions dated after observation_period_end 2020-12-31 were left out"):
        streamed = fit_file(files["parquet"], time_unit="W", observation_period_end="2020-12-31", chunk_rows=600)
    _same_fit(streamed, expected)


@pytest.mark.parametrize("name", list(PURCHASE_MODELS))
def test_streamed_scores_equal_the_scores_in_memory(name, log, files, tmp_path):
    rfm, model = _in_memory(log, name)
    expected = score(model, rfm.drop(columns="litt", errors="ignore"), horizon=26, discount_rate=0.01)
    result = score_file(model, files["parquet"], tmp_path / "scores.parquet", horizon=26, discount_rate=0.01,
                        chunk_rows=400)
    assert result["chunks"] > 3
    scored = pd.read_parquet(tmp_path / "scores.parquet").drop(columns="time_unit")
    # the summaries are the same to the last bit; the forecasts of one chunk or another differ by rounding only
    pd.testing.assert_frame_equal(scored[list(SUMMARY)], expected[list(SUMMARY)], check_exact=True)
    pd.testing.assert_frame_equal(scored, expected, rtol=1e-12)


def test_customers_sorted_in_the_file_are_cut_into_buckets_again(log, tmp_path):
    """A file grouped by customer: the first chunk holds only the lowest ids, so the last bucket comes out far
    too large and is cut again before it is read; the result is the same."""
    path = tmp_path / "by_customer.csv"
    log = log.sort_values(["customer_id", "date"], kind="stable")  # amounts are added in the file's order
    log.to_csv(path, index=False)
    rfm, model = _in_memory(log, "bg_nbd")
    folder = tmp_path / "tmp"
    folder.mkdir()
    score_file(model, path, tmp_path / "scores.csv", horizon=26, chunk_rows=300, tmp_dir=folder)
    scored = pd.read_csv(tmp_path / "scores.csv").drop(columns="time_unit")
    expected = score(model, rfm, horizon=26)
    pd.testing.assert_frame_equal(scored, expected, rtol=1e-12)
    assert os.listdir(folder) == []
    _same_fit(fit_file(path, time_unit="W", chunk_rows=300), model)


def test_text_ids_after_integer_ones_start_the_buckets_again_as_text(tmp_path):
    """Integer ids in the first chunk, text ids later: every id becomes text, ordered as text."""
    log = simulate_transactions(400, CDNOW_PARAMS, seed=5).sort_values("date", kind="stable")
    log["customer_id"] = log["customer_id"].astype(str)
    late = log["customer_id"].astype(int) % 7 == 0
    log.loc[late, "customer_id"] = "C" + log.loc[late, "customer_id"]
    log = pd.concat([log[~late], log[late]], ignore_index=True)  # the text ids come last in the file
    path = tmp_path / "mixed.csv"
    log.to_csv(path, index=False)
    rfm, model = _in_memory(log, "bg_nbd")
    score_file(model, path, tmp_path / "scores.parquet", horizon=26, chunk_rows=200)
    scored = pd.read_parquet(tmp_path / "scores.parquet").drop(columns="time_unit")
    expected = score(model, rfm, horizon=26)
    assert scored["customer_id"].tolist() == sorted(expected["customer_id"])  # text order: "10" before "9"
    pd.testing.assert_frame_equal(scored, expected.sort_values("customer_id").reset_index(drop=True), rtol=1e-12)


def test_returns_net_across_chunks(tmp_path):
    log = simulate_transactions(300, CDNOW_PARAMS, seed=8)
    returns = log.sample(n=60, random_state=1).assign(amount=lambda f: -0.5 * f["amount"])
    log = pd.concat([log, returns]).sample(frac=1.0, random_state=2).reset_index(drop=True)
    path = tmp_path / "returns.parquet"
    log.to_parquet(path, index=False)
    with pytest.warns(DataWarning):
        rfm = rfm_summary(log, time_unit="W", negative_amounts="net", **COLUMNS)
    model = CLVModel().fit(rfm)
    with pytest.warns(DataWarning, match="60 rows with a negative amount were netted against the same day's purchases"):
        score_file(model, path, tmp_path / "scores.parquet", horizon=26, chunk_rows=150, negative_amounts="net")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "scores.parquet").drop(columns="time_unit"),
                                  score(model, rfm, horizon=26),
                                  rtol=1e-12)
    with pytest.warns(DataWarning):
        _same_fit(fit_file(path, time_unit="W", chunk_rows=150, negative_amounts="net"), model)


def test_interrupted_fit_leaves_no_bucket_files(files, tmp_path):
    calls = []

    def interrupt(done, total):
        calls.append(done)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit_file(files["parquet"], time_unit="W", chunk_rows=500, tmp_dir=tmp_path, progress=interrupt)
    assert calls == [1] and os.listdir(tmp_path) == []


def test_bucket_folders_of_a_killed_run_are_removed_by_the_next(files, tmp_path):
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True,
                          text=True)
    killed = tmp_path / f"clv_predict_buckets_{int(gone.stdout)}_abc123"  # as a SIGKILLed run leaves it
    running = tmp_path / f"clv_predict_buckets_{os.getpid()}_def456"  # this process's own: kept
    other = tmp_path / "clv_predict_buckets_notapid"  # not of this pattern: kept
    for folder in (killed, running, other):
        folder.mkdir()
        (folder / "bucket-0000.arrow").write_bytes(b"x")
    fit_file(files["parquet"], time_unit="W", tmp_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([running.name, other.name])


def test_fit_file_errors_name_the_input(files, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        fit_file(tmp_path / "missing.parquet")
    with pytest.raises(DataError, match="'chunk_rows' must be a positive number of rows; got 0"):
        fit_file(files["parquet"], chunk_rows=0)
    with pytest.raises(DataError, match="'tmp_dir' .* is not an existing folder"):
        fit_file(files["parquet"], tmp_dir=tmp_path / "nowhere")
    with pytest.raises(DataError, match="no column 'spend'"):
        fit_file(files["parquet"], monetary_value_col="spend")
    with pytest.raises(DataError, match="before the first transaction"):
        fit_file(files["parquet"], observation_period_end="2019-01-01")
