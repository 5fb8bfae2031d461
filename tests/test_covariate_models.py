"""Covariates in BG/NBD, MBG/NBD and Pareto/NBD: the likelihood against the note's formula, customer by customer,
the model without covariates at zero coefficients, the analytic gradient, and parameter recovery."""

import mpmath
import numpy as np
import pandas as pd
import pytest

from clv_predict import (
    BetaGeoModel,
    DataError,
    DataWarning,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
)
from clv_predict.models import _covariates

MODELS = {
    BetaGeoModel: {"r": 0.5, "alpha": 6.0, "a": 0.8, "b": 2.5},
    ModifiedBetaGeoModel: {"r": 0.5, "alpha": 6.0, "a": 0.8, "b": 2.5},
    ParetoNBDModel: {"r": 0.6, "alpha": 8.0, "s": 0.7, "beta": 10.0},
}

COEFFICIENTS = {
    "purchase:channel[app]": 0.4,
    "purchase:channel[shop]": -0.3,
    "purchase:region[south]": 0.25,
    "purchase:age": 0.02,
    "dropout:channel[app]": 0.5,
    "dropout:channel[shop]": -0.4,
    "dropout:age": -0.01,
}


def _covariate_table(n, seed):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "channel": rng.choice(["web", "app", "shop"], n, p=[0.5, 0.3, 0.2]),
            "region": rng.choice(["north", "south"], n, p=[0.6, 0.4]),
            "age": np.round(rng.normal(0.0, 10.0, n)),
        }
    )


def _truth(cls, covariates):
    return cls.from_params(time_unit="W", coefficients=COEFFICIENTS, covariates=covariates, **MODELS[cls])


def _small_table():
    covariates = _covariate_table(12, 3)
    rfm = pd.DataFrame(
        {
            "frequency": [0, 1, 2, 5, 0, 3, 8, 1, 0, 12, 4, 2],
            "recency": [0.0, 5.5, 20.0, 30.0, 0.0, 12.25, 38.0, 1.0, 0.0, 36.5, 8.0, 39.0],
            "T": [10.0, 30.0, 39.0, 39.0, 2.0, 20.0, 39.0, 35.0, 39.0, 38.0, 33.0, 39.5],
        },
        index=pd.RangeIndex(12, name="customer_id"),
    )
    return pd.concat([rfm, covariates.set_index(rfm.index)], axis=1)


def _individual(model, rfm):
    """alpha_i and the dropout parameters, straight from the note's links (not through the package's code)."""
    z = pd.DataFrame(
        {
            "channel[app]": (rfm["channel"] == "app").astype(float),
            "channel[shop]": (rfm["channel"] == "shop").astype(float),
            "region[south]": (rfm["region"] == "south").astype(float),
            "age": rfm["age"],
        }
    )
    purchase = sum(COEFFICIENTS[f"purchase:{c}"] * z[c] for c in z)
    dropout = sum(COEFFICIENTS.get(f"dropout:{c}", 0.0) * z[c] for c in z)
    return np.exp(-purchase), np.exp(dropout)


def _bgnbd_direct(r, alpha, a, b, x, t_x, T, *, modified):
    mp = mpmath
    r, alpha, a, b, t_x, T = (mp.mpf(float(v)) for v in (r, alpha, a, b, t_x, T))
    common = mp.gamma(r + x) * alpha**r / mp.gamma(r)
    if modified:  # Batislam et al. (2007): may drop out at time 0 too
        alive = mp.beta(a, b + x + 1) / mp.beta(a, b) * common / (alpha + T) ** (r + x)
        left = mp.beta(a + 1, b + x) / mp.beta(a, b) * common / (alpha + t_x) ** (r + x)
        return float(mp.log(alive + left))
    alive = mp.beta(a, b + x) / mp.beta(a, b) * common / (alpha + T) ** (r + x)
    left = mp.beta(a + 1, b + x - 1) / mp.beta(a, b) * common / (alpha + t_x) ** (r + x) if x > 0 else 0
    return float(mp.log(alive + left))


def _pareto_direct(r, alpha, s, beta, x, t_x, T):
    """Fader & Hardie (2005) note, eq. (22)-(24), in 30 digits."""
    mp = mpmath
    mp.mp.dps = 30
    r, alpha, s, beta, t_x, T = (mp.mpf(float(v)) for v in (r, alpha, s, beta, t_x, T))
    rsx = r + s + x
    if alpha >= beta:
        def term(y):
            return mp.hyp2f1(rsx, s + 1, rsx + 1, (alpha - beta) / (alpha + y)) / (alpha + y) ** rsx
    else:
        def term(y):
            return mp.hyp2f1(rsx, r + x, rsx + 1, (beta - alpha) / (beta + y)) / (beta + y) ** rsx
    a0 = term(t_x) - term(T)
    value = mp.gamma(r + x) * alpha**r * beta**s / mp.gamma(r) * (
        1 / ((alpha + T) ** (r + x) * (beta + T) ** s) + s / rsx * a0
    )
    return float(mp.log(value))


@pytest.mark.parametrize("cls", list(MODELS), ids=lambda c: c.__name__)
def test_likelihood_equals_the_notes_formula_customer_by_customer(cls):
    rfm = _small_table()
    model = _truth(cls, rfm)
    purchase_factor, dropout_factor = _individual(model, rfm)
    p = MODELS[cls]
    ours = model.log_likelihood(rfm).to_numpy()
    for i, row in enumerate(rfm.itertuples()):
        if cls is ParetoNBDModel:
            direct = _pareto_direct(p["r"], p["alpha"] * purchase_factor[i], p["s"], p["beta"] / dropout_factor[i],
                                    row.frequency, row.recency, row.T)
        else:
            direct = _bgnbd_direct(p["r"], p["alpha"] * purchase_factor[i], p["a"] * dropout_factor[i],
                                   p["b"] * dropout_factor[i], row.frequency, row.recency, row.T,
                                   modified=cls is ModifiedBetaGeoModel)
        assert ours[i] == pytest.approx(direct, rel=1e-9, abs=1e-9), (i, row)


@pytest.mark.parametrize("cls", list(MODELS), ids=lambda c: c.__name__)
def test_zero_coefficients_give_the_model_without_covariates(cls):
    rfm = _small_table()
    zero = cls.from_params(time_unit="W", coefficients=dict.fromkeys(COEFFICIENTS, 0.0), covariates=rfm,
                           **MODELS[cls])
    plain = cls.from_params(time_unit="W", **MODELS[cls])
    assert np.allclose(zero.log_likelihood(rfm), plain.log_likelihood(rfm), rtol=1e-13, atol=0)
    # and the package's own compressed-rows likelihood of the model without covariates
    columns = {name: rfm[name].to_numpy(dtype=float) for name in ("frequency", "recency", "T")}
    total = plain._make_rows(columns, np.ones(len(rfm))).value(np.array(list(MODELS[cls].values())))
    assert zero.log_likelihood(rfm).sum() == pytest.approx(total, rel=1e-12)
    assert np.allclose(zero.probability_alive(rfm), plain.probability_alive(rfm), rtol=1e-13)
    assert np.allclose(zero.expected_purchases(rfm, 10), plain.expected_purchases(rfm, 10), rtol=1e-12)


@pytest.mark.parametrize("per_row", [False, True], ids=["by_pattern", "per_row"])
@pytest.mark.parametrize("cls", list(MODELS), ids=lambda c: c.__name__)
def test_gradient_of_the_covariate_likelihood_is_exact(cls, per_row, monkeypatch):
    """Both ways of summing the likelihood (the model's rows per covariate pattern; one row at a time with
    individual parameters) give its value and exact gradient."""
    if per_row:
        monkeypatch.setattr(_covariates, "PATTERN_LIMIT", 0)
    rfm = _small_table()
    model = cls(purchase_covariates=["channel", "region", "age"], dropout_covariates=["channel", "age"],
                constrain=None)
    design = model._start_covariates(rfm)
    columns = {name: rfm[name].to_numpy(dtype=float) for name in ("frequency", "recency", "T")}
    columns.update({f"_z{i}": design[:, i] for i in range(design.shape[1])})
    rows = model._likelihood_rows(columns, np.linspace(0.5, 2.0, len(rfm)))
    rng = np.random.default_rng(0)
    point = np.concatenate((np.array(list(MODELS[cls].values())), rng.normal(0, 0.2, len(model._coefficient_names))))
    gradient = rows.gradient(point)
    expected = type(rows) is (_covariates.CovariateRows if per_row else _covariates.PatternRows)
    assert expected
    # the value is the sum of the per-customer log-likelihoods (times scaled as the fit has them: here by 1)
    truth = cls.from_params(**dict(zip(cls._param_names, point[:4])), coefficients=dict(
        zip(model._coefficient_names, point[4:] / model._coefficient_scales())), covariates=rfm)
    assert rows.value(point) == pytest.approx(truth.log_likelihood(rfm) @ np.linspace(0.5, 2.0, len(rfm)), rel=1e-12)
    for j in range(point.size):
        step = 1e-6 * max(abs(point[j]), 1e-2)
        up, down = point.copy(), point.copy()
        up[j] += step
        down[j] -= step
        numeric = (rows.value(up) - rows.value(down)) / (2 * step)
        assert gradient[j] == pytest.approx(numeric, rel=1e-5, abs=1e-6), j


def test_constrained_coefficient_is_one_for_both_processes():
    rfm = _small_table()
    model = BetaGeoModel(purchase_covariates=["channel", "age"], dropout_covariates=["channel"], constrain=["channel"])
    model._check_settings()
    model._start_covariates(rfm)
    assert model._coefficient_names == [
        "purchase+dropout:channel[app]", "purchase+dropout:channel[shop]", "purchase:age"
    ]
    with pytest.raises(DataError, match="'constrain' names 'age', which must be in both"):
        BetaGeoModel(purchase_covariates=["age"], constrain=["age"])._check_settings()


def test_constrained_likelihood_equals_the_free_one_with_equal_coefficients():
    rfm = _small_table()
    free = {"purchase:channel[app]": 0.3, "purchase:channel[shop]": -0.2, "dropout:channel[app]": 0.3,
            "dropout:channel[shop]": -0.2}
    tied = {"purchase+dropout:channel[app]": 0.3, "purchase+dropout:channel[shop]": -0.2}
    p = MODELS[ParetoNBDModel]
    one = ParetoNBDModel.from_params(coefficients=free, covariates=rfm, **p)
    two = ParetoNBDModel.from_params(coefficients=tied, covariates=rfm, **p)
    assert np.allclose(one.log_likelihood(rfm), two.log_likelihood(rfm), rtol=1e-14)


def _recovery(cls, n, seed):
    covariates = _covariate_table(n, seed)
    truth = _truth(cls, covariates)
    T = np.random.default_rng(seed + 1).uniform(20.0, 80.0, n)
    rfm = truth.simulate(n, T, seed=seed + 2, covariates=covariates)
    fitted = cls(purchase_covariates=["channel", "region", "age"], dropout_covariates=["channel", "age"]).fit(rfm)
    return truth, fitted


@pytest.mark.parametrize("cls", [BetaGeoModel, ModifiedBetaGeoModel], ids=lambda c: c.__name__)
def test_parameter_recovery_within_two_standard_errors(cls):
    truth, fitted = _recovery(cls, 8000, 11)
    assert fitted.convergence_["converged"]
    assert list(fitted.params_.index) == list(truth.params_.index)
    error = (fitted.params_ - truth.params_) / fitted.standard_errors_
    assert (error.abs() < 2).all(), error.round(2).to_dict()


@pytest.mark.slow
def test_parameter_recovery_within_two_standard_errors_pareto_nbd():
    truth, fitted = _recovery(ParetoNBDModel, 8000, 11)
    assert fitted.convergence_["converged"]
    error = (fitted.params_ - truth.params_) / fitted.standard_errors_
    assert (error.abs() < 2).all(), error.round(2).to_dict()


def test_coefficient_layout_names_levels_against_the_reference():
    from clv_predict.covariates import CovariateEncoding

    encoding = CovariateEncoding.fit(_covariate_table(50, 0), ["channel", "age"])
    names, loadings = _covariates.coefficient_layout(encoding, ["channel", "age"], ["age"], [])
    assert names == ["purchase:channel[app]", "purchase:channel[shop]", "purchase:age", "dropout:age"]
    assert loadings["purchase"].sum() == 3 and loadings["dropout"][2, 3] == 1


@pytest.fixture(scope="module")
def simulated():
    covariates = _covariate_table(3000, 5)
    truth = _truth(BetaGeoModel, covariates)
    rfm = truth.simulate(3000, 52.0, seed=6, covariates=covariates)
    rng = np.random.default_rng(7)
    rfm["monetary_value"] = np.where(rfm["frequency"] > 0, rng.gamma(4.0, 10.0, len(rfm)), 0.0)
    rfm.attrs["time_unit"] = "W"
    return rfm


def test_predictions_use_each_customers_covariates(simulated):
    model = BetaGeoModel(purchase_covariates=["channel", "region", "age"], dropout_covariates=["channel"]).fit(simulated)
    # two customers with the same RFM row and other covariates differ by their purchase rate
    rows = simulated.iloc[[0, 0]].copy()
    rows.index = pd.Index([1, 2], name="customer_id")
    rows["frequency"], rows["recency"], rows["T"] = 2, 30.0, 52.0
    rows["channel"] = ["web", "app"]
    expected = model.expected_purchases(rows, 10)
    by_hand = [
        BetaGeoModel.from_params(**dict(zip(["r", "alpha", "a", "b"], model._customer_params(rows[i:i + 1])[:, 0])))
        .expected_purchases(rows[i:i + 1], 10).iloc[0]
        for i in range(2)
    ]
    assert np.allclose(expected, by_hand, rtol=1e-12)
    assert expected.iloc[0] != pytest.approx(expected.iloc[1], rel=1e-3)
    with pytest.raises(DataError, match="lacks the covariate column 'channel'"):
        model.probability_alive(rows.drop(columns="channel"))
    rows["channel"] = ["web", "tv"]
    with pytest.raises(DataError, match="covariate column 'channel' of rfm has 1 level not seen in training"):
        model.probability_alive(rows)
    model.unseen = "reference"
    with pytest.warns(DataWarning, match="counted as the reference level 'web'"):
        alive = model.probability_alive(rows)
    assert alive.iloc[0] == pytest.approx(alive.iloc[1])


def test_clv_model_with_covariates_predicts_saves_and_loads(simulated, tmp_path):
    from clv_predict import CLVModel, load_model

    model = CLVModel(purchase_model="pareto_nbd", purchase_covariates=["channel", "age"],
                     dropout_covariates=["channel"]).fit(simulated)
    assert "purchase:channel[app]" in model.params_.index and "dropout:channel[shop]" in model.summary().index
    forecast = model.predict(simulated, horizon=26, discount_rate=0.002, margin=0.3)
    path = tmp_path / "model.joblib"
    model.save(path)
    again = load_model(path)
    assert again.purchase_covariates == ["channel", "age"]
    pd.testing.assert_series_equal(again.params_, model.params_)
    pd.testing.assert_frame_equal(again.predict(simulated, horizon=26, discount_rate=0.002, margin=0.3), forecast)
    # the forecast per customer is the model's own at her parameters
    purchases = model.purchase_model_
    one = simulated.iloc[[5]]
    shared = ParetoNBDModel.from_params(**dict(zip(["r", "alpha", "s", "beta"], purchases._customer_params(one)[:, 0])))
    assert forecast["expected_purchases"].iloc[5] == pytest.approx(shared.expected_purchases(one, 26).iloc[0], rel=1e-12)


def test_model_file_without_covariates_keeps_its_settings(tmp_path):
    from clv_predict.persistence import to_dict

    model = BetaGeoModel.from_params(r=0.24, alpha=4.4, a=0.79, b=2.4, time_unit="W")
    assert to_dict(model)["model"]["settings"] == {}


def test_compare_models_tests_covariates_against_the_model_without(simulated):
    from scipy.stats import chi2

    from clv_predict import compare_models

    table = compare_models(simulated, [BetaGeoModel(purchase_covariates=["channel", "region"])])
    assert list(table.index) == ["bg_nbd_covariates", "bg_nbd"]
    row = table.loc["bg_nbd_covariates"]
    assert row["parameters"] == 7 and row["lr_df"] == 3 and row["lr_against"] == "bg_nbd"
    statistic = 2 * (row["log_likelihood"] - table.loc["bg_nbd", "log_likelihood"])
    assert row["lr_statistic"] == pytest.approx(statistic)
    assert row["lr_p_value"] == pytest.approx(chi2.sf(statistic, 3))
    assert row["lr_p_value"] < 1e-6  # the simulated channel and region effects are real
    assert np.isnan(table.loc["bg_nbd", "lr_statistic"])


def test_expected_clv_new_customer_by_profile(simulated):
    from clv_predict import CLVModel
    from clv_predict.analytics import acquisition_budget_by_profile

    model = CLVModel(purchase_covariates=["channel", "age"], dropout_covariates=["channel"]).fit(simulated)
    profiles = pd.DataFrame({"channel": ["web", "app", "shop"], "age": [0.0, 10.0, -5.0]}, index=["a", "b", "c"])
    value = model.expected_clv_new_customer(profiles, horizon=52, discount_rate=0.002, margin=0.3)
    assert list(value.index) == ["a", "b", "c"]
    spend = model.spend_model_.population_mean_spend_
    purchases = model.purchase_model_
    for label, row in profiles.iterrows():
        shared = BetaGeoModel.from_params(**dict(zip(["r", "alpha", "a", "b"], purchases._customer_params(
            profiles.loc[[label]])[:, 0])))
        curve = np.array([shared.expected_purchases_new_customer(k) for k in range(53)])
        discounted = np.diff(curve) @ 1.002 ** -np.arange(1, 53)
        assert value.loc[label, "expected_purchases"] == pytest.approx(curve[-1], rel=1e-12)
        assert value.loc[label, "clv"] == pytest.approx(0.3 * spend * discounted, rel=1e-10)
        assert value.loc[label, "value"] == pytest.approx(0.3 * spend * (1 + discounted), rel=1e-10)
    # more value over a longer horizon, less at a higher discount rate
    longer = model.expected_clv_new_customer(profiles, horizon=104, discount_rate=0.002, margin=0.3)
    steeper = model.expected_clv_new_customer(profiles, horizon=52, discount_rate=0.01, margin=0.3)
    assert (longer["clv"] > value["clv"]).all() and (steeper["clv"] < value["clv"]).all()
    one = model.expected_clv_new_customer({"channel": "app", "age": 10.0}, horizon=52, discount_rate=0.002, margin=0.3)
    assert one["clv"].iloc[0] == pytest.approx(value.loc["b", "clv"], rel=1e-12)
    with pytest.raises(DataError, match="lacks the covariate 'age'"):
        model.expected_clv_new_customer({"channel": "app"}, horizon=52)

    budget = acquisition_budget_by_profile(model, simulated, "channel", horizon=52, margin=0.3, discount_rate=0.002)
    assert list(budget.index) == ["web", "app", "shop"] and budget["customers"].sum() == len(simulated)
    # each level's value is the mean over its customers of their own new-customer value
    web = simulated[simulated["channel"] == "web"]
    each = model.expected_clv_new_customer(web[["channel", "age"]], horizon=52, discount_rate=0.002, margin=0.3)
    assert budget.loc["web", "value_per_customer"] == pytest.approx(each["value"].mean(), rel=1e-12)
    assert budget.loc["web", "max_acquisition_cost"] == pytest.approx(each["value"].mean() / 3.0, rel=1e-12)
    with pytest.raises(DataError, match="'by' must be a categorical covariate"):
        acquisition_budget_by_profile(model, simulated, "age", horizon=52, margin=0.3)


def test_simulated_log_with_covariates_recovers_the_channel_effect():
    import clv_predict as cp
    from clv_predict.synthetic import CDNOW_PARAMS, simulate_transactions

    customers = _covariate_table(4000, 8)
    log = simulate_transactions(4000, seed=9, covariates=customers,
                                coefficients={"purchase:channel[app]": 0.8, "purchase:channel[shop]": 0.0})
    rfm = cp.rfm_summary(log, customer_id_col="customer_id", datetime_col="date",
                         observation_period_end=log.attrs["observation_period_end"], time_unit="W")
    rfm = rfm.join(customers.rename_axis("customer_id"))
    model = BetaGeoModel(purchase_covariates=["channel"], covariate_reference={"channel": "web"}).fit(rfm)
    estimate, error = model.params_["purchase:channel[app]"], model.standard_errors_["purchase:channel[app]"]
    assert abs(estimate - 0.8) < 2.5 * error and error < 0.1
    assert abs(model.params_["alpha"] - CDNOW_PARAMS["alpha"]) < 3 * model.standard_errors_["alpha"]


@pytest.mark.slow
def test_covariate_models_round_trip_in_a_fresh_process(simulated, tmp_path):
    import subprocess
    import sys

    from clv_predict import load_model

    rfm_path, out_path = tmp_path / "rfm.parquet", tmp_path / "out.parquet"
    simulated.to_parquet(rfm_path)
    models = {}
    for cls in MODELS:
        models[cls.__name__] = cls(purchase_covariates=["channel", "region"], dropout_covariates=["region"],
                                   covariate_reference={"channel": "shop"}).fit(simulated.iloc[:1500])
        models[cls.__name__].save(tmp_path / f"{cls.__name__}.joblib")
    script = f"""
import pandas as pd
from clv_predict import load_model
rfm = pd.read_parquet({str(rfm_path)!r})
out = {{}}
for name in {list(models)!r}:
    model = load_model({str(tmp_path)!r} + "/" + name + ".joblib")
    out[name + ":p_alive"] = model.probability_alive(rfm)
    out[name + ":expected"] = model.expected_purchases(rfm, 26)
pd.DataFrame(out).to_parquet({str(out_path)!r})
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    again = pd.read_parquet(out_path)
    for name, model in models.items():
        assert np.array_equal(again[f"{name}:p_alive"], model.probability_alive(simulated))
        assert np.array_equal(again[f"{name}:expected"], model.expected_purchases(simulated, 26))
        reloaded = load_model(tmp_path / f"{name}.joblib")
        pd.testing.assert_frame_equal(reloaded.summary(), model.summary())
        assert reloaded.covariate_encoding_ == model.covariate_encoding_
        assert reloaded.covariate_encoding_.reference["channel"] == "shop"


def test_covariate_penalty_shrinks_the_coefficients_alone(simulated):
    free = BetaGeoModel(purchase_covariates=["channel", "region"]).fit(simulated)
    shrunk = BetaGeoModel(purchase_covariates=["channel", "region"], covariate_penalizer=0.05).fit(simulated)
    assert (shrunk.coefficients_.abs() < free.coefficients_.abs()).all()
    assert shrunk.coefficients_.abs().max() < 0.5 * free.coefficients_.abs().max()
    assert list(free.coefficients_.index) == ["purchase:channel[app]", "purchase:channel[shop]", "purchase:region[south]"]


def test_covariate_settings_are_checked():
    rfm = _small_table()
    with pytest.raises(DataError, match="'unseen' must be one of 'error', 'reference'; got 'drop'"):
        BetaGeoModel(purchase_covariates=["channel"], unseen="drop").fit(rfm)
    with pytest.raises(DataError, match="covariates are fitted by the native engine only"):
        BetaGeoModel(purchase_covariates=["channel"], engine="lifetimes").fit(rfm)
    with pytest.raises(DataError, match="'covariate_penalizer' must be >= 0"):
        BetaGeoModel(purchase_covariates=["channel"], covariate_penalizer=-1.0).fit(rfm)
    with pytest.raises(DataError, match="'purchase_covariates' names 'channel' more than once"):
        BetaGeoModel(purchase_covariates=["channel", "channel"]).fit(rfm)
    with pytest.raises(DataError, match="rfm has no covariate column 'plan'"):
        BetaGeoModel(dropout_covariates=["plan"]).fit(rfm)
    with pytest.raises(DataError, match="covariate column 'flat' of rfm is constant"):
        BetaGeoModel(purchase_covariates=["flat"]).fit(rfm.assign(flat="x"))


def test_expected_purchases_new_customer_by_profile():
    rfm = _small_table()
    model = _truth(ParetoNBDModel, rfm)
    profiles = pd.DataFrame({"channel": ["web", "app"], "region": ["north", "south"], "age": [0.0, 5.0]},
                            index=["x", "y"])
    values = model.expected_purchases_new_customer(26, profile=profiles)
    assert list(values.index) == ["x", "y"]
    for label in profiles.index:
        shared = ParetoNBDModel.from_params(**dict(zip(["r", "alpha", "s", "beta"],
                                                      model._customer_params(profiles.loc[[label]])[:, 0])))
        assert values[label] == pytest.approx(shared.expected_purchases_new_customer(26), rel=1e-12)
    one = model.expected_purchases_new_customer(26, profile={"channel": "app", "region": "south", "age": 5.0})
    assert one == pytest.approx(values["y"], rel=1e-12)
    # the reference profile (web, north, age 0) is the model's own parameters
    assert model.expected_purchases_new_customer(26) == pytest.approx(values["x"], rel=1e-12)
    curve = model.expected_purchases_new_customer(np.array([13.0, 26.0]), profile={"channel": "app", "region": "south",
                                                                                 "age": 5.0})
    assert curve[1] == pytest.approx(one, rel=1e-12) and curve[0] < curve[1]
