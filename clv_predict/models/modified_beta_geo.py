"""MBG/NBD: the modified beta-geometric/NBD model (Batislam, Denizel & Filiztekin 2007).

BG/NBD with one more chance to drop out: right after the first purchase, at
time 0, as after every repeat purchase. Given the purchase rate ``lambda`` and
the dropout probability ``p``, the likelihood of ``x`` repeat purchases, the
last at ``t_x``, in ``(0, T]`` is

    (1 - p)^(x+1) lambda^x e^(-lambda T)  +  p (1 - p)^x lambda^x e^(-lambda t_x)

(alive at ``T`` after ``x + 1`` chances to leave, or gone at the last purchase).
With ``lambda ~ Gamma(r, alpha)`` and ``p ~ Beta(a, b)`` each customer's
likelihood is

    B(a, b+x+1)/B(a, b) Gamma(r+x)/Gamma(r) alpha^r
        [(alpha+T)^-(r+x) + a/(b+x) (alpha+t_x)^-(r+x)],

so a customer without repeat purchases may have left too: his P(alive) is below 1.
A customer alive at ``T`` has ``lambda ~ Gamma(r+x, alpha+T)`` and
``p ~ Beta(a, b+x+1)``: he is a BG/NBD customer with ``b + 1`` in place of ``b``,
so the expectations reuse :func:`clv_predict._math.bgnbd_expected_if_alive`
(closed form with its quadrature fallbacks).

The per-customer functions here (:func:`log_likelihood`, :func:`probability_alive`,
:func:`expected_if_alive`, :func:`expected_new_customer`,
:func:`probability_of_n_purchases`) take ``params = (r, alpha, a, b)`` and are
what MBG/CNBD-k with ``k = 1`` reduces to.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy import stats
from scipy.special import betainc, betaln, digamma, expit, gammaln

from .. import _lifetimes, _math
from .._rows import _Cached, _codes, _dot
from ._base import PurchaseModel, _first_arrival_times
from ._bg_family import GeometricDropoutMixin


# --------------------------------------------------------------------------- formulas
def _log_odds_dead(params, x, t_x, T):
    """log of a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x): the odds that the customer has dropped out."""
    r, alpha, a, b = params
    x = np.asarray(x, dtype=float)
    return np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))


def log_likelihood(params, x, t_x, T):
    """Per-customer MBG/NBD log-likelihood of ``x`` repeat purchases, the last at ``t_x``, in ``(0, T]``.

    Parameters
    ----------
    params : sequence of float
        ``(r, alpha, a, b)``.
    x, t_x, T : array_like
        Repeat purchases, recency and age, in the unit of ``alpha``.

    Returns
    -------
    ndarray
        The log-likelihood of each customer.

    Examples
    --------
    >>> round(float(log_likelihood((0.525, 6.183, 0.891, 1.614), 0, 0.0, 38.86)), 4)
    -0.5398
    """
    r, alpha, a, b = params
    x = np.asarray(x, dtype=float)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x + 1) - betaln(a, b)
    stay = -(r + x) * np.log(alpha + np.asarray(T, dtype=float))
    leave = np.log(a) - np.log(b + x) - (r + x) * np.log(alpha + np.asarray(t_x, dtype=float))
    return common + np.logaddexp(stay, leave)


def probability_alive(params, x, t_x, T):
    """P(alive at ``T`` | x, t_x, T) = 1 / (1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x)), for every x including 0.

    Examples
    --------
    >>> round(float(probability_alive((0.525, 6.183, 0.891, 1.614), 0, 0.0, 38.86)), 4)
    0.3897
    """
    return expit(-_log_odds_dead(params, x, t_x, T))


def expected_if_alive(params, x, T, t):
    """Expected purchases in ``(T, T+t]`` of a customer alive at ``T`` with ``x`` repeat purchases.

    (a+b+x)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x+1; a+b+x; t/(alpha+T+t))], the
    integral over ``p ~ Beta(a, b+x+1)`` of (1 - (1 + p s)^-(r+x)) / p with s = t/(alpha+T): BG/NBD's
    with ``b + 1`` for ``b``, computed by the same robust routine.

    Examples
    --------
    >>> round(float(expected_if_alive((0.525, 6.183, 0.891, 1.614), 2, 38.86, 39.0)), 4)
    1.7884
    """
    r, alpha, a, b = params
    return _math.bgnbd_expected_if_alive((r, alpha, a, b + 1.0), x, T, t)


def conditional_expected(params, x, t_x, T, t):
    """E[X(T, T+t] | x, t_x, T]: P(alive) times :func:`expected_if_alive`."""
    return probability_alive(params, x, t_x, T) * expected_if_alive(params, x, T, t)


def expected_new_customer(params, t):
    """E[X(t)] = b/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b+1; a+b; t/(alpha+t))] for a new customer.

    He is alive just after his first purchase with probability b/(a+b) (P(alive)
    at x = t_x = T = 0) and then buys as an alive customer with x = 0, T = 0.

    Examples
    --------
    >>> round(float(expected_new_customer((0.525, 6.183, 0.891, 1.614), 52.0)), 4)
    1.4197
    """
    r, alpha, a, b = params
    return b / (a + b) * expected_if_alive(params, 0.0, 0.0, t)


def probability_of_n_purchases(params, t, n):
    """P(X(t) = n): probability that a new customer makes exactly ``n`` repeat purchases in ``t``.

    Given lambda and p: he leaves at once with probability p (n = 0); otherwise he
    makes n purchases and is still there, with probability (1-p)^(n+1) Pois(n; lambda t),
    or leaves right after the n-th, with probability p (1-p)^n P(Pois(lambda t) >= n). So

        P(X(t) = n) = B(a, b+n+1)/B(a, b) NBD(n) + B(a+1, b+n)/B(a, b) P(NBD >= n),

    NBD being the negative binomial of ``r`` and ``t/(alpha+t)``, whose tail is
    the regularized incomplete beta function I_(t/(alpha+t))(n, r).

    Examples
    --------
    >>> values = probability_of_n_purchases((0.525, 6.183, 0.891, 1.614), 52.0, [0, 1, 2])
    >>> values.round(4).tolist()
    [0.5543, 0.1828, 0.09]
    """
    r, alpha, a, b = params
    n = np.asarray(n, dtype=float)
    t = np.asarray(t, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_nbd = (
            gammaln(r + n) - gammaln(r) - gammaln(n + 1)
            + r * (np.log(alpha) - np.log(alpha + t)) + n * (np.log(t) - np.log(alpha + t))
        )
        nbd = np.where(n == 0, np.exp(r * (np.log(alpha) - np.log(alpha + t))), np.exp(log_nbd))
        tail = np.where(n == 0, 1.0, betainc(np.maximum(n, 1.0), r, t / (alpha + t)))
    stay = np.exp(betaln(a, b + n + 1) - betaln(a, b))
    leave = np.exp(betaln(a + 1, b + n) - betaln(a, b))
    out = stay * nbd + leave * tail
    return out if out.ndim else float(out)


# --------------------------------------------------------------------------- compressed rows
class ModifiedBetaGeoRows(_Cached):
    """Sum of weighted MBG/NBD log-likelihoods over rows (x, t_x, T) and its gradient in (r, alpha, a, b).

    Terms of ``x`` only (the gamma and beta functions) are evaluated once per
    distinct ``x``, the logarithms once per distinct ``T`` and ``t_x``.
    """

    def __init__(self, x, t_x, T, weights):
        super().__init__()
        x, t_x, T, weights = (np.asarray(v, dtype=float) for v in (x, t_x, T, weights))
        self.n = weights.sum()
        self.ix, self.ux = _codes(x)
        self.weight_of_x = np.bincount(self.ix, weights=weights, minlength=self.ux.size)
        self.iT, self.uT = _codes(T)
        self.it, self.ut = _codes(t_x)
        self.w, self.x = weights, x

    def _evaluate(self, params):
        r, alpha, a, b = params
        ux, Wx, n = self.ux, self.weight_of_x, self.n
        # log of Gamma(r+x)/Gamma(r) alpha^r B(a, b+x+1)/B(a, b), summed with the weight of each x
        value = Wx @ (gammaln(r + ux) + gammaln(b + ux + 1) - gammaln(a + b + ux + 1)) + n * (
            -gammaln(r) + r * np.log(alpha) + gammaln(a + b) - gammaln(b)
        )
        d_r = Wx @ digamma(r + ux) + n * (np.log(alpha) - digamma(r))
        d_alpha = n * r / alpha
        common = n * digamma(a + b) - Wx @ digamma(a + b + ux + 1)
        d_a = common
        d_b = common + Wx @ digamma(b + ux + 1) - n * digamma(b)

        # log[(alpha+T)^-(r+x) + a/(b+x) (alpha+t_x)^-(r+x)] = -(r+x) log(alpha+T) + log(1 + e^d)
        w = self.w
        log_T = np.log(alpha + self.uT)[self.iT]
        log_t = np.log(alpha + self.ut)[self.it]
        rx = self.x + r
        d = (np.log(a) - np.log(b + ux))[self.ix] - rx * (log_t - log_T)
        share = expit(d)  # weight of the "left at t_x" term in the likelihood
        value += _dot(w, np.logaddexp(0.0, d) - rx * log_T)
        ws = w * share
        wk = w - ws
        d_r -= _dot(wk, log_T) + _dot(ws, log_t)
        d_alpha -= _dot(wk * rx, (1.0 / (alpha + self.uT))[self.iT]) + _dot(ws * rx, (1.0 / (alpha + self.ut))[self.it])
        d_a += ws.sum() / a
        d_b -= _dot(ws, (1.0 / (b + ux))[self.ix])
        return float(value), np.array([d_r, d_alpha, d_a, d_b])


def row_log_likelihood(params, x, t_x, T):
    """Each row's MBG/NBD log-likelihood and its derivatives in (r, alpha, a, b), shape (4, n), parameters per row
    (the form of :func:`log_likelihood`)."""
    r, alpha, a, b = params
    log_T, log_t = np.log(alpha + T), np.log(alpha + t_x)
    rx = r + x
    d = np.log(a) - np.log(b + x) - rx * (log_t - log_T)
    share = expit(d)
    values = (
        gammaln(rx) - gammaln(r) + r * np.log(alpha) + gammaln(a + b) - gammaln(b) + gammaln(b + x + 1)
        - gammaln(a + b + x + 1) - rx * log_T + np.logaddexp(0.0, d)
    )
    common = digamma(a + b) - digamma(a + b + x + 1)
    gradient = np.array([
        digamma(rx) - digamma(r) + np.log(alpha) - (1 - share) * log_T - share * log_t,
        r / alpha - (1 - share) * rx / (alpha + T) - share * rx / (alpha + t_x),
        common + share / a,
        common + digamma(b + x + 1) - digamma(b) - share / (b + x),
    ])
    return values, gradient


# --------------------------------------------------------------------------- the model
class ModifiedBetaGeoModel(GeometricDropoutMixin, PurchaseModel):
    """The MBG/NBD model of repeat purchasing and dropout (Batislam, Denizel & Filiztekin 2007).

    While alive, a customer buys as a Poisson process with rate ``lambda``; at
    his first purchase and after each repeat purchase he drops out with
    probability ``p``. Across customers ``lambda ~ Gamma(r, alpha)`` and
    ``p ~ Beta(a, b)``. Unlike BG/NBD (:class:`BetaGeoModel`), a customer
    without repeat purchases may have dropped out, so his P(alive) falls below 1
    as time passes without a purchase.

    Parameters
    ----------
    penalizer_coef : float, default 0
        L2 penalty on the parameters (as lifetimes applies it); helps on small
        or degenerate data.
    engine : {"native", "lifetimes"}, default "native"
        "lifetimes" fits with lifetimes' ModifiedBetaGeoFitter (the reference);
        "native" maximises this package's log-likelihood with its analytic
        gradient on compressed rows (the same estimates).
    purchase_covariates : list of str, optional
        RFM-table columns acting on the purchase rate: alpha_i = alpha exp(-g_purchase' z_i), so a positive
        coefficient raises the purchase rate (Fader & Hardie's note on time-invariant covariates; CLVTools). Categorical
        columns are encoded against a reference level (see :mod:`clv_predict.covariates`); the coefficients are
        ``purchase:<column>`` (``purchase:channel[web]``) in ``params_``.
    dropout_covariates : list of str, optional
        Columns acting on dropout: a_i = a exp(g_dropout' z_i) and b_i = b exp(g_dropout' z_i)
        (as BG/NBD: the mean dropout probability a / (a + b) does not move); coefficients ``dropout:<column>``.
    constrain : list of str, optional
        Covariates of both lists with one coefficient for both processes (``purchase+dropout:<column>``).
    covariate_penalizer : float, default 0
        L2 penalty on the covariate coefficients alone.
    covariate_reference : dict, optional
        ``{column: level}``: reference levels (default: each column's most frequent level).
    unseen : {"error", "reference"}, default "error"
        At prediction, a covariate level not seen in training is an error, or counts as the reference level.

    Examples
    --------
    >>> from clv_predict import rfm_summary
    >>> from clv_predict.datasets import load_cdnow
    >>> log = load_cdnow()
    >>> rfm = rfm_summary(log[log["date"] <= "1997-09-30"], customer_id_col="customer_id",
    ...                   datetime_col="date", observation_period_end="1997-09-30", time_unit="W")
    >>> model = ModifiedBetaGeoModel().fit(rfm)
    >>> model.params_.round(3).to_dict()
    {'r': 0.525, 'alpha': 6.183, 'a': 0.891, 'b': 1.614}
    >>> round(model.log_likelihood_, 2)
    -9582.14
    >>> alive = model.probability_alive(rfm)
    >>> bool((alive[rfm["frequency"] == 0] < 1).all())  # one-time buyers may have left
    True
    """

    name = "mbg_nbd"
    label = "MBG/NBD"
    _param_names = ("r", "alpha", "a", "b")
    _shape_params = ("r", "a", "b")
    _edge_meaning = (
        "the data show (almost) no dropout or no spread in purchase rates, so MBG/NBD reduces to a simpler "
        "model and P(alive) carries little information."
    )
    _kind = "ModifiedBetaGeoModel"
    _lifetimes_engine = True

    # as BG/NBD (CLVTools' convention): alpha_i = alpha exp(-g_p'z); a_i = a exp(g_d'z), b_i = b exp(g_d'z)
    _covariate_links: ClassVar[dict] = {"alpha": ("purchase", -1.0), "a": ("dropout", 1.0), "b": ("dropout", 1.0)}
    _alive_takes_row_params = True  # P(alive) is elementwise in the parameters

    def _row_log_likelihood(self, params, columns):
        return row_log_likelihood(params, columns["frequency"], columns["recency"], columns["T"])

    def _make_rows(self, columns, weights):
        return ModifiedBetaGeoRows(columns["frequency"], columns["recency"], columns["T"], weights)

    def _lifetimes_fit(self, data, initial_log_params):
        unique = data["unique"]
        params = _lifetimes.fit_mbgnbd(
            unique["frequency"], unique["recency"], unique["T"], data["weights"], self.penalizer_coef,
            initial_log_params,
        )
        params[1] *= data["scale"]
        return params

    def _probability_alive_values(self, params, x, t_x, T):
        return probability_alive(params, x, t_x, T)

    def _expected_if_alive_values(self, params, x, t_x, T, t):
        return expected_if_alive(params, x, T, t)

    def _second_moment_if_alive_values(self, params, x, t_x, T, t):
        # alive at T, he is a BG/NBD customer with (r + x, alpha + T, a, b + x + 1): see expected_if_alive
        r, alpha, a, b = params
        x, T = np.asarray(x, dtype=float), np.asarray(T, dtype=float)
        return _math.bg_second_moment_if_alive(r + x, alpha + T, a, b + x + 1.0, t)

    def _expected_new_customer_values(self, params, t):
        return expected_new_customer(params, t)

    def _probability_of_n_values(self, params, t, n):
        return probability_of_n_purchases(params, t, n)

    def _alive_posterior(self, params, x, t_x, T):
        # alive at T: lambda ~ Gamma(r + x, alpha + T); he survived x + 1 chances to drop out: p ~ Beta(a, b + x + 1)
        r, alpha, a, b = params
        x, T = np.asarray(x, dtype=float), np.asarray(T, dtype=float)
        return np.ones((x.size, 1)), (r + x)[:, None], alpha + T, a, b + x + 1.0, 1

    def _simulate_repeat_times(self, params, horizons, rng):
        r, alpha, a, b = params
        rate = rng.gamma(r, 1.0 / alpha, horizons.size)
        dropout = rng.beta(a, b, horizons.size)
        # he takes part in the first J of the Poisson arrivals, J ~ Geometric(p) on 0, 1, ...: the number
        # of chances to leave (at time 0, then after each purchase) he survives; a p that underflowed to 0
        # (tiny a) is the smallest positive one, whose draw is numpy's largest integer: he never leaves
        arrivals = rng.poisson(rate * horizons)
        kept = np.minimum(arrivals, rng.geometric(np.maximum(dropout, np.finfo(float).tiny)) - 1)
        return _first_arrival_times(rng, arrivals, kept, horizons)

    def _dropout_distribution(self, params):
        a, b = params[2], params[3]
        return (
            stats.beta(a, b),
            "Probability of dropping out at the first purchase and after each",
            f"Beta(a={a:.3g}, b={b:.3g})",
            True,
        )
