"""The customer-value section of the HTML report, built alone and through ``clv-predict report``."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from clv_predict import DataError
from clv_predict.analytics import acquisition_budget
from clv_predict.cli import main
from clv_predict.value_report import customer_value_section


def test_section_has_the_tables_figures_and_headline_and_escapes_data(cdnow_log, cdnow_model):
    # customer ids that are HTML: the at-risk table must show them as text
    log = cdnow_log.assign(customer_id="<b>" + cdnow_log["customer_id"].astype(str) + "</b>")
    title, body = customer_value_section(log, cdnow_model, margin=0.3, target_ratio=3, dpi=50,
                                         observation_period_end="1998-06-30")
    assert title == "Customer value"
    for heading in ("Historical CLV", "Acquisition cohorts", "Value tiers", "RFM segments",
                    "High-value customers likely lost", "Acquisition budget"):
        assert f"<h3>{heading}</h3>" in body
    assert body.count("<img src=\"data:image/png;base64,") == 3
    budget = acquisition_budget(cdnow_log, cdnow_model, customer_id_col="customer_id", datetime_col="date",
                                monetary_value_col="amount", horizon=52, margin=0.3, target_ratio=3,
                                observation_period_end="1998-06-30")
    cost = budget.loc[("overall", "all customers"), "max_acquisition_cost"]
    assert f"worth acquiring for up to {cost:,.2f}." in body
    assert "As of 1998-06-30; 2,357 customers; forecasts over 52 weeks, margin 0.3" in body
    assert "<b>" not in body
    assert re.search(r"&lt;b&gt;\d+&lt;/b&gt;", body)


def test_report_command_adds_the_section(cdnow_log, cdnow_model, tmp_path, capsys):
    model = tmp_path / "m.joblib"
    cdnow_model.save(model)
    log = tmp_path / "log.csv"
    cdnow_log.to_csv(log, index=False)
    output = tmp_path / "report.html"
    code = main(["report", "--model", str(model), "--input", str(log), "--margin", "0.3", "--output", str(output)])
    assert code == 0, capsys.readouterr().err
    text = output.read_text()
    assert "<h2>Customer value</h2>" in text and "margin 0.3" in text
    assert text.index("<h2>Customer value</h2>") > text.index("<h2>Diagnostic plots</h2>")


def test_section_refuses_a_model_without_spend(cdnow_log, cdnow_model):
    with pytest.raises(DataError, match="'model' must be a fitted CLVModel; got BetaGeoModel"):
        customer_value_section(cdnow_log, cdnow_model.purchase_model_)
    short = pd.DataFrame({"customer_id": [1, 1, 2], "date": ["2024-01-03", "2024-01-20", "2024-01-09"],
                          "amount": [5.0, 6.0, 7.0]})
    # a log shorter than two complete months still gets a section, without the retention-based table
    _, body = customer_value_section(short, cdnow_model, dpi=50)
    assert "retention cannot be measured" in body
