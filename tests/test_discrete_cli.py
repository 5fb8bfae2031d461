"""The command line on discrete opportunities (--model bg_bb) and contracts (--model sbg): fit, score, report."""

import numpy as np
import pandas as pd
import pytest

from clv_predict import ShiftedBetaGeoModel, load_model
from clv_predict.cli import main
from clv_predict.synthetic import simulate_opportunity_transactions


@pytest.fixture(scope="module")
def opportunity_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("opportunities") / "log.csv"
    simulate_opportunity_transactions(3000, seed=2, n_cohorts=2, n_opportunities=8).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def subscription_file(tmp_path_factory):
    rng = np.random.default_rng(5)
    rows = []
    for plan, (a, b) in {"basic": (0.7, 1.2), "pro": (3.8, 15.2)}.items():
        sim = ShiftedBetaGeoModel.from_params(alpha=a, beta=b).simulate(800, 30, seed=len(plan))
        for i, (T, churned) in enumerate(zip(sim["T"], sim["churned"])):
            start = pd.Timestamp("2020-01-01") + pd.Timedelta(days=int(rng.integers(0, 28)))
            end = (start + pd.DateOffset(months=int(T)) - pd.Timedelta(days=3)).date() if churned else ""
            rows.append((f"{plan}-{i}", start.date(), end, plan))
    path = tmp_path_factory.mktemp("subscriptions") / "subscriptions.csv"
    pd.DataFrame(rows, columns=["customer_id", "start", "end", "plan"]).to_csv(path, index=False)
    return path


def test_bg_bb_fit_score_and_report(opportunity_file, tmp_path, capsys):
    model_path = tmp_path / "bg_bb.joblib"
    assert main(["fit", "--model", "bg_bb", "--period", "Y", "--input", str(opportunity_file),
                 "--observation-end", "1999-12-31", "--output", str(model_path)]) == 0
    printed = capsys.readouterr().out
    assert "one opportunity per period 'Y'" in printed and "BG/BB log-likelihood" in printed
    model = load_model(model_path)
    assert model.purchase_model_.name == "bg_bb" and model.purchase_model_.period_ == "Y"
    scores = tmp_path / "scores.csv"
    assert main(["score", "--model", str(model_path), "--input", str(opportunity_file), "--observation-end",
                 "1999-12-31", "--horizon", "4", "--discount-rate", "0.1", "--output", str(scores)]) == 0
    assert "dated after --observation-end 1999-12-31 were left out" in capsys.readouterr().err
    table = pd.read_csv(scores)
    assert len(table) == 3000 and (table["clv"] >= 0).all() and table["p_alive"].between(0, 1).all()
    # without --horizon a BG/BB model would read the continuous models' default (52) as 52 opportunities
    unasked = tmp_path / "unasked.csv"
    assert main(["score", "--model", str(model_path), "--input", str(opportunity_file), "--observation-end",
                 "1999-12-31", "--output", str(unasked)]) != 0
    assert "BG/BB counts its horizon in opportunities (one per period 'Y')" in capsys.readouterr().err
    assert not unasked.exists()
    report = tmp_path / "report.html"
    assert main(["report", "--model", str(model_path), "--input", str(opportunity_file), "--discount-rate", "0.1",
                 "--output", str(report)]) == 0
    text = report.read_text()
    assert "Holdout 1999-12-31 to 2003-12-31 (4 opportunities)" in text
    assert text.count("<img") == 5  # frequency, holdout by frequency and by recency, tracking, P(alive)


def test_sbg_fit_by_segment_score_and_report(subscription_file, tmp_path, capsys):
    model_path = tmp_path / "sbg.joblib"
    assert main(["fit", "--model", "sbg", "--input", str(subscription_file), "--segment-col", "plan",
                 "--observation-end", "2022-07-01", "--output", str(model_path)]) == 0
    printed = capsys.readouterr().out
    assert "contract period 'M'" in printed and "By plan:" in printed and "basic" in printed
    model = load_model(model_path)
    assert model.period_ == "M" and model.n_customers_ == 1600
    scores = tmp_path / "scores.csv"
    assert main(["score", "--model", str(model_path), "--input", str(subscription_file), "--observation-end",
                 "2022-07-01", "--discount-rate", "0.01", "--price", "20", "--margin", "0.5",
                 "--output", str(scores)]) == 0
    table = pd.read_csv(scores)
    assert (table.loc[table["churned"], "clv"] == 0).all()
    active = table[~table["churned"]]
    np.testing.assert_allclose(active["clv"], 10 * active["expected_residual_lifetime"])
    report = tmp_path / "report.html"
    assert main(["report", "--model", str(model_path), "--input", str(subscription_file), "--segment-col", "plan",
                 "--discount-rate", "0.01", "--test-end", "2022-07-01", "--output", str(report)]) == 0
    text = report.read_text()
    assert "constant-retention formula undervalues" in text and "Segments by plan" in text
    assert main(["score", "--model", str(model_path), "--input", str(subscription_file),
                 "--output", str(tmp_path / "x.csv")]) == 1
    assert "--discount-rate must be > 0" in capsys.readouterr().err


def test_sbg_fit_on_a_log_of_renewals(tmp_path, capsys):
    payments = pd.DataFrame({"customer_id": ["a"] * 3 + ["b"] * 2 + ["c"] * 6,
                             "date": ["2024-01-01", "2024-02-01", "2024-03-01", "2024-01-01", "2024-02-01",
                                      "2024-01-05", "2024-02-05", "2024-03-05", "2024-04-05", "2024-05-05",
                                      "2024-06-05"]})
    source = tmp_path / "payments.csv"
    payments.to_csv(source, index=False)
    assert main(["fit", "--model", "sbg", "--renewals", "--input", str(source), "--observation-end", "2024-06-10",
                 "--output", str(tmp_path / "m.joblib")]) == 0
    assert "Fitted on 3 customers (2 churned)" in capsys.readouterr().out


def test_compare_takes_the_opportunity_models_among_themselves(opportunity_file, capsys):
    assert main(["compare", "--models", "bg_bb", "--period", "Y", "--input", str(opportunity_file),
                 "--train-end", "1999-12-31"]) == 0
    printed = capsys.readouterr().out
    assert "BG/BB" in printed and "Lowest BIC: BG/BB" in printed
    assert main(["compare", "--models", "bg_bb", "bg_nbd", "--input", str(opportunity_file)]) == 1
    assert "cannot be compared on one table" in capsys.readouterr().err
