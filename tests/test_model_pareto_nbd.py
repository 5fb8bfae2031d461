"""Pareto/NBD: published CDNOW figures, each formula against an independent computation, the simulator, CLVModel."""

import mpmath
import numpy as np
import pandas as pd
import pytest

from clv_predict import CLVModel, ParetoNBDModel, load_model
from clv_predict.models import pareto_nbd
from clv_predict.models.pareto_nbd import (
    ParetoNBDRows,
    _log_tail_integral,
    pareto_nbd_log_likelihood,
    pareto_nbd_probability_alive,
)

# BTYD's estimates (pnbd.EstimateParameters on cdnowSummary) and Fader, Hardie & Lee's (2005) print
BTYD = {"r": 0.5534, "alpha": 10.580, "s": 0.6061, "beta": 11.656}
FHL_PRINT = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}


@pytest.fixture(scope="module")
def cdnow_fit(cdnow_rfm):
    return ParetoNBDModel().fit(cdnow_rfm)


# --------------------------------------------------------------------------- mpmath references (FHL 2005 note)
def _mp_log_likelihood(params, x, t_x, T):
    """The note's eq. (22)-(24): A0 by 2F1 in the cases alpha >= beta and alpha < beta, at 30 digits."""
    with mpmath.workdps(30):
        r, alpha, s, beta = (mpmath.mpf(v) for v in params)
        x, t_x, T = mpmath.mpf(x), mpmath.mpf(t_x), mpmath.mpf(T)
        if alpha >= beta:
            big, second = alpha, s + 1
        else:
            big, second = beta, r + x

        def part(y):
            z = abs(alpha - beta) / (big + y)
            return mpmath.hyp2f1(r + s + x, second, r + s + x + 1, z) / (big + y) ** (r + s + x)

        a0 = part(t_x) - part(T)
        head = mpmath.gamma(r + x) * alpha**r * beta**s / mpmath.gamma(r)
        alive = 1 / ((alpha + T) ** (r + x) * (beta + T) ** s)
        likelihood = head * (alive + s / (r + s + x) * a0)
        return likelihood, head * alive / likelihood


def _mp_by_integral(params, x, t_x, T):
    """The likelihood from its definition: E over lambda, mu of lambda^x e^-(lambda+mu)T + lambda^x
    int_{t_x}^T mu e^-(lambda+mu)y dy, the gamma mixtures in closed form, the integral in y by quadrature."""
    with mpmath.workdps(30):
        r, alpha, s, beta = (mpmath.mpf(v) for v in params)
        head = mpmath.gamma(r + x) * alpha**r * beta**s / mpmath.gamma(r)
        alive = (alpha + T) ** -(r + x) * (beta + T) ** -s
        died = s * mpmath.quad(lambda y: (alpha + y) ** -(r + x) * (beta + y) ** -(s + 1), [t_x, T])
        return mpmath.log(head * (alive + died))


GRID = [
    # (r, alpha, s, beta), (x, t_x, T): typical, alpha = beta, alpha >> beta, alpha << beta, large x, T near 0
    ((0.55, 10.6, 0.61, 11.7), (2, 30.4, 38.9)),
    ((0.55, 10.6, 0.61, 11.7), (0, 0.0, 38.9)),
    ((0.55, 10.6, 0.61, 11.7), (26, 30.86, 31.0)),
    ((0.55, 7.0, 0.61, 7.0), (3, 12.0, 30.0)),
    ((0.55, 7.0, 1.0, 7.0), (0, 0.0, 30.0)),
    ((2.0, 500.0, 0.3, 0.02), (5, 3.0, 40.0)),
    ((2.0, 500.0, 0.3, 0.02), (0, 0.0, 40.0)),
    ((0.3, 0.01, 2.5, 800.0), (40, 20.0, 52.0)),
    ((0.3, 0.01, 2.5, 800.0), (0, 0.0, 52.0)),
    ((0.55, 10.6, 0.61, 11.7), (10_000, 51.0, 52.0)),
    ((0.55, 10.6, 1.0, 2.0), (10_000, 10.0, 52.0)),
    ((1.3, 3.0, 2.0, 300.0), (10_000, 50.0, 52.0)),
    ((0.55, 10.6, 0.61, 11.7), (0, 0.0, 1e-9)),
    ((0.55, 10.6, 0.61, 11.7), (1, 1e-6, 2e-6)),
    ((0.9, 0.05, 0.4, 60.0), (0, 0.0, 1e-6)),
]


@pytest.mark.parametrize(("params", "customer"), GRID)
def test_log_likelihood_and_p_alive_match_mpmath_hypergeometric_form(params, customer):
    x, t_x, T = customer
    got = pareto_nbd_log_likelihood(params, x, t_x, T)
    reference, p_alive = _mp_log_likelihood(params, x, t_x, T)
    assert np.isfinite(got)
    assert got == pytest.approx(float(mpmath.log(reference)), rel=1e-12, abs=1e-11)
    assert pareto_nbd_probability_alive(params, x, t_x, T) == pytest.approx(float(p_alive), rel=1e-11, abs=1e-14)


@pytest.mark.parametrize(("params", "customer"), GRID[:9:2])
def test_log_likelihood_matches_its_defining_integral(params, customer):
    assert pareto_nbd_log_likelihood(params, *customer) == pytest.approx(
        float(_mp_by_integral(params, *customer)), rel=1e-12, abs=1e-11
    )


def test_tail_integral_matches_mpmath_across_the_switch_from_series_to_quadrature():
    with mpmath.workdps(30):
        for a, b in [(0.6, 0.5), (1.0, 1.0), (5.5, 2.0), (1000.6, 0.01), (0.06, 0.99)]:
            for q in [1.0, 0.5, 0.2001, 0.1999, 1e-3, 1e-9]:
                A, B = 3.0, 3.0 * q
                exact = (
                    -a * mpmath.log(A) + (1 - b) * mpmath.log(B)
                    + mpmath.log(mpmath.hyp2f1(1, a, a + b, 1 - mpmath.mpf(B) / A)) - mpmath.log(a + b - 1)
                )
                for first, second in [(A, B), (B, A)]:  # and the roles swapped
                    aa, bb = (a, b) if first == A else (b, a)
                    got = _log_tail_integral(aa, bb, first, second)[0][0]
                    assert got == pytest.approx(float(exact), rel=1e-13, abs=1e-12)


def test_gradient_of_compressed_rows_matches_finite_differences():
    rng = np.random.default_rng(5)
    x = rng.poisson(3, 300).astype(float)
    T = rng.uniform(0.5, 1.0, 300)
    t_x = np.where(x > 0, T * rng.uniform(0, 1, 300), 0.0)
    rows = ParetoNBDRows(x, t_x, T, rng.integers(1, 4, 300).astype(float))
    for params in ([0.5, 0.27, 0.6, 0.3], [0.5, 2.0, 0.6, 0.05], [0.5, 0.01, 1.7, 0.9]):
        params = np.array(params)
        gradient = rows.gradient(params)
        for i in range(4):
            step = np.zeros(4)
            step[i] = 1e-6 * params[i]
            numeric = (rows.value(params + step) - rows.value(params - step)) / (2 * step[i])
            assert gradient[i] == pytest.approx(numeric, rel=1e-6)


# --------------------------------------------------------------------------- published CDNOW figures
def test_cdnow_estimates_match_the_published_ones(cdnow_fit, cdnow_rfm):
    params = cdnow_fit.params_
    assert cdnow_fit.convergence_["converged"]
    # FHL's print, at its precision; BTYD stops a little short of the optimum in the flat beta direction
    for name, value in FHL_PRINT.items():
        assert params[name] == pytest.approx(value, abs=6e-4 if name != "alpha" else 2e-3)
    for name, value in BTYD.items():
        assert params[name] == pytest.approx(value, rel=2e-3)
    assert cdnow_fit.log_likelihood_ == pytest.approx(-9594.98, abs=0.005)
    # the optimum is (slightly) above BTYD's point
    columns = (cdnow_rfm[column].to_numpy() for column in ("frequency", "recency", "T"))
    assert cdnow_fit.log_likelihood_ >= pareto_nbd_log_likelihood(list(BTYD.values()), *columns).sum()


def test_cdnow_customer_1516(cdnow_fit, cdnow_rfm):
    one = cdnow_rfm.loc[[1516]]
    assert one[["frequency", "recency", "T"]].iloc[0].tolist() == pytest.approx([26, 30.857, 31], abs=1e-3)
    assert cdnow_fit.probability_alive(one).iloc[0] == pytest.approx(0.99787, abs=5e-6)
    assert cdnow_fit.expected_purchases(one, 52).iloc[0] == pytest.approx(25.456, abs=2e-3)


def test_cdnow_new_customer_expectation(cdnow_fit):
    assert cdnow_fit.expected_purchases_new_customer(52) == pytest.approx(1.4734, abs=5e-5)
    # r beta / (alpha (s - 1)) [1 - (beta / (beta + t))^(s - 1)] at 30 digits
    with mpmath.workdps(30):
        r, alpha, s, beta = (mpmath.mpf(v) for v in cdnow_fit.params_)
        exact = r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + 52)) ** (s - 1))
    assert cdnow_fit.expected_purchases_new_customer(52) == pytest.approx(float(exact), rel=1e-13)


def test_lifetimes_engine_agrees_on_cdnow(cdnow_fit, cdnow_rfm):
    reference = ParetoNBDModel(engine="lifetimes").fit(cdnow_rfm)
    assert reference.params_.to_numpy() == pytest.approx(cdnow_fit.params_.to_numpy(), rel=5e-4)
    assert reference.log_likelihood_ == pytest.approx(cdnow_fit.log_likelihood_, abs=1e-4)


def test_compressed_rows_with_weights_give_the_same_fit(cdnow_fit, cdnow_rfm):
    counts = cdnow_rfm.groupby(["frequency", "recency", "T"]).size().rename("n").reset_index()
    refit = ParetoNBDModel().fit(counts, weights="n")
    assert refit.params_.to_numpy() == pytest.approx(cdnow_fit.params_.to_numpy(), rel=1e-6)
    assert refit.log_likelihood_ == pytest.approx(cdnow_fit.log_likelihood_, rel=1e-10)


# --------------------------------------------------------------------------- predictions
def test_expected_if_alive_is_continuous_through_s_equal_1():
    at_one = pareto_nbd.pareto_nbd_expected_if_alive([0.5, 10.0, 1.0, 12.0], 3, 30.0, 52.0)
    near = [pareto_nbd.pareto_nbd_expected_if_alive([0.5, 10.0, 1.0 + d, 12.0], 3, 30.0, 52.0) for d in (-1e-7, 1e-7)]
    # (r + x)(beta + T)/(alpha + T) log((beta + T + t)/(beta + T)) at s = 1
    assert at_one == pytest.approx(3.5 * 42 / 40 * np.log(94 / 42), rel=1e-14)
    assert near == pytest.approx([at_one, at_one], rel=1e-6)


def test_expected_if_alive_matches_the_integral_over_the_lifetime():
    # alive at T: lambda ~ Gamma(r + x, alpha + T), mu ~ Gamma(s, beta + T); E = E[lambda] E[min(tau, t)]
    r, alpha, s, beta, x, T, t = 0.55, 10.6, 0.61, 11.7, 4, 30.0, 52.0
    with mpmath.workdps(30):
        survival = mpmath.quad(lambda u: ((beta + T) / (beta + T + u)) ** s, [0, t])
        exact = (r + x) / (alpha + T) * survival
    got = pareto_nbd.pareto_nbd_expected_if_alive([r, alpha, s, beta], x, T, t)
    assert got == pytest.approx(float(exact), rel=1e-12)


def test_probability_of_n_purchases_sums_to_one_and_matches_the_expectation_and_mpmath(cdnow_fit):
    n = np.arange(0, 400)
    p = cdnow_fit.probability_of_n_purchases(52, n)
    assert p.sum() == pytest.approx(1.0, abs=1e-10)
    assert (n * p).sum() == pytest.approx(cdnow_fit.expected_purchases_new_customer(52), rel=1e-9)
    r, alpha, s, beta = cdnow_fit.params_
    with mpmath.workdps(30):
        for k in (0, 1, 7):

            def nb(tau, k=k):
                return (mpmath.gamma(r + k) / (mpmath.gamma(r) * mpmath.factorial(k))
                        * (alpha / (alpha + tau)) ** r * (tau / (alpha + tau)) ** k)

            exact = nb(52) * (beta / (beta + 52)) ** s + mpmath.quad(
                lambda tau: nb(tau) * s * beta**s / (beta + tau) ** (s + 1), [0, 1, 52]
            )
            assert p[k] == pytest.approx(float(exact), rel=1e-10)


def test_probability_of_n_purchases_matches_simulation():
    model = ParetoNBDModel.from_params(**BTYD, time_unit="W")
    draws = model.simulate(100_000, 52.0, seed=11)["frequency"].to_numpy()
    p = model.probability_of_n_purchases(52, np.arange(6))
    empirical = np.bincount(draws, minlength=6)[:6] / draws.size
    assert empirical == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / draws.size).max())


def test_dropout_distribution_is_gamma_of_the_rate():
    distribution, axis, legend, unit_interval = ParetoNBDModel.from_params(**BTYD)._dropout_distribution(
        np.array(list(BTYD.values()))
    )
    assert distribution.mean() == pytest.approx(BTYD["s"] / BTYD["beta"])
    assert not unit_interval and "Gamma" in legend


# --------------------------------------------------------------------------- simulator recovery
def test_simulate_then_fit_recovers_the_parameters():
    truth = ParetoNBDModel.from_params(**BTYD, time_unit="W")
    horizons = np.random.default_rng(3).integers(27, 40, 20_000).astype(float)
    simulated = truth.simulate(20_000, horizons, seed=4)
    fitted = ParetoNBDModel().fit(simulated)
    z = (fitted.params_ - pd.Series(BTYD)) / fitted.standard_errors_
    assert fitted.convergence_["converged"]
    assert (z.abs() < 3).all(), z


# --------------------------------------------------------------------------- through CLVModel
def test_clv_model_with_pareto_nbd_fits_predicts_saves_and_loads(cdnow_split, tmp_path):
    model = CLVModel(purchase_model="pareto_nbd").fit(cdnow_split)
    assert model.purchase_model_.label == "Pareto/NBD"
    predictions = model.predict(cdnow_split, horizon=39, discount_rate=0.01)
    assert np.isfinite(predictions.to_numpy(dtype=float)).all()
    path = tmp_path / "pareto.joblib"
    model.save(path)
    loaded = load_model(path)
    assert isinstance(loaded.purchase_model_, ParetoNBDModel)
    pd.testing.assert_frame_equal(loaded.predict(cdnow_split, horizon=39, discount_rate=0.01), predictions)


# --------------------------------------------------------------------------- conditional distribution
def _survival_by_next_purchases(params, x, T, t, n):
    """P(X(T, T + t] >= n | alive at T) from another road than the library's: the n-th purchase comes at u
    before t with the Beta-prime density A^R u^(n-1) (A + u)^-(R+n) / B(n, R) (Gamma-mixed Erlang), and the
    customer is still alive then with probability (B / (B + u))^s; mpmath's quadrature at 30 digits."""
    with mpmath.workdps(30):
        r, alpha, s, beta = (mpmath.mpf(v) for v in params)
        R, A, B = r + x, alpha + T, beta + T
        log_c = R * mpmath.log(A) - mpmath.log(mpmath.beta(n, R))

        def density(u):
            return mpmath.exp(log_c + (n - 1) * mpmath.log(u) - (R + n) * mpmath.log(A + u)
                              + s * (mpmath.log(B) - mpmath.log(B + u)))

        mode = (n - 1) * A / (R + 1)
        return float(mpmath.quad(density, [0, mode, t] if 0 < mode < t else [0, t]))


@pytest.mark.parametrize(("x", "T", "t"), [(0, 0.0, 52.0), (3, 20.0, 52.0), (30, 60.0, 5.0), (7, 1.0, 520.0),
                                           (80, 70.0, 52.0)])
def test_survival_of_an_alive_customer_matches_the_time_of_his_n_th_purchase(x, T, t):
    params = (0.5124, 10.72, 0.789, 23.59)
    model = ParetoNBDModel.from_params(**dict(zip(("r", "alpha", "s", "beta"), params)), time_unit="W")
    n = np.array([1.0, 2.0, 5.0, 10.0, 25.0, 60.0])
    got = model._survival_if_alive_values(model._params(), np.array([float(x)]), np.zeros(1), np.array([T]), t, n)[0]
    reference = [_survival_by_next_purchases(params, x, T, t, k) for k in n]
    np.testing.assert_allclose(got, reference, rtol=0, atol=5e-14)


def test_pmf_by_recursion_over_counts_equals_the_quadrature_per_count():
    """The fast path (ratio recursion at each node, 48 vs 24 points) and the quadrature in logs per count agree,
    also on the rows that leave the fast path (the rules disagree: many purchases; P(X = 0) may underflow)."""
    params = (0.5124, 10.72, 0.789, 23.59)
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.integers(0, 40, 200), [150.0, 300.0, 900.0]]).astype(float)
    T = np.concatenate([rng.uniform(0, 78, 200), [70.0, 10.0, 78.0]])
    for t in (5.0, 52.0, 520.0):
        fast = pareto_nbd.pareto_nbd_pmf_counts_if_alive(params, x, T, t, 120)
        slow = pareto_nbd.pareto_nbd_pmf_if_alive(params, x, T, t, np.arange(120.0))
        np.testing.assert_allclose(np.cumsum(fast, axis=1), np.cumsum(slow, axis=1), rtol=0, atol=1e-12)
