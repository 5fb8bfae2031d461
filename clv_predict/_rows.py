"""Log-likelihoods and gradients on compressed RFM rows, for fitting at scale.

The formulas are those of :mod:`clv_predict._math` (which stay the readable
reference); here they are rearranged so that each optimiser step costs a few
array operations per distinct row:

* customers sharing the fitted fields are one row with a weight (``compress``);
* everything that depends on ``x`` only (the gamma functions), on ``T`` only or
  on ``t_x`` only is evaluated once per distinct value and gathered;
* sums of terms that do not depend on the parameters are computed once.

Value and gradient come from one pass and are cached per parameter vector,
because the optimiser asks for both at the same point.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from scipy.special import digamma, expit, gammaln


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Inner product of long vectors without BLAS, whose threads spin and stall on a busy machine."""
    return float(np.einsum("i,i->", a, b))


#: From this many rows on, ``compress`` codes its columns in threads.
_THREADED_ROWS = 1_000_000


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes and sorted distinct values of a float array."""
    codes, unique = pd.factorize(values, sort=True)
    return codes.astype(np.int64), np.asarray(unique, dtype=float)


def _column_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of a float column and the values they stand for (``values == table[codes]``).

    Whole numbers in a small range (counts, days) are their own codes; other
    values are hashed by their bits, several times faster than hashing floats.
    The table may hold values that do not occur; codes are what ``compress``
    combines, so only their range matters.
    """
    whole = values.astype(np.int64)
    if values.size and (whole == values).all():
        low, high = int(whole.min()), int(whole.max())
        if low >= 0 and high < 4 * values.size + 1024:
            return whole, np.arange(high + 1, dtype=float)
    # + 0.0 turns -0.0 into 0.0, whose bits differ
    codes, table = pd.factorize((values + 0.0).view(np.int64))
    return codes.astype(np.int64, copy=False), table.view(np.float64)


def compress(columns: dict, weights: np.ndarray | None = None) -> tuple[dict, np.ndarray]:
    """Distinct rows of the given equal-length float columns and how many rows share each.

    With ``weights``, the second result is the sum of the weights of the rows
    sharing each distinct row (rows of weight 0 are left out). The columns must
    hold finite numbers (they are checked before). Rows come out in lexicographic
    order of the columns, as from a sorted groupby.
    """
    if weights is not None:
        keep = np.asarray(weights, dtype=float) > 0
        columns = {name: np.asarray(values, dtype=float)[keep] for name, values in columns.items()}
        weights = np.asarray(weights, dtype=float)[keep]
    names = list(columns)
    arrays = [np.asarray(columns[name], dtype=float) for name in names]
    if len(arrays) > 1 and arrays[0].size >= _THREADED_ROWS:
        # hashing releases the GIL: the columns are coded side by side
        with ThreadPoolExecutor(max_workers=min(len(arrays), os.cpu_count() or 1)) as pool:
            coded = list(pool.map(_column_codes, arrays))
    else:
        coded = [_column_codes(values) for values in arrays]
    codes, tables = zip(*coded)
    sizes = [table.size for table in tables]
    n = codes[0].size
    if float(np.prod([float(s) for s in sizes])) >= 2**62:  # pragma: no cover - needs astronomically many distinct values
        frame = pd.DataFrame(dict(zip(names, codes)))
        frame["_weight"] = 1.0 if weights is None else weights
        grouped = frame.groupby(names, sort=True)["_weight"].sum()
        index = grouped.index.to_frame(index=False)
        return {name: t[index[name].to_numpy()] for name, t in zip(names, tables)}, grouped.to_numpy(dtype=float)
    # one integer key per row: the codes as digits of a mixed-radix number
    key = codes[0].copy()
    for c, size in zip(codes[1:], sizes[1:]):
        key *= size
        key += c
    span = int(np.prod(sizes))
    if span <= max(4 * n, 1 << 20):
        # a dense count over every possible key is cheaper than hashing the keys
        counts = np.bincount(key, weights=weights, minlength=span)
        distinct = np.flatnonzero(counts)
        counts = counts[distinct]
    else:
        inverse, distinct = pd.factorize(key)
        counts = np.bincount(inverse, weights=weights, minlength=distinct.size)
    parts = []
    for size in reversed(sizes[1:]):
        distinct, part = np.divmod(distinct, size)
        parts.append(part)
    parts.append(distinct)
    parts.reverse()
    # in lexicographic order of the values, so that the result does not depend on the order of the input rows
    ranked = np.zeros(counts.size, dtype=np.int64)
    for table, part, size in zip(tables, parts, sizes):
        rank = np.empty(size, dtype=np.int64)
        rank[np.argsort(table, kind="stable")] = np.arange(size)
        ranked *= size
        ranked += rank[part]
    order = np.argsort(ranked)
    return {name: t[p[order]] for name, t, p in zip(names, tables, parts)}, counts[order].astype(float)


class _Cached:
    def __init__(self):
        self._at, self._result = None, None

    def __call__(self, params):
        params = np.asarray(params, dtype=float)
        if self._at is None or not np.array_equal(self._at, params):
            self._result = self._evaluate(params)
            self._at = params.copy()
        return self._result

    def value(self, params) -> float:
        return self(params)[0]

    def gradient(self, params) -> np.ndarray:
        return self(params)[1].copy()


class BetaGeoRows(_Cached):
    """Sum of weighted BG/NBD log-likelihoods over rows (x, t_x, T) and its gradient in (r, alpha, a, b)."""

    def __init__(self, x, t_x, T, weights):
        super().__init__()
        x, t_x, T, weights = (np.asarray(v, dtype=float) for v in (x, t_x, T, weights))
        self.n = weights.sum()
        ix, self.ux = _codes(x)
        self.weight_of_x = np.bincount(ix, weights=weights, minlength=self.ux.size)
        repeat = x > 0
        # customers without repeat purchases contribute through T only: one row per distinct T
        iT0, self.T0 = _codes(T[~repeat])
        self.w0 = np.bincount(iT0, weights=weights[~repeat], minlength=self.T0.size)
        self.w = weights[repeat]
        self.x = x[repeat]
        self.ix = ix[repeat]
        self.iT, self.uT = _codes(T[repeat])
        self.it, self.ut = _codes(t_x[repeat])

    def _evaluate(self, params):
        r, alpha, a, b = params
        ux, Wx = self.ux, self.weight_of_x
        # terms of x only, summed with the weight of each x
        value = Wx @ (gammaln(r + ux) + gammaln(b + ux) - gammaln(a + b + ux)) + self.n * (
            -gammaln(r) + r * np.log(alpha) + gammaln(a + b) - gammaln(b)
        )
        d_r = Wx @ digamma(r + ux) + self.n * (np.log(alpha) - digamma(r))
        d_alpha = self.n * r / alpha
        common = self.n * digamma(a + b) - Wx @ digamma(a + b + ux)
        d_a = common
        d_b = common + Wx @ digamma(b + ux) - self.n * digamma(b)

        # non-repeaters: log-likelihood term -r log(alpha + T)
        log_T0 = np.log(alpha + self.T0)
        value -= r * _dot(self.w0, log_T0)
        d_r -= _dot(self.w0, log_T0)
        d_alpha -= r * _dot(self.w0, 1.0 / (alpha + self.T0))

        # repeaters: a3 = -(r+x) log(alpha+T), a4 = log a - log(b+x-1) - (r+x) log(alpha+t_x), term logaddexp(a3, a4)
        w = self.w
        log_T = np.log(alpha + self.uT)[self.iT]
        log_t = np.log(alpha + self.ut)[self.it]
        rx = self.x + r
        log_b = np.log(np.maximum(b + self.ux - 1.0, 1e-300))
        d = (np.log(a) - log_b)[self.ix] - rx * (log_t - log_T)  # a4 - a3
        share = expit(d)  # weight of the a4 term in the likelihood
        value += _dot(w, np.logaddexp(0.0, d) - rx * log_T)
        ws = w * share
        wk = w - ws
        d_r -= _dot(wk, log_T) + _dot(ws, log_t)
        d_alpha -= _dot(wk * rx, (1.0 / (alpha + self.uT))[self.iT]) + _dot(ws * rx, (1.0 / (alpha + self.ut))[self.it])
        d_a += ws.sum() / a
        d_b -= _dot(ws, (1.0 / np.maximum(b + self.ux - 1.0, 1e-300))[self.ix])
        return float(value), np.array([d_r, d_alpha, d_a, d_b])


class GammaGammaRows(_Cached):
    """Sum of weighted Gamma-Gamma log-likelihoods over rows (x > 0, m > 0) and its gradient in (p, q, v)."""

    def __init__(self, x, m, weights):
        super().__init__()
        x, m, weights = (np.asarray(v, dtype=float) for v in (x, m, weights))
        self.n = weights.sum()
        ix, self.ux = _codes(x)
        self.weight_of_x = np.bincount(ix, weights=weights, minlength=self.ux.size)
        log_m = np.log(m)
        self.sum_w_log_m = _dot(weights, log_m)
        self.sum_wx_log_m = _dot(weights * x, log_m)
        self.sum_wx_log_x = self.weight_of_x @ (self.ux * np.log(self.ux))
        self.w, self.wx, self.spend = weights, weights * x, x * m

    def _evaluate(self, params):
        p, q, v = params
        ux, Wx = self.ux, self.weight_of_x
        px = p * ux
        log_sv = np.log(self.spend + v)
        sum_w_log = _dot(self.w, log_sv)
        sum_wx_log = _dot(self.wx, log_sv)
        value = (
            Wx @ (gammaln(px + q) - gammaln(px)) + self.n * (q * np.log(v) - gammaln(q))
            + p * self.sum_wx_log_m - self.sum_w_log_m + p * self.sum_wx_log_x
            - p * sum_wx_log - q * sum_w_log
        )
        d_p = (Wx * ux) @ (digamma(px + q) - digamma(px)) + self.sum_wx_log_m + self.sum_wx_log_x - sum_wx_log
        d_q = Wx @ digamma(px + q) - self.n * digamma(q) + self.n * np.log(v) - sum_w_log
        inverse = 1.0 / (self.spend + v)
        d_v = self.n * q / v - p * _dot(self.wx, inverse) - q * _dot(self.w, inverse)
        return float(value), np.array([d_p, d_q, d_v])
