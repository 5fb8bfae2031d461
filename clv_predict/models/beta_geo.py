"""BG/NBD: the beta-geometric/NBD model of repeat purchasing (Fader, Hardie & Lee 2005).

Its formulas are in :mod:`clv_predict._math` (shared with the MBG/NBD and CNBD-k
models, whose expectations solve the same kind of integral) and, rearranged
for compressed rows, in :mod:`clv_predict._rows`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy import stats
from scipy.special import digamma, expit, gammaln

from .. import _lifetimes, _math, _rows
from ._base import PurchaseModel, _first_arrival_times
from ._bg_family import GeometricDropoutMixin


def bgnbd_row_log_likelihood(params, x, t_x, T):
    """Each row's BG/NBD log-likelihood and its derivatives in (r, alpha, a, b), shape (4, n), parameters per row.

    Equation (6) of Fader, Hardie & Lee (2005), the form of :func:`clv_predict._math.bgnbd_log_likelihood`.
    """
    r, alpha, a, b = params
    repeat = x > 0
    log_T, log_t = np.log(alpha + T), np.log(alpha + t_x)
    rx = r + x
    b_x = b + np.maximum(x, 1) - 1
    with np.errstate(divide="ignore"):
        d = np.where(repeat, np.log(a) - np.log(b_x) - rx * (log_t - log_T), -np.inf)
    share = expit(d)
    values = (
        gammaln(rx) - gammaln(r) + r * np.log(alpha) + gammaln(a + b) + gammaln(b + x) - gammaln(b)
        - gammaln(a + b + x) - rx * log_T + np.logaddexp(0.0, d)
    )
    common = digamma(a + b) - digamma(a + b + x)
    gradient = np.array([
        digamma(rx) - digamma(r) + np.log(alpha) - (1 - share) * log_T - share * log_t,
        r / alpha - (1 - share) * rx / (alpha + T) - share * rx / (alpha + t_x),
        common + share / a,
        common + digamma(b + x) - digamma(b) - share / b_x,
    ])
    return values, gradient


class BetaGeoModel(GeometricDropoutMixin, PurchaseModel):
    """The BG/NBD model of repeat purchasing and dropout (Fader, Hardie & Lee 2005).

    While alive, a customer buys as a Poisson process with rate ``lambda``;
    after each purchase he drops out with probability ``p``. Across customers
    ``lambda ~ Gamma(r, alpha)`` and ``p ~ Beta(a, b)``. A customer without
    repeat purchases cannot have dropped out, so his P(alive) is 1 (see
    :class:`ModifiedBetaGeoModel` for the variant that lets him).

    Parameters
    ----------
    penalizer_coef : float, default 0
        L2 penalty on the parameters (as lifetimes applies it); helps on small
        or degenerate data.
    engine : {"native", "lifetimes"}, default "native"
        "lifetimes" fits with lifetimes' BetaGeoFitter (the reference);
        "native" (the default) maximises this package's vectorised log-likelihood with its
        analytic gradient on the compressed rows: the same estimates (tests
        hold it to lifetimes at 1e-5), several times faster at millions of
        customers.
    purchase_covariates : list of str, optional
        RFM-table columns acting on the purchase rate: alpha_i = alpha exp(-g_purchase' z_i), so a positive
        coefficient raises the purchase rate (Fader & Hardie's note on time-invariant covariates; CLVTools). Categorical
        columns are encoded against a reference level (see :mod:`clv_predict.covariates`); the coefficients are
        ``purchase:<column>`` (``purchase:channel[web]``) in ``params_``.
    dropout_covariates : list of str, optional
        Columns acting on dropout: a_i = a exp(g_dropout' z_i) and b_i = b exp(g_dropout' z_i)
        (CLVTools' convention: the mean dropout probability a / (a + b) does not move; a positive coefficient
        narrows the spread of p around it); coefficients ``dropout:<column>``.
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
    >>> model = BetaGeoModel().fit(rfm)
    >>> model.params_.round(3).to_dict()
    {'r': 0.243, 'alpha': 4.414, 'a': 0.793, 'b': 2.426}
    >>> round(model.log_likelihood_, 1)
    -9582.4
    """

    name = "bg_nbd"
    label = "BG/NBD"
    one_time_buyers_alive_alternative = "mbg_nbd"  # P(alive) = 1 without a repeat purchase
    _param_names = ("r", "alpha", "a", "b")
    _shape_params = ("r", "a", "b")
    _edge_meaning = (
        "the data show (almost) no dropout or no spread in purchase rates, so BG/NBD reduces to a simpler "
        "model and P(alive) carries little information."
    )
    _kind = "BetaGeoModel"
    _lifetimes_engine = True
    # CLVTools' bgnbd with static covariates: alpha_i = alpha exp(-g_p'z); a_i = a exp(g_d'z), b_i = b exp(g_d'z)
    _covariate_links: ClassVar[dict] = {"alpha": ("purchase", -1.0), "a": ("dropout", 1.0), "b": ("dropout", 1.0)}
    _alive_takes_row_params = True  # P(alive) is elementwise in the parameters

    def _row_log_likelihood(self, params, columns):
        return bgnbd_row_log_likelihood(params, columns["frequency"], columns["recency"], columns["T"])

    def _make_rows(self, columns, weights):
        return _rows.BetaGeoRows(columns["frequency"], columns["recency"], columns["T"], weights)

    def _lifetimes_fit(self, data, initial_log_params):
        # lifetimes rescales T to a maximum of 1 itself; give it the original units
        unique = data["unique"]
        params = _lifetimes.fit_bgnbd(
            unique["frequency"], unique["recency"], unique["T"], data["weights"], self.penalizer_coef,
            initial_log_params,
        )
        params[1] *= data["scale"]
        return params

    def _probability_alive_values(self, params, x, t_x, T):
        return _math.bgnbd_probability_alive(params, x, t_x, T)

    def _expected_if_alive_values(self, params, x, t_x, T, t):
        return _math.bgnbd_expected_if_alive(params, x, T, t)

    def _second_moment_if_alive_values(self, params, x, t_x, T, t):
        r, alpha, a, b = params
        x, T = np.asarray(x, dtype=float), np.asarray(T, dtype=float)
        return _math.bg_second_moment_if_alive(r + x, alpha + T, a, b + x, t)

    def _expected_new_customer_values(self, params, t):
        return _math.bgnbd_unconditional_expected(params, t)

    def _probability_of_n_values(self, params, t, n):
        return _math.bgnbd_probability_of_n_purchases(params, t, n)

    def _alive_posterior(self, params, x, t_x, T):
        # alive at T: lambda ~ Gamma(r + x, alpha + T), and he survived x chances to drop out: p ~ Beta(a, b + x)
        r, alpha, a, b = params
        x, T = np.asarray(x, dtype=float), np.asarray(T, dtype=float)
        return np.ones((x.size, 1)), (r + x)[:, None], alpha + T, a, b + x, 1

    def _simulate_repeat_times(self, params, horizons, rng):
        r, alpha, a, b = params
        rate = rng.gamma(r, 1.0 / alpha, horizons.size)
        dropout = rng.beta(a, b, horizons.size)
        # the customer takes part in the first J of the Poisson arrivals, J ~ Geometric(p) being the
        # purchase after which he drops out
        arrivals = rng.poisson(rate * horizons)
        kept = np.minimum(arrivals, rng.geometric(dropout))
        return _first_arrival_times(rng, arrivals, kept, horizons)

    def _dropout_distribution(self, params):
        a, b = params[2], params[3]
        return stats.beta(a, b), "Probability of dropping out after a purchase", f"Beta(a={a:.3g}, b={b:.3g})", True
