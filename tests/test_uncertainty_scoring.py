"""Scoring files and the command line with per-customer bounds (issue 12)."""

import warnings

import numpy as np
import pandas as pd
import pytest

from clv_predict import DataError, score_file
from clv_predict.cli import main
from clv_predict.scoring import INTERVAL_COLUMNS, SCORE_COLUMNS


@pytest.fixture(scope="module")
def log_files(tmp_path_factory, cdnow_log):
    folder = tmp_path_factory.mktemp("cdnow_interval")
    shuffled = cdnow_log.sample(frac=1.0, random_state=5)
    csv, parquet = folder / "log.csv", folder / "log.parquet"
    shuffled.to_csv(csv, index=False)
    shuffled.to_parquet(parquet, index=False)
    return csv, parquet


def _read(path):
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    return frame.sort_values("customer_id").reset_index(drop=True)


def test_score_file_writes_the_bounds_and_chunks_give_the_same(cdnow_model, log_files, tmp_path):
    csv, parquet = log_files
    settings = {"horizon": 52, "discount_rate": 0.002, "margin": 0.3, "observation_period_end": "1997-09-30",
                "interval": 0.9}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the holdout rows after the observation end are said elsewhere
        one = score_file(cdnow_model, parquet, tmp_path / "one.parquet", **settings)
        many = score_file(cdnow_model, csv, tmp_path / "many.csv", chunk_rows=900, **settings)
    assert one["chunks"] == 1 and many["chunks"] > 2
    a, b = _read(tmp_path / "one.parquet"), _read(tmp_path / "many.csv")
    assert list(a.columns) == [*SCORE_COLUMNS, *INTERVAL_COLUMNS, "time_unit"]
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)
    # purchase bounds are counts: whole numbers in Parquet's schema and in the CSV's text ("3", not "3.0")
    assert a["purchases_lower"].dtype == np.int64 and b["purchases_upper"].dtype == np.int64
    assert (a["purchases_lower"] <= a["purchases_upper"]).all() and (a["clv_lower"] <= a["clv_upper"]).all()
    assert (a["clv_ci_lower"] <= a["clv_ci_upper"]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = score_file(cdnow_model, parquet, tmp_path / "plain.parquet", horizon=52, discount_rate=0.002,
                           margin=0.3, observation_period_end="1997-09-30")
    assert plain["customers"] == one["customers"]
    assert list(_read(tmp_path / "plain.parquet").columns) == [*SCORE_COLUMNS, "time_unit"]
    with pytest.raises(DataError, match="'interval'"):
        score_file(cdnow_model, parquet, tmp_path / "bad.parquet", horizon=52, interval=90)


def test_cli_score_with_interval(cdnow_log, tmp_path, capsys):
    log_csv = tmp_path / "log.csv"
    cdnow_log.to_csv(log_csv, index=False)
    model, scores = tmp_path / "model.joblib", tmp_path / "scores.csv"
    columns = ["--customer-col", "customer_id", "--date-col", "date", "--amount-col", "amount"]
    assert main(["fit", "--input", str(log_csv), *columns, "--time-unit", "W", "--observation-end", "1997-09-30",
                 "--output", str(model)]) == 0
    code = main(["score", "--model", str(model), "--input", str(log_csv), *columns, "--observation-end",
                 "1997-09-30", "--horizon", "39", "--interval", "0.9", "--output", str(scores)])
    assert code == 0
    frame = pd.read_csv(scores)
    assert list(frame.columns) == [*SCORE_COLUMNS, *INTERVAL_COLUMNS, "time_unit"]
    assert (frame["purchases_upper"] >= frame["purchases_lower"]).all()
    capsys.readouterr()
    code = main(["score", "--model", str(model), "--input", str(log_csv), *columns, "--observation-end",
                 "1997-09-30", "--horizon", "39", "--interval", "1.5", "--output", str(tmp_path / "bad.csv")])
    assert code != 0
    assert "--interval" in capsys.readouterr().err
