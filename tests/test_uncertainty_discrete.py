"""How sure each forecast is, for the models of discrete opportunities (BG/BB): the predictive and confidence
bounds of ``predict(..., interval=)`` through the same hooks as the continuous models, checked against the model's
own conditional distribution, a simulation of its process, and coverage on a simulated base."""

import warnings

import numpy as np
import pandas as pd
import pytest

import clv_predict as cp
from clv_predict import BetaGeoBetaBinomModel, CLVModel
from clv_predict.cli import main
from clv_predict.exceptions import ModelWarning
from clv_predict.models._intervals import sigma_point_models

PUBLISHED = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
PATTERNS = pd.DataFrame({"frequency": [0, 1, 2, 3, 6, 4], "recency": [0, 1, 4, 6, 6, 5], "T": [6, 6, 6, 6, 6, 8]})


def _simulate(size, n, t, seed, params=PUBLISHED, spend=(6.0, 4.0, 150.0)):
    """Calibration summaries over ``n`` opportunities and the holdout over the next ``t``, drawn together from
    the BG/BB process, with Gamma-Gamma spend (p, q, v) per purchase."""
    rng = np.random.default_rng(seed)
    p = rng.beta(params["alpha"], params["beta"], size)
    theta = rng.beta(params["gamma"], params["delta"], size)
    alive = np.minimum(rng.geometric(theta) - 1, n + t)
    bought = (rng.random((size, n + t)) < p[:, None]) & (np.arange(1, n + t + 1)[None, :] <= alive[:, None])
    shape, q, v = spend
    rate = rng.gamma(q, 1.0 / v, size)  # nu ~ Gamma(q, v): a customer's spend rate
    amounts = rng.gamma(shape, 1.0, (size, n + t)) / rate[:, None] * bought
    calibration = bought[:, :n]
    x = calibration.sum(axis=1)
    summary = pd.DataFrame(
        {
            "frequency": x,
            "recency": np.where(x > 0, n - np.argmax(calibration[:, ::-1], axis=1), 0),
            "T": n,
            "monetary_value": np.where(x > 0, amounts[:, :n].sum(axis=1) / np.maximum(x, 1), 0.0),
        },
        index=pd.RangeIndex(size, name="customer_id"),
    )
    return summary, bought[:, n:].sum(axis=1), amounts[:, n:].sum(axis=1)


@pytest.fixture(scope="module")
def fitted():
    summary, _, _ = _simulate(8000, 6, 5, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BetaGeoBetaBinomModel().fit(summary)


def test_the_survival_hook_gives_the_published_conditional_distribution():
    """Alive at the next opportunity (the hook) or alive now (the published finite sum): one distribution."""
    model = BetaGeoBetaBinomModel.from_params(**PUBLISHED)
    params = model._params()
    x, t_x, T = (PATTERNS[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    p_alive = model._probability_alive_values(params, x, t_x, T)
    for t in (1, 5, 12):
        counts = np.arange(t + 1, dtype=float)
        survival = model._survival_if_alive_values(params, x, t_x, T, t, np.concatenate([counts, counts + 1]))
        pmf = p_alive[:, None] * (survival[:, : t + 1] - survival[:, t + 1 :]) + (1 - p_alive)[:, None] * (counts == 0)
        published = model.conditional_probability_of_n_purchases(PATTERNS, t, t).to_numpy()
        np.testing.assert_allclose(pmf, published, atol=1e-13)
        np.testing.assert_allclose(p_alive * model._expected_if_alive_values(params, x, t_x, T, t),
                                   model.expected_purchases(PATTERNS, t), rtol=1e-12)
        assert np.all(model._survival_if_alive_values(params, x, t_x, T, t, np.array([t + 1.0, t + 5.0])) == 0)


def test_bounds_are_the_quantiles_of_the_conditional_distribution_mixed_over_the_sigma_points(fitted):
    """Recomputed through the public conditional distribution of each sigma-point model: the bounds are the
    first counts whose mixture CDF reaches the tail levels."""
    horizon, level = 5, 0.9
    frame = fitted.predict(PATTERNS, horizon=horizon, interval=level)
    models, weights = sigma_point_models(fitted)
    assert len(models) == 9
    mixture = sum(w * m.conditional_probability_of_n_purchases(PATTERNS, horizon, horizon).to_numpy()
                  for m, w in zip(models, weights))
    cdf = np.cumsum(mixture, axis=1)
    tail = (1 - level) / 2
    np.testing.assert_array_equal(frame["purchases_lower"], np.argmax(cdf > tail, axis=1))
    np.testing.assert_array_equal(frame["purchases_upper"], np.argmax(cdf >= 1 - tail, axis=1))
    # the point forecast is the estimate's; the confidence bounds hold it, and agree with 2,000 parameter draws
    np.testing.assert_allclose(frame["expected_purchases"], fitted.expected_purchases(PATTERNS, horizon))
    assert (frame["purchases_ci_lower"] < frame["expected_purchases"]).all()
    assert (frame["expected_purchases"] < frame["purchases_ci_upper"]).all()
    drawn = fitted.predict(PATTERNS, horizon=horizon, interval=level, n_draws=2000, seed=1)
    np.testing.assert_allclose(drawn[["purchases_ci_lower", "purchases_ci_upper"]],
                               frame[["purchases_ci_lower", "purchases_ci_upper"]], rtol=0.03)
    np.testing.assert_array_equal(drawn["purchases_upper"], frame["purchases_upper"])


def test_bounds_at_known_parameters_are_the_quantiles_of_a_simulation_of_the_process():
    """Known parameters (no uncertainty: a warning says so): the bounds against the quantiles of the holdout
    counts of simulated customers who show each history (exact conditioning: whole numbers)."""
    model = BetaGeoBetaBinomModel.from_params(**PUBLISHED)
    with pytest.warns(ModelWarning, match="leave the parameter uncertainty out"):
        frame = model.predict(PATTERNS.iloc[:5], horizon=5, interval=0.8)
    assert frame[["purchases_ci_lower", "purchases_ci_upper"]].isna().all().all()
    summary, holdout, _ = _simulate(400_000, 6, 5, seed=21)
    for i, row in PATTERNS.iloc[:5].iterrows():
        chosen = ((summary["frequency"] == row["frequency"]) & (summary["recency"] == row["recency"])).to_numpy()
        counts = holdout[chosen]
        assert chosen.sum() > 3000
        cdf = np.cumsum(np.bincount(counts, minlength=6)) / counts.size
        assert frame["purchases_lower"].iloc[i] == np.argmax(cdf > 0.1), (row.to_dict(), cdf)
        assert frame["purchases_upper"].iloc[i] == np.argmax(cdf >= 0.9), (row.to_dict(), cdf)


def test_clv_model_bounds_cover_the_simulated_holdout_of_a_bg_bb_base():
    """Calibration and holdout drawn together from BG/BB with Gamma-Gamma spend, both models fitted on the
    calibration: the 80% and 90% intervals of purchases and value cover at least their level, overall and by
    calibration frequency (whole-number bounds: conservative)."""
    summary, holdout, value = _simulate(20_000, 6, 5, seed=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CLVModel(purchase_model="bg_bb").fit(summary)
    for level in (0.8, 0.9):
        frame = model.predict(summary, horizon=5, interval=level)
        inside = ((frame["purchases_lower"] <= holdout) & (holdout <= frame["purchases_upper"])).to_numpy()
        valued = ((frame["clv_lower"] - 1e-9 <= value) & (value <= frame["clv_upper"])).to_numpy()
        assert inside.mean() >= level and valued.mean() >= level - 0.01, (level, inside.mean(), valued.mean())
        for group in (summary["frequency"] == 0, summary["frequency"].between(1, 3), summary["frequency"] >= 4):
            assert inside[group.to_numpy()].mean() >= level - 0.02
        # what the value's upper bound leaves above it is about the nominal tail
        assert (value > frame["clv_upper"].to_numpy()).mean() <= (1 - level) / 2 + 0.01
    ci = frame[["purchases_ci_lower", "expected_purchases", "purchases_ci_upper"]].to_numpy()
    assert (ci[:, 0] <= ci[:, 1]).all() and (ci[:, 1] <= ci[:, 2]).all()
    assert (frame["clv_ci_lower"] <= frame["clv"]).all() and (frame["clv"] <= frame["clv_ci_upper"]).all()
    # the purchase model alone gives the same purchase bounds as the CLV model
    alone = model.purchase_model_.predict(summary.iloc[:500], horizon=5, interval=0.9)
    pd.testing.assert_frame_equal(alone[["purchases_lower", "purchases_upper", "purchases_ci_lower",
                                         "purchases_ci_upper"]],
                                  frame.iloc[:500][["purchases_lower", "purchases_upper", "purchases_ci_lower",
                                                    "purchases_ci_upper"]])


@pytest.fixture(scope="module")
def opportunity_log(tmp_path_factory):
    from clv_predict.synthetic import simulate_opportunity_transactions

    path = tmp_path_factory.mktemp("discrete_interval") / "log.csv"
    simulate_opportunity_transactions(3000, seed=2, n_cohorts=2, n_opportunities=8).to_csv(path, index=False)
    return path


def test_score_file_and_the_command_line_write_the_bounds_of_a_bg_bb_model(opportunity_log, tmp_path, capsys):
    model_path = tmp_path / "bg_bb.joblib"
    assert main(["fit", "--model", "bg_bb", "--period", "Y", "--input", str(opportunity_log),
                 "--observation-end", "1999-12-31", "--output", str(model_path)]) == 0
    scores = tmp_path / "scores.csv"
    assert main(["score", "--model", str(model_path), "--input", str(opportunity_log), "--observation-end",
                 "1999-12-31", "--horizon", "4", "--discount-rate", "0.1", "--interval", "0.9",
                 "--output", str(scores)]) == 0
    capsys.readouterr()
    table = pd.read_csv(scores).set_index("customer_id")
    assert set(cp.scoring.INTERVAL_COLUMNS) <= set(table.columns)
    assert (table["purchases_lower"] <= table["purchases_upper"]).all() and (table["purchases_upper"] <= 4).all()
    assert (table["clv_lower"] <= table["clv_upper"]).all()
    model = cp.load_model(model_path)
    with pytest.warns(cp.exceptions.DataWarning, match="after observation_period_end"):
        direct = cp.score_file(model, opportunity_log, tmp_path / "direct.parquet", horizon=4, discount_rate=0.1,
                               interval=0.9, observation_period_end="1999-12-31", chunk_rows=5000)
    assert direct["chunks"] > 1  # chunk by chunk, the same bounds
    chunked = pd.read_parquet(tmp_path / "direct.parquet").set_index("customer_id").sort_index()
    table.index = table.index.astype(chunked.index.dtype)
    pd.testing.assert_frame_equal(chunked[list(cp.scoring.INTERVAL_COLUMNS)],
                                  table.sort_index()[list(cp.scoring.INTERVAL_COLUMNS)], rtol=1e-9)
