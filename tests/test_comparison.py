"""compare_models, fit_models, the comparison plots and report section, and `clv-predict compare`."""

import numpy as np
import pandas as pd
import pytest

from clv_predict import (
    BetaGeoModel,
    DataError,
    compare_models,
    fit_models,
    rfm_train_test_split,
)
from clv_predict.cli import main
from clv_predict.comparison import model_comparison_section


@pytest.fixture(scope="module")
def split(cdnow_log):
    return rfm_train_test_split(cdnow_log, customer_id_col="customer_id", datetime_col="date",
                                train_period_end="1997-09-30", time_unit="W")


def test_comparison_table_reads_the_fit_and_the_holdout(split):
    table = compare_models(split, ["bg_nbd"])
    row = table.loc["bg_nbd"]
    assert row["model"] == "BG/NBD" and row["parameters"] == 4 and row["converged"]
    assert row["log_likelihood"] == pytest.approx(-9582.43, abs=0.01)
    assert row["aic"] == pytest.approx(8 + 2 * 9582.429, abs=0.01)
    assert row["bic"] == pytest.approx(4 * np.log(2357) + 2 * 9582.429, abs=0.01)
    # the published holdout: 1,653 predicted against 1,882 (Fader, Hardie & Lee 2005)
    assert row["predicted_purchases"] == pytest.approx(1653.4, abs=0.1)
    assert row["actual_purchases"] == 1882 and row["percent_error"] == pytest.approx(-12.15, abs=0.01)
    # the error by training frequency, checked against a direct computation
    predicted = BetaGeoModel().fit(split).expected_purchases(split, 39)
    ones = split["frequency"] == 1
    assert row["error_1"] == pytest.approx((predicted[ones] - split.loc[ones, "test_frequency"]).mean(), rel=1e-9)
    assert row["mae"] == pytest.approx((predicted - split["test_frequency"]).abs().mean(), rel=1e-9)


def test_fitted_models_are_taken_as_they_are_and_a_missing_column_is_named(split):
    fitted = fit_models(split, ["bg_nbd"])
    assert fitted["bg_nbd"].fit_seconds_ > 0
    pd.testing.assert_frame_equal(compare_models(split, fitted).drop(columns="fit_seconds"),
                                  compare_models(split, ["bg_nbd"]).drop(columns="fit_seconds"))
    with pytest.raises(DataError, match="'models' must be one of|'purchase_model' must be one of"):
        compare_models(split, ["no_such_model"])
    with pytest.raises(DataError, match="'models' is empty"):
        compare_models(split, [])


def test_comparison_section_draws_both_plots(split, cdnow_log):
    title, body = model_comparison_section(fit_models(split, ["bg_nbd"]), split, cdnow_log)
    assert title == "Model comparison"
    assert body.count("<img") == 2 and "BIC prefers BG/NBD" in body


def test_compare_command_prints_and_writes_the_table(tmp_path, capsys, cdnow_log):
    source = tmp_path / "log.csv"
    cdnow_log.to_csv(source, index=False)
    output = tmp_path / "comparison.csv"
    code = main(["compare", "--input", str(source), "--models", "bg_nbd", "--train-end", "1997-09-30",
                 "--output", str(output)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "BG/NBD" in printed and "Lowest BIC: BG/NBD" in printed
    written = pd.read_csv(output)
    assert written.loc[0, "name"] == "bg_nbd" and written.loc[0, "actual_purchases"] == 1882


def test_report_compare_adds_the_model_comparison_section(tmp_path, cdnow_log):
    source = tmp_path / "log.csv"
    cdnow_log.to_csv(source, index=False)
    model = tmp_path / "m.joblib"
    assert main(["fit", "--input", str(source), "--observation-end", "1997-09-30", "--model", "pareto_nbd",
                 "--output", str(model)]) == 0
    report = tmp_path / "report.html"
    assert main(["report", "--model", str(model), "--input", str(source), "--compare", "--output", str(report)]) == 0
    text = report.read_text()
    assert "Model comparison" in text and "MBG/CNBD-k" in text and "Pareto/NBD log-likelihood" not in text
