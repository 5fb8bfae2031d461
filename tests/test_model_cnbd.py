"""BG/CNBD-k and MBG/CNBD-k (Platzer & Reutterer 2016): k = 1 is BG/NBD and MBG/NBD, the formulas against
numerical integration of the model's definition and simulation, k recovery, the CDNOW fits pinned."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from scipy.special import betaln, gammaln

from clv_predict import (
    BetaGeoCNBDModel,
    BetaGeoModel,
    CLVModel,
    DataError,
    ModifiedBetaGeoCNBDModel,
    load_model,
)
from clv_predict.models import purchase_model_class
from clv_predict.models.cnbd import (
    _expected_if_alive,
    cnbd_log_likelihood,
    cnbd_probability_alive,
)

TRAIN_END = "1997-09-30"

MODELS = (BetaGeoCNBDModel, ModifiedBetaGeoCNBDModel)

#: a grid of customers, from none to heavy buyers, with and without a gap since the last purchase
GRID = pd.DataFrame(
    {
        "frequency": [0, 0, 1, 2, 5, 5, 12, 30, 60],
        "recency": [0.0, 0.0, 3.0, 30.0, 10.0, 38.0, 36.5, 38.9, 39.0],
        "T": [5.0, 39.0, 39.0, 39.0, 39.0, 39.0, 39.0, 39.0, 39.0],
    }
)


@pytest.fixture(scope="module")
def cdnow_fits(cdnow_rfm):
    return {cls: cls().fit(cdnow_rfm) for cls in MODELS}


# --------------------------------------------------------------------------- k = 1: BG/NBD and MBG/NBD
def test_bg_cnbd_1_is_bg_nbd(cdnow_rfm, cdnow_fits):
    bg = BetaGeoModel().fit(cdnow_rfm)
    fitted = cdnow_fits[BetaGeoCNBDModel]
    assert fitted.params_["k"] == 1
    np.testing.assert_allclose(fitted.params_[["r", "alpha", "a", "b"]], bg.params_, rtol=1e-6)
    assert fitted.log_likelihood_ == pytest.approx(bg.log_likelihood_, abs=1e-6)
    one = BetaGeoCNBDModel.from_params(**bg.params_, k=1)
    np.testing.assert_allclose(one.probability_alive(cdnow_rfm), bg.probability_alive(cdnow_rfm), rtol=1e-12)
    np.testing.assert_allclose(one.expected_purchases(cdnow_rfm, 39), bg.expected_purchases(cdnow_rfm, 39), rtol=1e-12)
    assert one.expected_purchases_new_customer(52) == pytest.approx(bg.expected_purchases_new_customer(52), rel=1e-12)
    n = np.arange(12)
    np.testing.assert_allclose(one.probability_of_n_purchases(39, n), bg.probability_of_n_purchases(39, n), rtol=1e-9)
    # the likelihood at every customer, not only its sum
    from clv_predict._math import bgnbd_log_likelihood

    x, t_x, T = (cdnow_rfm[c].to_numpy() for c in ("frequency", "recency", "T"))
    np.testing.assert_allclose(
        cnbd_log_likelihood((*bg.params_, 1), x, t_x, T, cdnow_rfm["litt"], modified=False),
        bgnbd_log_likelihood(bg.params_.to_numpy(), x, t_x, T), rtol=1e-12,
    )


def _mbgnbd_log_likelihood(params, x, t_x, T):
    """MBG/NBD (Batislam, Denizel & Filiztekin 2007), written out here."""
    r, alpha, a, b = params
    return (
        betaln(a, b + x + 1) - betaln(a, b) + gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        - (r + x) * np.log(alpha + T) + np.log1p(a / (b + x) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    )


def test_mbg_cnbd_1_is_mbg_nbd(cdnow_rfm, cdnow_fits):
    fitted = cdnow_fits[ModifiedBetaGeoCNBDModel]
    assert fitted.params_["k"] == 1
    params = fitted.params_[["r", "alpha", "a", "b"]].to_numpy()
    x, t_x, T = (cdnow_rfm[c].to_numpy() for c in ("frequency", "recency", "T"))
    np.testing.assert_allclose(
        cnbd_log_likelihood((*params, 1), x, t_x, T, cdnow_rfm["litt"], modified=True),
        _mbgnbd_log_likelihood(params, x, t_x, T), rtol=1e-12,
    )
    assert fitted.log_likelihood_ == pytest.approx(_mbgnbd_log_likelihood(params, x, t_x, T).sum(), abs=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifetimes import ModifiedBetaGeoFitter

        reference = ModifiedBetaGeoFitter()
        reference.params_ = pd.Series(dict(zip(("r", "alpha", "a", "b"), params)))
        alive = reference.conditional_probability_alive(x, t_x, T)
        expected = reference.conditional_expected_number_of_purchases_up_to_time(39, x, t_x, T)
        new = reference.expected_number_of_purchases_up_to_time(52)
    np.testing.assert_allclose(fitted.probability_alive(cdnow_rfm), alive, rtol=1e-10)
    np.testing.assert_allclose(fitted.expected_purchases(cdnow_rfm, 39), expected, rtol=1e-7)
    assert fitted.expected_purchases_new_customer(52) == pytest.approx(new, rel=1e-7)


# --------------------------------------------------------------------------- formulas against integration
def _over_rate(function, r, alpha, centre):
    """E over lambda ~ Gamma(r, alpha) of function(lambda), by adaptive quadrature (``centre``: where the
    integrand's mass is)."""
    def integrand(lam):
        return function(lam) * stats.gamma.pdf(lam, r, scale=1 / alpha)

    pieces = [(0.0, centre / 4), (centre / 4, centre), (centre, 4 * centre), (4 * centre, np.inf)]
    return sum(integrate.quad(integrand, low, high, epsabs=0, epsrel=1e-11, limit=200)[0] for low, high in pieces)


def _beta_moment(a, b, power):
    """E[(1 - p)^power] for p ~ Beta(a, b): B(a, b + power) / B(a, b)."""
    return np.exp(betaln(a, b + power) - betaln(a, b))


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize("k", [2, 3])
def test_likelihood_and_p_alive_against_integration(cls, k):
    """The model's definition for given lambda and p: densities of the x Erlang-k gaps, then either no purchase
    by T while alive (probability (1 - p)^(x + m) times the Erlang survival of T - t_x), or dropout after the
    last purchase (p (1 - p)^(x - 1 + m)); m = 1 for MBG. Integrated over the priors numerically."""
    r, alpha, a, b = 2.5, 8.0, 1.3, 3.0
    litt = 1.7
    m = int(cls._modified)
    for x, t_x, T in [(0, 0.0, 20.0), (1, 6.0, 20.0), (3, 19.0, 20.0), (8, 12.0, 20.0), (25, 19.5, 20.0)]:
        log_gaps = (k - 1) * litt - x * gammaln(k)
        centre = (r + k * x) / (alpha + T)

        def gaps(lam, x=x, t_x=t_x):
            return lam ** (k * x) * np.exp(-lam * t_x)

        alive = _over_rate(lambda lam: gaps(lam) * stats.gamma.sf(T - t_x, k, scale=1 / lam), r, alpha, centre)
        alive *= np.exp(log_gaps) * _beta_moment(a, b, x + m)
        if x > 0 or m:
            dead = _over_rate(gaps, r, alpha, centre) * np.exp(log_gaps)
            dead *= _beta_moment(a, b, x - 1 + m) - _beta_moment(a, b, x + m)  # E[p (1 - p)^(x - 1 + m)]
        else:
            dead = 0.0
        ours = cnbd_log_likelihood((r, alpha, a, b, k), x, t_x, T, litt, modified=bool(m))
        assert ours == pytest.approx(np.log(alive + dead), rel=1e-8)
        assert cnbd_probability_alive((r, alpha, a, b, k), x, t_x, T, modified=bool(m)) == pytest.approx(
            alive / (alive + dead), rel=1e-8
        )


@pytest.mark.parametrize("modified", [False, True])
def test_expected_if_alive_against_integration(modified):
    """Given alive at T and lambda: j phases of the current gap done with probability proportional to
    (lambda u)^j / j!; the m-th future purchase needs m k - j Poisson(lambda t) phases and survival,
    E[(1 - p)^(m - 1)] under the posterior of p. Integrated over the posterior of lambda with a Gauss rule."""
    from scipy.special import roots_genlaguerre

    r, alpha, a, b, k = 1.5, 6.0, 1.4, 2.5, 3
    t = 26.0
    m = np.arange(1, 150)
    j = np.arange(k)
    for x, t_x, T in [(0, 0.0, 0.0), (2, 10.0, 30.0), (20, 29.0, 30.0)]:
        u = T - t_x
        # posterior of p given alive: Beta(a, b + x + modified); its moments by quadrature
        survive = np.array([_beta_moment(a, b + x + modified, power) for power in m - 1])
        estimates = []
        for size in (120, 160):
            # lambda^(r + kx - 1) exp(-lambda (alpha + T)) is the rule's weight; the rest is evaluated
            nodes, weights = roots_genlaguerre(size, r + k * x - 1)
            lam = nodes / (alpha + T)
            phases = (lam[:, None] * u) ** j / np.exp(gammaln(j + 1))  # (nodes, j)
            tails = stats.poisson.sf(m[None, None, :] * k - j[None, :, None] - 1, lam[:, None, None] * t)
            future = np.einsum("nj,njm,m->n", phases, tails, survive)
            estimates.append((weights @ future) / (weights @ phases.sum(axis=1)))
        assert estimates[0] == pytest.approx(estimates[1], rel=1e-10)
        ours = _expected_if_alive((r, alpha, a, b, k), x, t_x, T, t, modified=modified)
        assert ours == pytest.approx(estimates[1], rel=1e-8)


def _simulate_paths(model, n, calibration, holdout, seed):
    """Calibration summaries at ``calibration`` and purchases in the following ``holdout`` of simulated customers."""
    owner, times = model._simulate_repeat_times(model._params(), np.full(n, calibration + holdout),
                                                np.random.default_rng(seed))
    before = times <= calibration
    frequency = np.bincount(owner[before], minlength=n)
    recency = np.zeros(n)
    np.maximum.at(recency, owner[before], times[before])
    future = np.bincount(owner[~before], minlength=n)
    rfm = pd.DataFrame({"frequency": frequency, "recency": recency, "T": calibration})
    return rfm, future


@pytest.mark.parametrize("cls", MODELS)
def test_conditional_expectation_matches_simulation(cls):
    """Averages of P(alive) x expected purchases in groups of customers against their simulated future."""
    model = cls.from_params(r=1.2, alpha=12.0, a=1.5, b=4.0, k=3, time_unit="W")
    rfm, future = _simulate_paths(model, 60_000, 40.0, 30.0, seed=3)
    predicted = model.expected_purchases(rfm, 30.0).to_numpy()
    groups = np.minimum(rfm["frequency"].to_numpy(), 6) * 2 + (rfm["recency"].to_numpy() > 30)
    for group in np.unique(groups):
        members = groups == group
        if members.sum() < 500:
            continue
        error = future[members].std() / np.sqrt(members.sum())
        assert predicted[members].mean() == pytest.approx(future[members].mean(), abs=4 * error + 1e-3)
    assert predicted.sum() == pytest.approx(future.sum(), rel=0.02)


@pytest.mark.parametrize("cls", MODELS)
def test_new_customer_distribution(cls):
    model = cls.from_params(r=0.8, alpha=5.0, a=0.9, b=2.0, k=2, time_unit="W")
    n = np.arange(200)
    pmf = model.probability_of_n_purchases(52, n)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-10)
    assert pmf @ n == pytest.approx(model.expected_purchases_new_customer(52), rel=1e-8)
    simulated = model.simulate(100_000, 52.0, seed=4)["frequency"].to_numpy()
    observed = np.bincount(simulated, minlength=200)[:6] / simulated.size
    np.testing.assert_allclose(observed, pmf[:6], atol=0.004)


# --------------------------------------------------------------------------- fitting
@pytest.mark.parametrize(("cls", "true_k"), [(BetaGeoCNBDModel, 3), (ModifiedBetaGeoCNBDModel, 2)])
def test_k_search_recovers_k_and_parameters(cls, true_k):
    truth = {"r": 0.9, "alpha": 12.0, "a": 0.8, "b": 2.5}
    sim = cls.from_params(**truth, k=true_k, time_unit="W").simulate(15_000, 78.0, seed=11)
    fitted = cls().fit(sim)
    assert fitted.params_["k"] == true_k
    assert fitted.k_search_.idxmax() == true_k
    assert fitted.convergence_["k"] == true_k
    for name, value in truth.items():
        assert abs(fitted.params_[name] - value) < 4 * fitted.standard_errors_[name], name
    assert fitted.covariance_.index.tolist() == ["r", "alpha", "a", "b", "k"]
    assert np.isnan(fitted.standard_errors_["k"])


def test_cdnow_fits_pinned(cdnow_rfm, cdnow_fits):
    """On CDNOW the k search picks k = 1 for both (purchase timing there is not regular): the fits are BG/NBD's
    (r 0.243, alpha 4.414, a 0.793, b 2.426) and MBG/NBD's; k = 2 and 3 are far worse."""
    bg, mbg = cdnow_fits[BetaGeoCNBDModel], cdnow_fits[ModifiedBetaGeoCNBDModel]
    assert bg.params_.round(3).to_dict() == {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "k": 1.0}
    assert bg.log_likelihood_ == pytest.approx(-9582.43, abs=0.01)
    assert mbg.params_.round(3).to_dict() == {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614, "k": 1.0}
    assert mbg.log_likelihood_ == pytest.approx(-9582.14, abs=0.01)
    np.testing.assert_allclose(bg.k_search_.to_numpy(), [-9582.43, -9855.33, -10393.57], atol=0.01)
    np.testing.assert_allclose(mbg.k_search_.to_numpy(), [-9582.14, -9853.25, -10394.36], atol=0.01)
    fixed = BetaGeoCNBDModel(k=2).fit(cdnow_rfm)
    assert fixed.log_likelihood_ == pytest.approx(-9855.33, abs=0.01)
    assert fixed.params_["k"] == 2 and fixed.convergence_["k_search"] == "k given"


def test_clv_model_with_bg_cnbd_k(cdnow_rfm, tmp_path):
    clv = CLVModel(purchase_model="bg_cnbd_k").fit(cdnow_rfm)
    assert clv.purchase_model_.params_["k"] == 1
    predicted = clv.predict(cdnow_rfm, horizon=52, discount_rate=0.01)
    assert np.isfinite(predicted.to_numpy(dtype=float)).all()
    clv.save(tmp_path / "clv.joblib")
    loaded = load_model(tmp_path / "clv.joblib")
    pd.testing.assert_frame_equal(loaded.predict(cdnow_rfm, horizon=52, discount_rate=0.01), predicted)
    # a fixed k travels in the settings and saved file
    model = ModifiedBetaGeoCNBDModel(k=2).fit(cdnow_rfm)
    model.save(tmp_path / "mbg.joblib")
    again = load_model(tmp_path / "mbg.joblib")
    assert again.k == 2 and again.params_["k"] == 2
    pd.testing.assert_series_equal(again.expected_purchases(cdnow_rfm, 26), model.expected_purchases(cdnow_rfm, 26))


def test_registry_and_from_params():
    assert purchase_model_class("bg_cnbd_k") is BetaGeoCNBDModel
    assert purchase_model_class("mbg_cnbd_k") is ModifiedBetaGeoCNBDModel
    model = BetaGeoCNBDModel.from_params(r=1.0, alpha=5.0, a=1.0, b=2.0, k=2)
    assert model.params_.index.tolist() == ["r", "alpha", "a", "b", "k"] and model.k == 2
    again = BetaGeoCNBDModel.from_params(**model.params_)
    pd.testing.assert_series_equal(again.params_, model.params_)


def test_errors(cdnow_rfm):
    with pytest.raises(DataError, match="regularity=True"):
        BetaGeoCNBDModel().fit(cdnow_rfm.drop(columns="litt"))
    with pytest.raises(DataError, match="'k' must be a whole number"):
        BetaGeoCNBDModel(k=1.5).fit(cdnow_rfm)
    with pytest.raises(DataError, match="'k' must be a whole number"):
        ModifiedBetaGeoCNBDModel(k=0).fit(cdnow_rfm)
    with pytest.raises(DataError, match="needs the regularity 'k'"):
        BetaGeoCNBDModel.from_params(r=1.0, alpha=5.0, a=1.0, b=2.0)
    with pytest.raises(DataError, match="engine='lifetimes'"):
        BetaGeoCNBDModel(engine="lifetimes").fit(cdnow_rfm)
