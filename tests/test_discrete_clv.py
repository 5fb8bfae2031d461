"""BG/BB through the doors of the continuous models: CLV with Gamma-Gamma spend, evaluate, compare_models,
persistence and batch scoring, on logs of discrete opportunities."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import clv_predict as cp
from clv_predict import CLVModel, DataError, TransactionLog
from clv_predict.discrete import opportunity_summary, opportunity_train_test_split
from clv_predict.synthetic import DONATIONS_PARAMS, simulate_opportunity_transactions


@pytest.fixture(scope="module")
def frame():
    return simulate_opportunity_transactions(6000, seed=7, n_cohorts=2)


@pytest.fixture(scope="module")
def log(frame):
    return TransactionLog(frame, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount")


@pytest.fixture(scope="module")
def summary(log):
    return opportunity_summary(log, period="Y")


@pytest.fixture(scope="module")
def model(summary):
    return CLVModel(purchase_model="bg_bb").fit(summary)


def _hand_log():
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b", "c", "c"],
            "date": pd.to_datetime(["2019-03-01", "2020-02-01", "2020-09-01", "2022-05-01", "2019-12-31",
                                    "2020-01-10", "2023-03-01"]),
            "amount": [10.0, 20.0, 30.0, 40.0, 5.0, 8.0, 12.0],
        }
    )
    return TransactionLog(frame, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount")


def test_opportunity_summary_has_the_mean_value_per_opportunity_with_a_purchase():
    summary = opportunity_summary(_hand_log(), period="Y", observation_period_end="2022-12-31")
    # a: acquired 2019; bought in 2020 (two purchases, 50 in all) and 2022: 2 opportunities, (50 + 40) / 2
    assert summary.loc["a"].to_dict() == {"frequency": 2, "recency": 3, "T": 3, "monetary_value": 45.0}
    assert summary.loc["b"].to_dict() == {"frequency": 0, "recency": 0, "T": 3, "monetary_value": 0.0}
    assert summary.loc["c"].to_dict() == {"frequency": 0, "recency": 0, "T": 2, "monetary_value": 0.0}
    assert summary.attrs["opportunity_period"] == "Y" and summary.attrs["summary"] == "opportunities"


def test_opportunity_split_counts_the_holdout_opportunities_with_a_purchase():
    split = opportunity_train_test_split(_hand_log(), period="Y", train_period_end="2020-12-31",
                                         test_period_end="2023-12-31")
    assert split["test_T"].tolist() == [3, 3, 3]
    assert split["test_frequency"].to_dict() == {"a": 1, "b": 0, "c": 1}
    assert split["test_monetary_value"].to_dict() == {"a": 40.0, "b": 0.0, "c": 12.0}
    assert split.loc["a", ["frequency", "recency", "T"]].tolist() == [1, 1, 1]
    with pytest.raises(DataError, match="no 'Y' period is over"):
        opportunity_train_test_split(_hand_log(), period="Y", train_period_end="2022-12-31",
                                     test_period_end="2023-06-30")


def test_clv_model_takes_bg_bb_by_name_and_recovers_the_simulated_parameters(model, summary):
    fitted = model.params_
    for name in ("alpha", "beta", "gamma", "delta"):
        assert fitted[name] == pytest.approx(DONATIONS_PARAMS[name], rel=0.25), name
    assert model.purchase_model_.period_ == "Y"
    assert model.summary()["model"].unique().tolist() == ["BG/BB", "Gamma-Gamma"]
    assert model.n_customers_ == len(summary)


def test_clv_is_margin_times_spend_times_the_discounted_purchases_per_opportunity(model, summary):
    forecast = model.predict(summary, horizon=4, discount_rate=0.1, margin=0.3)
    purchases = model.purchase_model_
    # the discounted count as a direct sum over the 4 opportunities of P(purchase at T + k) / 1.1^k
    cumulative = [np.zeros(len(summary))] + [purchases.expected_purchases(summary, k).to_numpy() for k in range(1, 5)]
    direct = sum((cumulative[k] - cumulative[k - 1]) / 1.1**k for k in range(1, 5))
    spend = model.spend_model_.expected_spend(summary).to_numpy()
    np.testing.assert_allclose(forecast["clv"], 0.3 * spend * direct, rtol=1e-9)
    np.testing.assert_allclose(forecast["expected_purchases"], cumulative[4], rtol=1e-12)
    np.testing.assert_allclose(forecast["p_alive"], purchases.probability_alive(summary), rtol=1e-12)
    # over a long horizon the discounted count is DERT (FHS eq. 14)
    long = model.predict(summary, horizon=2000, discount_rate=0.1)
    dert = purchases.expected_residual_purchases(summary, discount_rate=0.1).to_numpy()
    np.testing.assert_allclose(long["clv"], spend * dert, rtol=1e-9)
    assert (model.predict(summary, horizon=4, discount_rate=0.2)["clv"] <= forecast["clv"] / 0.3 + 1e-9).all()


def test_a_summary_in_another_period_is_refused(model, log):
    quarterly = opportunity_summary(log, period="Q")
    with pytest.raises(DataError, match="period 'Q' but the model was fitted on period 'Y'"):
        model.predict(quarterly, horizon=4)
    with pytest.raises(DataError, match="give no time_unit"):
        CLVModel(purchase_model="bg_bb").fit(quarterly, time_unit="W")
    with pytest.raises(DataError, match="'monetary_value'"):
        CLVModel(purchase_model="bg_bb").fit(load_donations_without_money())


def load_donations_without_money():
    from clv_predict.datasets import load_donations

    return load_donations()


def test_evaluate_judges_a_bg_bb_clv_model_on_a_holdout_of_opportunities(log):
    split = opportunity_train_test_split(log, period="Y", train_period_end="1998-12-31")
    model = CLVModel(purchase_model="bg_bb").fit(split)
    result = cp.evaluate(model, split)
    purchases = result.aggregate.loc[("model", "purchases")]
    assert abs(purchases["percent_error"]) < 5
    assert "(3 opportunities)" in result.headline()
    assert result.settings["methods"]["model"] == "BG/BB + Gamma-Gamma"
    # the log is split here, in the model's opportunities
    from_log = cp.evaluate(model, log)
    pd.testing.assert_frame_equal(from_log.aggregate, result.aggregate)


def test_compare_models_takes_the_opportunity_family_and_refuses_to_mix(log, summary):
    split = opportunity_train_test_split(log, period="Y", train_period_end="1998-12-31")
    table = cp.compare_models(split)
    assert table.index.tolist() == ["bg_bb"]
    assert {"log_likelihood", "bic", "predicted_purchases", "error_0"} <= set(table.columns)
    from clv_predict.datasets import load_donations

    assert round(cp.compare_models(load_donations()).loc["bg_bb", "log_likelihood"], 1) == -33225.6
    with pytest.raises(DataError, match="cannot be compared on one table"):
        cp.compare_models(summary, ["bg_bb", "bg_nbd"])


def test_a_saved_bg_bb_clv_model_forecasts_the_same_in_a_fresh_process(model, summary, tmp_path):
    path = tmp_path / "bg_bb.joblib"
    model.save(path)
    summary.to_pickle(tmp_path / "summary.pkl")
    expected = model.predict(summary, horizon=3, discount_rate=0.05, margin=0.5)
    code = (
        "import pandas as pd, clv_predict as cp\n"
        f"m = cp.load_model({str(path)!r})\n"
        f"s = pd.read_pickle({str(tmp_path / 'summary.pkl')!r})\n"
        "assert m.purchase_model_.period_ == 'Y' and m.purchase_model_.name == 'bg_bb'\n"
        f"m.predict(s, horizon=3, discount_rate=0.05, margin=0.5).to_pickle({str(tmp_path / 'out.pkl')!r})\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    pd.testing.assert_frame_equal(pd.read_pickle(tmp_path / "out.pkl"), expected)


def test_score_file_summarises_transactions_in_the_models_opportunities(model, frame, summary, tmp_path):
    source = tmp_path / "log.csv"
    frame.to_csv(source, index=False)
    one = cp.score_file(model, source, tmp_path / "one.csv", horizon=3, discount_rate=0.1)
    chunked = cp.score_file(model, source, tmp_path / "chunked.csv", horizon=3, discount_rate=0.1, chunk_rows=4000)
    assert one["customers"] == chunked["customers"] == len(summary)
    assert chunked["chunks"] > 1
    a = pd.read_csv(tmp_path / "one.csv").set_index("customer_id").sort_index()
    b = pd.read_csv(tmp_path / "chunked.csv").set_index("customer_id").sort_index()
    pd.testing.assert_frame_equal(a, b)
    direct = cp.score(model, summary, horizon=3, discount_rate=0.1).set_index("customer_id").sort_index()
    np.testing.assert_allclose(a["clv"], direct["clv"], rtol=1e-9)
    # an opportunity summary file needs no time unit
    summary.to_csv(tmp_path / "summary.csv")
    cp.score_file(model, tmp_path / "summary.csv", tmp_path / "from_summary.csv", horizon=3, discount_rate=0.1,
                  input_kind="rfm")
    c = pd.read_csv(tmp_path / "from_summary.csv").set_index("customer_id").sort_index()
    np.testing.assert_allclose(c["clv"], direct["clv"], rtol=1e-9)


def test_a_model_fitted_without_a_period_cannot_summarise_a_log(frame, tmp_path):
    from clv_predict.datasets import load_donations

    donations = load_donations()
    spend = np.random.default_rng(1).gamma(6.0, 10.0, len(donations))
    donations["monetary_value"] = np.where(donations["frequency"] > 0, spend, 0.0)
    donations.attrs = {}
    model = CLVModel(purchase_model="bg_bb").fit(donations)
    assert model.purchase_model_.period_ is None
    frame.to_csv(tmp_path / "log.csv", index=False)
    with pytest.raises(DataError, match="does not state its opportunity period"):
        cp.score_file(model, tmp_path / "log.csv", tmp_path / "out.csv", horizon=3)


@pytest.mark.parametrize("params", [
    {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783},
    {"alpha": 0.01, "beta": 100.0, "gamma": 0.01, "delta": 100.0},
    {"alpha": 100.0, "beta": 0.01, "gamma": 100.0, "delta": 0.01},
    {"alpha": 1000.0, "beta": 1000.0, "gamma": 1.0, "delta": 1000.0},
])
def test_bg_bb_numbers_stay_finite_for_thousands_of_opportunities_and_extreme_parameters(params):
    model = cp.BetaGeoBetaBinomModel.from_params(**params)
    summary = pd.DataFrame({"frequency": [0, 1, 2500, 5000, 3], "recency": [0, 4000, 4999, 5000, 6],
                            "T": [5000, 5000, 5000, 5000, 6]})
    p_alive = model.probability_alive(summary)
    assert np.all(np.isfinite(p_alive)) and p_alive.between(0, 1).all()
    for values in (model.expected_purchases(summary, 10), model.expected_residual_purchases(summary, discount_rate=0.01),
                   model.expected_residual_purchases(summary, discount_rate=0.01, horizon=3000)):
        assert np.all(np.isfinite(values)) and (values >= 0).all()
    assert np.isfinite(model.expected_purchases_new_customer(5000))
    # a finite horizon never exceeds the infinite one
    assert (model.expected_residual_purchases(summary, discount_rate=0.01, horizon=3000)
            <= model.expected_residual_purchases(summary, discount_rate=0.01) * (1 + 1e-9)).all()


def test_the_bg_bb_plots_and_their_tables(model, log, summary):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from clv_predict.plotting import discrete as plots

    counts = plots.opportunity_frequency_counts(model, summary)
    assert counts["actual"].sum() == len(summary)
    assert counts["model"].sum() == pytest.approx(len(summary))
    tracking = plots.opportunity_tracking_table(model, log, train_period_end="2001-12-31")
    assert tracking["actual"].sum() == summary["frequency"].sum()
    assert tracking["model_cumulative"].iloc[-1] == pytest.approx(tracking["actual_cumulative"].iloc[-1], rel=0.05)
    grid = plots.probability_alive_grid(cp.BetaGeoBetaBinomModel.from_params(
        alpha=1.204, beta=0.750, gamma=0.657, delta=2.783), 6)
    assert [round(grid.loc[x, t], 2) for x, t in ((0, 0), (2, 4), (6, 6))] == [0.11, 0.59, 0.93]
    assert np.isnan(grid.loc[3, 2]) and np.isnan(grid.loc[0, 1])
    split = opportunity_train_test_split(log, period="Y", train_period_end="1998-12-31")
    by_recency = plots.opportunity_holdout_table(model, split, by="recency")
    assert by_recency["customers"].sum() == len(split)
    for draw in (lambda ax: plots.plot_opportunity_frequency(model, summary, ax=ax),
                 lambda ax: plots.plot_holdout_by_frequency(model, split, ax=ax),
                 lambda ax: plots.plot_holdout_by_recency(model, split, ax=ax),
                 lambda ax: plots.plot_opportunity_tracking(model, log, train_period_end="1998-12-31", ax=ax),
                 lambda ax: plots.plot_opportunity_alive_matrix(model, 6, ax=ax)):
        ax = Figure().subplots()
        assert draw(ax) is ax
    with pytest.raises(DataError, match="discrete opportunities"):
        plots.plot_opportunity_alive_matrix(cp.BetaGeoModel.from_params(r=1, alpha=1, a=1, b=1), 6)


def test_opportunity_summary_from_a_list_of_opportunity_dates():
    galas = ["2019-06-01", "2020-06-01", "2021-06-01", "2022-06-01", "2023-06-01"]
    summary = opportunity_summary(_hand_log(), opportunity_dates=galas, observation_period_end="2022-12-31")
    # a: first purchase 2019-03-01 (before the first gala: acquisition window), then 2020-02-01 (gala 2019),
    # 2020-09-01 (gala 2020), 2022-05-01 (gala 2021); 4 galas by the end
    assert summary.loc["a"].to_dict() == {"frequency": 3, "recency": 3, "T": 4, "monetary_value": 30.0}
    # b: 2019-12-31 falls in the window of the 2019 gala: acquired there, 3 later galas
    assert summary.loc["b", ["frequency", "T"]].tolist() == [0, 3]
    assert "opportunity_period" not in summary.attrs
    with pytest.raises(DataError, match="increasing order"):
        opportunity_summary(_hand_log(), opportunity_dates=galas[::-1])
