"""Uncertainty of the whole base's forecast: bootstrap refits and the total's predictive interval.

Two sources of uncertainty add up in a forecast of the base's total purchases (or value):

* the **process**: given the parameters, each customer's future count is random (the model's
  conditional distribution given his history); customers are independent given the parameters,
  so the total's variance is the sum of theirs, and it grows like the number of customers;
* the **parameters**: the fitted estimates are uncertain, and every customer shares them, so their
  part of the total's variance grows like the number of customers forecast *squared*: a sum of
  independent per-customer intervals leaves it out and is too narrow (by about a factor 1.4 when the
  estimates come from the customers forecast, far more when a large base is scored with estimates
  from fewer customers).

:func:`forecast_total` combines both. Parameter vectors are drawn from the estimates' asymptotic
normal distribution on the log scale (``model.parameter_draws``, ``method="normal"``) or refitted on
bootstrap resamples of the customers (:func:`bootstrap_params`, ``method="bootstrap"``). Given each
draw, the total's mean and variance are exact sums over the distinct RFM rows (the per-customer
variances from the model's closed-form second moments), and the total given the draw is taken as
normal (a sum of many independent counts); the predictive distribution is the mixture over draws,
whose quantiles are the bounds. The parameter-only band (``_ci_`` columns) is the spread of the
expected total over the draws.

A model with covariates is drawn as a whole (base parameters and coefficients jointly): each draw gives every
customer her parameters from her covariates, evaluated once per covariate pattern; the bootstrap resamples
customers with their covariate columns and refits with the reference levels of the fit.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd
from scipy.special import ndtr

from ._validation import check_choice, check_horizon, check_margin, plural
from .clv import CLVModel
from .exceptions import DataError, ModelWarning
from .models import GammaGammaModel, PurchaseModel
from .models._base import _distinct_rows

METHODS = ("normal", "bootstrap")

#: Draws of the parameters when ``draws`` is not given: (normal, bootstrap).
_DEFAULT_DRAWS = {"normal": 200, "bootstrap": 100}

#: Draws at which the process variance of the total is computed (and averaged): see forecast_total.
_VARIANCE_DRAWS = 20


# --------------------------------------------------------------------------- bootstrap
def _check_fitted_model(model):
    if isinstance(model, (PurchaseModel, GammaGammaModel, CLVModel)):
        model._check_fitted()
        return model
    raise DataError(
        "'model' must be a fitted purchase model (BetaGeoModel, ParetoNBDModel, ...), GammaGammaModel or CLVModel; "
        f"got {type(model).__name__}"
    )


def _fit_columns(model) -> tuple[str, ...]:
    if isinstance(model, CLVModel):
        return tuple(dict.fromkeys((*model.purchase_model_._fit_columns, "monetary_value")))
    if isinstance(model, GammaGammaModel):
        return ("frequency", "monetary_value")
    return model._fit_columns


def _parts(model) -> list:
    return [model.purchase_model_, model.spend_model_] if isinstance(model, CLVModel) else [model]


def _covariate_columns(model) -> list[str]:
    """The customer columns the fitted model reads (its covariates, purchase and spend), in order."""
    encodings = [getattr(part, "covariate_encoding_", None) for part in _parts(model)]
    return list(dict.fromkeys(c for encoding in encodings if encoding is not None for c in encoding.columns))


def _compressed_table(model, rfm) -> tuple[pd.DataFrame, np.ndarray]:
    """The distinct rows of the columns the model is fitted on (its covariates too), with how many customers
    share each."""
    if not isinstance(rfm, pd.DataFrame):
        raise DataError(f"'rfm' must be a DataFrame (an RFM summary); got {type(rfm).__name__}")
    columns = _fit_columns(model)
    purchases = model.purchase_model_ if isinstance(model, CLVModel) else model
    if isinstance(purchases, PurchaseModel):
        checked = purchases._checked(rfm, need_monetary="monetary_value" in columns)
    else:
        from ._validation import check_rfm

        checked = check_rfm(rfm, need_monetary=True)
    covariates = _covariate_columns(model)
    if covariates:
        missing = [column for column in covariates if column not in rfm.columns]
        if missing:
            raise DataError(f"rfm lacks the covariate {', '.join(map(repr, missing))} of the model")
        # customers sharing their fitted columns and their covariates are one weighted row
        frame = pd.concat([checked[list(columns)].reset_index(drop=True),
                           rfm[covariates].reset_index(drop=True)], axis=1)
        counts = frame.groupby(list(frame.columns), sort=False, dropna=False).size()
        table = counts.index.to_frame(index=False)
        weights = counts.to_numpy(dtype=float)
    else:
        codes, uniques = _distinct_rows([checked[column].to_numpy(dtype=float) for column in columns])
        weights = np.bincount(codes, minlength=uniques[0].size).astype(float)
        table = pd.DataFrame(dict(zip(columns, uniques)))
    table.attrs["time_unit"] = model.time_unit_
    return table, weights


def _new_like(model):
    """An unfitted model with the settings of ``model``; with covariates, the reference levels it was fitted
    with (a resample must not take another level as the reference: the coefficients would change meaning)."""
    settings = model._settings()
    encoding = getattr(model, "covariate_encoding_", None)
    if encoding is not None and encoding.reference:
        settings["covariate_reference"] = dict(encoding.reference)
    return type(model)(**settings)


def _refit(model, table: pd.DataFrame, weights: np.ndarray) -> tuple[np.ndarray, bool]:
    """Parameters of ``model`` refitted on ``table`` with ``weights`` customers per row, and whether it converged."""
    keep = weights > 0
    table, weights = table[keep], weights[keep]
    with warnings.catch_warnings():
        # one warning for the whole bootstrap says how many refits failed
        warnings.simplefilter("ignore")
        values, converged = [], True
        for part in _parts(model):
            fitted = _new_like(part).fit(table, weights=weights, time_unit=model.time_unit_)
            if list(fitted.params_.index) != list(part.params_.index):
                lost = sorted(set(part.params_.index) - set(fitted.params_.index))
                raise DataError(
                    f"a bootstrap resample has no customer for the coefficient {', '.join(map(repr, lost))}: a "
                    "covariate level too rare for the bootstrap (merge it with another, or use method='normal')"
                )
            values.append(fitted.params_.to_numpy(dtype=float))
            converged &= bool(fitted.convergence_.get("converged", True))
    return np.concatenate(values), converged


def bootstrap_params(model, rfm: pd.DataFrame, n_refits: int = 100, *, seed=None, n_jobs=None) -> pd.DataFrame:
    """Parameters refitted on ``n_refits`` bootstrap resamples of the customers of ``rfm``.

    Each resample draws as many customers as ``rfm`` holds, with replacement. Customers
    sharing the fitted columns are one weighted row, so a resample is a multinomial draw of
    new weights for the distinct rows: the same distribution as resampling customers one by
    one, at the cost of a fit on the distinct rows. Each refit starts afresh with the
    model's settings (as CLVTools' bootstrap does); CNBD-k with ``k=None`` searches ``k``
    again each time.

    Parameters
    ----------
    model : PurchaseModel, GammaGammaModel or CLVModel
        The fitted model (a CLVModel refits its purchase and spend models on each resample).
    rfm : DataFrame
        The RFM summary the model was fitted on.
    n_refits : int, default 100
        Number of resamples.
    seed : int, Generator or None
        Seed of the resampling: the same seed gives the same parameters, whatever ``n_jobs``.
    n_jobs : int or None
        Processes that refit in parallel (joblib; -1: one per core). None: joblib's default
        (one, unless inside a ``joblib.parallel_config`` block). Parallel refits pay
        off from about a second per refit.

    Returns
    -------
    DataFrame
        One row per refit (index ``draw``), one column per parameter as in ``model.params_``:
        the same shape as ``model.parameter_draws``. ``attrs`` holds ``method``, ``n_refits`` and
        ``n_not_converged``.

    Warns
    -----
    ModelWarning
        If some refits did not converge (they are kept: a resample on which the model
        degenerates is part of what the bootstrap shows).

    Examples
    --------
    >>> from clv_predict import BetaGeoModel
    >>> truth = BetaGeoModel.from_params(r=0.25, alpha=4.0, a=0.8, b=2.4, time_unit="W")
    >>> rfm = truth.simulate(2000, 39.0, seed=1)
    >>> draws = bootstrap_params(BetaGeoModel().fit(rfm), rfm, n_refits=5, seed=2)
    >>> draws.shape, list(draws.columns)
    ((5, 4), ['r', 'alpha', 'a', 'b'])
    """
    from joblib import Parallel, delayed

    _check_fitted_model(model)
    if isinstance(n_refits, bool) or not isinstance(n_refits, (int, np.integer)) or n_refits <= 0:
        raise DataError(f"'n_refits' must be a positive whole number; got {n_refits!r}")
    table, weights = _compressed_table(model, rfm)
    n_customers = int(weights.sum())
    # one child seed per refit: the draws do not depend on how refits are spread over processes
    children = np.random.SeedSequence(_entropy(seed)).spawn(int(n_refits))
    resampled = [
        np.random.default_rng(child).multinomial(n_customers, weights / n_customers).astype(float) for child in children
    ]
    results = Parallel(n_jobs=n_jobs)(delayed(_refit)(model, table, w) for w in resampled)
    values = np.array([params for params, _ in results])
    failed = sum(not converged for _, converged in results)
    if failed:
        warnings.warn(
            f"{plural(failed, 'bootstrap refit')} of {n_refits} did not converge (kept among the draws: on such "
            "resamples the model degenerates, which is part of the uncertainty; many of them suggest a "
            "penalizer_coef)",
            ModelWarning,
            stacklevel=2,
        )
    frame = pd.DataFrame(values, columns=list(model.params_.index), index=pd.RangeIndex(int(n_refits), name="draw"))
    frame.attrs.update({"method": "bootstrap", "n_refits": int(n_refits), "n_not_converged": int(failed)})
    return frame


def _entropy(seed):
    """A SeedSequence entropy from a seed, a Generator or None."""
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**63))
    if seed is None or isinstance(seed, (int, np.integer)):
        return seed
    raise DataError(f"'seed' must be a whole number, a numpy Generator or None; got {seed!r}")


# --------------------------------------------------------------------------- the total
def _check_interval(interval) -> float:
    if isinstance(interval, bool) or not isinstance(interval, numbers.Real) or not 0 < interval < 1:
        raise DataError(f"'interval' must be a probability between 0 and 1 (0.9 for a 90% interval); got {interval!r}")
    return float(interval)


def _check_periods(periods, horizon: int) -> np.ndarray:
    """Ends of the periods the cumulative forecast is given at, in time units."""
    if periods is None:
        return np.arange(1, horizon + 1, dtype=float)
    if isinstance(periods, (int, np.integer)) and not isinstance(periods, bool):
        if periods <= 0:
            raise DataError(f"'periods' must be a positive whole number or a list of times; got {periods!r}")
        return horizon * np.arange(1, int(periods) + 1, dtype=float) / int(periods)
    values = np.asarray(periods, dtype=float).reshape(-1)
    if values.size == 0 or not np.all(np.isfinite(values)) or (values <= 0).any() or (values > horizon).any() \
            or (np.diff(values) <= 0).any():
        raise DataError(
            f"'periods' must be increasing times in (0, horizon = {horizon}] (or a number of equal periods); got {periods!r}"
        )
    return values


def _draws_for(model, rfm, method: str, draws, seed, n_jobs) -> pd.DataFrame:
    names = list(model.params_.index)
    if isinstance(draws, pd.DataFrame):
        missing = [name for name in names if name not in draws.columns]
        if missing or len(draws) == 0:
            raise DataError(
                f"'draws' must hold one column per parameter of the model ({', '.join(names)})"
                + (f"; missing {', '.join(missing)}" if missing else "; it has no rows")
            )
        values = draws[names].to_numpy(dtype=float)
        coefficients = [name for part in _parts(model) for name in part._coefficient_param_names()]
        positive = draws[[name for name in names if name not in coefficients]].to_numpy(dtype=float)
        if not np.all(np.isfinite(values)) or (positive <= 0).any():
            raise DataError("'draws' must hold finite parameters, > 0 but for covariate coefficients")
        return draws[names]
    count = _DEFAULT_DRAWS[method] if draws is None else draws
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 2:
        raise DataError(f"'draws' must be a whole number >= 2 or a DataFrame of parameter vectors; got {draws!r}")
    if method == "bootstrap":
        return bootstrap_params(model, rfm, int(count), seed=seed, n_jobs=n_jobs)
    if isinstance(model, CLVModel):
        # the two models are fitted separately (as in Fader & Hardie): their estimates are independent
        spend_seed, purchase_seed = np.random.SeedSequence(_entropy(seed)).spawn(2)
        purchases = model.purchase_model_.parameter_draws(int(count), seed=np.random.default_rng(purchase_seed))
        spend = model.spend_model_.parameter_draws(int(count), seed=np.random.default_rng(spend_seed))
        return pd.concat([purchases, spend], axis=1)[names]
    return model.parameter_draws(int(count), seed=seed)


class _Base:
    """The customers of an RFM summary grouped as the moments of the total need them.

    ``rows``: distinct (frequency, recency, T), where P(alive) is evaluated; ``alive_rows``:
    distinct values of the model's ``_if_alive_columns``, where the expectations of an alive
    customer (which need a grid of periods) are evaluated.
    """

    def __init__(self, purchases: PurchaseModel, x, t_x, T, monetary=None):
        customer_rows, (self.x, self.t_x, self.T) = _distinct_rows([x, t_x, T])
        self.weights = np.bincount(customer_rows, minlength=self.x.size).astype(float)
        by_name = {"frequency": self.x, "recency": self.t_x, "T": self.T}
        self.alive_of_row, uniques = _distinct_rows([by_name[column] for column in purchases._if_alive_columns])
        distinct = dict(zip(purchases._if_alive_columns, uniques))
        size = uniques[0].size
        self.alive_x = distinct.get("frequency", np.zeros(size))
        self.alive_t_x = distinct.get("recency", np.zeros(size))
        self.alive_T = distinct.get("T", np.zeros(size))
        self.n_alive_rows = size
        self.customer_rows = customer_rows
        self.customer_x = np.asarray(x, dtype=float)
        self.monetary = None if monetary is None else np.asarray(monetary, dtype=float)

    def moments(self, purchases: PurchaseModel, params, periods, spend_params=None, margin: float = 1.0, *,
                variance: bool = True):
        """Mean and variance (None unless ``variance``) of the total purchases (and value) at each period
        end, given the parameters."""
        p_alive = purchases._probability_alive_values(params, self.x, self.t_x, self.T)
        args = (self.alive_x[:, None], self.alive_t_x[:, None], self.alive_T[:, None], periods[None, :])
        with np.errstate(all="ignore"):
            first = purchases._expected_if_alive_values(params, *args)
            second = purchases._second_moment_if_alive_values(params, *args) if variance else None
        first = np.broadcast_to(first, (self.n_alive_rows, periods.size))
        size = self.n_alive_rows
        alive = np.bincount(self.alive_of_row, self.weights * p_alive, size)
        result = {"purchases": (alive @ first, None)}
        if variance:
            alive_squared = np.bincount(self.alive_of_row, self.weights * p_alive**2, size)
            # Var = P(alive) E[X^2 | alive] - (P(alive) E[X | alive])^2 per customer, summed
            result["purchases"] = (alive @ first, alive @ second - alive_squared @ first**2)
        if spend_params is not None:
            result["value"] = self._value_moments(p_alive, first, second, spend_params, margin)
        return result

    def _value_moments(self, p_alive, first, second, spend_params, margin):
        """Total value: each customer's count times spends drawn from his Gamma-Gamma posterior.

        Given his history, a customer's spends are Gamma(p, nu) with nu ~ Gamma(Q, W), Q = q + p x,
        W = v + x m, independent of his count X. With E[1/nu] = W / (Q - 1) and
        E[1/nu^2] = W^2 / ((Q - 1)(Q - 2)), his value V has E[V] = E[X] p E[1/nu] and
        Var(V) = E[X] p E[1/nu^2] + E[X^2] p^2 E[1/nu^2] - (E[X] p E[1/nu])^2.
        """
        p, q, v = spend_params
        x = self.customer_x
        shape = q + p * x
        scale = v + x * np.where(x > 0, self.monetary, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_spend = p * scale / (shape - 1)
            inverse_square = np.where(shape > 2, scale**2 / ((shape - 1) * (shape - 2)), np.inf)
        alive = p_alive[self.customer_rows]
        rows, size = self.alive_of_row[self.customer_rows], self.n_alive_rows
        mean_weight = np.bincount(rows, alive * mean_spend, size)
        if second is None:
            return margin * (mean_weight @ first), None
        spread_weight = np.bincount(rows, alive * p * inverse_square, size)
        square_weight = np.bincount(rows, alive * p**2 * inverse_square, size)
        cross_weight = np.bincount(rows, alive**2 * mean_spend**2, size)
        with np.errstate(invalid="ignore"):
            mean = mean_weight @ first
            variance = spread_weight @ first + square_weight @ second - cross_weight @ first**2
        return margin * mean, margin**2 * variance


class _PatternGroups:
    """The customers grouped by their joint covariate pattern of the purchase (and spend) model, one
    :class:`_Base` each, and each pattern's parameters under a full parameter vector (base parameters and
    coefficients: a draw of the parameters moves every pattern at once, as it does every customer). Without
    covariates, one group of every customer."""

    def __init__(self, purchases, spend, rfm, x, t_x, T, monetary):
        self.purchases, self.spend = purchases, spend
        size = len(x)
        self.purchase_found = purchases._covariate_patterns(rfm)
        self.spend_found = None if spend is None else spend._covariate_patterns(rfm)
        of_purchase = np.zeros(size) if self.purchase_found is None else self.purchase_found[0].astype(float)
        of_spend = np.zeros(size) if self.spend_found is None else self.spend_found[0].astype(float)
        codes, (purchase_pattern, spend_pattern) = _distinct_rows([of_purchase, of_spend])
        order = np.argsort(codes, kind="stable")
        ends = np.searchsorted(codes[order], np.arange(purchase_pattern.size + 1))
        self.bases = []
        for group in range(purchase_pattern.size):
            rows = order[ends[group]: ends[group + 1]]
            base = _Base(purchases, x[rows], t_x[rows], T[rows], None if monetary is None else monetary[rows])
            self.bases.append((base, int(purchase_pattern[group]), int(spend_pattern[group])))

    @staticmethod
    def _of(model, found, vector):
        if found is None:
            return np.asarray(vector, dtype=float)[None, :]
        return model._params_of_patterns(vector, found[1])

    def purchase_params(self, vector) -> np.ndarray:
        return self._of(self.purchases, self.purchase_found, vector)

    def spend_params(self, vector) -> np.ndarray:
        return self._of(self.spend, self.spend_found, vector)


def _pattern_groups(model, rfm, x, t_x, T, monetary) -> _PatternGroups:
    purchases = model.purchase_model_ if isinstance(model, CLVModel) else model
    spend = model.spend_model_ if isinstance(model, CLVModel) else None
    return _PatternGroups(purchases, spend, rfm, x, t_x, T, monetary)


def _mixture_quantiles(means: np.ndarray, sds: np.ndarray, levels) -> np.ndarray:
    """Quantiles of the equal-weight mixture of normals N(means[d, k], sds[d, k]^2), per column k.

    Solved by bisection on the mixture's distribution function, all columns at once.
    """
    sds = np.maximum(sds, 1e-12 * np.maximum(np.abs(means), 1.0))
    out = []
    for level in levels:
        low = (means - 10 * sds).min(axis=0)
        high = (means + 10 * sds).max(axis=0)
        for _ in range(100):
            middle = (low + high) / 2
            below = ndtr((middle[None, :] - means) / sds).mean(axis=0) < level
            low = np.where(below, middle, low)
            high = np.where(below, high, middle)
        out.append((low + high) / 2)
    return np.array(out)


def forecast_total(
    model,
    rfm: pd.DataFrame,
    *,
    horizon,
    interval: float = 0.9,
    periods=None,
    method: str = "normal",
    draws=None,
    seed=None,
    margin: float = 1.0,
    n_jobs=None,
) -> pd.DataFrame:
    """Total purchases (and value) of the customer base over the horizon, per period, with bounds.

    The bounds are those of the predictive distribution of the total: the purchase process
    of every customer (the sum of their conditional variances, exact given the parameters)
    and the uncertainty of the fitted parameters, which every customer shares (see the module's
    docstring). The ``_ci_`` bounds are those of the expected total alone (parameters only).

    Parameters
    ----------
    model : PurchaseModel or CLVModel
        A fitted model. With a :class:`CLVModel` the value of the purchases (Gamma-Gamma
        spend times ``margin``, undiscounted) is forecast too.
    rfm : DataFrame
        The customers' RFM summary (with ``monetary_value`` for a CLVModel), in the model's time unit.
    horizon : int
        Whole number of time units forecast.
    interval : float, default 0.9
        Probability the bounds hold between them (0.9: 5% and 95% quantiles).
    periods : None, int or sequence of float
        Where the cumulative totals are given: None, every time unit 1, ..., horizon; a number n,
        n equal periods; or increasing times up to ``horizon``.
    method : {"normal", "bootstrap"}, default "normal"
        How parameter vectors are drawn: from the estimates' asymptotic normal distribution on
        the log scale (``model.parameter_draws``), or by refitting on bootstrap resamples of the
        customers (:func:`bootstrap_params`, slower).
    draws : int or DataFrame, optional
        Number of parameter draws (default 200 for "normal", 100 for "bootstrap"), or the
        parameter vectors themselves (one column per parameter of ``model.params_``, such as
        :func:`bootstrap_params` returns: ``method`` is then not used).
    seed : int, Generator or None
        Seed of the draws.
    margin : float, default 1
        Share of spend counted as value.
    n_jobs : int or None
        Processes for the bootstrap refits (see :func:`bootstrap_params`).

    Returns
    -------
    DataFrame
        Indexed by ``period`` (the end of each period, in time units): ``expected_purchases`` (at the
        estimates: the sum of ``expected_purchases``), ``purchases_lower`` and ``purchases_upper``
        (predictive), ``purchases_ci_lower`` and ``purchases_ci_upper`` (parameters only), and
        ``purchases_sd`` (predictive standard deviation); with a CLVModel the same for ``value``.
        ``attrs`` holds ``interval``, ``method``, ``n_draws``, ``horizon``, ``time_unit`` and ``n_customers``.

    Examples
    --------
    >>> from clv_predict import BetaGeoModel
    >>> truth = BetaGeoModel.from_params(r=0.25, alpha=4.0, a=0.8, b=2.4, time_unit="W")
    >>> rfm = truth.simulate(2000, 39.0, seed=1)
    >>> draws = bootstrap_params(BetaGeoModel().fit(rfm), rfm, n_refits=20, seed=2)
    >>> total = forecast_total(truth, rfm, horizon=52, periods=4, draws=draws)
    >>> total.columns.tolist()[:3]
    ['expected_purchases', 'purchases_lower', 'purchases_upper']
    >>> bool((total["purchases_lower"] < total["expected_purchases"]).all())
    True
    """
    if not isinstance(model, (PurchaseModel, CLVModel)):
        raise DataError(f"'model' must be a fitted purchase model or CLVModel; got {type(model).__name__}")
    model._check_fitted()
    horizon = check_horizon(horizon)
    interval = _check_interval(interval)
    method = check_choice(method, "method", METHODS)
    margin = check_margin(margin)
    times = _check_periods(periods, horizon)
    purchases = model.purchase_model_ if isinstance(model, CLVModel) else model
    with_value = isinstance(model, CLVModel)
    checked, x, t_x, T = purchases._rfm_arrays(rfm, need_monetary=with_value)
    if len(checked) == 0:
        raise DataError("rfm has no customers to forecast")
    monetary = checked["monetary_value"].to_numpy() if with_value else None
    groups = _pattern_groups(model, rfm, x, t_x, T, monetary)
    given = isinstance(draws, pd.DataFrame)
    draws = _draws_for(model, rfm, method, draws, seed, n_jobs)
    n_purchase = len(purchases.params_)

    def moments_at(vector, variance):
        # every customer with her covariates: each group's parameters under this draw of the full vector
        vector = np.asarray(vector, dtype=float)
        purchase_params = groups.purchase_params(vector[:n_purchase])
        spend_params = groups.spend_params(vector[n_purchase:]) if with_value else None
        total = None
        for base, purchase_pattern, spend_pattern in groups.bases:
            moments = base.moments(
                purchases, purchase_params[purchase_pattern], times,
                None if spend_params is None else spend_params[spend_pattern], margin, variance=variance,
            )
            total = moments if total is None else {
                name: (total[name][0] + mean, None if spread is None else total[name][1] + spread)
                for name, (mean, spread) in moments.items()
            }
        return total

    at_estimate = moments_at(model.params_.to_numpy(dtype=float), True)
    vectors = draws.to_numpy(dtype=float)
    # The process variance of the total is a smooth function of the parameters that varies little across
    # the draws: computed exactly at _VARIANCE_DRAWS of the (independent) draws and averaged, it keeps the
    # predictive variance (mean process variance + variance of the means) at a fraction of the cost.
    per_draw, failed = [], 0
    for number, vector in enumerate(vectors):
        try:
            with np.errstate(all="ignore"):
                moments = moments_at(vector, number < _VARIANCE_DRAWS)
        except (ValueError, ArithmeticError):  # a draw far out on a flat likelihood: overflowing parameters
            moments = None
        if moments is None or not all(np.all(np.isfinite(m[0])) for m in moments.values()):
            failed += 1
        else:
            per_draw.append(moments)
    if failed:
        raise DataError(
            f"{plural(failed, 'parameter draw')} of {len(vectors)} give no finite forecast: the estimates are "
            "too uncertain (a likelihood flat in some direction, estimates at the edge of the parameter space) "
            "for a range of the total; a penalizer_coef, more customers or a longer observation period helps"
        )
    level_low, level_high = (1 - interval) / 2, (1 + interval) / 2
    frame = {}
    for quantity in at_estimate:
        means = np.array([moments[quantity][0] for moments in per_draw])
        process = np.array([moments[quantity][1] for moments in per_draw if moments[quantity][1] is not None])
        variances = np.broadcast_to(process.mean(axis=0), means.shape)
        expected = at_estimate[quantity][0]
        name = "purchases" if quantity == "purchases" else "value"
        frame[f"expected_{name}"] = expected
        if not np.all(np.isfinite(variances)):
            warnings.warn(
                "the Gamma-Gamma spend has no finite variance for some customers (q + p x <= 2), so the "
                "total value has no predictive bounds (NaN); its parameter-only bounds are given",
                ModelWarning,
                stacklevel=2,
            )
            lower = upper = np.full(times.size, np.nan)
            sd = np.full(times.size, np.nan)
        else:
            lower, upper = _mixture_quantiles(means, np.sqrt(np.maximum(variances, 0.0)), (level_low, level_high))
            lower = np.maximum(lower, 0.0)
            # the mixture's variance: the mean process variance plus the variance of the means
            sd = np.sqrt(variances.mean(axis=0) + means.var(axis=0))
        frame[f"{name}_lower"] = lower
        frame[f"{name}_upper"] = upper
        frame[f"{name}_ci_lower"] = np.quantile(means, level_low, axis=0)
        frame[f"{name}_ci_upper"] = np.quantile(means, level_high, axis=0)
        frame[f"{name}_sd"] = sd
    result = pd.DataFrame(frame, index=pd.Index(times, name="period"))
    result.attrs.update(
        {
            "interval": interval,
            "method": draws.attrs.get("method", "given") if given else method,
            "n_draws": len(draws),
            "horizon": horizon,
            "time_unit": model.time_unit_,
            "n_customers": len(checked),
            "margin": margin,
        }
    )
    return result


# --------------------------------------------------------------------------- calibration against a holdout
#: Groups of training frequency in calibration tables: (label, lowest, highest).
FREQUENCY_GROUPS = (("0", 0, 0), ("1", 1, 1), ("2", 2, 2), ("3-4", 3, 4), ("5-9", 5, 9), ("10+", 10, np.inf))


def _holdout_pmf(model, rfm, t: float, observed: np.ndarray) -> np.ndarray:
    """The conditional distribution of each customer's holdout count, columns 0 .. beyond the largest
    observed count until the mass left is below 1e-9 (the last column holds that rest)."""
    most = max(int(observed.max()) + 1, 20)
    while True:
        pmf = model.conditional_probability_of_n_purchases(rfm, t, most).to_numpy(dtype=float)
        rest = 1.0 - pmf.sum(axis=1)
        if rest.max() < 1e-9 or most >= 1 << 12:
            return np.column_stack([pmf, np.clip(rest, 0.0, None)])
        most *= 2


def _observed(rfm, observed, name: str = "observed") -> np.ndarray:
    values = np.asarray(rfm[observed] if isinstance(observed, str) else observed, dtype=float).reshape(-1)
    if values.size != len(rfm) or not np.all(np.isfinite(values)) or (values < 0).any() or (values != np.round(values)).any():
        raise DataError(f"'{name}' must hold one whole number >= 0 per customer of rfm ({len(rfm)}); got {values.size} values")
    return values.astype(np.int64)


def holdout_calibration(model, rfm: pd.DataFrame, observed, *, t: float, levels=(0.8, 0.9), seed=None) -> dict:
    """How well the customers' predicted purchase distributions match their holdout purchases.

    For each customer the conditional distribution of purchases in the next ``t`` time units
    (``model.conditional_probability_of_n_purchases``, at the fitted parameters) is set
    against the count he made.

    Parameters
    ----------
    model : PurchaseModel
        Fitted on the calibration period that ``rfm`` summarises.
    rfm : DataFrame
        Calibration RFM summary.
    observed : str or array
        Holdout purchases per customer (a column of ``rfm`` such as ``"test_frequency"``, or an array).
    t : float
        Length of the holdout period, in the model's time unit.
    levels : sequence of float
        Nominal levels of the predictive intervals checked.
    seed : int or None
        Seed of the randomisation of the PIT.

    Returns
    -------
    dict
        ``pit``: the randomised probability integral transform's share of customers in each tenth
        (Czado, Gneiting & Held 2009: uniform if the distributions are right);
        ``histogram``: predicted (summed over customers) and observed number of customers per count,
        with their total variation distance in ``attrs["total_variation"]``;
        ``coverage``: per training-frequency group and overall, the share of customers whose count
        lies in the equal-tailed interval [q((1-L)/2), q((1+L)/2)] and in the shortest set of counts
        of probability >= L, with their mean widths (number of counts).
    """
    observed = _observed(rfm, observed)
    pmf = _holdout_pmf(model, rfm, float(t), observed)
    size = pmf.shape[1]
    rows = np.arange(observed.size)
    clipped = np.minimum(observed, size - 1)
    cdf = np.cumsum(pmf, axis=1)
    below = np.where(clipped > 0, cdf[rows, np.maximum(clipped - 1, 0)], 0.0)
    uniform = np.random.default_rng(seed).uniform(size=observed.size)
    pit = below + uniform * pmf[rows, clipped]
    deciles = np.histogram(pit, bins=np.linspace(0, 1, 11))[0] / observed.size
    pit_table = pd.Series(deciles, index=pd.Index([f"{k / 10:.1f}-{(k + 1) / 10:.1f}" for k in range(10)], name="pit"),
                          name="share")

    predicted = pmf.sum(axis=0)
    counts = np.bincount(clipped, minlength=size).astype(float)
    shown = max(int(observed.max()), 10) + 1
    histogram = pd.DataFrame(
        {"predicted": predicted[:shown], "observed": counts[:shown]},
        index=pd.Index(np.arange(shown), name="purchases"),
    )
    histogram.loc[shown - 1] = [predicted[shown - 1:].sum(), counts[shown - 1:].sum()]  # the last row: shown - 1 or more
    histogram.attrs["total_variation"] = float(0.5 * np.abs(predicted - counts).sum() / observed.size)

    frequency = np.asarray(rfm["frequency"], dtype=float)
    records = []
    for level in levels:
        low_level, high_level = (1 - level) / 2, (1 + level) / 2
        lower = (cdf < low_level - 1e-12).sum(axis=1)
        upper = (cdf < high_level - 1e-12).sum(axis=1)
        in_interval = (observed >= lower) & (observed <= upper)
        width = upper - lower + 1
        # the shortest set: the most probable counts until their mass reaches the level
        ordered = -np.sort(-pmf, axis=1)
        needed = (np.cumsum(ordered, axis=1) < level - 1e-12).sum(axis=1)
        threshold = ordered[rows, np.minimum(needed, size - 1)]
        in_shortest = pmf[rows, clipped] >= threshold
        shortest_width = (pmf >= threshold[:, None]).sum(axis=1)
        groups = [(label, (frequency >= low) & (frequency <= high)) for label, low, high in FREQUENCY_GROUPS]
        for label, members in [*groups, ("all", np.ones(observed.size, dtype=bool))]:
            if not members.any():
                continue
            records.append({
                "level": level, "frequency": label, "customers": int(members.sum()),
                "coverage": float(in_interval[members].mean()), "width": float(width[members].mean()),
                "coverage_shortest": float(in_shortest[members].mean()),
                "width_shortest": float(shortest_width[members].mean()),
            })
    coverage = pd.DataFrame.from_records(records).set_index(["level", "frequency"])
    return {"pit": pit_table, "histogram": histogram, "coverage": coverage}


def cumulative_holdout_purchases(transactions: pd.DataFrame, rfm: pd.DataFrame, periods, *, train_period_end,
                                 customer_id_col: str = "customer_id", datetime_col: str = "date",
                                 time_unit: str = "W") -> pd.Series:
    """The actual cumulative purchases of the customers of ``rfm`` after ``train_period_end``, at each period end.

    Purchases are counted as the RFM summary counts them (one per customer and day), so they
    compare with :func:`forecast_total`'s ``expected_purchases`` (pass ``total.index`` as ``periods``).
    """
    from ._validation import TIME_UNIT_DAYS, check_time_unit, to_timestamp

    unit_days = TIME_UNIT_DAYS[check_time_unit(time_unit)]
    end = to_timestamp(train_period_end, "train_period_end")
    dates = pd.to_datetime(transactions[datetime_col]).dt.normalize()
    later = (dates > end) & transactions[customer_id_col].isin(rfm.index)
    days = pd.DataFrame({"customer": transactions.loc[later, customer_id_col], "day": dates[later]}).drop_duplicates()
    elapsed = ((days["day"] - end).dt.days / unit_days).to_numpy()
    periods = np.asarray(periods, dtype=float)
    counts = np.searchsorted(np.sort(elapsed), periods, side="right")
    return pd.Series(counts, index=pd.Index(periods, name="period"), name="actual_purchases")


__all__ = [
    "FREQUENCY_GROUPS", "METHODS", "bootstrap_params", "cumulative_holdout_purchases", "forecast_total",
    "holdout_calibration",
]
