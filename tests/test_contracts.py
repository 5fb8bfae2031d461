"""Contract customers: summaries of subscription and renewal logs, the sBG by segment, lifetimes, and the
constant-retention formula against the sBG."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy.special import betaln

from clv_predict import DataError, ShiftedBetaGeoModel
from clv_predict.contracts import (
    constant_retention_comparison,
    fit_segments,
    lifetime_table,
    retention_by_tenure,
)
from clv_predict.discrete import (
    observed_retention,
    renewal_summary,
    subscription_summary,
    survivor_summary,
)

REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]


@pytest.fixture(scope="module")
def cohorts():
    return pd.concat([survivor_summary(REGULAR).assign(cohort="regular"),
                      survivor_summary(HIGH_END).assign(cohort="high end")], ignore_index=True)


def test_subscription_summary_counts_periods_paid_and_churn():
    table = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e", "f"],
        "start": ["2024-01-15", "2024-01-15", "2024-03-01", "2024-05-20", "2024-07-05", "2023-01-31"],
        "end": ["2024-04-10", None, "2024-04-01", "2024-09-01", None, "2023-02-28"],
        "plan": ["basic", "pro", "basic", "pro", "pro", "basic"],
    })
    summary = subscription_summary(table, observation_period_end="2024-06-30", keep=["plan"])
    # a: paid Jan 15, Feb 15, Mar 15, left before Apr 15; b: active, 5 months completed; c: one month exactly;
    # d: ends after the observation end, so active with 1 month completed; e: starts later, left out;
    # f: 31 January to 28 February is within its first month
    assert summary[["T", "churned"]].to_dict("index") == {
        "a": {"T": 3, "churned": True}, "b": {"T": 5, "churned": False}, "c": {"T": 1, "churned": True},
        "d": {"T": 1, "churned": False}, "f": {"T": 1, "churned": True},
    }
    assert summary["plan"].tolist() == ["basic", "pro", "basic", "pro", "basic"]
    assert summary.attrs["contract_period"] == "M"
    yearly = subscription_summary(table.iloc[:2], period="Y", observation_period_end="2026-02-01")
    assert yearly[["T", "churned"]].values.tolist() == [[1, True], [2, False]]
    weekly = subscription_summary(table.iloc[[2]], period="W")
    assert weekly["T"].tolist() == [5]  # 31 days: 4 whole weeks and a begun fifth
    with pytest.raises(DataError, match="more than one row"):
        subscription_summary(pd.concat([table, table.iloc[[0]]]))
    with pytest.raises(DataError, match="before the 'start'"):
        subscription_summary(table.assign(end=["2023-01-01"] + [None] * 5))
    with pytest.raises(DataError, match="1 value that is not a date"):
        subscription_summary(table.assign(start=["soon"] + list(table["start"][1:])))
    with pytest.raises(DataError, match="'period'"):
        subscription_summary(table, period="fortnight")


def test_renewal_summary_reads_a_log_of_payments():
    log = pd.DataFrame({"customer_id": [1, 1, 1, 2, 2, 3],
                        "date": ["2024-01-01", "2024-02-01", "2024-03-01", "2024-01-01", "2024-02-01", "2024-03-10"]})
    summary = renewal_summary(log, period="M", observation_period_end="2024-03-15")
    assert summary[["T", "churned"]].to_dict("index") == {
        1: {"T": 2, "churned": False}, 2: {"T": 2, "churned": True}, 3: {"T": 0, "churned": False}}


def test_survivor_counts_and_observed_retention():
    summary = survivor_summary(REGULAR)
    assert summary["weights"].sum() == 1000
    retention = observed_retention(summary, weights="weights")
    expected = np.array(REGULAR[1:]) / np.array(REGULAR[:-1])
    np.testing.assert_allclose(retention["retention"], expected)
    direct = ShiftedBetaGeoModel().fit_survivors(REGULAR)
    assert ShiftedBetaGeoModel().fit(summary, weights="weights").params_.equals(direct.params_)


def test_segments_fitted_in_one_call_reproduce_both_cohorts_of_fader_hardie_2007(cohorts):
    models = fit_segments(cohorts, "cohort", weights="weights")
    assert list(models) == ["high end", "regular"]
    assert models["regular"].params_.round(3).tolist() == [0.704, 1.182]
    assert models["high end"].params_.round(3).tolist() == [0.668, 3.806]
    table = lifetime_table(models, discount_rate=0.1)
    assert np.isinf(table["expected_lifetime"]).all()
    assert table["note"].str.contains("infinite").all()
    assert table.loc["regular", "median_lifetime"] == 2
    assert table.loc["high end", "median_lifetime"] == 7
    # the discounted lifetime is sum over t >= 0 of S(t) / 1.1^t
    a, b = models["regular"].params_
    t = np.arange(0, 20000)
    direct = np.sum(np.exp(betaln(a, b + t) - betaln(a, b) - t * np.log(1.1)))
    assert table.loc["regular", "discounted_lifetime"] == pytest.approx(direct, rel=1e-9)
    finite = lifetime_table({"x": ShiftedBetaGeoModel.from_params(alpha=3.8, beta=15.2)})
    assert finite.loc["x", "expected_lifetime"] == pytest.approx(18 / 2.8) and finite.loc["x", "note"] == ""
    with pytest.raises(DataError, match="no column 'plan'"):
        fit_segments(cohorts, "plan")


def test_segments_recover_the_parameters_of_their_simulations():
    truth = {"a": (0.7, 1.2), "b": (3.8, 15.2)}
    parts = [ShiftedBetaGeoModel.from_params(alpha=al, beta=be).simulate(20000, 12, seed=i).assign(segment=name)
             for i, (name, (al, be)) in enumerate(truth.items())]
    models = fit_segments(pd.concat(parts, ignore_index=True), "segment")
    for name, (al, be) in truth.items():
        assert models[name].params_.to_numpy() == pytest.approx([al, be], rel=0.15), name


def test_constant_retention_against_the_sbg_for_the_same_customers(cohorts):
    regular = cohorts[cohorts["cohort"] == "regular"]
    model = ShiftedBetaGeoModel().fit(regular, weights="weights")
    result = constant_retention_comparison(model, regular, discount_rate=0.1, margin=20.0, weights="weights")
    r = result.totals["retention"]
    assert r == pytest.approx((sum(REGULAR[1:])) / sum(REGULAR[:-1]))
    # constant formula: the sum of r^(k+1) / 1.1^k; sBG: DERL of the 241 customers with 7 periods completed
    k = np.arange(0, 5000)
    assert result.by_customer_tenure.loc[7, "constant_value"] == pytest.approx(20 * np.sum(r ** (k + 1) / 1.1**k))
    derl = model.expected_residual_lifetime(pd.DataFrame({"T": [7], "churned": [False]}), discount_rate=0.1)
    assert result.totals["sbg_value"] == pytest.approx(241 * 20 * derl.iloc[0])
    # survivors are more loyal than the constant rate says: the naive figure is far too low for them
    assert result.totals["percent_off"] == pytest.approx(-61.8, abs=0.05)
    assert "undervalues them by 61.8%" in result.headline()
    table = retention_by_tenure(model, regular, weights="weights")
    assert table["sbg"].is_monotonic_increasing and (table["constant"] == r).all()
    assert table["observed"].notna().sum() == 7
    assert "<p>" in result._repr_html_()
    with pytest.raises(DataError, match="'retention'"):
        constant_retention_comparison(model, regular, discount_rate=0.1, retention=1.5)


def test_retention_plots_draw_on_the_given_axes(cohorts):
    from clv_predict.plotting import plot_retention_by_tenure, plot_segment_retention

    models = fit_segments(cohorts, "cohort", weights="weights")
    regular = cohorts[cohorts["cohort"] == "regular"]
    figure = Figure()
    ax = figure.subplots()
    assert plot_retention_by_tenure(models["regular"], regular, weights="weights", ax=ax) is ax
    assert [line.get_label() for line in ax.get_lines()] == ["Observed", "sBG", "Constant 77.4%"]
    ax2 = Figure().subplots()
    assert plot_segment_retention(models, ax=ax2) is ax2 and len(ax2.get_lines()) == 2


@pytest.mark.parametrize("alpha, beta", [(0.01, 1000.0), (1000.0, 0.01), (0.704, 1.182), (50.0, 50.0)])
def test_numbers_stay_finite_for_long_tenures_and_extreme_parameters(alpha, beta):
    model = ShiftedBetaGeoModel.from_params(alpha=alpha, beta=beta)
    summary = pd.DataFrame({"T": [0, 1, 10, 1000, 5000], "churned": False})
    derl = model.expected_residual_lifetime(summary, discount_rate=0.01)
    assert np.all(np.isfinite(derl)) and (derl >= 0).all()
    assert np.all(np.isfinite(model.survival_function([0, 10, 5000])))
    assert np.all(np.isfinite(model.retention_rate([1, 5000])))
    assert np.isfinite(lifetime_table(model, discount_rate=0.01)["discounted_lifetime"]).all()


def test_probability_subscribed_is_the_ratio_of_survival_and_agrees_with_score_contracts():
    from clv_predict.contracts import probability_subscribed, score_contracts

    model = ShiftedBetaGeoModel.from_params(alpha=0.704, beta=1.182)
    summary = pd.DataFrame({"T": [0, 7, 3, 2000], "churned": [False, False, True, False]})
    table = probability_subscribed(model, summary, [0, 1, 5])
    survival = model.survival_function([7, 8, 12])
    assert table.loc[1].tolist() == pytest.approx([1.0, survival[8] / survival[7], survival[12] / survival[7]])
    assert table.loc[2].tolist() == [0.0, 0.0, 0.0]
    scores = score_contracts(model, summary, discount_rate=0.1)
    np.testing.assert_allclose(scores["p_renew"], table[1])
    assert np.all(np.isfinite(table.to_numpy()))
