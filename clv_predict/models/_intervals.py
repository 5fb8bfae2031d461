"""Per-customer bounds of the forecast: predictive (what the customer will do) and confidence (what the model
expects), for every purchase model through the protocol's hooks.

Two kinds, named so that nobody confuses them:

* **predictive** (``purchases_lower``/``purchases_upper``, ``clv_lower``/``clv_upper``): the customer's actual
  purchases (value) in the horizon. The purchase count's distribution is the conditional PMF of the model
  mixed over the estimates' asymptotic distribution (normal on the log scale, as
  :meth:`~clv_predict.models._base._ParametricModel.parameter_draws` draws from), the mixture taken by the
  2k + 1 sigma points of that distribution (:func:`sigma_point_models`: exact to second order in the
  parameters, and 9 evaluations where 100 draws would cost 100); the CDF is exact at each point, and the
  bounds are the equal-tailed quantiles of the mixture, which for a count cover *at least* the nominal share
  (they are whole numbers). The value adds the customer's spend given her history under Gamma-Gamma (see
  :func:`value_bounds`).
* **confidence** (``..._ci_lower``/``..._ci_upper``): the expected value alone, with the parameter uncertainty
  only, taken as normal on the log scale: the mean and variance of the log forecast over the same sigma
  points (the unscented transform: second order, where the delta method is first order; no evaluation beyond
  those the predictive bounds make), or with ``n_draws`` over that many sampled parameter vectors.

Everything is computed on the distinct (frequency, recency, T) rows (the costly survival of an alive customer
on the distinct rows of the model's ``_if_alive_columns``), in chunks whose size bounds the memory whatever
the number of customers and the horizon.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import special, stats

from ..exceptions import DataError, ModelWarning
from ._base import _distinct_rows

#: Cells (rows x draws x counts) gathered at once when mixing the survival over draws.
_CELLS = 2_000_000
#: The count distribution is summed (for its moments) until P(X >= n) falls below this, or up to _MOST_COUNTS.
_TAIL = 1e-6
_MOST_COUNTS = 20_000
#: From this many distinct rows on, the value bounds' two quantiles are computed in two threads.
_THREADED_ROWS = 50_000


def check_interval(interval) -> float | None:
    if interval is None:
        return None
    if isinstance(interval, bool) or not isinstance(interval, (int, float, np.number)) or not 0 < interval < 1:
        raise DataError(f"'interval' must be a number between 0 and 1 (such as 0.9), or None; got {interval!r}")
    return float(interval)


def check_draws(n_draws) -> int | None:
    if n_draws is None:
        return None
    if isinstance(n_draws, bool) or not isinstance(n_draws, (int, np.integer)) or n_draws < 2:
        raise DataError(f"'n_draws' must be a whole number >= 2, or None (sigma points); got {n_draws!r}")
    return int(n_draws)


def warn_if_unknown(model, *, stacklevel: int = 3) -> bool:
    """Whether the estimates' covariance is known; if not, a warning that the bounds leave it out."""
    try:
        model._log_covariance()
    except DataError as reason:
        warnings.warn(
            f"{type(model).__name__}: {reason}. The predictive bounds leave the parameter uncertainty out and "
            "the confidence bounds are NaN.",
            ModelWarning,
            stacklevel=stacklevel,
        )
        return False
    return True


def drawn_models(model, n_draws: int | None, seed) -> list | None:
    """Copies of ``model`` at ``n_draws`` sampled parameter vectors (None: none asked, or no covariance)."""
    if n_draws is None:
        return None
    try:
        draws = model.parameter_draws(n_draws, seed=seed)
    except DataError:
        return None
    return [model._with_params(row) for row in draws.to_numpy()]


def sigma_point_models(model) -> tuple[list, np.ndarray]:
    """The model at the 2k + 1 sigma points of its estimates' distribution (log scale, k estimated parameters)
    and their weights: the estimate with weight 1 / (k + 1) and estimate +- sqrt(k + 1) times each column of
    a square root of the log-covariance, 1 / (2 (k + 1)) each. Mixing over them reproduces the mean and the
    covariance of the log-parameters, so a mixture over the parameter distribution of anything smooth in them
    is exact to second order (the unscented transform), at 2k + 1 evaluations instead of hundreds of draws.
    Without a known covariance: the model alone."""
    try:
        log_cov = model._log_covariance()
    except DataError:
        return [model], np.ones(1)
    # logs of the positive parameters, covariate coefficients (if any) as they are
    centre = model._uncertain_vector()
    k = centre.size
    values, vectors = np.linalg.eigh(log_cov)
    root = vectors * np.sqrt(np.clip(values, 0.0, None))
    points = [centre + sign * np.sqrt(k + 1.0) * root[:, i] for i in range(k) for sign in (1.0, -1.0)]
    models = [model] + [model._with_params(row) for row in model._params_at_uncertain(points).to_numpy()]
    weights = [1.0 / (k + 1)] + [1.0 / (2 * (k + 1))] * (2 * k)
    return models, np.asarray(weights)


def add_purchase_bounds(frame, model, data, x, t_x, T, horizon, interval, n_draws, seed, *, forecast) -> None:
    """The purchase bounds of a purchase model's ``predict(interval=...)``, in place on ``frame`` (one row per
    customer of ``data``, whose arrays are ``x``, ``t_x``, ``T``): ``purchases_lower`` / ``_upper`` (whole
    numbers) and ``purchases_ci_lower`` / ``_upper``, once per covariate pattern with its plain model (once for
    every customer without covariates). ``forecast`` is the point forecast already made per customer
    (P(alive), expected purchases, their discounted count). Nothing is added without ``interval``."""
    interval = check_interval(interval)
    if interval is None:
        return
    n_draws = check_draws(n_draws)
    warn_if_unknown(model, stacklevel=4)
    columns = ("purchases_lower", "purchases_upper", "purchases_ci_lower", "purchases_ci_upper")
    values = {name: np.empty(len(frame)) for name in columns}
    for rows, plain in model._pattern_models(data):
        rows = slice(None) if rows.size == x.size else rows  # every customer, in order: no copies
        bounds = PurchaseBounds(plain, x[rows], t_x[rows], T[rows], horizon, interval,
                                drawn_models(plain, n_draws, seed), forecast=tuple(part[rows] for part in forecast))
        ci = bounds.ci if bounds.ci is not None else np.full((2, bounds.lower.size), np.nan)
        for name, part in zip(columns, (bounds.lower, bounds.upper, ci[0], ci[1])):
            values[name][rows] = bounds.customers(part)
    for name in columns:
        frame[name] = values[name].astype(np.int64) if name in columns[:2] else values[name]
    frame.attrs.update({"interval": interval, "n_draws": n_draws})


class PurchaseBounds:
    """The bounds of the purchases in ``(T, T + horizon]`` of customers (x, t_x, T), and what the value's bounds
    need, computed on distinct rows (attributes are per distinct row; ``codes`` maps customers to them).

    ``draws`` (models at sampled parameter vectors) makes the confidence bounds come from them; without, they
    come from the sigma points the predictive mixture uses anyway (no further evaluation). ``forecast``, the
    point forecast already made for these customers with the model's parameters (P(alive), expected and
    discounted purchases in the horizon at ``discount_rate``, per customer), spares computing it again.
    """

    def __init__(self, model, x, t_x, T, horizon: float, interval: float, draws=None, *,
                 discount_rate: float = 0.0, moments: bool = False, forecast=None):
        if not hasattr(model, "_survival_if_alive_values"):
            raise DataError(
                f"prediction bounds (interval) are not available for {type(model).__name__} yet: it does not "
                "answer the purchase models' conditional distribution"
            )
        self.codes, (ux, ut_x, uT) = _distinct_rows([x, t_x, T])
        self.frequency = ux
        self.alpha = (1.0 - interval) / 2
        params = model._params()
        if forecast is None:
            self.p_alive = model._probability_alive_values(params, ux, ut_x, uT)
            expected, discounted = model._forecast(ux, ut_x, uT, horizon, discount_rate, p_alive=self.p_alive)
        else:
            # the point forecast's, per customer: one customer of each distinct row stands for it
            first = np.empty(ux.size, dtype=np.int64)
            first[self.codes[::-1]] = np.arange(self.codes.size - 1, -1, -1)
            self.p_alive, expected, discounted = (np.asarray(values, dtype=float)[first] for values in forecast)
        self.expected, self.discounted = expected, discounted
        with np.errstate(invalid="ignore", divide="ignore"):
            # each parameter vector's discounted purchases: its expected purchases times the estimate's discount
            # factor (the timing of purchases within the horizon moves far less with the parameters than their number)
            self.log_factor = np.log(np.where(expected > 0, discounted / expected, 1.0))
        mixed, mixture_weights = sigma_point_models(model)
        self.known = len(mixed) > 1
        # the costly part once per distinct row of the columns an alive customer's future depends on
        by_name = {"frequency": ux, "recency": ut_x, "T": uT}
        self.alive_codes, alive_rows = _distinct_rows([by_name[c] for c in model._if_alive_columns])
        alive = dict(zip(model._if_alive_columns, alive_rows))
        size = alive_rows[0].size
        self.alive_columns = [alive.get(c, np.zeros(size)) for c in ("frequency", "recency", "T")]
        alive_of_point = np.column_stack(
            [self.p_alive, model._probability_alive_at([m._params() for m in mixed[1:]], ux, ut_x, uT).T]
        )  # (rows, points); the first point is the estimate
        self._counts(mixed, alive_of_point * mixture_weights[None, :], horizon, moments)
        self.ci = None
        if draws is not None:
            values = model._probability_alive_at([m._params() for m in draws], ux, ut_x, uT) * np.stack([
                m._expected_if_alive_values(m._params(), *self.alive_columns, float(horizon))[self.alive_codes]
                for m in draws
            ])  # (D, rows)
            self.log_mean, self.log_var = _log_moments(values)
        elif self.known:
            values = np.stack([
                alive_of_point[:, i]
                * m._expected_if_alive_values(m._params(), *self.alive_columns, float(horizon))[self.alive_codes]
                for i, m in enumerate(mixed)
            ])
            self.log_mean, self.log_var = _log_moments(values, mixture_weights)
        else:
            return
        self.ci = _log_normal(self.log_mean, self.log_var, self.alpha)

    def _counts(self, models, alive_of_draw, horizon, moments):
        """Walk n = 1, 2, ... with P(X >= n) of the mixture until each row's upper bound is found; for the
        moments, the alive customers' survival sums per distinct alive row and mixed model (the mixture's
        moments are linear in them). ``alive_of_draw`` is P(alive) at each mixed model times its weight.

        One walk serves both: each block of n is evaluated once per distinct alive row that either still
        has a row without its upper bound or (with ``moments``) still has a survival of at least _TAIL,
        and gives both the mixed survival of those rows and the sums. The sums' blocks are those of a walk
        for them alone (blocks of 16 doubling to 1024, cells capped at _CELLS), so they do not depend on
        the bounds; the bounds do not depend on the blocks."""
        rows, draws = alive_of_draw.shape
        size = self.alive_columns[0].size
        self.lower = np.full(rows, -1, dtype=np.int64)
        self.upper = np.full(rows, -1, dtype=np.int64)
        self.none = np.zeros(rows)  # P(X = 0)
        first_sum, second_sum = np.zeros((size, draws)), np.zeros((size, draws))
        open_rows = np.arange(rows)  # rows whose upper bound is not found yet
        summing = np.arange(size) if moments else np.zeros(0, dtype=np.int64)  # alive rows still summed
        start, block, largest = 1, (16 if moments else 4), (1024 if moments else 256)
        walks = [m._survival_walk(m._params(), *self.alive_columns, horizon) for m in models]
        while (open_rows.size or summing.size) and start <= _MOST_COUNTS:
            wanted = np.zeros(size, dtype=bool)
            wanted[self.alive_codes[open_rows]] = True
            wanted[summing] = True
            evaluated = np.flatnonzero(wanted)  # sorted, as ``summing`` is
            block = int(max(1, min(block, _CELLS // max(1, draws * (summing.size or evaluated.size)))))
            n = np.arange(start, start + block, dtype=float)
            survival = np.stack([walk.survival(evaluated, n) for walk in walks], axis=1)  # (evaluated, D, block)
            if summing.size:
                own = survival if summing.size == evaluated.size else survival[np.searchsorted(evaluated, summing)]
                first_sum[summing] += own.sum(axis=2)
                second_sum[summing] += own @ (2 * n - 1)
                summing = summing[own[:, :, -1].max(axis=1) >= _TAIL]
            if open_rows.size:
                self._bounds_in_block(open_rows, alive_of_draw, survival,
                                      np.searchsorted(evaluated, self.alive_codes[open_rows]), start)
                open_rows = open_rows[self.upper[open_rows] < 0]
            start += block
            block = min(2 * block, largest)
        # rows cut off at _MOST_COUNTS (a heavy tail): their bounds say so
        self.lower[self.lower < 0] = _MOST_COUNTS
        self.upper[self.upper < 0] = _MOST_COUNTS
        if moments:
            self.mean = np.einsum("rd,rd->r", alive_of_draw, first_sum[self.alive_codes])  # E[X]
            self.second = np.einsum("rd,rd->r", alive_of_draw, second_sum[self.alive_codes])  # E[X^2]

    def _bounds_in_block(self, active, alive_of_draw, survival, position, start):
        """The bounds of the rows ``active`` reached in the block of n from ``start`` (P(X >= n | alive) of
        their alive rows at ``survival[position]``), mixed a few counts at a time: most rows find both
        bounds among the first counts, and only those that do not are mixed further."""
        draws, block = survival.shape[1:]
        done, width = 0, 4
        while active.size and done < block:
            columns = slice(done, min(done + width, block))
            size = columns.stop - columns.start
            mixed = np.empty((active.size, size))
            step = max(1, _CELLS // (draws * size))
            for first in range(0, active.size, step):
                part = slice(first, first + step)
                mixed[part] = np.einsum("rd,rdb->rb", alive_of_draw[active[part]], survival[position[part], :, columns])
            if start + done == 1:
                self.none[active] = 1.0 - mixed[:, 0]
            # P(X <= m) = 1 - P(X >= m + 1): the lower bound is the first m where it reaches alpha, the upper
            # the first where it reaches 1 - alpha
            for bound, level in ((self.lower, 1 - self.alpha), (self.upper, self.alpha)):
                open_rows = bound[active] < 0
                reached = mixed <= level
                first = np.argmax(reached, axis=1)
                found = open_rows & reached.any(axis=1)
                bound[active[found]] = start + done + first[found] - 1
            still = self.upper[active] < 0
            active, position = active[still], position[still]
            done += size
            width *= 4

    def customers(self, values):
        return np.asarray(values)[..., self.codes]


def _log_moments(values: np.ndarray, weights: np.ndarray | None = None):
    """Mean and variance over axis 0 of log(values): equally weighted draws (variance with ddof 1), or sigma
    points with their weights. One pass of sums (the logs vary little around their mean: nothing that
    matters cancels)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(values)
        if weights is None:
            size = logs.shape[0]
            mean = logs.sum(axis=0) / size
            squares = np.einsum("dr,dr->r", logs, logs)
            return mean, np.maximum(squares - size * mean**2, 0.0) / (size - 1)
        mean = weights @ logs
        return mean, np.maximum(weights @ (logs * logs) - mean**2, 0.0)


def _log_normal(log_mean, log_var, alpha: float) -> np.ndarray:
    """exp(mean -+ z sd): equal-tailed bounds of a positive forecast normal on the log scale; 0 where it is 0.
    In place (it runs on every customer)."""
    z = stats.norm.ppf(1 - alpha)
    log_mean = np.asarray(log_mean, dtype=float)
    out = np.empty((2,) + log_mean.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        spread = np.sqrt(log_var)
        spread *= z
        np.subtract(log_mean, spread, out=out[0])
        np.add(log_mean, spread, out=out[1])
        np.exp(out, out=out)
    out[:, ~np.isfinite(log_mean)] = 0.0
    return out


def value_bounds(bounds: PurchaseBounds, spend_model, x, m, interval: float, margin: float):
    """Predictive bounds of the customer's value in the horizon, by moment matching.

    The spend of the customer's next purchases is, given her history under Gamma-Gamma, z ~ Gamma(p, nu) with
    nu ~ Gamma(q + p x, v + x m) (the posterior of her spend rate): so E[z] = p v' / (q' - 1),
    E[z z'] = p^2 v'^2 / ((q' - 1)(q' - 2)) and E[z^2] = p (p + 1) v'^2 / ((q' - 1)(q' - 2)). With the mixture
    moments of the count X (exact, over the parameter distribution), the total spend S has its exact mean and
    variance; S = 0 with probability P(X = 0), and given S > 0 it is taken as Gamma with the matching mean
    and variance (the approximation). The discounting of each purchase is its expected factor (the
    discounted forecast over the undiscounted). Gamma-Gamma's own parameter uncertainty is left out of these
    bounds (a small fraction of a customer's spend variance; it is in the confidence bounds). The upper bound
    is infinite where the spend's variance is (q' <= 2). Returns (lower, upper) per customer.

    The spend rate's scale v + x m is the one thing that differs between customers of a distinct purchase row:
    the total's mean is proportional to it and its variance to its square, so the matched Gamma's shape is the
    row's and its scale proportional to v + x m. The quantiles (the costly ``gammaincinv``) are therefore taken
    once per distinct (frequency, recency, T) row at v + x m = 1, and scaled per customer.
    """
    alpha = (1.0 - interval) / 2
    p, q, v = spend_model.params_.to_numpy()
    # the spend rate's scale, per customer
    x = np.asarray(x, dtype=float)
    rate = v + x * np.where(x > 0, np.asarray(m, dtype=float), 0.0)
    shape = q + p * bounds.frequency  # per distinct row from here
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # per unit of the spend rate's scale v + x m
        first = np.where(shape > 1, p / (shape - 1), np.inf)
        cross = np.where(shape > 2, 1.0 / ((shape - 1) * (shape - 2)), np.inf)
        mean_x, second_x = bounds.mean, bounds.second
        none = np.clip(bounds.none, 0.0, 1.0)
        total_mean = mean_x * first
        total_second = (p * p * second_x + p * mean_x) * cross
        positive = np.maximum(1.0 - none, 1e-300)
        mean_pos = total_mean / positive
        var_pos = np.maximum(total_second / positive - mean_pos**2, 1e-12 * mean_pos**2)
        k = np.where(np.isfinite(var_pos) & (mean_pos > 0), mean_pos**2 / var_pos, 1.0)
        scale = np.where(np.isfinite(var_pos) & (mean_pos > 0), var_pos / mean_pos, 0.0)
        ratio = np.where(bounds.expected > 0, bounds.discounted / bounds.expected, 1.0)
        def factor(level):
            quantile = np.zeros(none.size)
            needed = (level > none) & (mean_pos > 0)
            u = np.clip((level - none[needed]) / positive[needed], 0.0, 1.0)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                quantile[needed] = special.gammaincinv(k[needed], u) * scale[needed]
            quantile = np.where(np.isfinite(total_second) | (level <= none), quantile, np.inf)
            return margin * ratio * quantile

        levels = (alpha, 1 - alpha)
        if none.size < _THREADED_ROWS:
            factors = [factor(level) for level in levels]
        else:  # the two levels' quantiles (gammaincinv releases the GIL) side by side: the same values
            with ThreadPoolExecutor(max_workers=2) as pool:
                factors = list(pool.map(factor, levels))
        return factors[0][bounds.codes] * rate, factors[1][bounds.codes] * rate


def value_confidence(bounds: PurchaseBounds, spend_model, spend_draws, x, m, interval: float, margin: float,
                     chunk: int = 100_000):
    """Confidence bounds of the expected value, margin x expected spend x discounted expected purchases, normal
    on the log scale: log value = log spend + log purchases, their parameters independent (two separate fits),
    so the means and variances of the two logs add. The spend's come from ``spend_draws`` (models at sampled
    parameters) or from the spend model's sigma points, once per distinct (frequency, mean spend); the
    purchases' from :class:`PurchaseBounds`. Returns (lower, upper), or NaN where the uncertainty is unknown."""
    alpha = (1.0 - interval) / 2
    x = np.asarray(x, dtype=float)
    m = np.asarray(m, dtype=float)
    if bounds.ci is None:
        return np.full(x.size, np.nan), np.full(x.size, np.nan)
    if spend_draws is None:
        spend_points, weights = sigma_point_models(spend_model)
        if len(spend_points) == 1:
            return np.full(x.size, np.nan), np.full(x.size, np.nan)
    else:
        spend_points, weights = spend_draws, None
    # every customer without a repeat purchase has the population's spend: pair 0; the buyers' pairs after it
    buyers = np.flatnonzero(x > 0)
    pairs = np.zeros(x.size, dtype=np.int64)
    codes, (ux, um) = _distinct_rows([x[buyers], m[buyers]])
    pairs[buyers] = codes + 1
    ux, um = np.concatenate([[0.0], ux]), np.concatenate([[0.0], um])
    spend_mean, spend_var = np.empty(ux.size), np.empty(ux.size)
    for first in range(0, ux.size, chunk):
        part = slice(first, first + chunk)
        spend = np.stack([s._expected_spend_values(ux[part], um[part]) for s in spend_points])
        spend_mean[part], spend_var[part] = _log_moments(spend, weights)
    log_mean = bounds.customers(bounds.log_mean + bounds.log_factor) + spend_mean[pairs] + np.log(margin)
    log_var = bounds.customers(bounds.log_var) + spend_var[pairs]
    lower, upper = _log_normal(log_mean, log_var, alpha)
    return lower, upper
