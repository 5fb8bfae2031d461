"""How sure each subscriber's future is under the sBG: predictive bounds of her remaining renewals and their
discounted value, confidence bounds of DERL; against simulation of the process, the sigma-point mixture and
coverage on simulated cohorts."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import betaln

from clv_predict import ShiftedBetaGeoModel
from clv_predict.cli import main
from clv_predict.contracts import score_contracts
from clv_predict.exceptions import DataError, ModelWarning
from clv_predict.models._intervals import sigma_point_models

ACTIVE = pd.DataFrame({"T": [0, 1, 3, 7, 12], "churned": False})


def _cohort(size, alpha, beta, observed, seed):
    """A cohort observed for ``observed`` periods, and each customer's renewals after it (0 after churn): active
    after T completed periods, a customer has paid for period T + 1 (L > T) and renews L - T - 1 more times."""
    rng = np.random.default_rng(seed)
    lifetime = rng.geometric(rng.beta(alpha, beta, size))  # periods paid for
    summary = pd.DataFrame({"T": np.minimum(lifetime, observed), "churned": lifetime <= observed})
    return summary, np.maximum(lifetime - observed - 1, 0)


def test_residual_lifetime_within_a_horizon_is_the_direct_sum():
    model = ShiftedBetaGeoModel.from_params(alpha=0.704, beta=1.182)
    a, b = 0.704, 1.182
    for d, h in ((0.1, 1), (0.1, 7), (0.0, 30), (0.05, 400)):
        k = np.arange(1, h + 1)
        expected = [np.sum(np.exp(betaln(a, b + T + k) - betaln(a, b + T)) / (1 + d) ** (k - 1)) for T in ACTIVE["T"]]
        got = model.expected_residual_lifetime(ACTIVE, discount_rate=d, horizon=h)
        np.testing.assert_allclose(got, expected, rtol=1e-10)
    # a long horizon tends to DERL; an infinite one needs a discount rate
    np.testing.assert_allclose(model.expected_residual_lifetime(ACTIVE, discount_rate=0.1, horizon=2000),
                               model.expected_residual_lifetime(ACTIVE, discount_rate=0.1), rtol=1e-12)
    with pytest.raises(DataError, match="discount_rate"):
        model.expected_residual_lifetime(ACTIVE, discount_rate=0.0)
    with pytest.raises(DataError, match="horizon"):
        model.expected_residual_lifetime(ACTIVE, discount_rate=0.1, horizon=2.5)


@pytest.mark.parametrize("horizon", [None, 24])
def test_bounds_at_known_parameters_are_the_quantiles_of_a_simulation(horizon):
    """Known parameters (a warning says the parameter uncertainty is left out): the renewals of simulated
    customers still active at each tenure, their quantiles against the bounds."""
    alpha, beta = 0.704, 1.182
    model = ShiftedBetaGeoModel.from_params(alpha=alpha, beta=beta)
    with pytest.warns(ModelWarning, match="leave the parameter uncertainty out"):
        bounds = model.renewal_bounds(ACTIVE, interval=0.8, discount_rate=0.1, horizon=horizon)
    assert bounds[["expected_residual_lifetime_ci_lower", "expected_residual_lifetime_ci_upper"]].isna().all().all()
    rng = np.random.default_rng(4)
    lifetime = rng.geometric(rng.beta(alpha, beta, 2_000_000))
    for i, T in enumerate(ACTIVE["T"]):
        renewals = lifetime[lifetime > T] - T - 1
        renewals = renewals if horizon is None else np.minimum(renewals, horizon)
        # each bound is the first count whose simulated CDF reaches its level (to sampling error, 4 sd)
        error = 4 * np.sqrt(0.09 / renewals.size)
        for bound, level in ((bounds["renewals_lower"].iloc[i], 0.1), (bounds["renewals_upper"].iloc[i], 0.9)):
            assert np.mean(renewals <= bound) >= level - error, (T, bound, level)
            assert np.mean(renewals <= bound - 1) < level + error, (T, bound, level)
        if T <= 3:  # where the CDF steps are wide, the simulated quantiles themselves
            low, high = np.quantile(renewals, [0.1, 0.9], method="inverted_cdf")
            assert (bounds["renewals_lower"].iloc[i], bounds["renewals_upper"].iloc[i]) == (low, high)
    # the value of R renewals, the first undiscounted, grows with R: its quantiles are those of R
    upper = bounds["renewals_upper"].to_numpy()
    np.testing.assert_allclose(bounds["residual_upper"], [np.sum(1.1 ** -np.arange(r)) for r in upper], rtol=1e-12)


def test_bounds_mix_the_renewals_over_the_sigma_points_and_the_confidence_bounds_hold_derl():
    summary, _ = _cohort(3000, 0.9, 2.5, 8, seed=1)
    model = ShiftedBetaGeoModel().fit(summary)
    bounds = model.renewal_bounds(ACTIVE, interval=0.9, discount_rate=0.05, horizon=60)
    models, weights = sigma_point_models(model)
    assert len(models) == 5
    k = np.arange(0, 61)
    for i, T in enumerate(ACTIVE["T"]):
        # P(min(R, 60) <= m) of the mixture, m = 0..60, straight from the survival curves of the sigma points
        cdf = 1 - sum(w * np.exp(betaln(a, b + T + k + 1) - betaln(a, b + T)) for (a, b), w in
                      zip((m.params_.to_numpy() for m in models), weights))
        cdf[-1] = 1.0
        assert bounds["renewals_lower"].iloc[i] == np.argmax(cdf >= 0.05)
        assert bounds["renewals_upper"].iloc[i] == np.argmax(cdf >= 0.95)
    derl = model.expected_residual_lifetime(ACTIVE, discount_rate=0.05, horizon=60)
    assert (bounds["expected_residual_lifetime_ci_lower"] < derl).all()
    assert (derl < bounds["expected_residual_lifetime_ci_upper"]).all()
    drawn = model.renewal_bounds(ACTIVE, interval=0.9, discount_rate=0.05, horizon=60, n_draws=1500, seed=2)
    columns = ["expected_residual_lifetime_ci_lower", "expected_residual_lifetime_ci_upper"]
    np.testing.assert_allclose(drawn[columns], bounds[columns], rtol=0.03)


def test_predictive_bounds_cover_the_simulated_renewals_of_active_customers():
    """A cohort observed 8 periods, the model fitted on it: the renewals of the customers still active over the
    next 12 periods fall inside their 80% and 90% intervals for at least that share of them, at every tenure."""
    summary, future = _cohort(30_000, 0.9, 2.5, 8, seed=3)
    model = ShiftedBetaGeoModel().fit(summary)
    # a base acquired over time: customers of tenures 1..8, the model's past is the same process
    tenure = np.random.default_rng(5).integers(1, 9, 30_000)
    rng = np.random.default_rng(6)
    lifetime = rng.geometric(rng.beta(0.9, 2.5, 30_000))
    active = lifetime > tenure
    base = pd.DataFrame({"T": tenure[active], "churned": False})
    renewals = np.minimum(lifetime[active] - tenure[active] - 1, 12)
    for level in (0.8, 0.9):
        scores = score_contracts(model, base, discount_rate=0.01, margin=5.0, horizon=12, interval=level)
        inside = (scores["renewals_lower"] <= renewals) & (renewals <= scores["renewals_upper"])
        assert inside.mean() >= level, (level, inside.mean())
        assert inside.groupby(base["T"].to_numpy()).mean().min() >= level - 0.02
        value = 5.0 * np.array([np.sum(1.01 ** -np.arange(r)) for r in range(13)])[renewals]
        valued = (scores["clv_lower"] - 1e-9 <= value) & (value <= scores["clv_upper"] + 1e-9)
        np.testing.assert_array_equal(valued, inside)
    # without a horizon (every future renewal): the upper bound leaves about its nominal tail above it
    renewals = lifetime[active] - tenure[active] - 1
    for level in (0.8, 0.9):
        scores = score_contracts(model, base, discount_rate=0.01, interval=level)
        inside = (scores["renewals_lower"] <= renewals) & (renewals <= scores["renewals_upper"])
        assert inside.mean() >= level and inside.groupby(base["T"].to_numpy()).mean().min() >= level - 0.02
        assert (renewals > scores["renewals_upper"]).mean() <= (1 - level) / 2 + 0.01
    assert summary["churned"].mean() > 0.3 and future.max() > 0


def test_derl_confidence_bounds_cover_the_true_derl_over_repeated_fits():
    """Refit on 40 independent cohorts: the 90% confidence bounds of DERL (tenures 0 and 6) hold the true value
    in about 90% of them."""
    truth = ShiftedBetaGeoModel.from_params(alpha=1.5, beta=4.0)
    rows = pd.DataFrame({"T": [0, 6], "churned": False})
    true = truth.expected_residual_lifetime(rows, discount_rate=0.05).to_numpy()
    covered = []
    for seed in range(40):
        summary, _ = _cohort(2000, 1.5, 4.0, 6, seed=100 + seed)
        bounds = ShiftedBetaGeoModel().fit(summary).renewal_bounds(rows, interval=0.9, discount_rate=0.05)
        covered.append((bounds["expected_residual_lifetime_ci_lower"] <= true)
                       & (true <= bounds["expected_residual_lifetime_ci_upper"]))
    share = np.mean(covered, axis=0)
    assert (share >= 0.8).all(), share


def test_score_contracts_adds_the_bounds_and_refuses_what_it_cannot_answer():
    model = ShiftedBetaGeoModel().fit_survivors([1000, 631, 468, 382, 326, 289, 262, 241])
    summary = pd.DataFrame({"T": [0, 7, 3], "churned": [False, False, True]})
    scores = score_contracts(model, summary, discount_rate=0.1, margin=10.0, interval=0.9)
    assert scores.columns.tolist()[5:] == [
        "renewals_lower", "renewals_upper", "clv_lower", "clv_upper", "expected_residual_lifetime_ci_lower",
        "expected_residual_lifetime_ci_upper", "clv_ci_lower", "clv_ci_upper"]
    assert (scores.loc[2, scores.columns[3:]] == 0).all()  # churned: nothing left
    np.testing.assert_allclose(scores["clv_ci_upper"], 10 * scores["expected_residual_lifetime_ci_upper"])
    assert (scores["clv_lower"] <= scores["clv"]).all() and (scores["clv"] <= scores["clv_upper"]).all()
    with pytest.raises(DataError, match="'interval'"):
        score_contracts(model, summary, discount_rate=0.1, interval=90)


PLANS = {"monthly": (0.7, 1.2), "annual": (1.5, 6.0)}


def _plan_cohort(size, observed, seed):
    """Customers of two plans with their own (alpha, beta): the sBG with covariates (churn:plan[annual] =
    log(1.5 / 0.7), retention:plan[annual] = log(6 / 1.2)); lifetimes in periods paid for."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(list(PLANS), size, p=[0.6, 0.4])
    a = np.where(plan == "monthly", PLANS["monthly"][0], PLANS["annual"][0])
    b = np.where(plan == "monthly", PLANS["monthly"][1], PLANS["annual"][1])
    lifetime = rng.geometric(rng.beta(a, b))
    summary = pd.DataFrame({"T": np.minimum(lifetime, observed), "churned": lifetime <= observed, "plan": plan})
    return summary, lifetime


def test_bounds_take_each_customers_covariates_and_cover_the_simulated_renewals():
    """A model with a plan covariate (the parameter uncertainty over alpha, beta and the coefficients together):
    each plan's bounds are its own, a covariate without effect leaves them as the model without it gives them,
    and the renewals of a simulated base fall inside at least at the level, per plan."""
    summary, _ = _plan_cohort(30_000, 8, seed=11)
    model = ShiftedBetaGeoModel(covariates=["plan"], covariate_reference={"plan": "monthly"}).fit(summary)
    # the base: customers of tenures 1..8, still active
    base, lifetime = _plan_cohort(40_000, 0, seed=12)
    tenure = np.random.default_rng(13).integers(1, 9, len(base))
    active = lifetime > tenure
    base = base.loc[active].assign(T=tenure[active], churned=False)
    renewals = lifetime[active] - tenure[active] - 1
    plan = base["plan"].to_numpy()
    for level in (0.8, 0.9):
        bounds = model.renewal_bounds(base, interval=level, discount_rate=0.01)
        inside = ((bounds["renewals_lower"] <= renewals) & (renewals <= bounds["renewals_upper"])).to_numpy()
        above = renewals > bounds["renewals_upper"].to_numpy()
        for chosen in ("monthly", "annual"):
            assert inside[plan == chosen].mean() >= level - 0.01, (level, chosen, inside[plan == chosen].mean())
            assert above[plan == chosen].mean() <= (1 - level) / 2 + 0.015
    # a customer of each plan at tenure 4: the annual plan's upper bound is its own (lower retention: smaller)
    two = pd.DataFrame({"T": 4, "churned": False, "plan": ["monthly", "annual"]})
    both = model.renewal_bounds(two, interval=0.8, discount_rate=0.01)
    assert both["renewals_upper"].iloc[1] < both["renewals_upper"].iloc[0]
    derl = model.expected_residual_lifetime(two, discount_rate=0.01)
    assert (both["expected_residual_lifetime_ci_lower"] < derl).all()
    assert (derl < both["expected_residual_lifetime_ci_upper"]).all()
    drawn = model.renewal_bounds(two, interval=0.8, discount_rate=0.01, n_draws=2000, seed=3)
    columns = ["expected_residual_lifetime_ci_lower", "expected_residual_lifetime_ci_upper"]
    np.testing.assert_allclose(drawn[columns], both[columns], rtol=0.03)
    # a covariate that does nothing: the bounds of the model without it
    plain_summary, _ = _cohort(20_000, 0.9, 2.5, 8, seed=14)
    plain_summary["noise"] = np.random.default_rng(15).choice(["a", "b"], len(plain_summary))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        noisy = ShiftedBetaGeoModel(covariates=["noise"]).fit(plain_summary)
    plain = ShiftedBetaGeoModel().fit(plain_summary)
    rows = ACTIVE.assign(noise="a")
    with_noise = noisy.renewal_bounds(rows, interval=0.8, discount_rate=0.05, horizon=24)
    without = plain.renewal_bounds(rows, interval=0.8, discount_rate=0.05, horizon=24)
    assert (np.abs(with_noise["renewals_upper"] - without["renewals_upper"]) <= 1).all()
    np.testing.assert_allclose(with_noise["expected_residual_lifetime_ci_upper"],
                               without["expected_residual_lifetime_ci_upper"], rtol=0.1)


@pytest.fixture(scope="module")
def subscription_file(tmp_path_factory):
    rng = np.random.default_rng(5)
    sim = ShiftedBetaGeoModel.from_params(alpha=0.9, beta=2.5).simulate(1500, 30, seed=3)
    rows = []
    for i, (T, churned) in enumerate(zip(sim["T"], sim["churned"])):
        start = pd.Timestamp("2020-01-01") + pd.Timedelta(days=int(rng.integers(0, 28)))
        end = (start + pd.DateOffset(months=int(T)) - pd.Timedelta(days=3)).date() if churned else ""
        rows.append((f"c{i}", start.date(), end, "basic" if i % 3 else "pro"))
    path = tmp_path_factory.mktemp("subscriptions_interval") / "subscriptions.csv"
    pd.DataFrame(rows, columns=["customer_id", "start", "end", "plan"]).to_csv(path, index=False)
    return path


def test_command_line_scores_an_sbg_model_with_bounds(subscription_file, tmp_path, capsys):
    model_path = tmp_path / "sbg.joblib"
    assert main(["fit", "--model", "sbg", "--input", str(subscription_file), "--observation-end", "2022-07-01",
                 "--output", str(model_path)]) == 0
    scores = tmp_path / "scores.csv"
    assert main(["score", "--model", str(model_path), "--input", str(subscription_file), "--observation-end",
                 "2022-07-01", "--discount-rate", "0.01", "--price", "20", "--margin", "0.5", "--horizon", "24",
                 "--interval", "0.9", "--output", str(scores)]) == 0
    assert "over the next 24 periods" in capsys.readouterr().out
    table = pd.read_csv(scores)
    active = table[~table["churned"]]
    assert (active["renewals_upper"] <= 24).all() and (active["renewals_lower"] <= active["renewals_upper"]).all()
    assert (active["clv_lower"] <= active["clv"]).all() and (active["clv"] <= active["clv_upper"]).all()
    np.testing.assert_allclose(active["clv_ci_lower"], 10 * active["expected_residual_lifetime_ci_lower"])
    assert main(["score", "--model", str(model_path), "--input", str(subscription_file), "--discount-rate", "0.01",
                 "--interval", "1.5", "--output", str(tmp_path / "bad.csv")]) == 1
    assert "--interval" in capsys.readouterr().err
