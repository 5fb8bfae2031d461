"""Gamma-Gamma with spend covariates: the likelihood against the model's definition, the model without
covariates at zero coefficients, recovery of known coefficients, predictions per profile and errors."""

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from clv_predict import DataError, GammaGammaModel, _math
from clv_predict.models.gamma_gamma import (
    _GammaGammaCovariateRows,
    spend_log_likelihood,
)

TRUE = {"p": 4.0, "q": 5.0, "v": 40.0, "spend:channel[shop]": 0.4, "spend:channel[web]": -0.3,
        "spend:region[south]": 0.25, "spend:age": 0.02}


def _simulate(n, seed, coefficients=TRUE):
    """Customers with two categorical and one numeric covariate, spend drawn from the model's definition:
    nu_i ~ Gamma(q, rate v_i), each purchase ~ Gamma(p, rate nu_i), v_i = v exp(gamma' z_i)."""
    rng = np.random.default_rng(seed)
    channel = rng.choice(["app", "shop", "web"], n, p=[0.5, 0.25, 0.25])
    region = rng.choice(["north", "south"], n, p=[0.6, 0.4])
    age = rng.normal(40, 12, n)
    linear = (coefficients["spend:channel[shop]"] * (channel == "shop")
              + coefficients["spend:channel[web]"] * (channel == "web")
              + coefficients["spend:region[south]"] * (region == "south") + coefficients["spend:age"] * age)
    scale = coefficients["v"] * np.exp(linear)
    nu = rng.gamma(coefficients["q"], 1.0 / scale)
    frequency = rng.integers(1, 8, n)
    total = rng.gamma(coefficients["p"] * frequency, 1.0 / nu)  # the sum of x Gamma(p, nu) purchases
    return pd.DataFrame(
        {"frequency": frequency, "recency": 5.0, "T": 10.0, "monetary_value": total / frequency,
         "channel": channel, "region": region, "age": age},
        index=pd.RangeIndex(n, name="customer_id"),
    )


def test_likelihood_equals_the_integral_of_the_models_definition_customer_by_customer():
    rng = np.random.default_rng(3)
    x = rng.integers(1, 7, 8).astype(float)
    m = rng.gamma(3.0, 10.0, 8)
    design = np.column_stack([rng.integers(0, 2, 8), rng.normal(size=8)])
    params = np.array([2.5, 3.1, 12.0, 0.4, -0.3])
    values = spend_log_likelihood(params, x, m, design)
    for i in range(8):
        scale = params[2] * np.exp(design[i] @ params[3:])

        # the mean of x purchases Gamma(p, nu) is Gamma(p x, rate x nu); nu ~ Gamma(q, rate v_i)
        def joint(nu, i=i, scale=scale):
            return stats.gamma.pdf(m[i], params[0] * x[i], scale=1 / (x[i] * nu)) * stats.gamma.pdf(
                nu, params[1], scale=1 / scale)

        direct, _ = integrate.quad(joint, 0, np.inf, limit=200)
        assert values[i] == pytest.approx(np.log(direct), rel=1e-8)
    rows = _GammaGammaCovariateRows(x, m, design, np.ones(8))
    assert rows.value(params) == pytest.approx(values.sum(), rel=1e-12)
    numeric = [(rows.value(params + 1e-6 * e) - rows.value(params - 1e-6 * e)) / 2e-6 for e in np.eye(5)]
    np.testing.assert_allclose(rows.gradient(params), numeric, rtol=1e-6)


def test_zero_coefficients_give_the_model_without_covariates():
    rfm = _simulate(300, seed=4)
    design = rfm[["age"]].to_numpy()
    x, m = rfm["frequency"].to_numpy(float), rfm["monetary_value"].to_numpy()
    params = np.array([4.0, 5.0, 40.0])
    np.testing.assert_allclose(spend_log_likelihood(np.r_[params, 0.0], x, m, design),
                               _math.gamma_gamma_log_likelihood(params, x, m), rtol=1e-12)
    plain = GammaGammaModel().fit(rfm)
    # a covariate the data do not depend on is estimated near 0 and leaves p, q, v near the plain fit's
    rng = np.random.default_rng(5)
    rfm["noise"] = rng.choice(["a", "b"], len(rfm))
    with_noise = GammaGammaModel(covariates=["noise"]).fit(rfm)
    assert abs(with_noise.params_["spend:noise[b]"]) < 2 * with_noise.standard_errors_["spend:noise[b]"]
    assert with_noise.log_likelihood_ >= plain.log_likelihood_ - 1e-6
    # the fitted likelihood is the formula's at the estimates
    design = with_noise.covariate_encoding_.transform(rfm).to_numpy()
    assert with_noise.log_likelihood_ == pytest.approx(
        spend_log_likelihood(with_noise.params_.to_numpy(), x, m, design).sum(), rel=1e-10)


def test_parameters_are_recovered_within_two_standard_errors():
    rfm = _simulate(4000, seed=11)
    model = GammaGammaModel(covariates=["channel", "region", "age"]).fit(rfm)
    assert model.covariate_encoding_.reference == {"channel": "app", "region": "north"}
    assert list(model.params_.index) == list(TRUE)
    assert model.convergence_["converged"]
    for name, value in TRUE.items():
        assert abs(model.params_[name] - value) < 2 * model.standard_errors_[name], name
    summary = model.summary()
    assert list(summary.index) == list(TRUE) and summary["standard_error"].notna().all()


def test_standard_errors_match_the_spread_of_estimates_over_seeds():
    estimates = [GammaGammaModel(covariates=["channel"]).fit(_simulate(600, seed=s)).params_["spend:channel[shop]"]
                 for s in range(20)]
    model = GammaGammaModel(covariates=["channel"]).fit(_simulate(600, seed=99))
    assert np.std(estimates) == pytest.approx(model.standard_errors_["spend:channel[shop]"], rel=0.4)


def test_expected_spend_per_customer_and_per_profile():
    rfm = _simulate(1500, seed=2)
    model = GammaGammaModel(covariates=["channel", "age"]).fit(rfm)
    p, q, v = model.params_[["p", "q", "v"]]
    coefficient_shop, coefficient_age = model.params_["spend:channel[shop]"], model.params_["spend:age"]
    profiles = pd.DataFrame({"channel": ["app", "shop"], "age": [30.0, 50.0]})
    spend = model.expected_spend_new_customer(profiles)
    assert spend.tolist() == pytest.approx([p * v * np.exp(30 * coefficient_age) / (q - 1),
                                            p * v * np.exp(coefficient_shop + 50 * coefficient_age) / (q - 1)])
    # a positive coefficient raises expected spend: exp(coef) is the multiplier against the reference level
    assert coefficient_shop > 0
    ratio = model.expected_spend_new_customer({"channel": ["shop", "app"], "age": 40.0})
    assert ratio[0] / ratio[1] == pytest.approx(np.exp(coefficient_shop))
    # per customer: equation 5 with the customer's own scale
    expected = model.expected_spend(rfm)
    coefficient_web = model.params_["spend:channel[web]"]
    scale = v * np.exp(coefficient_shop * (rfm["channel"] == "shop") + coefficient_web * (rfm["channel"] == "web")
                       + coefficient_age * rfm["age"])
    x, m = rfm["frequency"], rfm["monetary_value"]
    np.testing.assert_allclose(expected, p * (scale + x * m) / (p * x + q - 1), rtol=1e-12)


def test_errors_name_the_column():
    rfm = _simulate(200, seed=1)
    with pytest.raises(DataError, match="'segment'"):
        GammaGammaModel(covariates=["segment"]).fit(rfm)
    constant = rfm.assign(flag="x")
    with pytest.raises(DataError, match="'flag'.*constant"):
        GammaGammaModel(covariates=["flag"]).fit(constant)
    missing = rfm.astype({"region": object})
    missing.loc[3, "region"] = None
    with pytest.raises(DataError, match="'region'.*missing"):
        GammaGammaModel(covariates=["region"]).fit(missing)
    with pytest.raises(DataError, match="engine='native'"):
        GammaGammaModel(engine="lifetimes", covariates=["region"]).fit(rfm)
    model = GammaGammaModel(covariates=["region"]).fit(rfm)
    unseen = rfm.assign(region="east")
    with pytest.raises(DataError, match="'region'.*not seen"):
        model.expected_spend(unseen)
    with pytest.warns(Warning, match="reference"):
        mapped = model.expected_spend(unseen, unseen="reference")
    np.testing.assert_allclose(mapped, model.expected_spend(rfm.assign(region="north")))
    with pytest.raises(DataError, match="lacks the covariate"):
        model.expected_spend(rfm.drop(columns="region"))
    with pytest.raises(DataError, match="profile"):
        model.expected_spend_new_customer()


def test_covariate_penalty_shrinks_the_coefficients_alone():
    rfm = _simulate(800, seed=6)
    free = GammaGammaModel(covariates=["channel"]).fit(rfm)
    shrunk = GammaGammaModel(covariates=["channel"], covariate_penalizer=1.0).fit(rfm)
    assert abs(shrunk.params_["spend:channel[shop]"]) < 0.5 * abs(free.params_["spend:channel[shop]"])


def test_a_refit_without_covariates_has_the_plain_parameters():
    rfm = _simulate(300, seed=8)
    model = GammaGammaModel(covariates=["channel"]).fit(rfm)
    model.covariates = None
    assert list(model.fit(rfm).params_.index) == ["p", "q", "v"] and model.covariate_encoding_ is None
