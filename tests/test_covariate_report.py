"""The coefficients as multipliers with plain readings, and the report's Covariates section."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from test_covariates_sbg import _simulate as simulate_contracts

from clv_predict import (
    BetaGeoModel,
    CLVModel,
    DataError,
    DataWarning,
    ShiftedBetaGeoModel,
    load_model,
)
from clv_predict.covariate_report import (
    coefficient_table,
    covariates_section,
    profiles_of,
)
from clv_predict.report import build_report
from clv_predict.synthetic import CDNOW_PARAMS, simulate_customer_log
from clv_predict.transactions import TransactionLog


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(8)
    customers = pd.DataFrame({"channel": rng.choice(["shop", "web"], 2500), "age": rng.normal(40, 10, 2500)},
                             index=pd.RangeIndex(2500, name="customer_id"))
    coefficients = {"purchase:channel[web]": 0.6, "spend:channel[web]": -0.3, "purchase:age": 0.01}
    log = simulate_customer_log(customers, dict(CDNOW_PARAMS), coefficients, seed=8)
    log = TransactionLog(log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount")
    log = log.with_customers(customers)
    with pytest.warns(DataWarning, match="left out"):  # the later transactions are the report's holdout
        rfm = log.rfm(observation_period_end="2021-01-31", time_unit="W")
    model = CLVModel(purchase_covariates=["channel", "age"], spend_covariates=["channel"],
                     covariate_reference={"channel": "shop"}).fit(rfm)
    return model, log, rfm


def test_coefficient_table_reads_every_coefficient(fitted):
    model, _, _ = fitted
    table = coefficient_table(model)
    assert list(table.index) == ["purchase:channel[web]", "purchase:age", "spend:channel[web]"]
    row = table.loc["purchase:channel[web]"]
    summary = model.summary()
    assert row["estimate"] == summary.loc["purchase:channel[web]", "estimate"]
    assert row["multiplier"] == pytest.approx(np.exp(row["estimate"]))
    z = norm.ppf(0.975)
    assert row["multiplier_lower"] == pytest.approx(np.exp(row["estimate"] - z * row["standard_error"]))
    assert row["p_value"] == pytest.approx(2 * norm.sf(abs(row["estimate"]) / row["standard_error"]))
    assert row["covariate"] == "channel = web" and row["compared_with"] == "channel = shop"
    assert row["reading"].startswith(f"channel = web multiplies the mean purchase rate by {row['multiplier']:.3g} "
                                     "against channel = shop; clear")
    assert table.loc["purchase:age", "covariate"] == "age (per unit)"
    assert table.loc["spend:channel[web]", "reading"].startswith("channel = web multiplies expected spend per purchase")
    assert coefficient_table(CLVModel().fit(fitted[2].drop(columns=["channel", "age"]))).empty


def test_dropout_and_retention_readings():
    summary = simulate_contracts(2000, seed=3)
    table = coefficient_table(ShiftedBetaGeoModel(covariates=["plan"]).fit(summary))
    assert [name.split(":")[0] for name in table.index] == ["churn", "retention"]
    assert "alpha of the churn probability's Beta" in table["reading"].iloc[0]
    truth = BetaGeoModel.from_params(r=0.5, alpha=5.0, a=0.8, b=2.4, time_unit="W")
    rfm = truth.simulate(2000, 30.0, seed=3)
    rfm["channel"] = np.random.default_rng(3).choice(["shop", "web"], len(rfm))
    model = BetaGeoModel(dropout_covariates=["channel"]).fit(rfm)
    reading = coefficient_table(model)["reading"].iloc[0]
    assert "a and b of the dropout probability's Beta (the same mean" in reading


def test_profiles_cover_every_level(fitted):
    model, _, rfm = fitted
    profiles = profiles_of(model, rfm)
    assert profiles["channel"].tolist() == ["shop", "web"]
    assert profiles["age"].tolist() == [pytest.approx(rfm["age"].median())] * 2
    with pytest.raises(DataError, match="no covariates"):
        profiles_of(CLVModel().fit(rfm.drop(columns=["channel", "age"])))


@pytest.mark.slow
def test_the_report_has_a_covariates_section(fitted, tmp_path):
    model, log, _ = fitted
    title, body = covariates_section(model)
    assert title == "Covariates" and "purchase:channel[web]" in body and "multiplies the mean purchase rate" in body
    model.save(tmp_path / "m.joblib")
    page = build_report(load_model(tmp_path / "m.joblib"), log, train_period_end="2021-01-31")
    assert "<h2>Covariates</h2>" in page
    # a numeric covariate (age) with one value per customer: the per-pattern bounds are left out, saying why
    section = page[page.index("<h2>How sure the forecast is</h2>"):]
    assert "distinct patterns (a numeric covariate)" in section[:1000]


def test_value_by_profile_counts_the_spend_covariates(fitted):
    from clv_predict.analytics import acquisition_budget_by_profile
    from clv_predict.covariate_report import value_by_profile

    model, _, rfm = fitted
    table = value_by_profile(model, horizon=52, margin=0.3, target_ratio=3.0, data=rfm)
    spend = model.spend_model_.expected_spend_new_customer(table[["channel", "age"]])
    np.testing.assert_allclose(table["expected_spend"], spend)
    assert table.loc[1, "expected_spend"] < table.loc[0, "expected_spend"]  # web spends less (-0.3 simulated)
    np.testing.assert_allclose(table["first_purchase_value"], 0.3 * table["expected_spend"])
    np.testing.assert_allclose(table["max_acquisition_cost"], table["value"] / 3.0)
    # spend covariates only: the purchase part is the same for every profile
    only_spend = CLVModel(spend_covariates=["channel"], covariate_reference={"channel": "shop"}).fit(rfm)
    values = only_spend.expected_clv_new_customer({"channel": ["shop", "web"]}, horizon=52, margin=0.3)
    assert values["expected_purchases"].nunique() == 1 and values["expected_spend"].nunique() == 2
    budget = acquisition_budget_by_profile(only_spend, rfm, "channel", horizon=52, margin=0.3)
    assert budget.index.tolist() == ["shop", "web"]
    assert budget.loc["web", "max_acquisition_cost"] < budget.loc["shop", "max_acquisition_cost"]


def test_reference_levels_go_to_the_model_whose_covariate_they_name(fitted):
    _, _, rfm = fitted
    model = CLVModel(purchase_covariates=["age"], spend_covariates=["channel"],
                     covariate_reference={"channel": "web"}).fit(rfm)
    assert model.spend_model_.covariate_encoding_.reference == {"channel": "web"}
    assert list(model.purchase_model_.coefficients_.index) == ["purchase:age"]
    with pytest.raises(DataError, match="'covariate_reference' names 'region'"):
        CLVModel(spend_covariates=["channel"], covariate_reference={"region": "north"}).fit(rfm)


def test_the_report_says_how_sure_the_forecast_of_a_covariate_model_is():
    rng = np.random.default_rng(9)
    customers = pd.DataFrame({"channel": rng.choice(["shop", "web"], 2000)}, index=pd.RangeIndex(2000, name="customer_id"))
    log = simulate_customer_log(customers, dict(CDNOW_PARAMS), {"purchase:channel[web]": 0.6}, seed=9)
    log = TransactionLog(log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount")
    log = log.with_customers(customers)
    with pytest.warns(DataWarning, match="left out"):
        rfm = log.rfm(observation_period_end="2021-01-31", time_unit="W")
    model = CLVModel(purchase_covariates=["channel"], covariate_reference={"channel": "shop"}).fit(rfm)
    page = build_report(model, log, train_period_end="2021-01-31")
    section = page[page.index("<h2>How sure the forecast is</h2>"):]
    assert "Total purchases of the base" in section and "Not available" not in section[:2000]



def test_value_by_profile_bounds_the_budget(fitted):
    from clv_predict.covariate_report import value_by_profile

    model, _, rfm = fitted
    table = value_by_profile(model, horizon=52, margin=0.3, target_ratio=2.0, data=rfm, interval=0.9, n_draws=200)
    direct = model.expected_clv_new_customer(table[["channel", "age"]], horizon=52, margin=0.3, interval=0.9,
                                             n_draws=200)
    np.testing.assert_allclose(table["value_ci_lower"], direct["value_ci_lower"])
    np.testing.assert_allclose(table["max_acquisition_cost_lower"], table["value_ci_lower"] / 2.0)
    np.testing.assert_allclose(table["max_acquisition_cost_upper"], table["value_ci_upper"] / 2.0)
    assert (table["max_acquisition_cost_lower"] < table["max_acquisition_cost"]).all()
    assert (table["max_acquisition_cost"] < table["max_acquisition_cost_upper"]).all()
    assert table.attrs["interval"] == 0.9
