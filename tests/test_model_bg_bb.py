"""BG/BB (Fader, Hardie & Shang 2010): the donations figures, the likelihood from its definition, the
forecasts against direct sums, the simulator, and a saved model."""

import functools

import numpy as np
import pandas as pd
import pytest
from scipy.special import roots_jacobi

from clv_predict import (
    PURCHASE_MODELS,
    BetaGeoBetaBinomModel,
    DataError,
    NotFittedError,
    _lifetimes,
    load_model,
)
from clv_predict.datasets import _lifetimes_datasets_dir, load_donations
from clv_predict.models import DISCRETE_MODELS, model_class_of_kind

PUBLISHED = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}


@pytest.fixture(scope="module")
def donations():
    return load_donations()


@pytest.fixture(scope="module")
def fitted(donations):
    return BetaGeoBetaBinomModel().fit(donations)


@pytest.fixture(scope="module")
def published():
    return BetaGeoBetaBinomModel.from_params(**PUBLISHED)


def _summary(*rows):
    frequency, recency, T = zip(*rows)
    return pd.DataFrame({"frequency": frequency, "recency": recency, "T": T})


# ---------------------------------------------------------------- the data


def test_load_donations_is_one_row_per_donor_of_the_lifetimes_file(donations):
    compressed = pd.read_csv(_lifetimes_datasets_dir() / "donations.csv")
    assert donations.shape == (11_104, 3)
    assert donations.index.name == "customer_id" and donations.index.is_unique
    assert (donations["T"] == 6).all()
    counts = donations.groupby(["frequency", "recency"]).size()
    expected = compressed.set_index(["frequency", "recency"])["weights"]
    pd.testing.assert_series_equal(counts.sort_index(), expected.sort_index(), check_names=False)
    assert int((donations["frequency"] == 0).sum()) == 3_464


# ---------------------------------------------------------------- published figures


def test_donations_fit_reproduces_fhs_2010(fitted):
    assert fitted.params_.round(3).to_dict() == PUBLISHED
    assert round(fitted.log_likelihood_, 1) == -33225.6
    assert fitted.n_customers_ == 11_104
    assert fitted.n_repeat_customers_ == 11_104 - 3_464
    assert fitted.n_unique_rows_ == 22
    assert fitted.convergence_["converged"]
    assert np.all(np.isfinite(fitted.standard_errors_)) and (fitted.standard_errors_ > 0).all()
    table = fitted.summary()
    assert list(table.columns) == ["estimate", "standard_error", "lower", "upper"]
    assert "<caption>" in fitted._repr_html_()


def test_probability_alive_at_the_next_opportunity_matches_fhs_2010_table_6(published):
    p_alive = published.probability_alive(_summary((0, 0, 6), (2, 4, 6), (6, 6, 6)))
    assert p_alive.round(2).tolist() == [0.11, 0.59, 0.93]
    # alive at T itself: certain for a donor who gave at the last opportunity
    assert published.probability_alive(_summary((6, 6, 6)), ahead=0).iloc[0] == pytest.approx(1.0)


def test_fit_on_compressed_rows_with_weights_equals_the_per_donor_fit(fitted):
    raw = pd.read_csv(_lifetimes_datasets_dir() / "donations.csv").rename(columns={"periods": "T"})
    compressed = BetaGeoBetaBinomModel().fit(raw, weights="weights")
    np.testing.assert_allclose(compressed.params_, fitted.params_, rtol=1e-6)
    assert compressed.log_likelihood_ == pytest.approx(fitted.log_likelihood_, rel=1e-10)


def test_fit_matches_lifetimes_beta_geo_beta_binom_fitter(fitted):
    raw = pd.read_csv(_lifetimes_datasets_dir() / "donations.csv")
    with _lifetimes._contained():
        from lifetimes import BetaGeoBetaBinomFitter

        reference = BetaGeoBetaBinomFitter().fit(
            raw["frequency"], raw["recency"], raw["periods"], weights=raw["weights"]
        )
        theirs = reference.params_[list(PUBLISHED)].to_numpy(dtype=float)
        log_likelihood = float(
            (BetaGeoBetaBinomFitter._loglikelihood(fitted.params_.to_numpy(), raw["frequency"], raw["recency"],
                                                   raw["periods"]) * raw["weights"]).sum()
        )
    np.testing.assert_allclose(fitted.params_.to_numpy(), theirs, rtol=1e-3)
    assert fitted.log_likelihood_ == pytest.approx(log_likelihood, rel=1e-10)


# ---------------------------------------------------------------- the likelihood from its definition


@functools.lru_cache
def _beta_nodes(a, b, size=40):
    """Nodes and weights of Gauss-Jacobi quadrature for the Beta(a, b) law on [0, 1]: exact on polynomials."""
    u, w = roots_jacobi(size, b - 1, a - 1)  # weight (1 - u)^(b-1) (1 + u)^(a-1) on [-1, 1]
    return (1 + u) / 2, w / w.sum()


def _direct(params, x, t_x, n, *, purchase_at=None):
    """E over p and theta of the likelihood, summed over the possible death times; with ``purchase_at`` k,
    the same times the probability of being alive at opportunity n + k and buying there."""
    a, b, g, d = params
    p, wp = _beta_nodes(a, b)
    theta, wt = _beta_nodes(g, d)
    p, theta = p[:, None], theta[None, :]
    # alive through all n opportunities, or alive at exactly `alive` of them and dead from alive + 1 on
    total = p**x * (1 - p) ** (n - x) * (1 - theta) ** n
    if purchase_at is not None:
        total = total * p * (1 - theta) ** purchase_at
    else:
        for alive in range(t_x, n):
            total = total + p**x * (1 - p) ** (alive - x) * (1 - theta) ** alive * theta
    return float(wp @ total @ wt)


@pytest.mark.parametrize("x, t_x, n", [(0, 0, 6), (1, 3, 6), (2, 4, 6), (6, 6, 6), (3, 7, 10)])
def test_likelihood_is_the_sum_over_death_times_of_its_definition(published, x, t_x, n):
    ours = published.log_likelihood(_summary((x, t_x, n))).iloc[0]
    assert ours == pytest.approx(np.log(_direct(list(PUBLISHED.values()), x, t_x, n)), rel=1e-10)


# ---------------------------------------------------------------- forecasts against direct sums


def _purchase_probability(params, x, t_x, n, k):
    return _direct(params, x, t_x, n, purchase_at=k) / _direct(params, x, t_x, n)


@pytest.mark.parametrize("params", [list(PUBLISHED.values()), [1.204, 0.750, 1.0, 2.783], [2.0, 3.0, 1.7, 4.0]])
def test_expected_purchases_is_the_sum_of_the_purchase_probabilities(params, x=2, t_x=4, n=6):
    model = BetaGeoBetaBinomModel.from_params(**dict(zip(PUBLISHED, params)))
    expected = model.expected_purchases(_summary((x, t_x, n)), 5).iloc[0]
    direct = sum(_purchase_probability(params, x, t_x, n, k) for k in range(1, 6))
    assert expected == pytest.approx(direct, rel=1e-9)
    assert model.expected_purchases(_summary((x, t_x, n)), 0).iloc[0] == 0


def test_dert_closed_form_equals_a_long_discounted_sum(published):
    params = list(PUBLISHED.values())
    for x, t_x, n in [(0, 0, 6), (2, 4, 6), (6, 6, 6)]:
        dert = published.expected_residual_purchases(_summary((x, t_x, n)), discount_rate=0.1).iloc[0]
        # the purchase probability at each of the next 600 opportunities, discounted (1.1^-600 < 1e-24)
        likelihood = _direct(params, x, t_x, n)
        long_sum = sum(_direct(params, x, t_x, n, purchase_at=k) * 1.1**-k for k in range(1, 601)) / likelihood
        assert dert == pytest.approx(long_sum, rel=1e-9)


def test_dert_is_finite_for_many_opportunities_and_falls_with_the_discount_rate(published):
    summary = _summary((3, 2000, 3000), (0, 0, 3000), (2000, 3000, 3000))
    values = published.expected_residual_purchases(summary, discount_rate=0.001)
    assert np.all(np.isfinite(values)) and (values >= 0).all()
    low = published.expected_residual_purchases(_summary((2, 4, 6)), discount_rate=0.05).iloc[0]
    high = published.expected_residual_purchases(_summary((2, 4, 6)), discount_rate=0.2).iloc[0]
    assert low > high > 0


def test_new_customer_figures_agree_with_the_purchase_distribution(published):
    probabilities = published.probability_of_n_purchases(6, np.arange(7))
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-12)
    assert published.expected_purchases_new_customer(6) == pytest.approx(probabilities @ np.arange(7), rel=1e-10)
    np.testing.assert_allclose(
        published.expected_purchases_new_customer(np.array([1, 6])),
        [published.expected_purchases_new_customer(1), published.expected_purchases_new_customer(6)],
    )
    assert published.probability_of_n_purchases(6, 7)[0] == 0
    with _lifetimes._contained():
        from lifetimes import BetaGeoBetaBinomFitter

        reference = BetaGeoBetaBinomFitter()
        reference.params_ = pd.Series(PUBLISHED)
        # lifetimes scales by the training data's size and reads its frequencies from it: one row of each, weight 1/7
        reference.data = pd.DataFrame({"frequency": np.arange(7), "weights": np.full(7, 1 / 7)})
        table = reference.expected_number_of_transactions_in_first_n_periods(6)
    np.testing.assert_allclose(probabilities, table["model"].to_numpy(dtype=float), rtol=1e-9)


def test_the_model_matches_the_observed_repeat_distribution_of_donations(donations, published):
    # FHS 2010 figure 3: the fitted model tracks how many donors gave 0..6 times
    observed = np.bincount(donations["frequency"], minlength=7) / len(donations)
    np.testing.assert_allclose(published.probability_of_n_purchases(6, np.arange(7)), observed, atol=0.01)


# ---------------------------------------------------------------- simulation


def test_simulation_is_seeded_and_valid(published):
    first = published.simulate(2_000, 8, seed=3)
    pd.testing.assert_frame_equal(first, published.simulate(2_000, 8, seed=3))
    assert (first["frequency"] <= first["recency"]).all() and (first["recency"] <= 8).all()
    assert ((first["frequency"] == 0) == (first["recency"] == 0)).all()


def test_fit_recovers_the_parameters_of_its_own_simulation(published):
    sample = published.simulate(40_000, 8, seed=11)
    model = BetaGeoBetaBinomModel().fit(sample)
    distance = (model.params_ - published.params_).abs() / model.standard_errors_
    assert (distance < 4).all(), distance.to_dict()


# ---------------------------------------------------------------- registry, persistence, errors


def test_registered_as_a_discrete_model_not_a_purchase_model():
    assert DISCRETE_MODELS["bg_bb"] == ("beta_geo_beta_binom", "BetaGeoBetaBinomModel")
    assert "BetaGeoBetaBinomModel" not in {name for _, name in PURCHASE_MODELS.values()}
    assert model_class_of_kind("BetaGeoBetaBinomModel") is BetaGeoBetaBinomModel


def test_save_and_load_round_trip(fitted, tmp_path):
    path = tmp_path / "bgbb.joblib"
    fitted.save(path)
    loaded = load_model(path)
    assert type(loaded) is BetaGeoBetaBinomModel
    assert loaded.params_.to_dict() == fitted.params_.to_dict()
    pd.testing.assert_frame_equal(loaded.summary(), fitted.summary())
    summary = _summary((0, 0, 6), (2, 4, 6))
    pd.testing.assert_series_equal(loaded.probability_alive(summary), fitted.probability_alive(summary))
    assert loaded.n_customers_ == 11_104 and loaded.log_likelihood_ == fitted.log_likelihood_


def test_errors_name_the_input(published):
    with pytest.raises(DataError, match="'frequency' exceeds 'recency'"):
        published.probability_alive(_summary((3, 2, 6)))
    with pytest.raises(DataError, match="'recency' exceeds 'T'"):
        BetaGeoBetaBinomModel().fit(_summary((1, 7, 6)))
    with pytest.raises(DataError, match="whole numbers"):
        published.expected_purchases(_summary((1.5, 2, 6)), 3)
    with pytest.raises(DataError, match="column 'recency'"):
        published.probability_alive(pd.DataFrame({"frequency": [1], "T": [6]}))
    with pytest.raises(DataError, match="'t' must be a whole number"):
        published.expected_purchases(_summary((1, 2, 6)), 2.5)
    with pytest.raises(DataError, match="discount_rate"):
        published.expected_residual_purchases(_summary((1, 2, 6)), discount_rate=0)
    with pytest.raises(DataError, match="native"):
        BetaGeoBetaBinomModel(engine="lifetimes").fit(_summary((1, 2, 6)))
    with pytest.raises(DataError, match="missing delta"):
        BetaGeoBetaBinomModel.from_params(alpha=1, beta=1, gamma=1)
    with pytest.raises(NotFittedError):
        BetaGeoBetaBinomModel().probability_alive(_summary((1, 2, 6)))


# ---------------------------------------------------------------- from a transaction log


def test_opportunity_summary_counts_periods_with_a_purchase_after_the_first():
    from clv_predict import TransactionLog
    from clv_predict.discrete import opportunity_summary

    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b", "c", "c", "d"],
            "date": pd.to_datetime(
                ["1995-03-01", "1995-09-01", "1997-05-01", "1997-06-01", "1995-12-31", "1996-01-10", "2001-12-31",
                 "2002-02-01"]
            ),
        }
    )
    log = TransactionLog(frame, customer_id_col="customer_id", datetime_col="date")
    summary = opportunity_summary(log, period="Y", observation_period_end="2001-12-31")
    # a: acquired 1995, gave in 1997 (opportunity 2 of 1996..2001); b: never again; c: acquired 1996, gave in 2001
    # (opportunity 5 of 1997..2001); d: acquired after the end, left out
    assert summary.to_dict("index") == {
        "a": {"frequency": 1, "recency": 2, "T": 6},
        "b": {"frequency": 0, "recency": 0, "T": 6},
        "c": {"frequency": 1, "recency": 5, "T": 5},
    }
    assert summary.index.name == "customer_id"
    # a period not over at the end is no opportunity yet
    partial = opportunity_summary(log, period="Y", observation_period_end="2001-06-30")
    assert partial.loc["c"].to_dict() == {"frequency": 0, "recency": 0, "T": 4}
    assert BetaGeoBetaBinomModel.from_params(**PUBLISHED).probability_alive(summary).between(0, 1).all()
    with pytest.raises(DataError, match="'period'"):
        opportunity_summary(log, period="fortnight")
