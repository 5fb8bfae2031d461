"""Pareto/NBD: Poisson purchasing with exponential lifetimes (Schmittlein, Morrison & Colombo 1987).

The likelihood and P(alive) need the Gauss hypergeometric function, which
overflows or loses its digits in the textbook form (Fader & Hardie 2005, "A note
on deriving the Pareto/NBD model and related expressions", eq. 22-24) for large
``x``, for ``alpha`` far from ``beta`` and near the case ``c - a - b`` integer.
Here the likelihood is rearranged into a sum of two positive integrals,

    L = C [ (r + x) I(r + x + 1, s; T) + s I(r + x, s + 1; t_x) ],
    I(a, b; y) = integral over u > y of (alpha + u)^-a (beta + u)^-b du,
    C = Gamma(r + x) alpha^r beta^s / Gamma(r),

(the first is a customer still alive at T, written as the integral of the density
of his next event, purchase or death, beyond T; the second a customer who died
after t_x), so that nothing cancels. Each ``I`` is ``A^-a B^(1-b) 2F1(1, a; a + b;
1 - B/A) / (a + b - 1)`` with ``A >= B`` (the roles swap otherwise), and
``2F1(1, a; a + b; z)`` with ``0 <= z < 1`` is a series of positive terms that
shrink at least as fast as ``z^n``: summed directly for ``z <= 0.8`` and, above, by
a double-exponential quadrature of its integral. Both give the derivatives in
``a``, ``b`` and ``z`` along with the value, hence the analytic gradient of the
fit. The tests hold all of it to mpmath at 30 digits.
"""

from __future__ import annotations

import itertools
import warnings
from typing import ClassVar

import numpy as np
from scipy import stats
from scipy.integrate import IntegrationWarning, quad
from scipy.special import digamma, gammaln, logsumexp

from .. import _lifetimes, _math, _rows
from ._base import PurchaseModel, _distinct_rows, _first_arrival_times

#: Above this argument 2F1(1, a; a + b; z) is integrated rather than summed (the series needs ~180 terms here).
_SERIES_UP_TO = 0.8
_SERIES_TERMS = (4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192)


def _series(a, b, z):
    """log 2F1(1, a; a + b; z) and the derivatives of the log in a, b and z, for 0 <= z <= 0.8 (1-d arrays).

    The terms are t_n = prod_{j<n} (a + j) / (a + b + j) z^n; the derivative of t_n in a is t_n times
    sum_{j<n} 1/(a + j) - 1/(a + b + j), in b t_n times -sum_{j<n} 1/(a + b + j), in z n t_n / z. They are
    summed term by term over all rows at once (rows needing about as many terms together): short vectors
    that stay in cache, several times faster than (rows x terms) arrays.
    """
    out = np.empty((4, a.size))
    # terms needed for a remainder below 1e-16 of the sum (>= 1): the terms fall at least as fast as z^n
    with np.errstate(divide="ignore"):
        needed = np.where(z > 0, np.log(1e-16 * (1 - z)) / np.log(np.maximum(z, 1e-300)), 1.0)
    bucket = np.searchsorted(np.asarray(_SERIES_TERMS, dtype=float), needed + 1)
    for which, terms in enumerate(_SERIES_TERMS):
        rows = np.flatnonzero(bucket == which)
        if rows.size == 0:
            continue
        ai, zi = a[rows], z[rows]
        abi = ai + b[rows]
        term, total = np.ones(rows.size), np.ones(rows.size)
        log_a, log_b = np.zeros(rows.size), np.zeros(rows.size)  # d log t_n / da, / db
        sum_a, sum_b, sum_z = np.zeros(rows.size), np.zeros(rows.size), np.zeros(rows.size)
        for j in range(terms):
            inv_ab = 1.0 / (abi + j)
            term *= (ai + j) * inv_ab * zi
            log_a += 1.0 / (ai + j) - inv_ab
            log_b -= inv_ab
            total += term
            sum_a += term * log_a
            sum_b += term * log_b
            sum_z += (j + 1) * term
        out[0, rows] = np.log(total)
        out[1, rows] = sum_a / total
        out[2, rows] = sum_b / total
        with np.errstate(divide="ignore", invalid="ignore"):
            # at z = 0 only t_1 = a z / (a + b) has a derivative
            out[3, rows] = np.where(zi > 0, sum_z / zi, ai / abi) / total
    return out


# Rules for J below: tanh-sinh on (0, c) and exp-sinh on (c, inf), c = log(1 / (a q)) being where the factor
# (1 + q (e^v - 1))^-a turns from about 1 to its fast decay; both cluster their nodes at the ends, where the
# integrand's features are, on scales from 1/(a q) to 1/(a + b - 1)
_STEP = 1.0 / 32
_T_FINITE = np.arange(-3.25, 3.25 + _STEP / 2, _STEP)
_X = np.pi * np.sinh(_T_FINITE)
_FINITE_SHARE = 1.0 / (1.0 + np.exp(-_X))  # v / c
_FINITE_LOG_WEIGHTS = np.log(_STEP * np.pi * np.cosh(_T_FINITE)) - np.logaddexp(0, _X) - np.logaddexp(0, -_X)
_T_TAIL = np.arange(-4.0, 4.0 + _STEP / 2, _STEP)
_TAIL_NODES = np.exp(np.pi / 2 * np.sinh(_T_TAIL))
_TAIL_LOG_WEIGHTS = np.log(_STEP * np.pi / 2 * np.cosh(_T_TAIL)) + np.pi / 2 * np.sinh(_T_TAIL)


def _quadrature(a, b, q):
    """log J and its derivatives in a, b and q, J = integral over v > 0 of exp(-(b-1) v) (1 + q (e^v - 1))^-a dv.

    With ``A >= B`` and ``q = B / A``, ``I(a, b) = A^-a B^(1-b) J``: the substitution ``u = B (e^v - 1)``.
    For q < 1 only.
    """
    a, b, q = a[:, None], b[:, None], q[:, None]
    split = np.maximum(-np.log(q) - np.log(a), 1e-300)
    v = np.concatenate((split * _FINITE_SHARE[None, :], split + _TAIL_NODES[None, :]), axis=1)
    tail_weights = np.broadcast_to(_TAIL_LOG_WEIGHTS, (split.shape[0], _TAIL_NODES.size))
    log_weights = np.concatenate((np.log(split) + _FINITE_LOG_WEIGHTS[None, :], tail_weights), axis=1)
    # log(1 + q (e^v - 1)) without overflow for large v
    log_inner = np.logaddexp(np.log1p(-q), np.log(q) + v)
    log_terms = -(b - 1) * v - a * log_inner + log_weights
    log_j = logsumexp(log_terms, axis=1)
    share = np.exp(log_terms - log_j[:, None])
    d_a = -(share * log_inner).sum(axis=1)
    d_b = -(share * v).sum(axis=1)
    # (e^v - 1) / (1 + q (e^v - 1)) = (1 - e^-v) / (q + (1 - q) e^-v)
    d_q = -a[:, 0] * (share * (-np.expm1(-v)) / (q + (1 - q) * np.exp(-v))).sum(axis=1)
    return log_j, d_a, d_b, d_q


def _log_tail_integral(a, b, A, B):
    """log I and its derivatives in (a, b, A, B), I = integral over u > 0 of (A + u)^-a (B + u)^-b du.

    Needs a, b, A, B > 0 and a + b > 1; broadcasts its arguments to 1-d arrays.
    """
    a, b, A, B = (np.atleast_1d(np.asarray(v, dtype=float)) for v in np.broadcast_arrays(a, b, A, B))
    shape = a.shape
    a, b, A, B = (v.reshape(-1) for v in (a, b, A, B))
    # I is symmetric under (a, A) <-> (b, B): take A >= B
    swap = A < B
    a, b = np.where(swap, b, a), np.where(swap, a, b)
    A, B = np.where(swap, B, A), np.where(swap, A, B)
    z = (A - B) / A
    log_i = np.empty(a.size)
    d_a, d_b, d_A, d_B = (np.empty(a.size) for _ in range(4))
    series = z <= _SERIES_UP_TO
    if series.any():
        a_s, b_s, A_s, B_s, z_s = a[series], b[series], A[series], B[series], z[series]
        log_f, f_a, f_b, f_z = _series(a_s, b_s, z_s)
        c = a_s + b_s - 1
        log_i[series] = -a_s * np.log(A_s) + (1 - b_s) * np.log(B_s) + log_f - np.log(c)
        d_a[series] = -np.log(A_s) + f_a - 1 / c
        d_b[series] = -np.log(B_s) + f_b - 1 / c
        # z = 1 - B/A
        d_A[series] = -a_s / A_s + f_z * B_s / A_s**2
        d_B[series] = (1 - b_s) / B_s - f_z / A_s
    far = ~series
    if far.any():
        a_q, b_q, A_q, B_q = a[far], b[far], A[far], B[far]
        q = B_q / A_q
        log_j, j_a, j_b, j_q = _quadrature(a_q, b_q, q)
        log_i[far] = -a_q * np.log(A_q) + (1 - b_q) * np.log(B_q) + log_j
        d_a[far] = -np.log(A_q) + j_a
        d_b[far] = -np.log(B_q) + j_b
        d_A[far] = -a_q / A_q - j_q * B_q / A_q**2
        d_B[far] = (1 - b_q) / B_q + j_q / A_q
    d_a, d_b = np.where(swap, d_b, d_a), np.where(swap, d_a, d_b)
    d_A, d_B = np.where(swap, d_B, d_A), np.where(swap, d_A, d_B)
    return tuple(v.reshape(shape) for v in (log_i, d_a, d_b, d_A, d_B))


def _distinct_pairs(x, t_x, T):
    """Each row's code among the distinct (x, T) pairs and those pairs, then the same for (x, t_x)."""
    iT, (xT, uT) = _distinct_rows([x, T])
    it, (xt, ut) = _distinct_rows([x, t_x])
    return iT, xT, uT, it, xt, ut


def _log_likelihood_parts(params, x, t_x, T, pairs=None):
    """The two log terms of L / C (alive at T; died after t_x) and their derivatives, per customer.

    The first depends on (x, T) only, the second on (x, t_x) only: each is computed once per distinct pair
    (``pairs``: :func:`_distinct_pairs` of the flattened rows, when already known).
    """
    r, alpha, s, beta = params
    x, t_x, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, t_x, T)))
    shape = x.shape
    x, t_x, T = (v.reshape(-1) for v in (x, t_x, T))
    iT, xT, uT, it, xt, ut = _distinct_pairs(x, t_x, T) if pairs is None else pairs
    alive = _log_tail_integral(r + xT + 1, s, alpha + uT, beta + uT)
    died = _log_tail_integral(r + xt, s + 1, alpha + ut, beta + ut)
    alive = tuple(part[iT].reshape(shape) for part in alive)
    died = tuple(part[it].reshape(shape) for part in died)
    return (r + x).reshape(shape), alive, died


def pareto_nbd_log_likelihood(params, x, t_x, T):
    """Per-customer log-likelihood of (x, t_x, T) under Pareto/NBD parameters (r, alpha, s, beta)."""
    r, alpha, s, beta = params
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    k, alive, died = _log_likelihood_parts(params, x, t_x, T)
    log_c = gammaln(k) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    return log_c + np.logaddexp(np.log(k) + alive[0], np.log(s) + died[0])


def pareto_nbd_probability_alive(params, x, t_x, T, *, pairs=None):
    """P(alive at T | x, t_x, T): C (alpha + T)^-(r+x) (beta + T)^-s / L (Fader & Hardie 2005 note, eq. 18).
    ``pairs``: :func:`_distinct_pairs` of the (flattened) rows, when already known."""
    r, alpha, s, beta = params
    x, t_x, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, t_x, T)))
    k, alive, died = _log_likelihood_parts(params, x, t_x, T, pairs)
    log_alive_term = -k * np.log(alpha + T) - s * np.log(beta + T)
    log_l_over_c = np.logaddexp(np.log(k) + alive[0], np.log(s) + died[0])
    return np.minimum(np.exp(log_alive_term - log_l_over_c), 1.0)


def _lifetime_factor(s, beta_T, t):
    """(beta + T) [1 - ((beta + T) / (beta + T + t))^(s - 1)] / (s - 1), its limit (beta + T) log(...) at s = 1."""
    log_ratio = np.log1p(t / beta_T)
    c = s - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(c == 0, log_ratio, -np.expm1(-c * log_ratio) / np.where(c == 0, 1.0, c))
    return beta_T * factor


def pareto_nbd_expected_if_alive(params, x, T, t):
    """Expected purchases in (T, T + t] of a customer alive at T with x repeat purchases (note, eq. 20 / P(alive))."""
    r, alpha, s, beta = params
    x, T, t = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, T, t)))
    return (r + x) / (alpha + T) * _lifetime_factor(s, beta + T, t)


def pareto_nbd_second_moment_if_alive(params, x, T, t):
    """E[X(T, T + t]^2] of a customer alive at T with x repeat purchases.

    Alive at T, he buys at rate lambda ~ Gamma(r + x, alpha + T) for the time m = min(tau, t) he stays,
    tau ~ Exponential(mu), mu ~ Gamma(s, beta + T). Given them the count is Poisson(lambda m), so
    E[X^2] = E[lambda] E[m] + E[lambda^2] E[m^2], with E[m] = (beta + T) G_(s-1)(z) and
    E[m^2] = 2 (beta + T)^2 H_s(z), z = t / (beta + T) (the integrals of :mod:`clv_predict._math`).
    """
    r, alpha, s, beta = params
    x, T, t = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, T, t)))
    k, scale, life = r + x, alpha + T, beta + T
    z = t / life
    mean_time = life * _math._power_integral(s - 1.0, z)
    mean_square_time = 2 * life**2 * _math._first_moment_integral(s, z)
    return k / scale * mean_time + k * (k + 1) / scale**2 * mean_square_time


def _probability_of_n(params, t: float, n: float) -> float:
    """P(X(t) = n) for a new customer, from the definition.

    Alive throughout (0, t] with probability (beta / (beta + t))^s, he makes NBD(r, alpha / (alpha + t))
    purchases; dying at tau < t (density s beta^s / (beta + tau)^(s+1)) he makes NBD(r, alpha / (alpha + tau)).
    The second part is integrated numerically: the closed form of the note (eq. 19) is a sum of 2F1 terms
    of alternating sign that cancels for large n.
    """
    r, alpha, s, beta = params
    log_nb = gammaln(r + n) - gammaln(r) - gammaln(n + 1)
    alive = np.exp(
        log_nb + r * np.log(alpha / (alpha + t)) + n * np.log(t / (alpha + t)) + s * np.log(beta / (beta + t))
    ) if t > 0 else float(n == 0)
    if t == 0:
        return alive

    def log_density(tau):
        with np.errstate(divide="ignore"):
            log_nb_tau = r * np.log(alpha / (alpha + tau)) + n * (np.log(tau) - np.log(alpha + tau)) if n > 0 \
                else r * np.log(alpha / (alpha + tau))
        return log_nb + log_nb_tau + np.log(s) + s * np.log(beta) - (s + 1) * np.log(beta + tau)

    # the integrand is unimodal in tau: integrate it scaled by its largest value, split at the mode
    grid = t * np.concatenate(([0.0], np.logspace(-12, 0, 400)))
    values = log_density(grid)
    top = float(np.max(values))
    mode = float(grid[int(np.argmax(values))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IntegrationWarning)
        points = [mode] if 0 < mode < t else None
        died, _ = quad(lambda tau: np.exp(log_density(tau) - top), 0.0, t, points=points, limit=200,
                       epsabs=0.0, epsrel=1e-12)
    return alive + died * np.exp(top)


# --------------------------------------------------------------------------- conditional distributions
_LEGENDRE = {size: np.polynomial.legendre.leggauss(size) for size in (16, 24, 32, 48, 64)}
#: Cells (rows x nodes x counts) of the quadrature of the conditional distribution evaluated at once.
_QUADRATURE_CELLS = 2_000_000
#: Rows x nodes of the recursion over counts updated at once (2 MB arrays).
_RECURSION_CELLS = 262_144
#: Below this, a term of the recursion that is falling is dropped (no denormal numbers): it adds nothing.
_NEGLIGIBLE = 1e-280
#: The recursion starts from P(X = 0) at each node; rows where it may underflow (log below -this) take the
#: quadrature in logs (:func:`pareto_nbd_pmf_if_alive`).
_LOG_START = 500.0
#: The rules of :func:`pareto_nbd_pmf_counts_if_alive`, tried in turn: (points of the answer, of its check).
_RULES = ((24, 16), (48, 24))
#: Largest difference of the two rules in P(X < n | alive) accepted.
_RULE_AGREEMENT = 1e-12


def _death_quadrature(R, A, s, B, t, n, panels: int, size: int):
    """sum over panels of Gauss-Legendre rules for the part "dies at tau < t" of P(X = n | alive at T):

    integral over (0, t) of s B^s (B + tau)^-(s+1) NB(n; R, A / (A + tau)) dtau, in y = log(1 + tau / c),
    c = min(A, B): the poles of the integrand at tau = -A and tau = -B go to y = -infinity and to
    Im y = pi, far from the interval, so the rule converges fast. Returns (D, n).
    """
    c = np.minimum(A, B)
    Y = np.log1p(t / c)
    nodes, weights = _LEGENDRE[size]
    edges = np.linspace(0.0, 1.0, panels + 1)
    y = (edges[:-1, None] + (nodes[None, :] + 1) / 2 * np.diff(edges)[:, None]).ravel()  # on (0, 1)
    w = np.repeat(np.diff(edges), size) * np.tile(weights, panels) / 2
    y = Y[:, None] * y[None, :]  # (D, Q)
    tau = c[:, None] * np.expm1(y)
    log_jacobian = np.log(c)[:, None] + y + np.log(Y)[:, None] + np.log(w)[None, :]
    log_density = np.log(s) + s * np.log(B)[:, None] - (s + 1) * np.log(B[:, None] + tau)
    log_share = np.log(A)[:, None] - np.log(A[:, None] + tau)  # A / (A + tau)
    with np.errstate(divide="ignore"):
        log_buy = np.log(tau) - np.log(A[:, None] + tau)
    log_nb = (
        (gammaln(R[:, None] + n[None, :]) - gammaln(R)[:, None] - gammaln(n + 1)[None, :])[:, None, :]
        + R[:, None, None] * log_share[:, :, None]
        + np.where(n[None, None, :] > 0, n[None, None, :] * log_buy[:, :, None], 0.0)
    )
    return np.exp(log_nb + (log_jacobian + log_density)[:, :, None]).sum(axis=1)


def pareto_nbd_pmf_if_alive(params, x, T, t, n):
    """P(X(T, T + t] = n | alive at T), rows x n: NB(n; r + x, (alpha + T) / (alpha + T + tau)) for the
    time tau he stays alive, tau = t with probability ((beta + T) / (beta + T + t))^s, else from the Lomax
    density of his remaining lifetime (integrated by :func:`_death_quadrature`, two rules compared and
    panels added where they disagree)."""
    r, alpha, s, beta = params
    x, T = np.asarray(x, dtype=float), np.asarray(T, dtype=float)
    n = np.asarray(n, dtype=float)
    R, A, B = r + x, alpha + T, beta + T
    out = np.zeros((x.size, n.size))
    if t <= 0:
        out[:, n == 0] = 1.0
        return out
    log_nb_t = (
        gammaln(R[:, None] + n[None, :]) - gammaln(R)[:, None] - gammaln(n + 1)[None, :]
        + R[:, None] * (np.log(A) - np.log(A + t))[:, None] + n[None, :] * (np.log(t) - np.log(A + t))[:, None]
    )
    alive = np.exp(log_nb_t + s * (np.log(B) - np.log(B + t))[:, None])
    step = max(1, _QUADRATURE_CELLS // (128 * max(n.size, 1)))
    for start in range(0, x.size, step):
        rows = slice(start, start + step)
        args = (R[rows], A[rows], s, B[rows], t, n)
        coarse = _death_quadrature(*args, panels=1, size=64)
        fine = _death_quadrature(*args, panels=4, size=32)
        doubtful = np.any(np.abs(fine - coarse) > 1e-11, axis=1)
        if doubtful.any():
            index = np.flatnonzero(doubtful)
            fine[index] = _death_quadrature(R[rows][index], A[rows][index], s, B[rows][index], t, n, 16, 64)
        out[rows] = alive[rows] + fine
    return out


def _recursion_start(R, A, s, B, t, size: int):
    """Log of each node's share of P(X = 0 | alive at T) and its NBD's p = tau / (A + tau), (D, size + 1):
    the nodes of a ``size``-point Gauss-Legendre rule for the part "dies at tau < t" (in the variable of
    :func:`_death_quadrature`), and last the customer alive throughout (tau = t, weight ((B / (B + t))^s)."""
    c = np.minimum(A, B)
    Y = np.log1p(t / c)
    nodes, weights = _LEGENDRE[size]
    y = Y[:, None] * ((nodes + 1) / 2)[None, :]
    tau = c[:, None] * np.expm1(y)
    # c + tau = c e^y: one of log(A + tau), log(B + tau) is log c + y (A - B = alpha - beta: the same one
    # for every row of a parameter vector)
    log_c_tau = np.log(c)[:, None] + y
    a_least = bool(np.all(A <= B))
    log_a_tau = log_c_tau if a_least else np.log(A[:, None] + tau)
    log_b_tau = np.log(B[:, None] + tau) if a_least else log_c_tau
    # per row: the weight's and the densities' constant factors
    row_constant = np.log(Y) + np.log(s) + s * np.log(B) + R * np.log(A)
    log_start = np.empty((R.size, size + 1))
    body = log_start[:, :size]
    np.multiply(log_b_tau, -(s + 1), out=body)
    body += log_c_tau
    body -= R[:, None] * log_a_tau
    body += row_constant[:, None]
    body += np.log(weights / 2)[None, :]
    log_start[:, size] = s * (np.log(B) - np.log(B + t)) + R * (np.log(A) - np.log(A + t))
    p = np.empty((R.size, size + 1))
    np.divide(tau, A[:, None] + tau, out=p[:, :size])
    p[:, size] = t / (A + t)
    return log_start, p


class _Recursion:
    """sum over nodes of NB(n; R, 1 - p) times the node's weight, count after count, for rows (R, log of the
    nodes' weights times P(X = 0) at the node, p), from n = 0: :meth:`advance` gives the next ``counts``
    counts and keeps its place, so a walk over the counts block by block continues where it stopped, with the
    same arithmetic (so the same values) as one call for all of them.

    From P(X = 0) at each node by NB(n + 1) / NB(n) = (R + n) / (n + 1) p. The node's factor p is applied at
    each count, the row's (R + n) / (n + 1) to the row's sum and, every 8 counts, folded into the terms (so
    they stay within range: at most 1 after folding, nothing overflows); a falling term below _NEGLIGIBLE is
    dropped then (it adds nothing, and denormal numbers are slow).

    ``groups`` (numbers of nodes) splits the nodes into rules of the same rows, summed apart (a rule and its
    check: the row's factors are the same, so they move on together); the sums are then (rows, counts, groups).
    """

    def __init__(self, R, log_start, p, groups: tuple[int, ...] | None = None):
        self.term, self.ratio, self.size = np.exp(log_start), p, R
        self.scale = np.ones(R.size)
        self.n = 0  # the next count
        self.groups = groups

    def advance(self, counts: int) -> np.ndarray:
        """The next ``counts`` counts' sums, (rows, counts) or (rows, counts, groups)."""
        edges = np.cumsum((0,) + (self.groups or (self.ratio.shape[1],)))
        parts = [(slice(a, b), np.ones(b - a)) for a, b in itertools.pairwise(edges)]
        out = np.empty((self.size.size, counts, len(parts)))
        step = max(1, _RECURSION_CELLS // self.ratio.shape[1])
        for first in range(0, self.size.size, step):
            rows = slice(first, first + step)
            # views: the state moves on in place
            term, ratio, size, scale = self.term[rows], self.ratio[rows], self.size[rows], self.scale[rows]
            for k in range(counts):
                n = self.n + k
                for g, (nodes, ones) in enumerate(parts):
                    out[rows, k, g] = (term[:, nodes] @ ones) * scale
                term *= ratio
                scale *= (size + n) / (n + 1)
                if n % 8 == 7:
                    term *= scale[:, None]
                    scale[:] = 1.0
                    term[term < _NEGLIGIBLE] = 0.0
        self.n += counts
        return out if self.groups else out[:, :, 0]

    def keep(self, which) -> None:
        """Keep the rows ``which`` (a mask or positions) only."""
        self.term, self.ratio, self.size, self.scale = (a[which] for a in (self.term, self.ratio, self.size, self.scale))

    def join(self, other: _Recursion) -> None:
        """Add the rows of ``other`` (at the same count) after these."""
        self.term, self.ratio, self.size, self.scale = (
            np.concatenate([a, b]) for a, b in zip((self.term, self.ratio, self.size, self.scale),
                                                   (other.term, other.ratio, other.size, other.scale))
        )


def _pmf_by_recursion(R, log_start, p, counts: int):
    """sum over nodes of NB(n; R, 1 - p) times the node's weight, n = 0 .. counts - 1, (D, counts): see
    :class:`_Recursion`."""
    return _Recursion(R, log_start, p).advance(counts)


def pareto_nbd_pmf_counts_if_alive(params, x, T, t, counts: int):
    """P(X(T, T + t] = n | alive at T) for n = 0 .. counts - 1, rows x counts: what
    :func:`pareto_nbd_pmf_if_alive` gives, by the same quadrature over the death time with the NBD of
    every node advanced from one count to the next by its ratio (a multiplication per node and count
    where that function takes a logarithm and an exponential per rule, and 64 + 128 points).

    The rules of _RULES are tried in turn, each row taking the first whose answer agrees with its check rule
    (half the points) within _RULE_AGREEMENT on P(X < n | alive) at every count: Gauss rules converge
    geometrically, so the larger rule's error is then far below that difference. Rows where no pair agrees
    (many purchases, whose integrand is sharply peaked), or where P(X = 0) at a node may underflow, take
    :func:`pareto_nbd_pmf_if_alive`."""
    r, alpha, s, beta = params
    x, T = np.asarray(x, dtype=float).reshape(-1), np.asarray(T, dtype=float).reshape(-1)
    R, A, B = r + x, alpha + T, beta + T
    if t <= 0 or counts <= 0:
        return pareto_nbd_pmf_if_alive(params, x, T, t, np.arange(max(counts, 0), dtype=float))
    out = np.empty((x.size, counts))
    pending = np.arange(x.size)
    for size, check_size in _RULES:
        if pending.size == 0:
            break
        log_start, p = _recursion_start(R[pending], A[pending], s, B[pending], t, size)
        check_start, check_p = _recursion_start(R[pending], A[pending], s, B[pending], t, check_size)
        usable = (log_start.min(axis=1) > -_LOG_START) & (check_start.min(axis=1) > -_LOG_START)
        pending, rows = pending[~usable], pending[usable]
        pmf = _pmf_by_recursion(R[rows], log_start[usable], p[usable], counts)
        check = _pmf_by_recursion(R[rows], check_start[usable], check_p[usable], counts)
        agree = np.abs(np.cumsum(pmf - check, axis=1)).max(axis=1) <= _RULE_AGREEMENT
        out[rows[agree]] = pmf[agree]
        pending = np.sort(np.concatenate([pending, rows[~agree]]))
    if pending.size:
        out[pending] = pareto_nbd_pmf_if_alive(params, x[pending], T[pending], t, np.arange(counts, dtype=float))
    return out


def pareto_nbd_survival_if_alive(params, x, T, t, n):
    """P(X(T, T + t] >= n | alive at T), rows x n: 1 - the sum of the probabilities below n (absolute error
    ~1e-16, what probabilities need)."""
    n = np.asarray(n, dtype=float)
    below = np.arange(max(int(n.max()), 0), dtype=float) if n.size else np.zeros(0)
    cumulative = np.zeros((np.size(x), below.size + 1))
    if below.size:
        cumulative[:, 1:] = np.cumsum(pareto_nbd_pmf_counts_if_alive(params, x, T, t, below.size), axis=1)
    return np.clip(1.0 - cumulative[:, n.astype(int)], 0.0, 1.0)


#: State (floats) a survival walk keeps at most, per parameter vector; beyond, each block is computed afresh.
_WALK_CELLS = 2_000_000


class _SurvivalWalk:
    """P(X(T, T + t] >= n | alive at T) of rows (x, T) for n = 1, 2, ... block after block (the walk of
    :meth:`ParetoNBDModel._survival_walk`): for each block what :func:`pareto_nbd_survival_if_alive` gives,
    with each row's recursions (:class:`_Recursion`, of its rule and of the rule's check) carried from one
    block to the next instead of started again from n = 0, and the nodes computed once.

    A row takes the first rule of _RULES that agrees with its check within _RULE_AGREEMENT at every count so
    far, as :func:`pareto_nbd_pmf_counts_if_alive` chooses for the counts up to the block's last: a row whose
    rule stops agreeing starts the next rule from n = 0, and a row no rule serves (or that may underflow) is
    computed by :func:`pareto_nbd_pmf_if_alive` for all its counts at each block, as there. The sums run in
    the same order, so the values are those of :func:`pareto_nbd_survival_if_alive`. Rows not asked in a
    block leave the state; a block that does not follow the rows' last (or state beyond _WALK_CELLS) is
    answered afresh, and those rows are then always answered afresh."""

    def __init__(self, params, x, T, t: float):
        self.params, self.t = params, float(t)
        self.x = np.asarray(x, dtype=float).reshape(-1)
        self.T = np.asarray(T, dtype=float).reshape(-1)
        size = self.x.size
        self.reached = np.zeros(size, dtype=np.int64)  # counts summed per row (-1: answered afresh)
        self.cumulative = np.zeros(size)  # P(X < reached | alive)
        self.rule = np.full(size, -1, dtype=np.int64)  # the rule's position in _RULES; len(_RULES): quadrature
        self.tracks = [None] * len(_RULES)  # per rule: its rows, their recursions and cumulative differences
        nodes = sum(a + b + 2 for a, b in _RULES[:1])
        self.stateful = self.t > 0 and 2 * nodes * size <= _WALK_CELLS

    def survival(self, rows, n) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        n = np.asarray(n, dtype=float).reshape(-1)
        start = int(self.reached[rows[0]]) if rows.size else 0
        if not (self.stateful and rows.size and n.size and start >= 0
                and np.array_equal(n, np.arange(start + 1, start + 1 + n.size, dtype=float))
                and np.all(self.reached[rows] == start)):
            self.reached[rows] = -1
            return pareto_nbd_survival_if_alive(self.params, self.x[rows], self.T[rows], self.t, n)
        counts = start + n.size
        new = np.empty((rows.size, n.size))  # P(X = m | alive), m = start .. counts - 1
        where = np.full(self.x.size, -1, dtype=np.int64)
        where[rows] = np.arange(rows.size)
        asked = where >= 0
        pending = rows[self.rule[rows] < 0]  # rows without a rule yet (the first block)
        for k, sizes in enumerate(_RULES):
            failed = [] if self.tracks[k] is None else [self._advance(k, asked, where, new, n.size)]
            if pending.size:
                failed.append(self._begin(k, sizes, pending, where, new, start, counts))
            pending = np.concatenate(failed) if failed else pending[:0]
        self.rule[pending] = len(_RULES)
        afresh = rows[self.rule[rows] == len(_RULES)]
        if afresh.size:
            pmf = pareto_nbd_pmf_if_alive(self.params, self.x[afresh], self.T[afresh], self.t,
                                          np.arange(counts, dtype=float))
            self._restart(afresh, pmf, start)
            new[where[afresh]] = pmf[:, start:]
        cumulative = np.cumsum(np.column_stack([self.cumulative[rows], new]), axis=1)
        self.cumulative[rows] = cumulative[:, -1]
        self.reached[rows] = counts
        return np.clip(1.0 - cumulative[:, 1:], 0.0, 1.0)

    def _restart(self, rows, pmf, start: int) -> None:
        """The rows' P(X < start) from their probabilities of every count from 0 (a new rule for them)."""
        self.cumulative[rows] = np.cumsum(pmf[:, :start], axis=1)[:, -1] if start else 0.0

    def _advance(self, k, asked, where, new, block):
        """Move the rows of rule ``k`` that are asked on by ``block`` counts; returns those whose rule stops
        agreeing with its check (they leave the rule)."""
        rows, both, difference = self.tracks[k]
        kept = asked[rows]
        if not kept.all():
            rows, difference = rows[kept], difference[kept]
            both.keep(kept)
        sums = both.advance(block)
        pmf, other = sums[:, :, 0], sums[:, :, 1]
        difference = np.cumsum(np.column_stack([difference, pmf - other]), axis=1)
        agree = np.abs(difference[:, 1:]).max(axis=1) <= _RULE_AGREEMENT
        new[where[rows[agree]]] = pmf[agree]
        failed = rows[~agree]
        if not agree.all():
            both.keep(agree)
        self.tracks[k] = (rows[agree], both, difference[agree, -1])
        return failed

    def _begin(self, k, sizes, rows, where, new, start, counts):
        """Start rule ``k`` for ``rows`` from n = 0 to ``counts``; returns the rows it does not serve."""
        size, check_size = sizes
        R, A, B = self.params[0] + self.x[rows], self.params[1] + self.T[rows], self.params[3] + self.T[rows]
        s = self.params[2]
        log_start, p = _recursion_start(R, A, s, B, self.t, size)
        check_start, check_p = _recursion_start(R, A, s, B, self.t, check_size)
        usable = (log_start.min(axis=1) > -_LOG_START) & (check_start.min(axis=1) > -_LOG_START)
        # the rule and its check together (the same rows' factors)
        both = _Recursion(R[usable], np.hstack([log_start, check_start])[usable], np.hstack([p, check_p])[usable],
                          groups=(size + 1, check_size + 1))
        sums = both.advance(counts)
        pmf, other = sums[:, :, 0], sums[:, :, 1]
        difference = np.cumsum(pmf - other, axis=1)
        agree = np.abs(difference).max(axis=1) <= _RULE_AGREEMENT
        served = rows[usable][agree]
        both.keep(agree)
        self._restart(served, pmf[agree], start)
        new[where[served]] = pmf[agree, start:]
        self.rule[served] = k
        if self.tracks[k] is None:
            self.tracks[k] = (served, both, difference[agree, -1])
        else:
            old_rows, old_both, old_difference = self.tracks[k]
            old_both.join(both)
            self.tracks[k] = (np.concatenate([old_rows, served]), old_both,
                              np.concatenate([old_difference, difference[agree, -1]]))
        return np.concatenate([rows[~usable], rows[usable][~agree]])


def pareto_nbd_next_purchase(params, x, T, times):
    """(P(a purchase comes | alive at T), P(within times | it comes), E[time to it | it comes]).

    The next purchase of a customer alive at T comes at T + u with the (defective) density
    E[lambda e^-(lambda + mu) u] = R A^R (A + u)^-(R+1) B^s (B + u)^-s, R = r + x, A = alpha + T,
    B = beta + T, so every figure is a tail integral I(a, b; A, B) = integral over u > 0 of
    (A + u)^-a (B + u)^-b du (:func:`_log_tail_integral`, as the likelihood uses).
    """
    r, alpha, s, beta = params
    x, T = np.asarray(x, dtype=float), np.asarray(T, dtype=float)
    R, A, B = r + x, alpha + T, beta + T
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # in the derivatives, not used here
        return _next_purchase(R, A, s, B, times)


def _next_purchase(R, A, s, B, times):
    log_all = _log_tail_integral(R + 1, s, A, B)[0]
    p_ever = np.exp(np.log(R) + R * np.log(A) + s * np.log(B) + log_all)
    w = np.asarray(times, dtype=float)
    w = np.broadcast_to(w[None, :] if w.ndim == 1 else w, (R.size, w.shape[-1]))
    later = _log_tail_integral((R + 1)[:, None], s, A[:, None] + w, B[:, None] + w)[0]
    cdf = -np.expm1(later - log_all[:, None])
    # integral of u g(u) = R A^R B^s [I(R, s) - A I(R + 1, s)], finite for R + s > 1
    finite = R + s > 1
    log_first = _log_tail_integral(np.where(finite, R, 2.0), s + np.where(finite, 0.0, 1.0), A, B)[0]
    mean = np.where(finite, np.exp(log_first - log_all) - A, np.inf)
    return np.minimum(p_ever, 1.0), cdf, mean


class ParetoNBDRows(_rows._Cached):
    """Sum of weighted Pareto/NBD log-likelihoods over rows (x, t_x, T) and its gradient in (r, alpha, s, beta).

    The first term of the likelihood depends on (x, T), the second on (x, t_x): each is evaluated once per
    distinct pair.
    """

    def __init__(self, x, t_x, T, weights):
        super().__init__()
        x, t_x, T, weights = (np.asarray(v, dtype=float) for v in (x, t_x, T, weights))
        self.n = weights.sum()
        self.w = weights
        self.sum_w_x = _rows._dot(weights, x)
        ix, self.ux = _rows._codes(x)
        self.weight_of_x = np.bincount(ix, weights=weights, minlength=self.ux.size)
        self.iT, (self.xT, self.T) = _distinct_rows([x, T])
        self.it, (self.xt, self.t) = _distinct_rows([x, t_x])

    def _evaluate(self, params):
        r, alpha, s, beta = params
        ux, Wx = self.ux, self.weight_of_x
        # log C = lgamma(r + x) - lgamma(r) + r log alpha + s log beta
        value = Wx @ gammaln(r + ux) + self.n * (-gammaln(r) + r * np.log(alpha) + s * np.log(beta))
        d_r = Wx @ digamma(r + ux) + self.n * (np.log(alpha) - digamma(r))
        d_alpha = self.n * r / alpha
        d_s = self.n * np.log(beta)
        d_beta = self.n * s / beta
        k_T = r + self.xT
        alive = _log_tail_integral(k_T + 1, s, alpha + self.T, beta + self.T)
        k_t = r + self.xt
        died = _log_tail_integral(k_t, s + 1, alpha + self.t, beta + self.t)
        first = (np.log(k_T) + alive[0])[self.iT]
        second = (np.log(s) + died[0])[self.it]
        total = np.logaddexp(first, second)
        value += _rows._dot(self.w, total)
        w_first = self.w * np.exp(first - total)
        w_second = self.w - w_first
        # gather the per-pair derivatives through the row weights
        W1 = np.bincount(self.iT, weights=w_first, minlength=k_T.size)
        W2 = np.bincount(self.it, weights=w_second, minlength=k_t.size)
        # k = r + x enters as a = k + 1 (alive) and a = k (died); the first term also has the factor k
        d_r += W1 @ (1.0 / k_T + alive[1]) + W2 @ died[1]
        d_s += W1 @ alive[2] + W2 @ (1.0 / s + died[2])
        d_alpha += W1 @ alive[3] + W2 @ died[3]
        d_beta += W1 @ alive[4] + W2 @ died[4]
        return float(value), np.array([d_r, d_alpha, d_s, d_beta])


def row_log_likelihood(params, x, t_x, T):
    """Each row's Pareto/NBD log-likelihood and its derivatives in (r, alpha, s, beta), shape (4, n), parameters
    per row: the two-integral form of this module's docstring, as :class:`ParetoNBDRows` sums it."""
    r, alpha, s, beta = params
    k = r + x
    values = gammaln(k) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = _log_tail_integral(k + 1, s, alpha + T, beta + T)
    died = _log_tail_integral(k, s + 1, alpha + t_x, beta + t_x)
    first = np.log(k) + alive[0]
    second = np.log(s) + died[0]
    total = np.logaddexp(first, second)
    w_first = np.exp(first - total)
    w_second = 1.0 - w_first
    gradient = np.array([
        digamma(k) - digamma(r) + np.log(alpha) + w_first * (1.0 / k + alive[1]) + w_second * died[1],
        r / alpha + w_first * alive[3] + w_second * died[3],
        np.log(beta) + w_first * alive[2] + w_second * (1.0 / s + died[2]),
        s / beta + w_first * alive[4] + w_second * died[4],
    ])
    return values + total, gradient


def _probability_alive_rows(params, x, t_x, T):
    """P(alive) as :func:`pareto_nbd_probability_alive`, with parameters per row (4, n)."""
    r, alpha, s, beta = params
    k = r + x
    alive = _log_tail_integral(k + 1, s, alpha + T, beta + T)[0]
    died = _log_tail_integral(k, s + 1, alpha + t_x, beta + t_x)[0]
    log_l_over_c = np.logaddexp(np.log(k) + alive, np.log(s) + died)
    return np.minimum(np.exp(-k * np.log(alpha + T) - s * np.log(beta + T) - log_l_over_c), 1.0)


class ParetoNBDModel(PurchaseModel):
    """The Pareto/NBD model of repeat purchasing and dropout (Schmittlein, Morrison & Colombo 1987).

    While alive, a customer buys as a Poisson process with rate ``lambda``; his
    lifetime is exponential with rate ``mu``, and he may die at any time, also
    before his first repeat purchase. Across customers ``lambda ~ Gamma(r,
    alpha)`` and ``mu ~ Gamma(s, beta)`` (shape, rate), independently.

    Parameters
    ----------
    penalizer_coef : float, default 0
        L2 penalty on the parameters (as lifetimes applies it).
    engine : {"native", "lifetimes"}, default "native"
        "lifetimes" fits with lifetimes' ParetoNBDFitter (Nelder-Mead, slow);
        "native" maximises this package's log-likelihood with its analytic
        gradient on the compressed rows.
    purchase_covariates : list of str, optional
        RFM-table columns acting on the purchase rate: alpha_i = alpha exp(-g_purchase' z_i), so a positive
        coefficient raises the purchase rate (Fader & Hardie's note on time-invariant covariates; CLVTools). Categorical
        columns are encoded against a reference level (see :mod:`clv_predict.covariates`); the coefficients are
        ``purchase:<column>`` (``purchase:channel[web]``) in ``params_``.
    dropout_covariates : list of str, optional
        Columns acting on dropout: beta_i = beta exp(-g_dropout' z_i) (a positive coefficient raises the
        dropout rate); coefficients ``dropout:<column>``.
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
    >>> from clv_predict import ParetoNBDModel, rfm_summary
    >>> from clv_predict.datasets import load_cdnow
    >>> log = load_cdnow()
    >>> rfm = rfm_summary(log[log["date"] <= "1997-09-30"], customer_id_col="customer_id",
    ...                   datetime_col="date", observation_period_end="1997-09-30", time_unit="W")
    >>> model = ParetoNBDModel().fit(rfm)
    >>> model.params_.round(3).to_dict()
    {'r': 0.553, 'alpha': 10.578, 's': 0.606, 'beta': 11.669}
    >>> round(model.log_likelihood_, 2)
    -9594.98
    >>> round(model.expected_purchases_new_customer(52), 4)
    1.4734
    """

    name = "pareto_nbd"
    label = "Pareto/NBD"
    _param_names = ("r", "alpha", "s", "beta")
    _shape_params = ("r", "s")
    _time_params = ("alpha", "beta")
    _edge_meaning = (
        "the data show (almost) no dropout or no spread in purchase or dropout rates, so Pareto/NBD reduces to "
        "a simpler model and P(alive) carries little information."
    )
    _kind = "ParetoNBDModel"
    _lifetimes_engine = True
    # Fader & Hardie's note and CLVTools: alpha_i = alpha exp(-g_p'z), beta_i = beta exp(-g_d'z)
    _covariate_links: ClassVar[dict] = {"alpha": ("purchase", -1.0), "beta": ("dropout", -1.0)}

    def _row_log_likelihood(self, params, columns):
        return row_log_likelihood(params, columns["frequency"], columns["recency"], columns["T"])

    def _make_rows(self, columns, weights):
        return ParetoNBDRows(columns["frequency"], columns["recency"], columns["T"], weights)

    def _lifetimes_fit(self, data, initial_log_params):
        unique = data["unique"]
        params = _lifetimes.fit_pareto_nbd(
            unique["frequency"], unique["recency"], unique["T"], data["weights"], self.penalizer_coef,
            initial_log_params,
        )
        # lifetimes fits in the original units; the optimiser here works in units of the longest T
        params[[1, 3]] *= data["scale"]
        return params

    def _probability_alive_values(self, params, x, t_x, T):
        if np.ndim(params) == 2:
            return _probability_alive_rows(params, np.asarray(x, float), np.asarray(t_x, float), np.asarray(T, float))
        return pareto_nbd_probability_alive(params, x, t_x, T)

    _alive_takes_row_params = True

    def _probability_alive_at(self, params_list, x, t_x, T):
        # pareto_nbd_probability_alive's terms on the distinct (x, T) and (x, t_x) pairs, found once for every
        # parameter vector, and only its last steps per row (the same operations: the same values)
        x, t_x, T = (np.asarray(v, dtype=float).reshape(-1) for v in np.broadcast_arrays(x, t_x, T))
        iT, xT, uT, it, xt, ut = _distinct_pairs(x, t_x, T)
        out = np.empty((len(params_list), x.size))
        for i, (r, alpha, s, beta) in enumerate(params_list):
            k_T, k_t = r + xT, r + xt
            alive = np.log(k_T) + _log_tail_integral(k_T + 1, s, alpha + uT, beta + uT)[0]
            died = np.log(s) + _log_tail_integral(k_t, s + 1, alpha + ut, beta + ut)[0]
            log_alive_term = -k_T * np.log(alpha + uT) - s * np.log(beta + uT)
            log_l_over_c = np.logaddexp(alive[iT], died[it])
            out[i] = np.minimum(np.exp(log_alive_term[iT] - log_l_over_c), 1.0)
        return out

    def _expected_if_alive_values(self, params, x, t_x, T, t):
        return pareto_nbd_expected_if_alive(params, x, T, t)

    def _second_moment_if_alive_values(self, params, x, t_x, T, t):
        return pareto_nbd_second_moment_if_alive(params, x, T, t)

    def _expected_new_customer_values(self, params, t):
        values = pareto_nbd_expected_if_alive(params, 0.0, 0.0, t)
        return float(values) if np.ndim(values) == 0 else values

    def _probability_of_n_values(self, params, t, n):
        return np.array([_probability_of_n(params, float(t), float(value)) for value in n])

    def _survival_if_alive_values(self, params, x, t_x, T, t, n):
        return pareto_nbd_survival_if_alive(params, x, T, t, n)

    def _survival_walk(self, params, x, t_x, T, t):
        # the counts come by recursion: carry it from block to block
        return _SurvivalWalk(params, x, T, t)

    def _future_alive_values(self, params, x, t_x, T, t):
        # the remaining lifetime of a customer alive at T is Lomax: survival ((beta + T) / (beta + T + t))^s
        s, beta = params[2], params[3]
        T = np.asarray(T, dtype=float)
        return pareto_nbd_probability_alive(params, x, t_x, T) * np.exp(s * (np.log(beta + T) - np.log(beta + T + t)))

    def _next_purchase_values(self, params, x, t_x, T, times):
        p_ever, cdf, mean = pareto_nbd_next_purchase(params, x, T, times)
        return pareto_nbd_probability_alive(params, x, t_x, T) * p_ever, cdf, mean

    def _simulate_repeat_times(self, params, horizons, rng):
        r, alpha, s, beta = params
        rate = rng.gamma(r, 1.0 / alpha, horizons.size)
        death_rate = rng.gamma(s, 1.0 / beta, horizons.size)
        with np.errstate(divide="ignore"):
            lifetime = rng.standard_exponential(horizons.size) / death_rate
        # purchases form a Poisson process on (0, min(lifetime, horizon)], the lifetime being independent of it
        active = np.minimum(lifetime, horizons)
        arrivals = rng.poisson(rate * active)
        return _first_arrival_times(rng, arrivals, arrivals, active)

    def _dropout_distribution(self, params):
        s, beta = params[2], params[3]
        return (
            stats.gamma(s, scale=1.0 / beta),
            "Dropout rate mu while alive (dropouts per time unit)",
            f"Gamma(s={s:.3g}, beta={beta:.3g})",
            False,
        )
