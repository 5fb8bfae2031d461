"""What issue 13 left: sBG retention covariates from the command line, whole-number-coded categorical levels as
reference levels, and the report's Covariates section valued at the command line's margin and discount rate."""

import numpy as np
import pandas as pd
import pytest
from test_covariates_cli import files  # noqa: F401 (a fixture: a log, its customer table and a fitted model)

from clv_predict import CLVModel, DataError, ShiftedBetaGeoModel, load_model
from clv_predict.cli import main
from clv_predict.contracts import score_contracts
from clv_predict.covariate_report import value_by_profile
from clv_predict.covariates import CovariateEncoding


# --------------------------------------------------------------------------- reference levels written as text
def test_a_whole_number_coded_column_named_in_reference_is_categorical():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"region": rng.integers(1, 4, 300), "vip": rng.random(300) < 0.3,
                          "score": rng.normal(0, 1, 300), "plan": rng.choice(["a", "b"], 300)})
    encoding = CovariateEncoding.fit(frame, ["region", "vip", "score", "plan"],
                                     reference={"region": "3", "vip": "true", "plan": "b"})
    assert encoding.reference == {"region": 3, "vip": True, "plan": "b"}
    assert encoding.names == ["region[1]", "region[2]", "vip[False]", "score", "plan[a]"]
    design = encoding.transform(frame)
    np.testing.assert_array_equal(design["region[1]"], frame["region"] == 1)
    # the level as a number, or as the float a CSV may give it, is the same level
    assert CovariateEncoding.fit(frame, ["region"], reference={"region": 3.0}).reference == {"region": 3}
    # without a reference the codes stay a number, as before
    assert CovariateEncoding.fit(frame, ["region"]).names == ["region"]
    with pytest.raises(DataError, match=r"'reference' level '7' of covariate 'region' does not occur.*1, 2, 3"):
        CovariateEncoding.fit(frame, ["region"], reference={"region": "7"})
    with pytest.raises(DataError, match="'score' is numeric with values that are not whole numbers"):
        CovariateEncoding.fit(frame, ["score"], reference={"score": "1"})


def test_clv_model_takes_a_numeric_reference_level(files):  # noqa: F811
    rfm = files["log"].pipe(lambda log: log)  # the simulated log: summarise it with an integer-coded region
    from clv_predict import rfm_summary

    summary = rfm_summary(rfm, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
                          observation_period_end="2021-04-14", time_unit="W")
    codes = {"north": 1, "south": 2}
    summary["region"] = files["customers"]["region"].map(codes).reindex(summary.index).to_numpy()
    model = CLVModel(purchase_covariates=["region"], covariate_reference={"region": "2"}).fit(summary)
    assert "purchase:region[1]" in model.params_.index
    assert model.purchase_model_.covariate_encoding_.reference == {"region": 2}


# --------------------------------------------------------------------------- sBG covariates from the command line
@pytest.fixture(scope="module")
def subscriptions(tmp_path_factory):
    """Subscriptions with a plan column, and a customer table with an integer-coded region; retention depends on
    the plan only."""
    rng = np.random.default_rng(5)
    rows, customers = [], []
    for plan, (a, b) in {"basic": (0.7, 1.2), "pro": (3.8, 15.2)}.items():
        sim = ShiftedBetaGeoModel.from_params(alpha=a, beta=b).simulate(1500, 30, seed=len(plan))
        for T, churned in zip(sim["T"], sim["churned"]):
            name = f"c{len(rows)}"
            start = pd.Timestamp("2020-01-01") + pd.Timedelta(days=int(rng.integers(0, 28)))
            end = (start + pd.DateOffset(months=int(T)) - pd.Timedelta(days=3)).date() if churned else ""
            rows.append((name, start.date(), end, plan))
            customers.append((name, int(rng.integers(1, 4))))
    folder = tmp_path_factory.mktemp("sbg_covariates")
    pd.DataFrame(rows, columns=["customer_id", "start", "end", "plan"]).to_csv(folder / "subs.csv", index=False)
    pd.DataFrame(customers, columns=["customer_id", "region"]).to_csv(folder / "customers.csv", index=False)
    return folder


def test_fit_sbg_with_retention_covariates_from_the_input_and_a_customer_table(subscriptions, tmp_path, capsys):
    model_path = tmp_path / "sbg.joblib"
    assert main(["fit", "--model", "sbg", "--input", str(subscriptions / "subs.csv"), "--observation-end",
                 "2022-07-01", "--retention-covariates", "plan", "region", "--customers",
                 str(subscriptions / "customers.csv"), "--reference", "region=3", "plan=basic",
                 "--output", str(model_path)]) == 0
    printed = capsys.readouterr().out
    assert "retention:plan[pro]" in printed and "churn:region[1]" in printed
    assert "the reference profile's (plan=basic, region=3; numeric covariates at 0)" in printed
    model = load_model(model_path)
    assert model.covariate_encoding_.reference == {"plan": "basic", "region": 3}
    summary = model.summary()
    # the pro plan retains far better; region, which retention does not depend on, within 3 standard errors of 0
    assert summary.loc["retention:plan[pro]", "estimate"] > 1.0
    for name in ("churn:region[1]", "retention:region[2]"):
        assert abs(summary.loc[name, "estimate"]) < 3 * summary.loc[name, "standard_error"]

    scores = tmp_path / "scores.csv"
    assert main(["score", "--model", str(model_path), "--input", str(subscriptions / "subs.csv"),
                 "--observation-end", "2022-07-01", "--customers", str(subscriptions / "customers.csv"),
                 "--discount-rate", "0.01", "--output", str(scores)]) == 0
    table = pd.read_csv(scores).set_index("customer_id")
    # the same as the library on the joined summary: each customer's own retention
    from clv_predict.customers import read_customer_table
    from clv_predict.discrete import subscription_summary

    frame = pd.read_csv(subscriptions / "subs.csv", dtype={"customer_id": str})
    direct = subscription_summary(frame, observation_period_end="2022-07-01", keep=["plan"])
    direct["region"] = read_customer_table(subscriptions / "customers.csv")["region"].reindex(direct.index).to_numpy()
    expected = score_contracts(model, direct, discount_rate=0.01)
    np.testing.assert_allclose(table.loc[expected.index, "clv"], expected["clv"], rtol=1e-10)
    new = pd.DataFrame({"T": 0, "churned": False, "plan": ["basic", "pro"], "region": 3})
    renewal = score_contracts(model, new, discount_rate=0.01)["p_renew"]
    curves = model.retention_by_profile({"plan": ["basic", "pro"], "region": [3, 3]}, [1])
    np.testing.assert_allclose(renewal, curves.iloc[0], rtol=1e-12)
    from clv_predict.contracts import probability_subscribed

    # P(still subscribed t periods on) of a new customer of each profile is the profile's survival curve
    profiles = model.retention_by_profile({"plan": ["basic", "pro"], "region": [3, 3]}, [1, 3])
    np.testing.assert_allclose(probability_subscribed(model, new, [1, 3]).to_numpy().T, profiles.to_numpy(),
                               rtol=1e-12)
    assert renewal.iloc[1] > renewal.iloc[0] + 0.1

    # with bounds: each customer's own
    bounded = tmp_path / "bounds.csv"
    assert main(["score", "--model", str(model_path), "--input", str(subscriptions / "subs.csv"),
                 "--observation-end", "2022-07-01", "--customers", str(subscriptions / "customers.csv"),
                 "--discount-rate", "0.01", "--interval", "0.9", "--output", str(bounded)]) == 0
    with_bounds = pd.read_csv(bounded).set_index("customer_id")
    np.testing.assert_allclose(with_bounds["clv"], table["clv"])
    assert (with_bounds["clv_lower"] <= with_bounds["clv"]).all()
    assert (with_bounds["clv"] <= with_bounds["clv_upper"]).all()

    # without the customer table the region is missing: an error naming it, nothing written
    assert main(["score", "--model", str(model_path), "--input", str(subscriptions / "subs.csv"),
                 "--discount-rate", "0.01", "--output", str(tmp_path / "none.csv")]) == 1
    assert "'region'" in capsys.readouterr().err and not (tmp_path / "none.csv").exists()
    report = tmp_path / "report.html"
    assert main(["report", "--model", str(model_path), "--input", str(subscriptions / "subs.csv"), "--customers",
                 str(subscriptions / "customers.csv"), "--discount-rate", "0.01", "--test-end", "2022-07-01",
                 "--output", str(report)]) == 0
    assert "retention:plan[pro]" in report.read_text()


def test_sbg_covariate_flags_are_checked(subscriptions, tmp_path, capsys):
    base = ["fit", "--model", "sbg", "--input", str(subscriptions / "subs.csv"), "--output",
            str(tmp_path / "m.joblib")]
    assert main([*base, "--purchase-covariates", "plan"]) == 1
    assert "--model sbg takes --retention-covariates" in capsys.readouterr().err
    assert main([*base, "--retention-covariates", "region"]) == 1  # not in the input, no customer table
    assert "--customers" in capsys.readouterr().err
    assert main([*base, "--retention-covariates", "region", "--customers", str(subscriptions / "customers.csv"),
                 "--reference", "region=7"]) == 1
    assert "'reference' level '7' of covariate 'region' does not occur" in capsys.readouterr().err
    assert main(["fit", "--input", str(subscriptions / "subs.csv"), "--retention-covariates", "plan",
                 "--output", str(tmp_path / "x.joblib")]) == 1
    assert "--retention-covariates are for --model sbg" in capsys.readouterr().err


# --------------------------------------------------------------------------- the report's margin and discount rate
def test_the_reports_covariates_section_values_profiles_at_the_given_margin_and_discount(files, tmp_path):  # noqa: F811
    report = tmp_path / "report.html"
    assert main(["report", "--model", str(files["model"]), "--input", str(files["folder"] / "log.csv"),
                 "--customers", str(files["folder"] / "customers.csv"), "--margin", "0.3", "--discount-rate",
                 "0.002", "--output", str(report)]) == 0
    text = report.read_text()
    assert "(margin 0.3, discount 0.002 per time unit" in text
    model = load_model(files["model"])
    table = value_by_profile(model, horizon=52, margin=0.3, discount_rate=0.002)
    shown = f"{table['value'].iloc[0]:,.2f}".rstrip("0").rstrip(".")
    assert shown[:5] in text


# --------------------------------------------------------------------------- the fit of spend covariates at scale
@pytest.mark.slow
def test_a_large_spend_fit_with_covariates_tries_its_starts_on_a_sample_and_polishes_on_everyone():
    """Over 50,000 distinct rows and 200,000 customers the starts are tried on a sample: the sample must know it
    has coefficients (it once read the multipliers as the coefficients, and the polish failed back to a search on
    every customer), and the polished estimate is the full data's optimum."""
    from test_covariates_spend import TRUE, _simulate

    from clv_predict import GammaGammaModel

    table = _simulate(220_000, seed=4)
    model = GammaGammaModel(covariates=["channel", "region", "age"]).fit(table)
    assert model.convergence_["converged"] and model.convergence_["sample_customers"] is not None
    for name, value in TRUE.items():
        assert abs(model.params_[name] - value) < 3 * model.standard_errors_[name], name
