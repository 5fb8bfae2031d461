"""sBG: the shifted-beta-geometric model of contract renewals (Fader & Hardie 2007, 2010).

References: P. S. Fader and B. G. S. Hardie, "How to project customer retention",
Journal of Interactive Marketing 21(1), 2007; "Customer-base valuation in a
contractual setting: the perils of ignoring heterogeneity", Marketing Science
29(1), 2010 (DERL).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma

from .._rows import _Cached
from .._validation import check_nonnegative_number
from ..discrete import check_contract_summary, check_whole_number, survivor_summary
from ..exceptions import DataError
from ._discrete import _DiscreteModel, hyp2f1_one


class _ShiftedBetaGeoRows(_Cached):
    """Sum of weighted sBG log-likelihoods over rows (T, churned) and its gradient in (alpha, beta).

    A churned customer contributes P(lifetime = T) = B(alpha + 1, beta + T - 1) / B(alpha, beta),
    one still active S(T) = P(lifetime > T) = B(alpha, beta + T) / B(alpha, beta).
    """

    def __init__(self, T, churned, weights):
        super().__init__()
        T, churned = np.asarray(T, dtype=float), np.asarray(churned, dtype=float) > 0
        self.w = np.asarray(weights, dtype=float)
        # as B(alpha + c, beta + m) with c = 1, m = T - 1 (churned) or c = 0, m = T (active)
        self.c = churned.astype(float)
        self.m = np.where(churned, T - 1, T)

    def _evaluate(self, params):
        a, b = params
        c, m, w = self.c, self.m, self.w
        value = w @ (betaln(a + c, b + m) - betaln(a, b))
        common = digamma(a + b) - digamma(a + b + c + m)
        d_a = w @ (digamma(a + c) - digamma(a) + common)
        d_b = w @ (digamma(b + m) - digamma(b) + common)
        return float(value), np.array([d_a, d_b])


class ShiftedBetaGeoModel(_DiscreteModel):
    """The shifted-beta-geometric model of contract renewals (Fader & Hardie 2007).

    At the end of each contract period a customer fails to renew with
    probability ``theta``, the same every period; across customers
    ``theta ~ Beta(alpha, beta)``. Retention rises with tenure because the
    customers likely to churn leave first.

    It is fitted on a contract summary with one row per customer: ``T``, the
    periods completed, and ``churned``, whether the customer did not renew at
    the end of period ``T`` (see :func:`clv_predict.discrete.check_contract_summary`),
    or on the number of survivors of a cohort at the start of each period
    (:meth:`fit_survivors`).

    Parameters
    ----------
    penalizer_coef : float, default 0
        L2 penalty on the parameters.
    engine : {"native"}
        The optimiser (the model has only this package's own).

    Examples
    --------
    >>> from clv_predict import ShiftedBetaGeoModel
    >>> model = ShiftedBetaGeoModel().fit_survivors([1000, 631, 468, 382, 326, 289, 262, 241])
    >>> model.params_.round(3).to_dict()
    {'alpha': 0.704, 'beta': 1.182}
    >>> (1000 * model.survival_function([8, 9, 10])).round().tolist()
    [220.0, 204.0, 191.0]
    """

    label = "sBG"
    _kind = "ShiftedBetaGeoModel"
    _param_names = ("alpha", "beta")
    _shape_params = ("alpha", "beta")
    _edge_meaning = "the data show (almost) no churn or no spread in churn probabilities across customers."
    _fit_columns = ("T", "churned")
    #: The contract period (pandas alias) of the summary it was fitted on, when the summary stated it.
    period_ = None

    def fit(self, summary: pd.DataFrame, weights=None):
        """Fit by maximum likelihood on a contract summary (``T``, ``churned``).

        ``weights`` (a column name or an array) says how many customers each row
        stands for; the default is one per row.
        """
        checked = check_contract_summary(summary)
        self._fit_rows(summary, checked, weights, events="churned")
        self.period_ = summary.attrs.get("contract_period")
        self.observation_period_end_ = summary.attrs.get("observation_period_end")
        return self

    def fit_survivors(self, survivors):
        """Fit on a cohort's survivors: ``survivors[t]`` customers still active at the start of period ``t + 1``.

        ``survivors[0]`` is the cohort's size; ``survivors[t - 1] - survivors[t]``
        customers churned at the end of period ``t``; the last number are still active.
        """
        summary = survivor_summary(survivors)
        return self.fit(summary, weights="weights")

    def _make_rows(self, columns, weights):
        return _ShiftedBetaGeoRows(columns["T"], columns["churned"], weights)

    # ------------------------------------------------------------------ predictions
    def survival_function(self, periods) -> pd.Series:
        """S(t) = P(still a customer after ``t`` periods) = B(alpha, beta + t) / B(alpha, beta), by tenure ``t``."""
        t = _periods(periods, "periods")
        a, b = self._params()
        return pd.Series(np.exp(betaln(a, b + t) - betaln(a, b)), index=pd.Index(t.astype(np.int64), name="period"),
                         name="survival")

    def retention_rate(self, periods) -> pd.Series:
        """r(t) = S(t) / S(t - 1) = (beta + t - 1) / (alpha + beta + t - 1): the share of customers active in
        period ``t - 1`` who renew for period ``t`` (``t >= 1``)."""
        t = _periods(periods, "periods", minimum=1)
        a, b = self._params()
        return pd.Series((b + t - 1) / (a + b + t - 1), index=pd.Index(t.astype(np.int64), name="period"),
                         name="retention_rate")

    def expected_lifetime(self) -> float:
        """The mean number of periods a new customer stays, ``(alpha + beta - 1) / (alpha - 1)``.

        Infinite when ``alpha <= 1``: the survival curve then falls so slowly (as
        ``t ** -alpha``) that its sum diverges, though most customers leave early;
        :meth:`median_lifetime` is the figure to quote then.

        Examples
        --------
        >>> round(ShiftedBetaGeoModel.from_params(alpha=3.80, beta=15.20).expected_lifetime(), 3)
        6.429
        >>> ShiftedBetaGeoModel.from_params(alpha=0.704, beta=1.182).expected_lifetime()
        inf
        """
        a, b = self._params()
        return float("inf") if a <= 1 else float((a + b - 1) / (a - 1))

    def median_lifetime(self) -> int:
        """The smallest number of periods ``t`` with S(t) <= 1/2: half of a new cohort has left after it.

        Examples
        --------
        >>> ShiftedBetaGeoModel.from_params(alpha=0.704, beta=1.182).median_lifetime()
        2
        """
        a, b = self._params()
        low, high = 0, 1
        while np.exp(betaln(a, b + high) - betaln(a, b)) > 0.5:
            low, high = high, high * 2
        while high - low > 1:
            middle = (low + high) // 2
            if np.exp(betaln(a, b + middle) - betaln(a, b)) > 0.5:
                low = middle
            else:
                high = middle
        return int(high)

    def expected_residual_lifetime(self, summary: pd.DataFrame, *, discount_rate: float) -> pd.Series:
        """DERL: discounted expected residual lifetime, per customer (Fader & Hardie 2010, eq. 6).

        For a customer active after ``T`` completed periods, the expected number
        of further periods (renewals) he pays for, the one starting now
        undiscounted and the ``k``-th after it discounted by
        ``(1 + discount_rate) ** -k``:
        ``(beta + T) / (alpha + beta + T) * 2F1(1, beta + T + 1; alpha + beta + T + 1; 1 / (1 + d))``.
        Customers who churned have 0. Multiply by the margin per period for the
        residual value.

        Examples
        --------
        >>> import pandas as pd
        >>> model = ShiftedBetaGeoModel.from_params(alpha=3.80, beta=15.20)
        >>> summary = pd.DataFrame({"T": [0, 1, 2, 3, 4], "churned": False})
        >>> model.expected_residual_lifetime(summary, discount_rate=0.1).round(2).tolist()
        [3.31, 3.45, 3.59, 3.72, 3.84]
        """
        discount_rate = check_nonnegative_number(discount_rate, "discount_rate", allow_zero=False)
        checked = check_contract_summary(summary)
        T = checked["T"].to_numpy()
        a, b = self._params()
        values = (b + T) / (a + b + T) * hyp2f1_one(b + T + 1, a + b + T + 1, 1.0 / (1.0 + discount_rate))
        values[checked["churned"].to_numpy() > 0] = 0.0
        return pd.Series(values, index=checked.index, name="expected_residual_lifetime")

    # ------------------------------------------------------------------ simulation
    def simulate(self, n_customers: int, n_periods: int, *, seed=None) -> pd.DataFrame:
        """Draw contract summaries of ``n_customers`` acquired together and observed for ``n_periods`` periods.

        Examples
        --------
        >>> ShiftedBetaGeoModel.from_params(alpha=0.704, beta=1.182).simulate(3, 7, seed=1).columns.tolist()
        ['T', 'churned']
        """
        a, b = self._params()
        size = check_whole_number(n_customers, "n_customers", minimum=1)
        n = check_whole_number(n_periods, "n_periods")
        rng = np.random.default_rng(seed)
        lifetime = rng.geometric(np.maximum(rng.beta(a, b, size), 1e-300))
        churned = lifetime <= n
        return pd.DataFrame(
            {"T": np.minimum(lifetime, n).astype(np.int64), "churned": churned},
            index=pd.RangeIndex(size, name="customer_id"),
        )


def _periods(periods, name: str, *, minimum: int = 0) -> np.ndarray:
    values = np.atleast_1d(np.asarray(periods, dtype=float)).ravel()
    if not np.all(np.isfinite(values)) or (values < minimum).any() or (np.floor(values) != values).any():
        raise DataError(f"{name!r} must hold whole numbers >= {minimum}; got {periods!r}")
    return values
