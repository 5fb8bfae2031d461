"""The conditional distributions of the BG family (BG/NBD, MBG/NBD, BG/CNBD-k, MBG/CNBD-k), once.

A model of the family declares ``_alive_posterior(params, x, t_x, T)``: given the
customer alive at ``T``, the mixture over the phases of his current
inter-purchase time already done (weights and Gamma shapes of the purchase
rate, ``(D, k)``), the rate's ``A`` and the Beta(a, B) posterior of the dropout
probability. The protocol's hooks then follow from the formulas in
:mod:`clv_predict._math` (``bg_family_*``).
"""

from __future__ import annotations

import numpy as np

from .. import _math


class GeometricDropoutMixin:
    """The ``PurchaseModel`` hooks of the conditional distributions for models whose customers drop out
    after a purchase with a Beta-distributed probability and buy as Erlang-k phases of a Gamma rate."""

    def _alive_posterior(self, params, x, t_x, T):
        """(weights (D, k), shapes (D, k), A (D,), a, B (D,), k) given alive at T."""
        raise NotImplementedError

    def _survival_if_alive_values(self, params, x, t_x, T, t, n):
        weights, shapes, A, a, B, k = self._alive_posterior(params, x, t_x, T)
        return _math.bg_family_survival_if_alive(weights, shapes, A, a, B, k, t, n)

    def _future_alive_values(self, params, x, t_x, T, t):
        p_alive = np.asarray(self._probability_alive_values(params, x, t_x, T), dtype=float)
        weights, shapes, A, a, B, k = self._alive_posterior(params, x, t_x, T)
        return p_alive * _math.bg_family_still_alive(weights, shapes, A, a, B, k, t)

    def _next_purchase_values(self, params, x, t_x, T, times):
        # a customer alive at T buys again for sure (dropout comes only right after a purchase)
        p_alive = np.asarray(self._probability_alive_values(params, x, t_x, T), dtype=float)
        weights, shapes, A, _, _, k = self._alive_posterior(params, x, t_x, T)
        cdf = _math.bg_family_next_purchase_cdf(weights, shapes, A, k, times)
        return p_alive, cdf, _math.bg_family_next_purchase_mean(weights, shapes, A, k)
