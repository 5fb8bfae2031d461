"""BG/NBD: the beta-geometric/NBD model of repeat purchasing (Fader, Hardie & Lee 2005).

Its formulas are in :mod:`clv_predict._math` (shared with the MBG/NBD and CNBD-k
models, whose expectations solve the same kind of integral) and, rearranged
for compressed rows, in :mod:`clv_predict._rows`.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .. import _lifetimes, _math, _rows
from ._base import PurchaseModel, _first_arrival_times


class BetaGeoModel(PurchaseModel):
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

    def _expected_new_customer_values(self, params, t):
        return _math.bgnbd_unconditional_expected(params, t)

    def _probability_of_n_values(self, params, t, n):
        return _math.bgnbd_probability_of_n_purchases(params, t, n)

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
