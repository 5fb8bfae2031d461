"""The command line with a customer table: fit with covariates, score, report and segments read them by id."""

import numpy as np
import pandas as pd
import pytest

from clv_predict import load_model, score_file
from clv_predict.cli import main
from clv_predict.synthetic import CDNOW_PARAMS, simulate_customer_log
from clv_predict.transactions import TransactionLog

COEFFICIENTS = {"purchase:channel[web]": 0.6, "dropout:channel[web]": 0.4, "spend:channel[web]": -0.3}
END = "2021-04-14"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("covariates")
    rng = np.random.default_rng(5)
    customers = pd.DataFrame({"channel": rng.choice(["shop", "web"], 3000), "region": rng.choice(["north", "south"], 3000)},
                             index=pd.Index([f"C{i:05d}" for i in range(3000)], name="customer_id"))
    log = simulate_customer_log(customers, dict(CDNOW_PARAMS), COEFFICIENTS, seed=5)
    log.to_csv(folder / "log.csv", index=False)
    customers.reset_index().to_csv(folder / "customers.csv", index=False)
    model = folder / "model.joblib"
    code = main(["fit", "--input", str(folder / "log.csv"), "--customers", str(folder / "customers.csv"),
                 "--purchase-covariates", "channel", "--dropout-covariates", "channel", "--spend-covariates", "channel",
                 "--reference", "channel=shop", "--output", str(model)])
    assert code == 0
    return {"folder": folder, "log": log, "customers": customers, "model": model}


def test_fit_with_covariates_estimates_them_and_saves_the_columns(files, capsys):
    model = load_model(files["model"])
    assert model.covariate_columns_ == ["channel"]
    params = model.params_
    for name, value in COEFFICIENTS.items():
        standard_error = model.summary().loc[name, "standard_error"]
        assert abs(params[name] - value) < 3 * standard_error, name


def test_score_joins_the_customer_table_and_equals_the_library(files, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    code = main(["score", "--model", str(files["model"]), "--input", str(files["folder"] / "log.csv"),
                 "--customers", str(files["folder"] / "customers.csv"), "--horizon", "26", "--output", str(out)])
    assert code == 0, capsys.readouterr().err
    scores = pd.read_csv(out).set_index("customer_id")
    model = load_model(files["model"])
    log = TransactionLog(files["log"], customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount")
    rfm = log.with_customers(files["customers"]).rfm(time_unit="W")
    expected = model.predict(rfm, horizon=26)
    np.testing.assert_allclose(scores.loc[expected.index, "clv"], expected["clv"], rtol=1e-9)
    # a web customer and a shop one with the same history get different forecasts
    assert scores.groupby(files["customers"]["channel"].reindex(scores.index))["expected_purchases"].mean().nunique() == 2


def test_score_refuses_input_without_the_covariates(files, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    code = main(["score", "--model", str(files["model"]), "--input", str(files["folder"] / "log.csv"),
                 "--horizon", "26", "--output", str(out)])
    assert code == 1
    assert "'channel'" in capsys.readouterr().err and not out.exists()
    partial = files["customers"].drop(index=["C00007", "C00011"]).reset_index()
    partial.to_csv(tmp_path / "partial.csv", index=False)
    code = main(["score", "--model", str(files["model"]), "--input", str(files["folder"] / "log.csv"),
                 "--customers", str(tmp_path / "partial.csv"), "--horizon", "26", "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "2 customers of the input are missing from the customer table ('C00007', 'C00011')" in err
    doubled = pd.concat([files["customers"], files["customers"].iloc[[3]]]).reset_index()
    doubled.to_csv(tmp_path / "doubled.csv", index=False)
    code = main(["score", "--model", str(files["model"]), "--input", str(files["folder"] / "log.csv"),
                 "--customers", str(tmp_path / "doubled.csv"), "--horizon", "26", "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "1 customer id on more than one row ('C00003')" in err
    files["customers"][["region"]].reset_index().to_csv(tmp_path / "no_channel.csv", index=False)
    code = main(["score", "--model", str(files["model"]), "--input", str(files["folder"] / "log.csv"),
                 "--customers", str(tmp_path / "no_channel.csv"), "--horizon", "26", "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "'channel'" in err


def test_fit_refuses_covariates_without_a_customer_table(files, tmp_path, capsys):
    code = main(["fit", "--input", str(files["folder"] / "log.csv"), "--spend-covariates", "channel",
                 "--output", str(tmp_path / "m.joblib")])
    assert code == 1 and "--customers" in capsys.readouterr().err
    code = main(["fit", "--input", str(files["folder"] / "log.csv"), "--customers", str(files["folder"] / "customers.csv"),
                 "--purchase-covariates", "segment", "--output", str(tmp_path / "m.joblib")])
    assert code == 1 and "'segment'" in capsys.readouterr().err


def test_score_file_reads_covariates_from_an_rfm_input(files, tmp_path):
    model = load_model(files["model"])
    log = TransactionLog(files["log"], customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount")
    rfm = log.with_customers(files["customers"]).rfm(time_unit="W")
    rfm.reset_index().assign(time_unit="W").to_csv(tmp_path / "rfm.csv", index=False)
    result = score_file(model, tmp_path / "rfm.csv", tmp_path / "scores.csv", horizon=26, input_kind="rfm")
    assert result["customers"] == len(rfm)
    scores = pd.read_csv(tmp_path / "scores.csv").set_index("customer_id")
    np.testing.assert_allclose(scores.loc[rfm.index, "clv"], model.predict(rfm, horizon=26)["clv"], rtol=1e-9)
    rfm.drop(columns="channel").reset_index().assign(time_unit="W").to_csv(tmp_path / "bare.csv", index=False)
    with pytest.raises(ValueError, match="'channel'.*customer table"):
        score_file(model, tmp_path / "bare.csv", tmp_path / "scores2.csv", horizon=26, input_kind="rfm")
    # the customer table supplies what the RFM file lacks
    score_file(model, tmp_path / "bare.csv", tmp_path / "scores3.csv", horizon=26, input_kind="rfm",
               customers=files["customers"])
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "scores3.csv"), pd.read_csv(tmp_path / "scores.csv"))


def test_segments_reads_the_customer_table(files, tmp_path, capsys):
    out = tmp_path / "segments.csv"
    code = main(["segments", "--model", str(files["model"]), "--input", str(files["folder"] / "log.csv"),
                 "--customers", str(files["folder"] / "customers.csv"), "--table", "summary", "--output", str(out)])
    assert code == 0, capsys.readouterr().err
    assert len(pd.read_csv(out)) > 0
    code = main(["segments", "--model", str(files["model"]), "--input", str(files["folder"] / "log.csv"),
                 "--output", str(out)])
    assert code == 1 and "--customers" in capsys.readouterr().err
    code = main(["segments", "--model", str(files["model"]), "--input", str(files["folder"] / "log.csv"),
                 "--customers", str(files["folder"] / "customers.csv"), "--table", "budget", "--covariate", "channel",
                 "--margin", "0.3", "--output", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Affordable acquisition cost at CLV/CAC 3 by channel: from" in captured.out
    budget = pd.read_csv(out).set_index("channel")
    assert budget.index.tolist() == ["shop", "web"] and (budget["max_acquisition_cost"] > 0).all()


def test_score_writes_bounds_for_a_model_with_covariates(files, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    code = main(["score", "--model", str(files["model"]), "--input", str(files["folder"] / "log.csv"),
                 "--customers", str(files["folder"] / "customers.csv"), "--horizon", "26", "--interval", "0.9",
                 "--margin", "0.3", "--output", str(out)])
    assert code == 0, capsys.readouterr().err
    scores = pd.read_csv(out).set_index("customer_id")
    model = load_model(files["model"])
    log = TransactionLog(files["log"], customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount")
    rfm = log.with_customers(files["customers"]).rfm(time_unit="W")
    expected = model.predict(rfm, horizon=26, margin=0.3, interval=0.9)
    for column in ("purchases_lower", "purchases_upper", "clv_lower", "clv_upper", "clv_ci_lower", "clv_ci_upper"):
        np.testing.assert_allclose(scores.loc[expected.index, column], expected[column], rtol=1e-9, err_msg=column)


def test_segments_budget_by_covariate_with_bounds(files, tmp_path, capsys):
    out = tmp_path / "budget.csv"
    arguments = ["segments", "--model", str(files["model"]), "--input", str(files["folder"] / "log.csv"),
                 "--customers", str(files["folder"] / "customers.csv"), "--table", "budget", "--margin", "0.3",
                 "--interval", "0.9", "--output", str(out)]
    code = main([*arguments, "--covariate", "channel"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "90% bounds of the parameter uncertainty" in captured.out
    budget = pd.read_csv(out).set_index("channel")
    assert (budget["max_acquisition_cost_lower"] < budget["max_acquisition_cost"]).all()
    assert (budget["max_acquisition_cost"] < budget["max_acquisition_cost_upper"]).all()
    code = main(arguments)  # bounds of the budget by cohort and segment: not offered
    assert code == 1 and "--covariate" in capsys.readouterr().err
