"""The ``cohorts`` and ``segments`` commands, run through ``main(argv)``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clv_predict.analytics import (
    acquisition_budget,
    acquisition_cohorts,
    customer_segments,
    retention_matrix,
)
from clv_predict.cli import main

COLUMNS = ["--customer-col", "cust", "--date-col", "day", "--amount-col", "value"]
KEYWORDS = {"customer_id_col": "customer_id", "datetime_col": "date", "monetary_value_col": "amount"}


@pytest.fixture(scope="module")
def log_csv(tmp_path_factory, cdnow_log):
    path = tmp_path_factory.mktemp("value_cli") / "cdnow.csv"
    cdnow_log.rename(columns={"customer_id": "cust", "date": "day", "amount": "value"}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, cdnow_model):
    path = tmp_path_factory.mktemp("value_cli_model") / "cdnow.joblib"
    cdnow_model.save(path)
    return path


def test_cohorts_summary_with_predicted_value(log_csv, model_file, cdnow_log, tmp_path, capsys):
    output = tmp_path / "cohorts.csv"
    code = main(["cohorts", "--input", str(log_csv), *COLUMNS, "--model", str(model_file), "--horizon", "39",
                 "--margin", "0.3", "--output", str(output)])
    assert code == 0
    assert "3 acquisition cohorts (M); summary table written to" in capsys.readouterr().out
    table = pd.read_csv(output)
    expected = acquisition_cohorts(cdnow_log, **KEYWORDS)
    assert table["cohort"].tolist() == ["1997-01", "1997-02", "1997-03"]
    np.testing.assert_array_equal(table["customers"], expected["customers"])
    np.testing.assert_allclose(table["revenue"], expected["revenue"])
    assert {"predicted_clv_per_customer", "mean_p_alive", "value_per_customer"} <= set(table.columns)
    assert not list(tmp_path.glob("*.partial"))


def test_cohorts_retention_matrix_to_parquet(log_csv, cdnow_log, tmp_path):
    output = tmp_path / "retention.parquet"
    # the retention matrix needs no amounts: a log without them will do
    no_amounts = tmp_path / "no_amounts.csv"
    pd.read_csv(log_csv).drop(columns="value").to_csv(no_amounts, index=False)
    assert main(["cohorts", "--input", str(no_amounts), "--customer-col", "cust", "--date-col", "day",
                 "--table", "retention", "--period", "Q", "--output", str(output)]) == 0
    table = pd.read_parquet(output).set_index("cohort")
    expected = retention_matrix(cdnow_log, customer_id_col="customer_id", datetime_col="date", period="Q")
    np.testing.assert_allclose(table.to_numpy(), expected.to_numpy())
    assert list(table.columns) == [str(c) for c in expected.columns]


def test_segments_customers_summary_and_budget(log_csv, model_file, cdnow_log, cdnow_model, tmp_path, capsys):
    customers = tmp_path / "segments.csv.gz"
    code = main(["segments", "--model", str(model_file), "--input", str(log_csv), *COLUMNS, "--horizon", "39",
                 "--margin", "0.3", "--output", str(customers)])
    out = capsys.readouterr().out
    assert code == 0
    assert "2,357 customers; the Platinum tier (5% of customers) holds" in out
    table = pd.read_csv(customers)
    expected = customer_segments(cdnow_log, cdnow_model, **KEYWORDS, horizon=39, margin=0.3)
    assert len(table) == 2357
    np.testing.assert_allclose(table["clv"], expected["clv"])
    assert table["rfm_segment"].tolist() == expected["rfm_segment"].astype(str).tolist()

    summary = tmp_path / "by_rfm.parquet"
    assert main(["segments", "--model", str(model_file), "--input", str(log_csv), *COLUMNS, "--horizon", "39",
                 "--table", "summary", "--by", "rfm_segment", "--output", str(summary)]) == 0
    frame = pd.read_parquet(summary)
    assert frame["customers"].sum() == 2357 and frame["share_of_predicted_value"].sum() == pytest.approx(1.0)

    budget = tmp_path / "budget.csv"
    assert main(["segments", "--model", str(model_file), "--input", str(log_csv), *COLUMNS, "--horizon", "39",
                 "--margin", "0.3", "--table", "budget", "--target-ratio", "4", "--output", str(budget)]) == 0
    assert "Affordable acquisition cost at CLV/CAC 4:" in capsys.readouterr().out
    frame = pd.read_csv(budget).set_index(["level", "group"])
    expected = acquisition_budget(cdnow_log, cdnow_model, **KEYWORDS, horizon=39, margin=0.3, target_ratio=4)
    np.testing.assert_allclose(frame["max_acquisition_cost"], expected["max_acquisition_cost"])


def test_bad_output_or_input_gives_one_line_and_no_file(log_csv, model_file, tmp_path, capsys):
    output = tmp_path / "cohorts.xlsx"
    assert main(["cohorts", "--input", str(log_csv), *COLUMNS, "--output", str(output)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("clv-predict: error: cannot tell the format of --output") and err.count("\n") == 1
    assert not output.exists()

    output = tmp_path / "segments.csv"
    assert main(["segments", "--model", str(model_file), "--input", str(log_csv), "--customer-col", "nobody",
                 "--output", str(output)]) == 1
    assert "nobody" in capsys.readouterr().err
    assert not output.exists() and not list(tmp_path.iterdir())

    assert main(["segments", "--model", str(model_file), "--input", str(log_csv), *COLUMNS,
                 "--at-risk-p-alive", "2", "--output", str(output)]) == 1
    assert "--at-risk-p-alive must be between 0 and 1" in capsys.readouterr().err
    assert not output.exists()
