"""The BG/NBD and Gamma-Gamma formulas, vectorised, in log space where they can overflow.

References: Fader, Hardie & Lee (2005), "Counting your customers the easy way",
Marketing Science 24(2); Fader & Hardie, "The Gamma-Gamma model of monetary
value" (2013 note); Fader, Hardie & Lee, "Computing P(alive) using the BG/NBD
model" (note 021).
"""

from __future__ import annotations

import functools
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
        estimates = [_expected_if_alive_by_gauss_jacobi(r, alpha, a, b, value, T[cells], t[cells], n) for n in (48, 96)]
        good = np.isfinite(estimates[1]) & (abs(estimates[1] - estimates[0]) <= 1e-11 * abs(estimates[1]) + 1e-300)
        out[cells] = np.where(good, estimates[1], out[cells])
        settled[cells] = good
    for index in zip(*np.nonzero(doubtful & ~settled)) if out.ndim else ([()] if doubtful & ~settled else []):
        out[index] = _expected_if_alive_by_quadrature(r, alpha, a, b, x[index], T[index], t[index])
    return out if out.ndim else float(out)


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
