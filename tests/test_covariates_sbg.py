"""sBG with covariates on retention: the likelihood against the model's definition, the model without
covariates at zero coefficients, recovery of known coefficients, predictions per profile and errors."""

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from clv_predict import DataError, ShiftedBetaGeoModel
from clv_predict.models.shifted_beta_geo import (
    _ShiftedBetaGeoCovariateRows,
    retention_log_likelihood,
)

TRUE = {"alpha": 1.2, "beta": 2.5, "churn:plan[monthly]": 0.5, "churn:channel[web]": -0.3, "churn:age": 0.01,
        "retention:plan[monthly]": -0.4, "retention:channel[web]": 0.3, "retention:age": -0.01}


def _simulate(n, seed, periods=10):
    """Customers with two categorical and one numeric covariate; churn probability theta_i ~
    Beta(alpha exp(gamma_churn' z), beta exp(gamma_retention' z)), lifetime geometric(theta_i)."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["annual", "monthly"], n, p=[0.4, 0.6])
    channel = rng.choice(["shop", "web"], n)
    age = rng.normal(40, 10, n)

    def linear(prefix):
        return (TRUE[f"{prefix}:plan[monthly]"] * (plan == "monthly") + TRUE[f"{prefix}:channel[web]"] * (channel == "web")
                + TRUE[f"{prefix}:age"] * age)

    theta = rng.beta(TRUE["alpha"] * np.exp(linear("churn")), TRUE["beta"] * np.exp(linear("retention")))
    lifetime = rng.geometric(np.maximum(theta, 1e-300))
    return pd.DataFrame({"T": np.minimum(lifetime, periods), "churned": lifetime <= periods, "plan": plan,
                         "channel": channel, "age": age}, index=pd.RangeIndex(n, name="customer_id"))


def test_likelihood_equals_the_integral_of_the_models_definition_customer_by_customer():
    rng = np.random.default_rng(0)
    T = rng.integers(1, 8, 8).astype(float)
    churned = rng.integers(0, 2, 8)
    design = np.column_stack([rng.integers(0, 2, 8), rng.normal(size=8)])
    params = np.array([0.8, 1.5, 0.3, -0.2, -0.4, 0.5])
    values = retention_log_likelihood(params, T, churned, design)
    for i in range(8):
        a = params[0] * np.exp(design[i] @ params[2:4])
        b = params[1] * np.exp(design[i] @ params[4:])
        if churned[i]:  # churned at the end of period T: theta (1 - theta)^(T - 1)
            def probability(theta, i=i, a=a, b=b):
                return theta * (1 - theta) ** (T[i] - 1) * stats.beta.pdf(theta, a, b)
        else:  # still a customer after T periods
            def probability(theta, i=i, a=a, b=b):
                return (1 - theta) ** T[i] * stats.beta.pdf(theta, a, b)
        direct, _ = integrate.quad(probability, 0, 1, limit=200)
        assert values[i] == pytest.approx(np.log(direct), rel=1e-8)
    rows = _ShiftedBetaGeoCovariateRows(T, churned, design, np.ones(8))
    assert rows.value(params) == pytest.approx(values.sum(), rel=1e-12)
    numeric = [(rows.value(params + 1e-6 * e) - rows.value(params - 1e-6 * e)) / 2e-6 for e in np.eye(6)]
    np.testing.assert_allclose(rows.gradient(params), numeric, rtol=1e-6)


def test_zero_coefficients_give_the_model_without_covariates():
    summary = _simulate(500, seed=1)
    plain = ShiftedBetaGeoModel().fit(summary)
    design = summary[["age"]].to_numpy()
    at_zero = retention_log_likelihood(np.r_[plain.params_.to_numpy(), 0.0, 0.0], summary["T"], summary["churned"],
                                       design)
    assert at_zero.sum() == pytest.approx(plain.log_likelihood_, rel=1e-12)
    rng = np.random.default_rng(2)
    noisy = ShiftedBetaGeoModel(covariates=["noise"], covariate_reference={"noise": "a"}).fit(summary.assign(noise=rng.choice(["a", "b"], len(summary))))
    assert noisy.log_likelihood_ >= plain.log_likelihood_ - 1e-6
    for name in ("churn:noise[b]", "retention:noise[b]"):
        assert abs(noisy.params_[name]) < 2.5 * noisy.standard_errors_[name]


def test_parameters_are_recovered_within_two_standard_errors():
    summary = _simulate(6000, seed=7)
    model = ShiftedBetaGeoModel(covariates=["plan", "channel", "age"],
                                covariate_reference={"plan": "annual", "channel": "shop"}).fit(summary)
    assert list(model.params_.index) == list(TRUE)
    assert model.convergence_["converged"]
    for name, value in TRUE.items():
        assert abs(model.params_[name] - value) < 2 * model.standard_errors_[name], name
    assert model.summary()["standard_error"].notna().all()


def test_predictions_per_customer_and_per_profile():
    summary = _simulate(3000, seed=3)
    model = ShiftedBetaGeoModel(covariates=["plan"], covariate_reference={"plan": "annual"}).fit(summary)
    alpha, beta = model.params_[["alpha", "beta"]]
    a_monthly = alpha * np.exp(model.params_["churn:plan[monthly]"])
    b_monthly = beta * np.exp(model.params_["retention:plan[monthly]"])
    curves = model.retention_by_profile({"plan": ["annual", "monthly"]}, [0, 3])
    from scipy.special import betaln
    assert curves.iloc[1].tolist() == pytest.approx([np.exp(betaln(alpha, beta + 3) - betaln(alpha, beta)),
                                                     np.exp(betaln(a_monthly, b_monthly + 3) - betaln(a_monthly, b_monthly))])
    assert (curves.iloc[0] == 1).all()
    # the monthly plan churns more (as simulated): its curve lies below
    assert curves.iloc[1, 1] < curves.iloc[1, 0]
    # the reference profile's figures from the methods without a profile
    assert model.survival_function([3]).iloc[0] == pytest.approx(curves.iloc[1, 0])
    # DERL per customer with her own shapes
    active = summary[~summary["churned"]].head(5)
    derl = model.expected_residual_lifetime(active, discount_rate=0.1)
    for customer, row in active.iterrows():
        reference = ShiftedBetaGeoModel.from_params(
            alpha=a_monthly if row["plan"] == "monthly" else alpha, beta=b_monthly if row["plan"] == "monthly" else beta)
        one = reference.expected_residual_lifetime(pd.DataFrame({"T": [row["T"]], "churned": [False]}), discount_rate=0.1)
        assert derl[customer] == pytest.approx(one.iloc[0], rel=1e-12)


def test_errors_name_the_column():
    summary = _simulate(300, seed=4)
    with pytest.raises(DataError, match="'tier'"):
        ShiftedBetaGeoModel(covariates=["tier"]).fit(summary)
    with pytest.raises(DataError, match="'flag'.*constant"):
        ShiftedBetaGeoModel(covariates=["flag"]).fit(summary.assign(flag="x"))
    model = ShiftedBetaGeoModel(covariates=["plan"]).fit(summary)
    with pytest.raises(DataError, match="'plan'.*not seen"):
        model.expected_residual_lifetime(summary.assign(plan="weekly"), discount_rate=0.1)
    with pytest.raises(DataError, match="lacks the covariate"):
        model.expected_residual_lifetime(summary.drop(columns="plan"), discount_rate=0.1)
    with pytest.raises(DataError, match="profile"):
        model.retention_by_profile(None, [1])
