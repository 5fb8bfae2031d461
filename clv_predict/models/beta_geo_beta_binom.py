"""BG/BB: the beta-geometric/beta-binomial model of discrete purchase opportunities (Fader, Hardie & Shang 2010).

Formula numbers refer to the paper ("Customer-base analysis in a discrete-time
noncontractual setting", Marketing Science 29(6)).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma, gammaln, logsumexp, softmax

from .._rows import _Cached
from ..discrete import check_whole_number
from ..exceptions import DataError
from ._base import _distinct_rows
from ._discrete import OpportunityModel, hyp2f1_one


class _BetaGeoBetaBinomRows(_Cached):
    """Sum of weighted BG/BB log-likelihoods over rows (x, t_x, n) and its gradient in (alpha, beta, gamma, delta).

    A row's likelihood (FHS eq. 5) is a sum of terms: alive through all ``n``
    opportunities, or dead from opportunity ``t_x + i + 1`` on (i = 0..n - t_x - 1).
    The terms sit in a padded matrix, one row per distinct pattern.
    """

    def __init__(self, x, t_x, n, weights):
        super().__init__()
        x, t_x, n = (np.asarray(v, dtype=float) for v in (x, t_x, n))
        self.w = np.asarray(weights, dtype=float)
        width = int((n - t_x).max()) + 1 if n.size else 1
        i = np.arange(width - 1, dtype=float)
        self.x = x[:, None]
        # column 0: alive through n (beta offset n - x, delta offset n); then death after t_x + i
        self.m = np.concatenate([(n - x)[:, None], (t_x - x)[:, None] + i], axis=1)
        self.s = np.concatenate([n[:, None], t_x[:, None] + i], axis=1)
        self.death = np.zeros(self.m.shape)
        self.death[:, 1:] = 1.0
        self.valid = np.concatenate([np.ones((x.size, 1), bool), i[None, :] < (n - t_x)[:, None]], axis=1)

    def _evaluate(self, params):
        a, b, g, d = params
        x, m, s, death = self.x, self.m, self.s, self.death
        terms = betaln(a + x, b + m) - betaln(a, b) + betaln(g + death, d + s) - betaln(g, d)
        terms = np.where(self.valid, terms, -np.inf)
        row_values = logsumexp(terms, axis=1)
        share = softmax(terms, axis=1)
        d_a = digamma(a + x) - digamma(a + b + x + m) - digamma(a) + digamma(a + b)
        d_b = digamma(b + m) - digamma(a + b + x + m) - digamma(b) + digamma(a + b)
        d_g = digamma(g + death) - digamma(g + d + death + s) - digamma(g) + digamma(g + d)
        d_d = digamma(d + s) - digamma(g + d + death + s) - digamma(d) + digamma(g + d)
        gradient = [self.w @ np.where(self.valid, share * part, 0.0).sum(axis=1) for part in (d_a, d_b, d_g, d_d)]
        return float(self.w @ row_values), np.array(gradient)


class BetaGeoBetaBinomModel(OpportunityModel):
    """The BG/BB model of purchasing at discrete opportunities (Fader, Hardie & Shang 2010).

    At each of a series of opportunities (an annual appeal, a yearly event) a
    customer who is still alive buys with probability ``p``; before each
    opportunity he dies (for good) with probability ``theta``. Across customers
    ``p ~ Beta(alpha, beta)`` and ``theta ~ Beta(gamma, delta)``.

    It is fitted on a summary with one row per customer: ``frequency`` (number of
    opportunities with a purchase after the first one), ``recency`` (the last of
    them, 0 without any) and ``T`` (opportunities observed); see
    :func:`clv_predict.discrete.check_opportunity_summary`. Horizons are counted
    in opportunities.

    Parameters
    ----------
    penalizer_coef : float, default 0
        L2 penalty on the parameters.
    engine : {"native"}
        The optimiser (the model has only this package's own).

    Examples
    --------
    >>> from clv_predict import BetaGeoBetaBinomModel
    >>> from clv_predict.datasets import load_donations
    >>> donations = load_donations()
    >>> model = BetaGeoBetaBinomModel().fit(donations)
    >>> model.params_.round(3).to_dict()
    {'alpha': 1.204, 'beta': 0.75, 'gamma': 0.657, 'delta': 2.783}
    >>> round(model.log_likelihood_, 1)
    -33225.6
    """

    name = "bg_bb"
    label = "BG/BB"
    _kind = "BetaGeoBetaBinomModel"
    _param_names = ("alpha", "beta", "gamma", "delta")
    _shape_params = ("alpha", "beta", "gamma", "delta")
    _edge_meaning = "the data show (almost) no spread in purchase or dropout probabilities across customers."
    _fit_columns = ("frequency", "recency", "T")
    #: An alive customer's future depends on these only (not on recency): the bounds compute it once per pair.
    _if_alive_columns = ("frequency", "T")

    def _make_rows(self, columns, weights):
        return _BetaGeoBetaBinomRows(columns["frequency"], columns["recency"], columns["T"], weights)

    # ------------------------------------------------------------------ the maths
    def _log_likelihood_values(self, params, x, t_x, n) -> np.ndarray:
        # once per distinct (x, t_x, n): a few hundred rows however many customers share them
        x, t_x, n = (np.atleast_1d(np.asarray(v, dtype=float)).ravel() for v in np.broadcast_arrays(x, t_x, n))
        codes, (ux, ut, un) = _distinct_rows([x, t_x, n]) if x.size else (np.zeros(0, dtype=np.int64),
                                                                           [np.zeros(0)] * 3)
        rows = _BetaGeoBetaBinomRows(ux, ut, un, np.ones(ux.size))
        a, b, g, d = params
        terms = betaln(a + rows.x, b + rows.m) - betaln(a, b) + betaln(g + rows.death, d + rows.s) - betaln(g, d)
        return logsumexp(np.where(rows.valid, terms, -np.inf), axis=1)[codes]

    def log_likelihood(self, summary: pd.DataFrame) -> pd.Series:
        """Each customer's log-likelihood under the model (FHS eq. 5)."""
        checked, x, t_x, n = self._rfm_arrays(summary)
        return pd.Series(self._log_likelihood_values(self._params(), x, t_x, n), index=checked.index,
                         name="log_likelihood")

    def probability_alive(self, summary: pd.DataFrame, *, ahead: int = 1) -> pd.Series:
        """P(alive at opportunity ``T + ahead``), per customer; by default at the next opportunity (FHS eq. 11).

        Examples
        --------
        >>> import pandas as pd
        >>> model = BetaGeoBetaBinomModel.from_params(alpha=1.204, beta=0.750, gamma=0.657, delta=2.783)
        >>> summary = pd.DataFrame({"frequency": [0, 2, 6], "recency": [0, 4, 6], "T": [6, 6, 6]})
        >>> model.probability_alive(summary).round(2).tolist()
        [0.11, 0.59, 0.93]
        """
        ahead = check_whole_number(ahead, "ahead")
        checked, x, t_x, n = self._rfm_arrays(summary)
        values = self._probability_alive_values(self._params(), x, t_x, n, ahead=ahead)
        return pd.Series(values, index=checked.index, name="p_alive")

    def _probability_alive_values(self, params, x, t_x, n, *, ahead: int = 1) -> np.ndarray:
        a, b, g, d = params
        log_alive = betaln(a + x, b + n - x) - betaln(a, b) + betaln(g, d + n + ahead) - betaln(g, d)
        return np.minimum(np.exp(log_alive - self._log_likelihood_values(params, x, t_x, n)), 1.0)

    def _log_purchase_weight(self, params, x, t_x, n) -> np.ndarray:
        """The factor eqs. 13 and 14 share: log B(alpha + x + 1, beta + n - x) / B(alpha, beta) - log L(x, t_x, n).

        Its exponential times B(gamma, delta + n + k) / B(gamma, delta) is the probability of a purchase at
        opportunity n + k.
        """
        a, b = params[0], params[1]
        return betaln(a + x + 1, b + n - x) - betaln(a, b) - self._log_likelihood_values(params, x, t_x, n)

    def expected_purchases(self, summary: pd.DataFrame, t) -> pd.Series:
        """Expected number of purchases at the next ``t`` opportunities, per customer (FHS eq. 13).

        Examples
        --------
        >>> import pandas as pd
        >>> model = BetaGeoBetaBinomModel.from_params(alpha=1.204, beta=0.750, gamma=0.657, delta=2.783)
        >>> summary = pd.DataFrame({"frequency": [6], "recency": [6], "T": [6]})
        >>> round(float(model.expected_purchases(summary, 5).iloc[0]), 2)
        3.75
        """
        return super().expected_purchases(summary, t)

    def _expected_values(self, params, x, t_x, n, horizon) -> np.ndarray:
        _, _, g, d = params
        return np.exp(self._log_purchase_weight(params, x, t_x, n)) * _cumulative_survival(g, d, n, horizon)

    def expected_residual_purchases(self, summary: pd.DataFrame, *, discount_rate: float, horizon=None) -> pd.Series:
        """DERT: discounted expected residual transactions, per customer (FHS eq. 14).

        The purchases at all future opportunities (or the next ``horizon``), the
        one at ``T + k`` discounted by ``(1 + discount_rate) ** -k``;
        ``discount_rate`` (> 0) is per opportunity.

        Examples
        --------
        >>> import pandas as pd
        >>> model = BetaGeoBetaBinomModel.from_params(alpha=1.204, beta=0.750, gamma=0.657, delta=2.783)
        >>> summary = pd.DataFrame({"frequency": [6], "recency": [6], "T": [6]})
        >>> round(float(model.expected_residual_purchases(summary, discount_rate=0.1).iloc[0]), 2)
        5.91
        """
        return super().expected_residual_purchases(summary, discount_rate=discount_rate, horizon=horizon)

    def _discounted_values(self, params, x, t_x, n, horizon, discount_rate: float) -> np.ndarray:
        # sum over k = 1..horizon of P(purchase at n + k) z^k, z = 1 / (1 + d): the infinite sum (eq. 14) less
        # the same sum from opportunity n + horizon on, z^horizon times the infinite sum at n + horizon
        _, _, g, d = params
        z = 1.0 / (1.0 + discount_rate)
        n = np.asarray(n, dtype=float)

        def from_opportunity(m):
            flat = np.atleast_1d(m).ravel()
            codes, (distinct,) = _distinct_rows([flat]) if flat.size else (np.zeros(0, dtype=np.int64), [flat])
            values = np.exp(betaln(g, d + distinct + 1) - betaln(g, d)) * z * hyp2f1_one(
                d + distinct + 1, g + d + distinct + 1, z)
            return values[codes].reshape(np.shape(m))

        total = from_opportunity(n)
        if np.isfinite(horizon):
            total = total - z ** float(horizon) * from_opportunity(n + float(horizon))
        return np.exp(self._log_purchase_weight(params, x, t_x, n)) * np.maximum(total, 0.0)

    def expected_purchases_new_customer(self, n):
        """Expected purchases of a new customer at the first ``n`` opportunities (FHS eq. 7).

        ``n`` may be a whole number (a float is returned) or an array of them.

        Examples
        --------
        >>> model = BetaGeoBetaBinomModel.from_params(alpha=1.204, beta=0.750, gamma=0.657, delta=2.783)
        >>> round(model.expected_purchases_new_customer(6), 3)
        2.22
        """
        a, b, g, d = self._params()
        counts = np.asarray(n)
        if counts.ndim == 0:
            return float(a / (a + b) * _cumulative_survival(g, d, 0.0, check_whole_number(n, "n")))
        values = np.asarray([check_whole_number(v, "n") for v in counts.ravel()], dtype=float).reshape(counts.shape)
        return a / (a + b) * _cumulative_survival(g, d, 0.0, values)

    def probability_of_n_purchases(self, n_opportunities: int, x) -> np.ndarray:
        """P(X(n) = x): probability that a new customer buys at exactly ``x`` of the first ``n`` opportunities
        (FHS eq. 8).

        Examples
        --------
        >>> model = BetaGeoBetaBinomModel.from_params(alpha=1.204, beta=0.750, gamma=0.657, delta=2.783)
        >>> float(model.probability_of_n_purchases(6, range(7)).sum().round(12))
        1.0
        """
        n = check_whole_number(n_opportunities, "n_opportunities")
        counts = np.atleast_1d(np.asarray(x, dtype=float))
        if not np.all(np.isfinite(counts)) or (counts < 0).any() or (np.floor(counts) != counts).any():
            raise DataError(f"'x' must hold whole numbers >= 0; got {x!r}")
        a, b, g, d = self._params()
        out = np.zeros(counts.size)
        for position, k in enumerate(counts):
            if k > n:
                continue
            alive = _log_choose(n, k) + betaln(a + k, b + n - k) - betaln(a, b) + betaln(g, d + n) - betaln(g, d)
            i = np.arange(k, n, dtype=float)
            died = _log_choose(i, k) + betaln(a + k, b + i - k) - betaln(a, b) + betaln(g + 1, d + i) - betaln(g, d)
            out[position] = np.exp(logsumexp(np.concatenate([[alive], died])))
        return out

    def conditional_probability_of_n_purchases(self, summary: pd.DataFrame, t: int, n) -> pd.DataFrame:
        """P(X(T, T + t) = n | the customer's history): the distribution of each customer's purchases at the
        next ``t`` opportunities, a finite sum (Fader, Hardie & Shang 2010).

        Alive at opportunity T (weight as in eq. 11 without the next opportunity),
        a customer has ``p ~ Beta(alpha + x, beta + T - x)`` and ``theta ~ Beta(gamma,
        delta + T)``; he stays for K of the next t opportunities (K < t with probability
        B(gamma + 1, delta + T + K) / B(gamma, delta + T), K = t with B(gamma, delta + T + t) /
        B(gamma, delta + T)) and buys at a beta-binomial number of them. Computed once per
        distinct (frequency, recency, T).

        Parameters
        ----------
        summary : DataFrame
            Discrete-opportunity summary (``frequency``, ``recency``, ``T``).
        t : int
            Number of future opportunities.
        n : int or sequence of int
            An int gives the columns 0..n; a sequence, those counts.

        Returns
        -------
        DataFrame
            Indexed as ``summary``, one column per count (name ``purchases``).

        Examples
        --------
        >>> import pandas as pd
        >>> model = BetaGeoBetaBinomModel.from_params(alpha=1.204, beta=0.750, gamma=0.657, delta=2.783)
        >>> summary = pd.DataFrame({"frequency": [6, 0], "recency": [6, 0], "T": [6, 6]})
        >>> pmf = model.conditional_probability_of_n_purchases(summary, 5, 5)
        >>> pmf.sum(axis=1).round(12).tolist()
        [1.0, 1.0]
        >>> pmf.round(3).iloc[0].tolist()
        [0.077, 0.067, 0.069, 0.098, 0.193, 0.496]
        """
        from ._base import _check_counts, _distinct_rows

        t = check_whole_number(t, "t")
        counts = _check_counts(n)
        checked, x, t_x, T = self._rfm_arrays(summary)
        index = checked.index
        params = self._params()
        a, b, g, d = params
        codes, (ux, ut, uT) = _distinct_rows([x, t_x, T])
        log_alive = (
            betaln(a + ux, b + uT - ux) - betaln(a, b) + betaln(g, d + uT) - betaln(g, d)
            - self._log_likelihood_values(params, ux, ut, uT)
        )
        p_alive = np.minimum(np.exp(log_alive), 1.0)
        stay = np.arange(t + 1, dtype=float)  # K, opportunities alive among the next t
        log_stay = np.where(
            stay[None, :] < t,
            betaln(g + 1.0, d + uT[:, None] + stay[None, :]) - betaln(g, d + uT)[:, None],
            betaln(g, d + uT[:, None] + t) - betaln(g, d + uT)[:, None],
        )  # (D, t + 1)
        k = counts[None, None, :]
        K = stay[None, :, None]
        A, B = (a + ux)[:, None, None], (b + uT - ux)[:, None, None]
        with np.errstate(invalid="ignore"):
            log_binomial = _log_choose(K, k) + betaln(A + k, B + K - k) - betaln(A, B)
        log_binomial = np.where(k <= K, log_binomial, -np.inf)
        if_alive = np.exp(logsumexp(log_stay[:, :, None] + log_binomial, axis=1))
        values = p_alive[:, None] * if_alive + (1.0 - p_alive)[:, None] * (counts[None, :] == 0)
        frame = pd.DataFrame(values[codes], index=index, columns=pd.Index(counts.astype(int), name="purchases"))
        return frame

    # ------------------------------------------------------------------ the hooks of the bounds (predict(interval=))
    def _if_alive_pmf_values(self, params, x, T, t: int) -> np.ndarray:
        """P(X = k | alive at opportunity T + 1), k = 0..t, of the purchases at the next ``t`` opportunities,
        rows x (t + 1).

        Alive at T + 1, a customer has ``p ~ Beta(alpha + x, beta + T - x)`` and ``theta ~ Beta(gamma, delta +
        T + 1)`` (he bought at x of T opportunities, all alive, and survived T + 1 deaths); he is alive at L of
        the t opportunities, L = l < t with probability B(gamma + 1, delta + T + l) / B(gamma, delta + T + 1)
        (dies before opportunity T + l + 1), L = t with B(gamma, delta + T + t) / B(gamma, delta + T + 1),
        and buys at a beta-binomial(L, alpha + x, beta + T - x) number of them. Rows are taken in chunks of
        bounded rows x t^2 cells.
        """
        a, b, g, d = params
        x, T = np.asarray(x, dtype=float), np.asarray(T, dtype=float)
        t = int(t)
        out = np.zeros((x.size, t + 1))
        if t == 0:
            out[:, 0] = 1.0
            return out
        alive = np.arange(1, t + 1, dtype=float)  # L
        k = np.arange(t + 1, dtype=float)
        step = max(1, 4_000_000 // (t * (t + 1)))
        for first in range(0, x.size, step):
            part = slice(first, first + step)
            A, B, base = a + x[part], b + T[part] - x[part], d + T[part] + 1.0
            log_stay = np.where(
                alive[None, :] < t,
                betaln(g + 1.0, base[:, None] + alive[None, :] - 1.0),
                betaln(g, base[:, None] + t - 1.0),
            ) - betaln(g, base)[:, None]  # (rows, t)
            L, n = alive[None, :, None], k[None, None, :]
            with np.errstate(invalid="ignore"):
                log_binomial = (_log_choose(L, n) + betaln(A[:, None, None] + n, B[:, None, None] + L - n)
                                - betaln(A, B)[:, None, None])
            log_binomial = np.where(n <= L, log_binomial, -np.inf)
            out[part] = np.exp(logsumexp(log_stay[:, :, None] + log_binomial, axis=1))
        return out

    def _survival_if_alive_values(self, params, x, t_x, T, t: float, n: np.ndarray) -> np.ndarray:
        """P(X >= n | alive at opportunity T + 1) of the purchases at the next ``t`` opportunities, rows x n:
        the tail sums of :meth:`_if_alive_pmf_values` (0 beyond t). The protocol's hook of the bounds: with
        ``_probability_alive_values`` (alive at the next opportunity) it makes the conditional distribution
        (a customer dead by then buys nothing)."""
        t = round(float(t))
        n = np.asarray(n, dtype=float)
        pmf = self._if_alive_pmf_values(params, x, T, t)
        tail = np.concatenate([np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1], np.zeros((pmf.shape[0], 1))], axis=1)
        where = np.clip(n, 0, t + 1).astype(np.int64)
        return np.clip(tail[:, where], 0.0, 1.0)

    def _expected_if_alive_values(self, params, x, t_x, T, t) -> np.ndarray:
        """E[X | alive at opportunity T + 1] at the next ``t`` opportunities: the mean purchase probability
        (alpha + x) / (alpha + beta + T) times the expected opportunities alive, sum_{j < t} B(gamma, delta + T
        + 1 + j) / B(gamma, delta + T + 1) (eq. 13 divided by P(alive at T + 1))."""
        a, b, g, d = params
        x, T = np.asarray(x, dtype=float), np.asarray(T, dtype=float)
        stays = _cumulative_survival(g, d, T, round(float(t))) * np.exp(betaln(g, d) - betaln(g, d + T + 1.0))
        return (a + x) / (a + b + T) * stays

    # ------------------------------------------------------------------ simulation
    def simulate(self, n_customers: int, n_opportunities: int, *, seed=None) -> pd.DataFrame:
        """Draw discrete-opportunity summaries of ``n_customers`` from the model's own process.

        Examples
        --------
        >>> model = BetaGeoBetaBinomModel.from_params(alpha=1.204, beta=0.750, gamma=0.657, delta=2.783)
        >>> model.simulate(3, 6, seed=1).columns.tolist()
        ['frequency', 'recency', 'T']
        """
        a, b, g, d = self._params()
        size = check_whole_number(n_customers, "n_customers", minimum=1)
        n = check_whole_number(n_opportunities, "n_opportunities")
        rng = np.random.default_rng(seed)
        p = rng.beta(a, b, size)
        theta = rng.beta(g, d, size)
        # opportunities at which the customer is alive: P(alive at opportunity k) = (1 - theta)^k
        alive = np.minimum(rng.geometric(np.maximum(theta, 1e-300)) - 1, n)
        opportunity = np.arange(1, n + 1)
        bought = (rng.random((size, n)) < p[:, None]) & (opportunity[None, :] <= alive[:, None])
        frequency = bought.sum(axis=1)
        recency = np.where(frequency > 0, n - np.argmax(bought[:, ::-1], axis=1), 0)
        return pd.DataFrame(
            {"frequency": frequency.astype(np.int64), "recency": recency.astype(np.int64),
             "T": np.full(size, n, dtype=np.int64)},
            index=pd.RangeIndex(size, name="customer_id"),
        )


def _log_choose(n, k):
    return gammaln(np.asarray(n, dtype=float) + 1) - gammaln(k + 1) - gammaln(np.asarray(n, dtype=float) - k + 1)


def _cumulative_survival(g, d, n, t):
    """sum over k = 1..t of B(gamma, delta + n + k) / B(gamma, delta), in closed form (FHS eqs. 7 and 13)."""
    n = np.asarray(n, dtype=float)
    t = np.asarray(t, dtype=float)
    if abs(g - 1.0) < 1e-6:
        # the closed form's limit at gamma = 1: sum of delta / (delta + n + k)
        return d * (digamma(d + n + t + 1) - digamma(d + n + 1))
    start = np.exp(gammaln(1 + d + n) - gammaln(g + d + n))
    end = np.exp(gammaln(1 + d + n + t) - gammaln(g + d + n + t))
    return d / (g - 1) * np.exp(gammaln(g + d) - gammaln(1 + d)) * (start - end)
