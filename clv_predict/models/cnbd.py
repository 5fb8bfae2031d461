"""BG/CNBD-k and MBG/CNBD-k: BG/NBD and MBG/NBD with Erlang-k inter-purchase times.

Platzer & Reutterer (2016), "Ticking away the moments: timing regularity helps
to better predict customer activity", Marketing Science 35(5). While alive, a
customer's times between purchases are Erlang-k with rate ``lambda`` (the sum
of ``k`` exponential phases: ``k = 1`` is the Poisson process of BG/NBD, larger
``k`` more regular buying); after each purchase he drops out with probability
``p``, and the MBG variant lets him drop out right after the first purchase
too. Across customers ``lambda ~ Gamma(r, alpha)`` and ``p ~ Beta(a, b)``.

The likelihood is BTYDplus's (``xbgcnbd.LL``); the conditional expectation is
computed here exactly (see :func:`_expected_if_alive`), where BTYDplus
approximates it for ``k > 1``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import betaln, digamma, gammaln

from .. import _math, _rows
from ..exceptions import DataError
from ._base import PurchaseModel, _first_arrival_times
from ._bg_family import GeometricDropoutMixin

#: The orders of regularity tried when ``k`` is not given, as in BTYDplus.
K_CANDIDATES = tuple(range(1, 13))


# --------------------------------------------------------------------------- formulas
def _phase_terms(r, alpha, k, x, t_x, T):
    """log weights A_j (j = 0..k-1, last axis) of "j phases of the current gap done by T", up to a common term.

    A_j = log Gamma(r + kx + j) - log Gamma(r + kx) - log j! + j log((T - t_x) / (alpha + T)).
    """
    R0 = r + k * x
    j = np.arange(k, dtype=float)
    with np.errstate(divide="ignore"):
        log_ratio = np.log(np.maximum(T - t_x, 0.0)) - np.log(alpha + T)
    terms = gammaln(R0[..., None] + j) - gammaln(R0)[..., None] - gammaln(j + 1.0)
    with np.errstate(invalid="ignore"):  # 0 * -inf for j = 0 where t_x = T, not taken
        return terms + np.where(j > 0, j * log_ratio[..., None], 0.0)


def _dropout_term(r, alpha, a, b, k, x, t_x, T, modified):
    """log of a / (b + x - 1 + m) ((alpha + T) / (alpha + t_x))^(r + kx): the weight of "dropped out after
    the last purchase" against "alive" (A_0 = 0); -inf where that cannot be (BG without repeat purchases)."""
    shift = 0.0 if modified else -1.0
    possible = np.ones(x.shape, dtype=bool) if modified else x > 0
    denominator = np.where(possible, b + x + shift, 1.0)
    value = np.log(a) - np.log(denominator) + (r + k * x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(possible, value, -np.inf)


def cnbd_log_likelihood(params, x, t_x, T, litt, *, modified: bool):
    """Per-customer log-likelihood of (x, t_x, T, litt) under (r, alpha, a, b, k) (BTYDplus ``xbgcnbd.LL``)."""
    r, alpha, a, b, k = params
    k = int(k)
    x, t_x, T, litt = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, t_x, T, litt)))
    m = 1.0 if modified else 0.0
    R0 = r + k * x
    terms = _phase_terms(r, alpha, k, x, t_x, T)
    dropped = _dropout_term(r, alpha, a, b, k, x, t_x, T, modified)
    total = np.logaddexp(np.logaddexp.reduce(terms, axis=-1), dropped)
    return (
        (k - 1) * litt - x * math.lgamma(k)
        + betaln(a, b + x + m) - betaln(a, b)
        + gammaln(R0) - gammaln(r) + r * np.log(alpha) - R0 * np.log(alpha + T) + total
    )


def cnbd_probability_alive(params, x, t_x, T, *, modified: bool):
    """P(alive at T | x, t_x, T) (BTYDplus ``xbgcnbd.PAlive``)."""
    r, alpha, a, b, k = params
    k = int(k)
    x, t_x, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, t_x, T)))
    alive = np.logaddexp.reduce(_phase_terms(r, alpha, k, x, t_x, T), axis=-1)
    dropped = _dropout_term(r, alpha, a, b, k, x, t_x, T, modified)
    return 1.0 / (1.0 + np.exp(dropped - alive))


def _expected_if_alive(params, x, t_x, T, t, *, modified: bool):
    """Expected purchases in (T, T + t] of a customer alive at T, exactly.

    Given alive at T, the posterior of the purchase rate and of the phases of the
    current inter-purchase time already completed is a mixture: j phases done
    (j = 0..k-1) with weight proportional to exp(A_j) (see :func:`_phase_terms`),
    and then ``lambda ~ Gamma(r + kx + j, alpha + T)``; ``p ~ Beta(a, b + x)``
    (``b + x + 1`` for MBG). The phases in the next ``t`` are then
    ``N ~ NegBin(r + kx + j, (alpha + T) / (alpha + T + t))``, the purchases among
    them ``floor((N + j) / k)``, of which the m-th counts if the customer is still
    alive, with probability ``E[(1 - p)^(m - 1)]``. So the expectation is
    ``sum_j w_j sum_n P(N_j = n) C(floor((n + j) / k))`` with ``C(M)`` the sum of
    those probabilities for m = 1..M, summed here over n until the rest is below
    1e-12 of the sum. For k = 1 it is BG/NBD's closed form (with b + 1 for MBG).

    BTYDplus approximates this for k > 1 (BG/NBD's formula with ``alpha``
    multiplied by k, rescaled so that its cohort total matches the unconditional
    expectation); this is the exact value of the model's definition.
    """
    r, alpha, a, b, k = params
    k = int(k)
    x, t_x, T, t = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, t_x, T, t)))
    shape = x.shape
    b_posterior = b + (1.0 if modified else 0.0)
    if k == 1:
        return np.asarray(_math.bgnbd_expected_if_alive((r, alpha, a, b_posterior), x, T, t), dtype=float).reshape(shape)
    x, t_x, T, t = (v.reshape(-1) for v in (x, t_x, T, t))
    out = np.zeros(x.size)
    active = np.flatnonzero(t > 0)
    if active.size == 0:
        return out.reshape(shape)
    terms = _phase_terms(r, alpha, k, x[active], t_x[active], T[active])
    weights = np.exp(terms - np.logaddexp.reduce(terms, axis=-1, keepdims=True))  # (E, k)
    j = np.arange(k, dtype=float)
    shapes = (r + k * x[active])[:, None] + j  # NB sizes, (E, k)
    log_q = np.log(t[active]) - np.log(alpha + T[active] + t[active])
    log_pmf = shapes * (np.log(alpha + T[active]) - np.log(alpha + T[active] + t[active]))[:, None]  # n = 0
    B = (b_posterior + x[active])[:, None]
    count = np.zeros((active.size, k))  # purchases M(n) = floor((n + j) / k)
    latest = np.zeros((active.size, k))  # c_M = E[(1 - p)^(M - 1)]
    cumulative = np.zeros((active.size, k))  # C(M)
    total = np.zeros((active.size, k))
    rows = np.arange(active.size)
    n = 0
    while rows.size:
        if n > 0:
            log_pmf = log_pmf + np.log(shapes + (n - 1)) - np.log(n) + log_q[rows, None]
            step = ((n + j) % k) == 0
            if step.any():
                count[:, step] += 1
                latest[:, step] = np.where(
                    count[:, step] == 1, 1.0,
                    latest[:, step] * (B + count[:, step] - 2) / (a + B + count[:, step] - 2),
                )
                cumulative[:, step] += latest[:, step]
        total += np.exp(log_pmf) * cumulative
        n += 1
        if n % 16 == 0:
            # past the mode the pmf falls at least geometrically with ratio rho, so the rest of
            # sum P(n) C(M(n)) (C(M) <= M <= (n + k) / k) is below pmf * (n + k + 1/(1-rho)) / (1 - rho)
            rho = np.exp(log_q[rows, None]) * (shapes + n) / (n + 1)
            rest = np.where(rho < 1, np.exp(log_pmf) * (n + k + 1.0 / (1.0 - rho)) / (1.0 - rho), np.inf)
            done = np.all(rest <= 1e-13 * total + 1e-300, axis=1)
            if done.any():
                out[active[rows[done]]] = np.sum(weights[rows[done]] * total[done], axis=1)
                keep = ~done
                rows, log_pmf, shapes, B, count, latest, cumulative, total = (
                    rows[keep], log_pmf[keep], shapes[keep], B[keep], count[keep], latest[keep], cumulative[keep],
                    total[keep],
                )
    return out.reshape(shape)


def _phase_count_tail(r, alpha, t, at_least):
    """P(N >= at_least) for N ~ NegBin(r, alpha / (alpha + t)), the phases of a new customer in t."""
    return stats.nbinom.sf(np.asarray(at_least) - 1, r, alpha / (alpha + t))


def cnbd_probability_of_n_purchases(params, t, n, *, modified: bool):
    """P(X(t) = n) for a new customer: purchases ``min(M, J)`` with M = floor(N / k) completed gaps and J
    the purchase after which he drops out (Geometric(p) from 1, from 0 for MBG)."""
    r, alpha, a, b, k = params
    k = int(k)
    n = np.atleast_1d(np.asarray(n, dtype=float))
    if t <= 0:
        return (n == 0).astype(float)
    at_least_n = _phase_count_tail(r, alpha, t, n * k)  # P(M >= n)
    exactly_n = at_least_n - _phase_count_tail(r, alpha, t, (n + 1) * k)  # P(M = n)
    m = 1.0 if modified else 0.0
    survive = np.exp(betaln(a, b + n + m) - betaln(a, b))  # E[(1 - p)^(n + m)]
    with np.errstate(invalid="ignore", divide="ignore"):
        drop = np.exp(betaln(a + 1, b + n + m - 1) - betaln(a, b))  # E[p (1 - p)^(n + m - 1)]
    drop = np.where((n > 0) | modified, drop, 0.0)
    return survive * exactly_n + drop * at_least_n


def cnbd_expected_new_customer(params, t, *, modified: bool):
    """E[X(t)] for a customer just acquired (alive at his first purchase; for MBG with probability b/(a+b))."""
    r, alpha, a, b, k = params
    t = np.asarray(t, dtype=float)
    value = _expected_if_alive(params, np.zeros(t.shape), np.zeros(t.shape), np.zeros(t.shape), t, modified=modified)
    if modified:
        value = value * b / (a + b)
    return value if value.ndim else float(value)


# --------------------------------------------------------------------------- likelihood on rows
class CnbdRows(_rows._Cached):
    """Sum of weighted (M)BG/CNBD-k log-likelihoods over rows and its gradient in (r, alpha, a, b), k fixed.

    ``litt`` enters only through a constant, so the rows are compressed again on (x, t_x, T).
    """

    def __init__(self, x, t_x, T, litt, weights, k: int, modified: bool):
        super().__init__()
        x, t_x, T, litt, weights = (np.asarray(v, dtype=float) for v in (x, t_x, T, litt, weights))
        self.k, self.modified = int(k), bool(modified)
        self.constant = (self.k - 1) * _rows._dot(weights, litt) - math.lgamma(self.k) * _rows._dot(weights, x)
        unique, self.w = _rows.compress({"x": x, "t_x": t_x, "T": T}, weights)
        self.x, self.t_x, self.T = unique["x"], unique["t_x"], unique["T"]
        self.n = self.w.sum()
        self.m = 1.0 if self.modified else 0.0
        self.possible = np.ones(self.x.size, dtype=bool) if self.modified else self.x > 0
        self.denominator_shift = np.where(self.possible, self.x - 1.0 + self.m, 0.0)
        with np.errstate(divide="ignore"):
            self.log_gap = np.log(self.T - self.t_x)  # -inf for t_x = T

    def _evaluate(self, params):
        r, alpha, a, b = params
        k, x, w = self.k, self.x, self.w
        R0 = r + k * x
        log_T = np.log(alpha + self.T)
        log_t = np.log(alpha + self.t_x)
        j = np.arange(k, dtype=float)
        log_ratio = self.log_gap - log_T
        terms = gammaln(R0[:, None] + j) - gammaln(R0)[:, None] - gammaln(j + 1.0)
        with np.errstate(invalid="ignore"):  # 0 * -inf for j = 0 where t_x = T, not taken
            terms = terms + np.where(j > 0, j * log_ratio[:, None], 0.0)
        denominator = np.where(self.possible, b + self.denominator_shift, 1.0)
        dropped = np.where(self.possible, np.log(a) - np.log(denominator) + R0 * (log_T - log_t), -np.inf)
        total = np.logaddexp(np.logaddexp.reduce(terms, axis=1), dropped)
        share_terms = np.exp(terms - total[:, None])
        share_dropped = np.exp(dropped - total)
        bm = b + x + self.m
        rows = betaln(a, bm) + gammaln(R0) - R0 * log_T + total
        value = self.constant + _rows._dot(w, rows) + self.n * (r * np.log(alpha) - gammaln(r) - betaln(a, b))
        d_r_rows = (
            digamma(R0) - log_T + np.sum(share_terms * (digamma(R0[:, None] + j) - digamma(R0)[:, None]), axis=1)
            + share_dropped * (log_T - log_t)
        )
        d_alpha_rows = (
            -R0 / (alpha + self.T) - np.sum(share_terms * j, axis=1) / (alpha + self.T)
            + share_dropped * R0 * (1.0 / (alpha + self.T) - 1.0 / (alpha + self.t_x))
        )
        d_r = _rows._dot(w, d_r_rows) + self.n * (np.log(alpha) - digamma(r))
        d_alpha = _rows._dot(w, d_alpha_rows) + self.n * r / alpha
        d_a = _rows._dot(w, -digamma(a + bm)) + self.n * digamma(a + b) + _rows._dot(w, share_dropped) / a
        d_b = (
            _rows._dot(w, digamma(bm) - digamma(a + bm) - share_dropped / denominator)
            + self.n * (digamma(a + b) - digamma(b))
        )
        return float(value), np.array([d_r, d_alpha, d_a, d_b])


# --------------------------------------------------------------------------- the models
class _CnbdModel(GeometricDropoutMixin, PurchaseModel):
    """What BG/CNBD-k and MBG/CNBD-k share; ``_modified`` says whether dropout can happen at time 0."""

    _modified = False
    _param_names = ("r", "alpha", "a", "b")
    _extra_param_names = ("k",)
    _shape_params = ("r", "a", "b")
    _fit_columns = ("frequency", "recency", "T", "litt")
    _column_hints = {
        "litt": "the sum over each customer's repeat purchases of the log of the time since the previous "
        "purchase (in the RFM's time unit); build it with rfm_summary(..., regularity=True)",
    }
    _if_alive_columns = ("frequency", "recency", "T")
    _edge_meaning = (
        "the data show (almost) no dropout or no spread in purchase rates, so the model reduces to a simpler "
        "one and P(alive) carries little information."
    )

    def __init__(self, penalizer_coef: float = 0.0, engine: str = "native", k=None):
        super().__init__(penalizer_coef=penalizer_coef, engine=engine)
        self.k = k

    # ------------------------------------------------------------------ settings and parameters
    def _check_settings(self) -> None:
        super()._check_settings()
        _check_k(self.k, "k")

    def _set_given_params(self, values: dict) -> None:
        if "k" not in values:
            raise DataError(f"{type(self).__name__}.from_params needs the regularity 'k' (a whole number >= 1)")
        k = _check_k(values.pop("k"), "k")
        super()._set_given_params(values)
        self.k = k
        self._append_k(k)

    def _append_k(self, k: int) -> None:
        names = [*self._param_names, "k"]
        self.params_ = pd.concat([self.params_, pd.Series({"k": float(k)})]).rename("estimate")
        self.covariance_ = self.covariance_.reindex(index=names, columns=names)
        self.standard_errors_ = self.standard_errors_.reindex(names).rename("standard_error")

    def __repr__(self) -> str:
        if not hasattr(self, "params_"):
            return f"{type(self).__name__}(penalizer_coef={self.penalizer_coef!r}, engine={self.engine!r}, k={self.k!r})"
        return super().__repr__()

    # ------------------------------------------------------------------ fitting
    def _scaled_columns(self, unique, scale):
        scaled = super()._scaled_columns(unique, scale)
        # litt sums log gaps: rescaling time by s adds log(s) per repeat purchase
        scaled["litt"] = unique["litt"] + unique["frequency"] * np.log(scale)
        return scaled

    def _make_rows(self, columns, weights):
        return CnbdRows(
            columns["frequency"], columns["recency"], columns["T"], columns["litt"], weights,
            self._fitting_k, self._modified,
        )

    def _fit(self, rfm, checked, time_unit, weights):
        self._fitting_k = 1 if self.k is None else int(self.k)
        self._warm_start = None
        try:
            return super()._fit(rfm, checked, time_unit, weights)
        finally:
            del self._fitting_k, self._warm_start

    def _optimise(self, data):
        """With ``k`` given, the base class's fit. Otherwise fit each k in turn (from the usual starts and
        from the previous k's optimum), stop once the log-likelihood has fallen for two k in a row past the best, and
        refit the best k with the base class's checks."""
        candidates = K_CANDIDATES if self.k is None else (int(self.k),)
        search = {}
        if len(candidates) > 1:
            correction = np.log(data["scale"]) * (data["weights"] @ data["x"])
            warm = None
            for k in candidates:
                self._fitting_k = k
                data["rows"] = self._make_rows(data["columns"], data["weights"])
                # the previous k's optimum is a good start, but may lead to a degenerate local optimum
                # (no dropout) that the usual starts avoid: both are tried, the better kept
                tried = [self._search(data)[0]]
                if warm is not None:
                    tried.append(self._minimise_native(data, warm))
                values = [data["rows"].value(np.exp(o.log_params)) if o.success else -np.inf for o in tried]
                warm = tried[int(np.argmax(values))].log_params
                search[k] = (float(data["rows"].value(np.exp(warm)) + correction), warm)
                best = max(search, key=lambda key: search[key][0])
                if k >= best + 2 and search[k][0] < search[k - 1][0] < search[best][0]:
                    break
            best = max(search, key=lambda key: search[key][0])
            self._fitting_k = best
            self._warm_start = search[best][1]
            data["rows"] = self._make_rows(data["columns"], data["weights"])
        scaled = super()._optimise(data)
        self.k_search_ = pd.Series({k: value for k, (value, _) in search.items()}, name="log_likelihood", dtype=float)
        self.k_search_.index.name = "k"
        self.convergence_["k"] = int(self._fitting_k)
        self.convergence_["k_search"] = (
            "; ".join(f"k={k}: {value:.2f}" for k, value in self.k_search_.items()) if search else "k given"
        )
        return scaled

    def _search(self, data):
        warm = getattr(self, "_warm_start", None)
        if warm is not None:
            self._warm_start = None
            candidate = self._minimise_native(data, warm)
            if candidate.success:
                return candidate, 0, [candidate]
        return super()._search(data)

    def _set_estimates(self, data, scaled):
        super()._set_estimates(data, scaled)
        self._append_k(self._fitting_k)

    # ------------------------------------------------------------------ the maths
    @staticmethod
    def _full(params):
        r, alpha, a, b, k = params
        return r, alpha, a, b, int(round(k))

    def _probability_alive_values(self, params, x, t_x, T):
        return cnbd_probability_alive(self._full(params), x, t_x, T, modified=self._modified)

    def _expected_if_alive_values(self, params, x, t_x, T, t):
        return _expected_if_alive(self._full(params), x, t_x, T, t, modified=self._modified)

    def _expected_new_customer_values(self, params, t):
        return cnbd_expected_new_customer(self._full(params), t, modified=self._modified)

    def _probability_of_n_values(self, params, t, n):
        return cnbd_probability_of_n_purchases(self._full(params), t, n, modified=self._modified)

    def _alive_posterior(self, params, x, t_x, T):
        # alive at T with j phases of the current gap done (weights exp(A_j)): lambda ~ Gamma(r + kx + j, alpha + T);
        # p ~ Beta(a, b + x), b + x + 1 for MBG (see _expected_if_alive)
        r, alpha, a, b, k = self._full(params)
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        terms = _phase_terms(r, alpha, k, x, t_x, T)
        weights = np.exp(terms - np.logaddexp.reduce(terms, axis=-1, keepdims=True))
        shapes = (r + k * x)[:, None] + np.arange(k, dtype=float)[None, :]
        return weights, shapes, alpha + T, a, b + x + (1.0 if self._modified else 0.0), k

    def _simulate_repeat_times(self, params, horizons, rng):
        r, alpha, a, b, k = self._full(params)
        rate = rng.gamma(r, 1.0 / alpha, horizons.size)
        dropout = rng.beta(a, b, horizons.size)
        # purchases complete every k-th phase of a Poisson(lambda) process; the customer makes at most J of
        # them, J ~ Geometric(p) counted from 1 (from 0 for MBG: dropout right after the first purchase)
        phases = rng.poisson(rate * horizons)
        most = rng.geometric(dropout) - (1 if self._modified else 0)
        purchases = np.minimum(phases // k, most)
        owner, times = _first_arrival_times(rng, phases, purchases * k, horizons)
        rank = np.arange(owner.size) - np.repeat(np.cumsum(purchases * k) - purchases * k, purchases * k)
        keep = (rank + 1) % k == 0
        return owner[keep], times[keep]

    def _dropout_distribution(self, params):
        a, b = params[2], params[3]
        return stats.beta(a, b), "Probability of dropping out after a purchase", f"Beta(a={a:.3g}, b={b:.3g})", True


def _check_k(k, name: str):
    if k is None:
        return None
    if isinstance(k, bool) or not isinstance(k, (int, float, np.integer, np.floating)) or not np.isfinite(k) \
            or k < 1 or k != int(k):
        raise DataError(f"{name!r} must be a whole number >= 1 (or None to choose it by maximum likelihood); got {k!r}")
    return int(k)


class BetaGeoCNBDModel(_CnbdModel):
    """The BG/CNBD-k model: BG/NBD with Erlang-k times between purchases (Platzer & Reutterer 2016).

    While alive, a customer's times between purchases are Erlang-k with rate
    ``lambda`` (k = 1: Poisson purchasing, BG/NBD; larger k: more regular);
    after each repeat purchase he drops out with probability ``p``. Across
    customers ``lambda ~ Gamma(r, alpha)`` and ``p ~ Beta(a, b)``.

    Fitting needs the column ``litt`` (sum of the log times between repeat
    purchases, ``rfm_summary(..., regularity=True)``); predictions need
    frequency, recency and T only. Expected purchases are computed exactly
    (BTYDplus approximates them for k > 1).

    Parameters
    ----------
    penalizer_coef : float, default 0
        L2 penalty on the parameters (in units of the longest T).
    engine : {"native"}, default "native"
        lifetimes has no fitter of this model.
    k : int or None, default None
        The order of regularity. None chooses it by maximum likelihood over
        1..12 (the search stops once the log-likelihood has fallen for two k in
        a row); the log-likelihood of each k tried is in ``k_search_``.

    Examples
    --------
    >>> model = BetaGeoCNBDModel.from_params(r=0.5, alpha=10.0, a=0.8, b=2.5, k=2, time_unit="W")
    >>> round(model.expected_purchases_new_customer(52), 3)
    0.84
    >>> sim = model.simulate(20_000, 78.0, seed=1)
    >>> fitted = BetaGeoCNBDModel().fit(sim)
    >>> int(fitted.params_["k"])
    2
    """

    name = "bg_cnbd_k"
    label = "BG/CNBD-k"
    one_time_buyers_alive_alternative = "mbg_cnbd_k"  # P(alive) = 1 without a repeat purchase
    _kind = "BetaGeoCNBDModel"
    _modified = False


class ModifiedBetaGeoCNBDModel(_CnbdModel):
    """The MBG/CNBD-k model: MBG/NBD with Erlang-k times between purchases (Platzer & Reutterer 2016).

    As :class:`BetaGeoCNBDModel`, except that a customer may also drop out
    right after his first purchase, so customers without repeat purchases can
    be inactive (their P(alive) is below 1).

    Parameters
    ----------
    penalizer_coef : float, default 0
        L2 penalty on the parameters (in units of the longest T).
    engine : {"native"}, default "native"
        lifetimes has no fitter of this model.
    k : int or None, default None
        The order of regularity; None chooses it by maximum likelihood over 1..12.

    Examples
    --------
    >>> model = ModifiedBetaGeoCNBDModel.from_params(r=0.5, alpha=10.0, a=0.8, b=2.5, k=2, time_unit="W")
    >>> import pandas as pd
    >>> rfm = pd.DataFrame({"frequency": [0, 3], "recency": [0.0, 30.0], "T": [40.0, 40.0]})
    >>> model.probability_alive(rfm).round(3).tolist()
    [0.662, 0.788]
    """

    name = "mbg_cnbd_k"
    label = "MBG/CNBD-k"
    _kind = "ModifiedBetaGeoCNBDModel"
    _modified = True
