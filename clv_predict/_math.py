"""The BG/NBD and Gamma-Gamma formulas, vectorised, in log space where they can overflow.

References: Fader, Hardie & Lee (2005), "Counting your customers the easy way",
Marketing Science 24(2); Fader & Hardie, "The Gamma-Gamma model of monetary
value" (2013 note); Fader, Hardie & Lee, "Computing P(alive) using the BG/NBD
model" (note 021).
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
from scipy.integrate import IntegrationWarning, quad
from scipy.linalg import eigh_tridiagonal
from scipy.special import betainc, betaln, digamma, expit, gammaln, hyp2f1


# --------------------------------------------------------------------------- BG/NBD
def bgnbd_log_likelihood(params, x, t_x, T):
    """Per-customer log-likelihood of (x, t_x, T) under BG/NBD parameters (r, alpha, a, b)."""
    r, alpha, a, b = params
    x = np.asarray(x, dtype=float)
    repeat = x > 0
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + t_x)
    a4 = np.where(repeat, a4, -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


def bgnbd_gradient(params, x, t_x, T, weights):
    """Gradient of sum(weights * log-likelihood) with respect to (r, alpha, a, b)."""
    r, alpha, a, b = params
    x = np.asarray(x, dtype=float)
    repeat = x > 0
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + t_x)
    # share of the second term in the likelihood (0 for non-repeaters)
    w4 = np.where(repeat, expit(a4 - a3), 0.0)
    w3 = 1.0 - w4
    dr = digamma(r + x) - digamma(r) + np.log(alpha) - w3 * np.log(alpha + T) - w4 * np.log(alpha + t_x)
    dalpha = r / alpha - w3 * (r + x) / (alpha + T) - w4 * (r + x) / (alpha + t_x)
    common = digamma(a + b) - digamma(a + b + x)
    da = common + w4 / a
    db = common + digamma(b + x) - digamma(b) - w4 / (b + np.maximum(x, 1) - 1)
    return np.array([weights @ dr, weights @ dalpha, weights @ da, weights @ db])


def bgnbd_log_odds_dead(params, x, t_x, T):
    """log of a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x): the odds that a repeat buyer has dropped out."""
    r, alpha, a, b = params
    x = np.asarray(x, dtype=float)
    return np.log(a) - np.log(b + np.maximum(x, 1) - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))


def bgnbd_probability_alive(params, x, t_x, T):
    """P(alive | x, t_x, T); 1 for customers without repeat purchases."""
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, expit(-bgnbd_log_odds_dead(params, x, t_x, T)), 1.0)


def _log_hyp2f1(a, b, c, z):
    """log 2F1(a, b; c; z) for 0 <= z < 1, falling back to Euler's transformation where 2F1 overflows."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        direct = np.log(hyp2f1(a, b, c, z))
        overflow = ~np.isfinite(direct)
        if not overflow.any():  # the common case: no second, costly evaluation of 2F1
            return direct
        a, b, c, z = np.broadcast_arrays(a, b, c, z)
        a, b, c, z = a[overflow], b[overflow], c[overflow], z[overflow]
        euler = np.log(hyp2f1(c - a, c - b, c, z)) + (c - a - b) * np.log1p(-z)
    out = np.array(direct, dtype=float)
    out[overflow] = euler
    return out if out.ndim else float(out)


def bgnbd_expected_if_alive(params, x, T, t):
    """Expected purchases in (T, T+t] of a customer who is alive at T, given x repeat purchases.

    Depends on (x, T) only, not on recency: recency enters through P(alive).
    Equation (10) of Fader, Hardie & Lee (2005) is P(alive) times this.
    """
    r, alpha, a, b = params
    x, T, t = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(T, dtype=float), np.asarray(t, dtype=float))
    c = a + b + x - 1
    z = t / (alpha + T + t)
    with np.errstate(all="ignore"):
        log_term = _log_hyp2f1(r + x, b + x, c, z) - (r + x) * np.log1p(t / (alpha + T))
        closed = np.where(t > 0, c / (a - 1) * -np.expm1(log_term), 0.0)
        # every customer alive at T buys at most (r + x) t / (alpha + T) in expectation (the p -> 0 limit)
        bound = (r + x) * t / (alpha + T)
    # The closed form cancels catastrophically for a near 1 and for short horizons (1 - 2F1 x ... near
    # 0), and meets poles of 2F1 for c near 0 or a negative integer (a + b < 1 gives c < 0 for x = 0);
    # there the integral it solves is taken directly.
    doubtful = (
        ~np.isfinite(closed) | (closed < -1e-12 * bound) | (closed > bound * (1 + 1e-9))
        | (abs(a - 1) < 0.05) | (c < 1.0) | (abs(log_term) < 1e-3)
    ) & (t > 0)
    if not doubtful.any():
        return closed
    out = np.array(closed, dtype=float)
    # Gauss-Jacobi rules (one per distinct x) handle most cells at once; cells where rules of two
    # sizes disagree go to adaptive quadrature one by one
    settled = np.zeros(out.shape, dtype=bool)
    for value in np.unique(x[doubtful]):
        cells = doubtful & (x == value)
        size = _gauss_jacobi_size(r, alpha, a, b, value, T[cells], t[cells])
        if size:
            out[cells] = _expected_if_alive_by_gauss_jacobi(r, alpha, a, b, value, T[cells], t[cells], size)
            settled[cells] = True
            continue
        estimates = [_expected_if_alive_by_gauss_jacobi(r, alpha, a, b, value, T[cells], t[cells], n) for n in (48, 96)]
        good = np.isfinite(estimates[1]) & (abs(estimates[1] - estimates[0]) <= 1e-11 * abs(estimates[1]) + 1e-300)
        out[cells] = np.where(good, estimates[1], out[cells])
        settled[cells] = good
    for index in zip(*np.nonzero(doubtful & ~settled)) if out.ndim else ([()] if doubtful & ~settled else []):
        out[index] = _expected_if_alive_by_quadrature(r, alpha, a, b, x[index], T[index], t[index])
    return out if out.ndim else float(out)



#: Sizes of the Gauss-Jacobi rule tried for a whole group of cells (see _gauss_jacobi_size).
_GROUP_RULES = (12, 16, 24, 32, 48)


def _gauss_jacobi_size(r, alpha, a, b, x, T, t) -> int:
    """The smallest rule of _GROUP_RULES that gives the hardest cell of a group (one x) within 1e-13 of the
    96-point rule, or 0. The integrand is (1 - (1 + p s)^-(r + x)) / p, s = t / (alpha + T), s times a
    function of p s analytic but at p s = -1: the smaller s, the farther its singularity from [0, 1] and the
    faster a Gauss rule converges, so the largest s is the hardest cell, and a rule good there is good on
    all (it spares the two rules per cell, 48 and 96 points, where a near 1 sends every cell here)."""
    s = np.asarray(t / (alpha + T), dtype=float).reshape(-1)
    hardest = int(np.argmax(s))
    T1, t1 = np.asarray(T).reshape(-1)[hardest : hardest + 1], np.asarray(t).reshape(-1)[hardest : hardest + 1]
    reference = _expected_if_alive_by_gauss_jacobi(r, alpha, a, b, x, T1, t1, 96)[0]
    if not np.isfinite(reference):
        return 0
    for size in _GROUP_RULES:
        value = _expected_if_alive_by_gauss_jacobi(r, alpha, a, b, x, T1, t1, size)[0]
        if abs(value - reference) <= 1e-13 * abs(reference) + 1e-300:
            return size
    return 0

@functools.lru_cache(maxsize=4096)
def _beta_rule(n: int, a: float, b: float):
    """Nodes in (0, 1) and weights summing to 1 of the n-point Gauss rule for the Beta(a, b) density.

    Golub-Welsch on the Jacobi recurrence (as scipy's roots_jacobi), with the weights taken from the
    eigenvectors, normalised: scipy scales them by 2^(a+b) B(a, b), which overflows for large b.
    """
    alpha, beta = b - 1.0, a - 1.0  # the Jacobi weight (1 - u)^alpha (1 + u)^beta, p = (1 + u) / 2
    k = np.arange(n, dtype=float)
    total = alpha + beta
    diagonal = np.where(
        k == 0, (beta - alpha) / (2 + total), (beta**2 - alpha**2) / ((2 * k + total) * (2 * k + total + 2))
    )
    j = k[1:]
    with np.errstate(invalid="ignore", divide="ignore"):  # the j == 1 branch not taken may be negative
        off = (
            2.0 / (2 * j + total) * np.sqrt((j + alpha) * (j + beta) / (2 * j + total + 1))
            * np.where(j == 1, 1.0, np.sqrt(j * (j + total) / np.where(j == 1, 1.0, 2 * j + total - 1)))
        )
    nodes, vectors = eigh_tridiagonal(diagonal, off)
    weights = vectors[0] ** 2
    # cached (customers of different covariate patterns share their dropout parameters): read-only arrays
    nodes, weights = (1 + nodes) / 2, weights / weights.sum()
    nodes.flags.writeable = weights.flags.writeable = False
    return nodes, weights


def _expected_if_alive_by_gauss_jacobi(r, alpha, a, b, x, T, t, n: int) -> np.ndarray:
    """The integral of :func:`_expected_if_alive_by_quadrature` by an n-point Gauss-Jacobi rule for Beta(a, b + x)."""
    with np.errstate(all="ignore"):
        p, weights = _beta_rule(n, a, b + x)
        k, s = r + x, np.asarray(t / (alpha + T), dtype=float)
        g = -np.expm1(-k * np.log1p(p[None, :] * s.reshape(-1, 1))) / p[None, :]
        return (g @ weights).reshape(s.shape)


def _expected_if_alive_by_quadrature(r, alpha, a, b, x, T, t) -> float:
    """E = integral over p ~ Beta(a, b + x) of (1 - (1 + p s)^-(r + x)) / p, s = t / (alpha + T).

    That is the expected number of purchases of a customer alive at T who buys
    at rate lambda ~ Gamma(r + x, alpha + T) and drops out with probability p
    after each purchase, averaged over lambda in closed form and over p here.
    The integrand is bounded by (r + x) s, so the result is finite for any
    valid parameters, whatever the hypergeometric function does.
    """
    k, s, B = r + x, t / (alpha + T), b + x
    log_beta = betaln(a, B)

    def g(p):
        return -np.expm1(-k * np.log1p(p * s)) / p

    # mass below eps counts at g(0) = k s, above 1 - eps at g(1): relative error < 1e-13 either way
    eps = 1e-13 / (1.0 + k * s)
    head = k * s * betainc(a, B, eps)
    tail = g(1.0) * betainc(B, a, eps)

    def lower(y):  # p = exp(y), dp = p dy
        p = np.exp(y)
        return g(p) * np.exp(a * y + (B - 1) * np.log1p(-p) - log_beta)

    def upper(w):  # 1 - p = exp(w), dp = -(1 - p) dw
        p = -np.expm1(w)
        return g(p) * np.exp((a - 1) * np.log(p) + B * w - log_beta)

    mode = float(np.clip(a / (a + B), eps, 0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IntegrationWarning)
        low, _ = quad(lower, np.log(eps), np.log(0.5), points=[np.log(mode)] if mode < 0.5 else None, limit=200)
        high, _ = quad(upper, np.log(eps), np.log(0.5), limit=200)
    return float(head + low + high + tail)


def bgnbd_conditional_expected(params, x, t_x, T, t):
    """E[X(T, T+t] | x, t_x, T]: expected purchases in the next t time units."""
    return bgnbd_probability_alive(params, x, t_x, T) * bgnbd_expected_if_alive(params, x, T, t)


def bgnbd_unconditional_expected(params, t):
    """E[X(t)]: expected purchases in a new customer's first t time units after the first purchase."""
    # a new customer is alive at his first purchase: the expectation of one with x = 0 and T = 0
    return bgnbd_expected_if_alive(params, 0.0, 0.0, t)


def bgnbd_probability_of_n_purchases(params, t, n):
    """P(X(t) = n) for a new customer: equation (8) of Fader, Hardie & Lee (2005)."""
    r, alpha, a, b = params
    n = np.atleast_1d(np.asarray(n, dtype=float))
    t = float(t)
    log_first = (
        betaln(a, b + n) - betaln(a, b)
        + gammaln(r + n) - gammaln(r) - gammaln(n + 1)
        + r * np.log(alpha / (alpha + t)) + n * np.log(t / (alpha + t))
    )
    first = np.exp(log_first)
    # second term: delta(n>0) * B(a+1, b+n-1)/B(a,b) * [1 - (alpha/(alpha+t))^r * sum_{j<n} ...]
    out = first.copy()
    for i, ni in enumerate(n):
        if ni <= 0:
            continue
        j = np.arange(int(ni))
        log_terms = gammaln(r + j) - gammaln(r) - gammaln(j + 1) + j * np.log(t / (alpha + t))
        partial = np.exp(r * np.log(alpha / (alpha + t)) + log_terms).sum()
        second = np.exp(betaln(a + 1, b + ni - 1) - betaln(a, b)) * (1.0 - partial)
        out[i] += second
    return out


# --------------------------------------------------------------------------- Gamma-Gamma
def gamma_gamma_log_likelihood(params, x, m):
    """Per-customer log-likelihood of the mean repeat spend m over x > 0 transactions."""
    p, q, v = params
    px = p * x
    return (
        gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v)
        + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.log(x * m + v)
    )


def gamma_gamma_gradient(params, x, m, weights):
    p, q, v = params
    px = p * x
    log_xm_v = np.log(x * m + v)
    dp = x * (digamma(px + q) - digamma(px) + np.log(m) + np.log(x) - log_xm_v)
    dq = digamma(px + q) - digamma(q) + np.log(v) - log_xm_v
    dv = q / v - (px + q) / (x * m + v)
    return np.array([weights @ dp, weights @ dq, weights @ dv])


def gamma_gamma_expected_spend(params, x, m):
    """E[M | x, m]: a weighted mean of the population mean p v / (q - 1) and the customer's own mean m."""
    p, q, v = params
    x = np.asarray(x, dtype=float)
    m = np.where(x > 0, np.asarray(m, dtype=float), 0.0)
    return (p * (v + x * m)) / (p * x + q - 1)


# --------------------------------------------------------------------------- second moments (forecast variance)
def _power_integral(c, z):
    """G_c(z) = integral over (0, z) of (1 + u)^-(c + 1) du = (1 - (1 + z)^-c) / c, its limit log(1 + z) at c = 0."""
    log_z = np.log1p(z)
    y = c * log_z
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(np.abs(y) < 1e-8, 1.0 - y / 2, -np.expm1(-y) / np.where(y == 0, 1.0, y))
    return log_z * ratio


def _first_moment_integral(k, z):
    """H_k(z) = integral over (0, z) of u (1 + u)^-k du, for z >= 0.

    It is G_(k-2)(z) - G_(k-1)(z), which cancels for small z (both are about z, the difference
    about z^2 / 2): there the series sum_j (-1)^j (k)_j / j! z^(j+2) / (j + 2) is summed instead.
    """
    k, z = np.broadcast_arrays(np.asarray(k, dtype=float), np.asarray(z, dtype=float))
    closed = _power_integral(k - 2, z) - _power_integral(k - 1, z)
    small = (z < 1e-3) & (k * z < 0.1)
    if not small.any():
        return closed
    ks, zs = k[small], z[small]
    term = np.ones_like(zs)  # (-1)^j (k)_j / j! z^j
    total = np.zeros_like(zs)
    for j in range(24):
        total += term / (j + 2)
        term = term * -(ks + j) * zs / (j + 1)
    out = np.array(closed, dtype=float)
    out[small] = total * zs**2
    return out


def bg_second_moment_if_alive(r, alpha, a, b, t, nodes: int = 32):
    """E[X(t)^2] of a BG/NBD customer alive at time 0 with lambda ~ Gamma(r, alpha) and p ~ Beta(a, b).

    Given p, the count is min(N(t), J), N Poisson, J ~ Geometric(p) on 1, 2, ...: with
    P(X >= k) = P(N >= k) (1 - p)^(k-1) and E[X^2] = sum_k (2k - 1) P(X >= k), summing the series
    inside the integral over arrival times and averaging over lambda gives, with z = p t / alpha,

        E[X^2 | p] = r G_r(z) / p + 2 (1 - p) r (r + 1) H_(r+2)(z) / p^2

    (see :func:`_power_integral`, :func:`_first_moment_integral`); its limit as p -> 0 is the NBD's
    r t / alpha + r (r + 1) (t / alpha)^2. The average over p is an n-point Gauss-Jacobi rule for
    Beta(a, b) (32 points: within 1e-9 of the series summed in mpmath for horizons up to ten times
    alpha, 5e-5 at a hundred times). ``r``, ``alpha``, ``b`` and ``t`` broadcast; ``a`` is a number.
    A customer alive at T with x repeat purchases is such a customer with (r + x, alpha + T, a, b + x)
    (BG/NBD; b + x + 1 for MBG/NBD), as the expectations of the models use.
    """
    r, alpha, b, t = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (r, alpha, b, t)))
    out = np.empty(r.shape)
    for value in np.unique(b):
        cells = b == value
        p, weights = _beta_rule(nodes, float(a), float(value))
        rc, tc = r[cells][:, None], (t[cells] / alpha[cells])[:, None]
        z = p[None, :] * tc
        log_z = np.log1p(z)
        g_r = -np.expm1(-rc * log_z) / rc  # G_r(z) (r > 0)
        g_next = -np.expm1(-(rc + 1) * log_z) / (rc + 1)  # G_(r+1)(z)
        h = g_r - g_next  # H_(r+2)(z), which cancels for small z:
        small = (z < 1e-3) & (rc * z < 0.1)
        if small.any():
            h[small] = _first_moment_integral(np.broadcast_to(rc + 2, z.shape)[small], z[small])
        moment = rc * g_r / p + 2 * (1 - p) * rc * (rc + 1) * h / p**2
        out[cells] = moment @ weights
    return out


# --------------------------------------------------------------------------- conditional distributions
# The BG family (BG/NBD, MBG/NBD, BG/CNBD-k, MBG/CNBD-k) shares one structure once a customer is known to be
# alive at T: his purchases in (T, T + t] are min(M, J), with M the purchases his phases complete and J the
# purchase after which he drops out (Geometric(p) counted from 1). The posterior given alive is a mixture, over
# j = 0..k-1 phases of the current inter-purchase time already done (weights w_j), of lambda ~ Gamma(R_j, A),
# with p ~ Beta(a, B) independent of it. So N_j, the phases in t, is negative binomial, M = floor((N_j + j) / k),
# and P(min(M, J) >= n) = P(M >= n) E[(1 - p)^(n - 1)], every factor in closed form.
def _phase_tail(shapes, A, k, t, m):
    """P(N_j >= m k - j) for m (1-d whole numbers >= 1), shape (D, m, k): what sum_j w_j ... of P(M >= m) needs.

    P(N >= c) for N ~ NegBin(R, A / (A + t)) is the regularized incomplete beta I_(t / (A + t))(c, R): taken
    at the smallest c needed, and for the next ones by subtracting the negative binomial probabilities
    (cheap log-gamma terms instead of one incomplete beta each; absolute error ~1e-16 per step, which is what
    probabilities need). Counts far apart (a sparse m) are taken one incomplete beta each.
    """
    j = np.arange(k, dtype=float)
    c = m[:, None] * k - j[None, :]  # (M, k), >= 1
    q = t / (A + t)  # (D,)
    low, high = int(c.min()), int(c.max())
    if high - low > 4 * c.size + 64:
        with np.errstate(invalid="ignore"):
            return betainc(c[None, :, :], shapes[:, None, :], q[:, None, None])
    steps = np.arange(low, high + 1, dtype=float)  # (C,)
    with np.errstate(invalid="ignore", divide="ignore"):
        first = betainc(float(low), shapes, q[:, None])  # (D, k)
        # log NB(c) at the first c, then a factor (R + c - 1) q / c per step (sums, products and the exp in
        # place: the (D, k, C) arrays are what this costs)
        log_first = (
            gammaln(shapes + low) - gammaln(shapes) - math.lgamma(low + 1.0)
            + shapes * np.log1p(-q)[:, None] + low * np.log(q)[:, None]
        )  # (D, k)
        log_pmf = np.empty(shapes.shape + (steps.size,))
        log_pmf[:, :, 0] = 0.0
        ratios = log_pmf[:, :, 1:]
        np.add(shapes[:, :, None], steps[None, None, 1:], out=ratios)
        ratios -= 1.0
        np.log(ratios, out=ratios)
        ratios -= np.log(steps[1:])[None, None, :]
        ratios += np.log(q)[:, None, None]
        np.cumsum(ratios, axis=2, out=ratios)
        log_pmf += log_first[:, :, None]
    pmf = np.exp(log_pmf, out=log_pmf)
    # P(N >= c) at the first c, less the probabilities of the c passed
    tails = np.empty_like(pmf)
    tails[:, :, 0] = 0.0
    np.cumsum(pmf[:, :, :-1], axis=2, out=tails[:, :, 1:])
    np.subtract(first[:, :, None], tails, out=tails)
    np.clip(tails, 0.0, 1.0, out=tails)
    index = (c - low).astype(np.int64)  # (M, k)
    if k == 1 and index.shape[0] == steps.size and np.array_equal(index[:, 0], np.arange(steps.size)):
        return tails.transpose(0, 2, 1)  # consecutive counts, one phase: the tails are the answer as they are
    return np.take_along_axis(tails, np.broadcast_to(index.T[None, :, :], (tails.shape[0], k, index.shape[0])),
                              axis=2).transpose(0, 2, 1)


def bg_family_survival_if_alive(weights, shapes, A, a, B, k, t, n):
    """P(X(T, T + t] >= n | alive at T) for the BG family, rows x n (see the comment above).

    ``weights`` and ``shapes`` are (D, k): the mixture weights w_j and the Gamma shapes R_j of the purchase
    rate; ``A`` its rate and ``B`` the second Beta parameter of p, per row (D,).
    """
    n = np.asarray(n, dtype=float)
    t = np.broadcast_to(np.asarray(t, dtype=float), A.shape)
    m = np.maximum(n, 1.0)
    if k == 1:
        at_least = _phase_tail(shapes, A, k, t, m)[:, :, 0]
    else:
        at_least = np.einsum("dmk,dk->dm", _phase_tail(shapes, A, k, t, m), weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        if m.size > 1 and np.all(np.diff(m) == 1):
            # E[(1 - p)^(m - 1)] at the first m, then a factor (B + m - 1) / (a + B + m - 1) per step
            first = betaln(a, B + m[0] - 1.0) - betaln(a, B)
            log_survive = np.empty((B.size, m.size))
            log_survive[:, 0] = 0.0
            steps = log_survive[:, 1:]
            np.add(B[:, None], m[None, :-1], out=steps)
            steps -= 1.0
            np.log(steps, out=steps)
            steps -= np.log(a + B[:, None] + m[None, :-1] - 1.0)
            np.cumsum(steps, axis=1, out=steps)
            log_survive += first[:, None]
            survive = np.exp(log_survive, out=log_survive)
        else:
            survive = np.exp(betaln(a, B[:, None] + m[None, :] - 1.0) - betaln(a, B)[:, None])
    if np.all(n > 0) and np.all(t > 0):
        return np.multiply(at_least, survive, out=survive)
    out = np.where(n[None, :] <= 0, 1.0, at_least * survive)
    return np.where(t[:, None] > 0, out, (n[None, :] <= 0).astype(float))


def bg_family_still_alive(weights, shapes, A, a, B, k, t, *, block: int = 64, tolerance: float = 1e-13):
    """P(alive at T + t | alive at T) for the BG family: P(J > M) = 1 - sum_{m >= 1} P(M >= m) E[p (1 - p)^(m - 1)].

    Summed over m in blocks, per row, until P(M >= m) (which bounds the rest of the sum) is below ``tolerance``.
    """
    t = np.broadcast_to(np.asarray(t, dtype=float), A.shape)
    out = np.ones(A.size)
    active = np.flatnonzero(t > 0)
    start = 1
    while active.size:
        m = np.arange(start, start + block, dtype=float)
        at_least = np.einsum("dmk,dk->dm", _phase_tail(shapes[active], A[active], k, t[active], m), weights[active])
        drop = np.exp(betaln(a + 1.0, B[active, None] + m[None, :] - 1.0) - betaln(a, B[active])[:, None])
        out[active] -= np.sum(at_least * drop, axis=1)
        active = active[at_least[:, -1] > tolerance]
        start += block
        block = min(2 * block, 4096)
    return np.clip(out, 0.0, 1.0)


def bg_family_next_purchase_cdf(weights, shapes, A, k, w):
    """P(next purchase within w of T | alive at T): k - j phases to complete, P(N_j(w) >= k - j). (D, w)."""
    w = np.asarray(w, dtype=float)
    w = w[None, :] if w.ndim == 1 else w  # one set of times for every row, or one per row
    j = np.arange(k, dtype=float)
    q = (w / (A[:, None] + w))[:, :, None]
    values = betainc((k - j)[None, None, :], shapes[:, None, :], q)
    return np.einsum("dwk,dk->dw", values, weights)


def bg_family_next_purchase_mean(weights, shapes, A, k):
    """E[time from T to the next purchase | alive at T] = sum_j w_j (k - j) A / (R_j - 1); infinite if some R_j <= 1."""
    j = np.arange(k, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        parts = (k - j)[None, :] * A[:, None] / np.where(shapes > 1, shapes - 1, 1.0)
    infinite = np.any((shapes <= 1) & (weights > 0), axis=1)
    return np.where(infinite, np.inf, np.sum(weights * parts, axis=1))
