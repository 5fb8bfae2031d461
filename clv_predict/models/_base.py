"""What every model shares: fitting, standard errors, summaries, and the purchase-model protocol.

Models follow the scikit-learn contract: the constructor stores settings, ``fit``
validates and computes, sets attributes ending in ``_`` and returns ``self``.
The shared machinery (optimisation from several starts on compressed rows,
sample-then-polish at scale, convergence checks, covariance from the Hessian of
the model's own log-likelihood, the summary table, ``_repr_html_``) lives once
in :class:`_ParametricModel`; :class:`PurchaseModel` adds what every model of
purchasing and dropout answers (P(alive), expected purchases, the purchase
distribution of a new customer, discounting, simulation), so that CLV, scoring,
evaluation, plots and the command line never ask which model they hold.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.stats import norm

from .. import _lifetimes, _rows
from .._validation import (
    check_nonnegative_number,
    check_rfm,
    check_time_unit,
    numeric_column,
    plural,
)
from ..exceptions import ConvergenceWarning, DataError, ModelWarning, NotFittedError

ENGINES = ("lifetimes", "native")

# Starting points tried in turn, in log-parameter space. The first is lifetimes' own.
_STARTS = (0.1, 0.0, -1.0, 1.0)

#: With more distinct rows than this, the native engine tries its starts on a random sample of about
#: _SAMPLE_CUSTOMERS customers and polishes the estimate on all of them (see _ParametricModel._optimise).
_SAMPLE_ABOVE_ROWS = 50_000
_SAMPLE_CUSTOMERS = 100_000


def _hessian(gradient, point: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Symmetrised Hessian from forward differences of an analytic ``gradient``: k + 1 evaluations, each a
    pass over the rows."""
    k = point.size
    hessian = np.empty((k, k))
    at = gradient(point)
    for i in range(k):
        shifted = point.copy()
        shifted[i] += steps[i]
        hessian[:, i] = (gradient(shifted) - at) / steps[i]
    return (hessian + hessian.T) / 2


@dataclass
class _Optimum:
    log_params: np.ndarray
    success: bool
    message: str
    iterations: int | None


class _ParametricModel:
    """Shared machinery of the fitted models. Subclasses declare their maths."""

    _param_names: tuple[str, ...] = ()
    #: Parameters in ``params_`` that the optimiser does not move (CNBD-k's ``k``, chosen by a search).
    _extra_param_names: tuple[str, ...] = ()
    _kind = ""

    def __init__(self, penalizer_coef: float = 0.0, engine: str = "native"):
        self.penalizer_coef = penalizer_coef
        self.engine = engine

    @classmethod
    def _given(cls, params: dict) -> dict:
        """Known parameters for ``from_params``, checked: every name of the model, each a finite number > 0."""
        names = list(cls._param_names)
        unknown = sorted(set(params) - set(names) - set(cls._extra_param_names))
        missing = [name for name in names if name not in params]
        if unknown or missing:
            raise DataError(
                f"{cls.__name__}.from_params takes the parameters {', '.join(names)}"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(unknown)}" if unknown else "")
            )
        for name, value in params.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value) \
                    or value <= 0:
                raise DataError(f"parameter {name!r} must be a finite number > 0; got {value!r}")
        return {name: float(value) for name, value in params.items()}

    def _settings(self) -> dict:
        """The constructor's settings, as given (what a copy or a saved file needs to rebuild the model)."""
        names = [name for name in inspect.signature(type(self).__init__).parameters if name != "self"]
        return {name: getattr(self, name) for name in names}

    # ------------------------------------------------------------------ subclass hooks
    def _negative_objective(self, data, scaled):
        """Mean penalised negative log-likelihood; ``data["rows"]`` sums the weighted log-likelihood."""
        return -data["rows"].value(scaled) / data["n"] + self.penalizer_coef * np.sum(scaled**2)

    def _negative_objective_gradient(self, data, scaled):
        return -data["rows"].gradient(scaled) / data["n"] + 2 * self.penalizer_coef * scaled

    def _make_rows(self, columns: dict, weights: np.ndarray):
        """The model's weighted log-likelihood over the compressed rows ``columns`` (``value``, ``gradient``)."""
        raise NotImplementedError

    def _lifetimes_fit(self, data, initial_log_params):
        raise NotImplementedError

    # ------------------------------------------------------------------ fitting
    def _check_settings(self) -> None:
        check_nonnegative_number(self.penalizer_coef, "penalizer_coef")
        if self.engine not in ENGINES:
            raise DataError(f"'engine' must be one of {', '.join(map(repr, ENGINES))}; got {self.engine!r}")

    def _optimise(self, data) -> np.ndarray:
        """Minimise the objective; return the estimates (in the objective's units) and set ``convergence_``.

        Tries several starts in turn and keeps the first that converges. With
        the native engine and many distinct rows, the starts are tried on a
        random sample of the customers, and the sample's estimate is then
        polished on all of them: the full data are evaluated a handful of
        times instead of dozens, and the optimum is the full data's all the same.
        """
        sample = self._sample(data) if self.engine == "native" else None
        optimum, winner, tried = None, None, []
        if sample is not None:
            warm, winner, tried = self._search(sample)
            polished = self._polish(data, sample, warm.log_params)
            if polished.success:
                optimum = polished
        if optimum is None:
            sample = None
            optimum, winner, tried = self._search(data)
        scaled = np.exp(optimum.log_params)
        gradient = self._negative_objective_gradient(data, scaled) * scaled
        gradient_norm = float(np.max(np.abs(gradient)))
        converged = bool(optimum.success and np.isfinite(gradient_norm) and gradient_norm < 1e-4)
        self.convergence_ = {
            "engine": self.engine,
            "converged": converged,
            "message": optimum.message,
            "iterations": optimum.iterations,
            "gradient_norm": gradient_norm,
            "start": float(_STARTS[winner]),
            "starts_tried": len(tried),
            # customers in the random sample the starts were tried on (None: tried on all customers)
            "sample_customers": None if sample is None else int(round(sample["n"])),
        }
        if not converged:
            warnings.warn(
                f"{type(self).__name__} fit did not converge from any of {len(tried)} starting points "
                f"(optimiser: {optimum.message!r}; largest gradient {gradient_norm:.3g}). The estimates may be "
                "wrong: try a penalizer_coef such as 0.001, more customers or a longer observation period, "
                "or another time_unit.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return scaled

    def _search(self, data):
        """Minimise from each start in turn until one converges; else keep the lowest objective."""
        k = len(self._param_names)
        tried = []
        for number, start in enumerate(_STARTS):
            candidate = self._minimise(data, np.full(k, start, dtype=float))
            tried.append(candidate)
            if candidate.success:
                return candidate, number, tried
        objective = [self._negative_objective(data, np.exp(c.log_params)) for c in tried]
        winner = int(np.nanargmin(objective))
        return tried[winner], winner, tried

    # ------------------------------------------------------------------ sample, then polish
    def _sample(self, data):
        """The objective's data on a random sample of about ``_SAMPLE_CUSTOMERS`` customers, or None.

        Worth it only when the distinct rows are many: then the evaluations on
        all of them are what the fit's time is made of. The sample is a Poisson
        thinning of each row's weight, seeded, so fits are repeatable.
        """
        weights = data["weights"]
        if weights.size <= _SAMPLE_ABOVE_ROWS or data["n"] <= 2 * _SAMPLE_CUSTOMERS:
            return None
        thinned = np.random.default_rng(0).poisson(weights * (_SAMPLE_CUSTOMERS / data["n"])).astype(float)
        keep = thinned > 0
        if not keep.any():  # pragma: no cover - impossible with thousands of expected customers
            return None
        return {"rows": self._rows_of(data, keep, thinned[keep]), "n": float(thinned[keep].sum())}

    def _rows_of(self, data, keep, weights):
        """The objective's rows object on the rows ``keep`` of ``data["columns"]``, with new ``weights``."""
        return self._make_rows({name: values[keep] for name, values in data["columns"].items()}, weights)

    def _objective(self, data):
        """The objective in log-parameters, with its gradient, as the optimiser wants it."""

        def fun(log_params):
            scaled = np.exp(log_params)
            value = self._negative_objective(data, scaled)
            gradient = self._negative_objective_gradient(data, scaled) * scaled
            if not np.isfinite(value) or not np.all(np.isfinite(gradient)):
                return np.inf, np.zeros_like(log_params)
            return value, gradient

        return fun

    def _polish(self, data, sample, log_params) -> _Optimum:
        """Minimise on all the data from the sample's estimate, with the sample's curvature as the metric.

        The objective is a mean over customers, so the sample's Hessian is close
        to the full data's: in coordinates ``z`` where it is the identity
        (``log_params = start + L^-T z`` with ``H = L L^T``), BFGS's first steps
        are Newton steps, and a few evaluations on all rows reach the optimum.
        """
        sample_fun, fun = self._objective(sample), self._objective(data)
        k = log_params.size
        hessian = _hessian(lambda at: sample_fun(at)[1], log_params, np.full(k, 1e-5))
        failed = _Optimum(log_params, False, "the sample's Hessian is not positive definite", 0)
        if not np.all(np.isfinite(hessian)):
            return failed
        try:
            to_params = np.linalg.inv(np.linalg.cholesky(hessian)).T  # L^-T
        except np.linalg.LinAlgError:
            return failed

        def in_z(z):
            value, gradient = fun(log_params + to_params @ z)
            return value, to_params.T @ gradient

        with np.errstate(all="ignore"):
            result = minimize(in_z, np.zeros(k), jac=True, method="BFGS", tol=1e-8)
        end = log_params + to_params @ np.asarray(result.x)
        # near the optimum of a mean over millions of customers the line search can run out of digits
        # ("precision loss") a little short of gtol; a gradient this small is an optimum all the same
        message = str(result.message)
        success = bool(result.success)
        if not success and np.max(np.abs(fun(end)[1])) < 1e-7:
            success, message = True, "Optimization terminated: gradient below 1e-7 (the line search ran out of digits)."
        return _Optimum(end, success, message, int(result.nit))

    def _minimise(self, data, x0) -> _Optimum:
        if self.engine == "lifetimes":
            try:
                scaled = self._lifetimes_fit(data, x0)
            except _lifetimes.LifetimesFitFailed as failure:
                reason = failure.report.splitlines()[0] if failure.report else "did not converge"
            except (np.linalg.LinAlgError, FloatingPointError, OverflowError) as failure:
                # lifetimes inverts its Hessian after optimising: a flat likelihood fails there
                reason = f"{type(failure).__name__}: {failure}"
            else:
                return _Optimum(np.log(scaled), True, "lifetimes: converged", None)
            # lifetimes raises without saying where it stopped; the same objective minimised natively from
            # the same start gives the point to report (never the starting values themselves)
            native = self._minimise_native(data, x0)
            return _Optimum(
                native.log_params,
                native.success,
                f"lifetimes failed ({reason.strip()}); native optimiser from the same start: {native.message}",
                native.iterations,
            )
        return self._minimise_native(data, x0)

    def _minimise_native(self, data, x0) -> _Optimum:
        with np.errstate(all="ignore"):
            result = minimize(self._objective(data), x0, jac=True, method="BFGS", tol=1e-7)
        return _Optimum(np.asarray(result.x), bool(result.success), str(result.message), int(result.nit))

    #: Shape parameters (unit-free, unlike the scales alpha and v) checked for the edge of the space.
    _shape_params: tuple[str, ...] = ()

    def _warn_if_at_edge(self) -> None:
        """A shape parameter run off to 0 or infinity means the model degenerates: say so, once."""
        shapes = self.params_[list(self._shape_params)]
        edge = shapes[(shapes < 1e-4) | (shapes > 1e4)]
        if len(edge):
            values = ", ".join(f"{name} = {value:.3g}" for name, value in edge.items())
            warnings.warn(
                f"{type(self).__name__} estimates lie at the edge of the parameter space ({values}): {self._edge_meaning} "
                "Standard errors there mean little. A longer observation period, more customers or a "
                "penalizer_coef gives an interior estimate.",
                ModelWarning,
                stacklevel=3,
            )

    _edge_meaning = ""

    def _set_covariance(self, hessian_function, params) -> None:
        """Covariance of the estimates: the inverse of the Hessian of the total penalised negative log-likelihood."""
        k = params.size
        hessian = _hessian(hessian_function, params, 1e-6 * np.maximum(np.abs(params), 1e-8))
        try:
            covariance = np.linalg.inv(hessian)
        except np.linalg.LinAlgError:
            covariance = np.full((k, k), np.nan)
        variances = np.diag(covariance)
        if not np.all(np.isfinite(variances)) or np.any(variances <= 0):
            warnings.warn(
                f"{type(self).__name__}: the Hessian at the estimates is not positive definite, so standard "
                "errors are not available (the likelihood is flat in some direction: more data or a "
                "penalizer_coef helps)",
                ConvergenceWarning,
                stacklevel=3,
            )
            covariance = np.full((k, k), np.nan)
        names = list(self._param_names)
        self.covariance_ = pd.DataFrame(covariance, index=names, columns=names)
        self.standard_errors_ = pd.Series(np.sqrt(np.diag(covariance)), index=names, name="standard_error")

    # ------------------------------------------------------------------ fitted figures
    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(rfm) first")

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        """Estimates with standard errors and ``1 - alpha`` normal confidence bounds.

        Returns
        -------
        DataFrame
            One row per parameter, columns ``estimate``, ``standard_error``,
            ``lower`` and ``upper`` (the bounds' level is in ``attrs['alpha']``).
        """
        self._check_fitted()
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
            raise DataError(f"'alpha' must be a number between 0 and 1; got {alpha!r}")
        z = norm.ppf(1 - alpha / 2)
        table = pd.DataFrame(
            {
                "estimate": self.params_,
                "standard_error": self.standard_errors_,
                "lower": self.params_ - z * self.standard_errors_,
                "upper": self.params_ + z * self.standard_errors_,
            }
        )
        table = table.rename_axis("parameter")  # a new Index: params_ keeps its own unnamed one
        table.attrs["alpha"] = alpha
        return table

    def __repr__(self) -> str:
        name = type(self).__name__
        if not hasattr(self, "params_"):
            return f"{name}(penalizer_coef={self.penalizer_coef!r}, engine={self.engine!r})"
        params = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return f"<{name}: {params}; log-likelihood {self.log_likelihood_:.2f} on {plural(self.n_customers_, 'customer')}>"

    def _repr_html_(self) -> str:
        if not hasattr(self, "params_"):
            return f"<p>{type(self).__name__} (not fitted)</p>"
        caption = (
            f"{type(self).__name__}: {plural(self.n_customers_, 'customer')}, log-likelihood {self.log_likelihood_:.2f}, "
            f"time unit {getattr(self, 'time_unit_', None) or 'n/a'}"
        )
        return self.summary().to_html(float_format=lambda v: f"{v:.4f}").replace(
            "<table", f"<table title='{caption}'", 1
        ).replace("<thead>", f"<caption>{caption}</caption><thead>", 1)

    def save(self, path) -> None:
        """Write the fitted model to ``path`` (one joblib file, atomically); see :func:`clv_predict.load_model`."""
        from ..persistence import save_model

        save_model(self, path)


def _time_unit_of(rfm: pd.DataFrame, time_unit) -> str | None:
    declared = rfm.attrs.get("time_unit") if isinstance(rfm, pd.DataFrame) else None
    if time_unit is not None:
        check_time_unit(time_unit)
        if declared is not None and declared != time_unit:
            raise DataError(f"the RFM table is in time unit {declared!r} but time_unit={time_unit!r} was given")
        return time_unit
    return declared


def _compress(columns: dict, weights: np.ndarray | None = None) -> tuple[dict, np.ndarray]:
    """Unique rows of the given columns and how many customers share each (the sum of their weights)."""
    return _rows.compress({name: np.asarray(values, dtype=float) for name, values in columns.items()}, weights)


def _row_weights(rfm: pd.DataFrame, weights, n_rows: int) -> np.ndarray | None:
    """How many customers each row of ``rfm`` stands for: ``weights`` as a column name or an array."""
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights not in rfm.columns:
            raise DataError(f"rfm has no column {weights!r} to take the weights from")
        weights = rfm[weights]
    values = pd.to_numeric(pd.Series(np.asarray(weights).reshape(-1)), errors="coerce").to_numpy(dtype=float)
    if values.size != n_rows:
        raise DataError(f"'weights' must have one value per row of rfm ({n_rows}); got {values.size}")
    if not np.all(np.isfinite(values)) or (values < 0).any():
        raise DataError("'weights' must be finite numbers >= 0 (how many customers each row stands for)")
    return values


def _distinct_rows(columns) -> tuple[np.ndarray, list[np.ndarray]]:
    """Codes of each row of equal-length float ``columns`` among their distinct rows, and those rows.

    Each column is factorised on its own (a hash pass) and the small code ranges
    are combined into one integer key: far cheaper than factorising tuples of floats.
    """
    factorised = [pd.factorize(np.asarray(column, dtype=float)) for column in columns]
    key = np.zeros(np.asarray(columns[0]).size, dtype=np.int64)
    span = 1
    for codes, values in factorised:
        key = key * len(values) + codes
        span *= len(values)
    if span <= 4 * key.size + 1024:
        present = np.zeros(span, dtype=bool)
        present[key] = True
        distinct = np.flatnonzero(present)
        codes = (np.cumsum(present, dtype=np.int64) - 1)[key]
    else:
        distinct, codes = np.unique(key, return_inverse=True)
    uniques = []
    for column_codes, values in reversed(factorised):
        distinct, part = np.divmod(distinct, len(values))
        uniques.append(np.asarray(values, dtype=float)[part])
    return codes.reshape(-1), uniques[::-1]


#: Cells of the (customer pattern x period) grid evaluated at once when discounting;
#: bounds the memory of a forecast whatever the number of customers and the horizon.
_GRID_CELLS = 4_000_000

#: Relative size below which the rest of a discounted sum is cut off (a proven bound on it, per row).
_DISCOUNT_TOLERANCE = 1e-9

_RFM_ARGUMENTS = {"frequency": "x", "recency": "t_x", "T": "T"}


class PurchaseModel(_ParametricModel):
    """The protocol every model of purchasing and dropout answers to, and what they share.

    A model of the family is one module of :mod:`clv_predict.models` with a
    subclass of this class that declares its parameters and its maths on numpy
    arrays (natural parameters in the model's time unit):

    * ``_make_rows(columns, weights)``: the weighted log-likelihood over
      compressed rows (``value`` and ``gradient`` in the parameters, times in
      units of the longest ``T``);
    * ``_probability_alive_values(params, x, t_x, T)``;
    * ``_expected_if_alive_values(params, x, t_x, T, t)``: expected purchases in
      ``(T, T + t]`` of a customer alive at ``T``, depending only on the RFM
      columns named in ``_if_alive_columns`` (the forecast is P(alive) times it);
    * ``_expected_new_customer_values(params, t)`` and
      ``_probability_of_n_values(params, t, n)`` for a customer just acquired;
    * ``_simulate_repeat_times(params, horizons, rng)``: the model's own process;
    * ``_dropout_distribution(params)``: the fitted heterogeneity in dropout.

    Everything else (fitting, discounting, the public methods, persistence, the
    summary) comes from here, so that CLV, scoring, evaluation, plots and the
    command line work with any model. Registering a new module in
    :data:`clv_predict.models.PURCHASE_MODELS` makes it available by name.
    """

    #: Name in the registry (``CLVModel(purchase_model=name)``, ``--model``) and label in tables and plots.
    name = ""
    label = ""
    #: Set on a model under which a customer without repeat purchases has P(alive) = 1 by construction (BG/NBD:
    #: dropout can happen only after a repeat purchase): the registry name of the family member that lets such
    #: customers drop out too (MBG/NBD). Reports show that member's answer next to this model's. None otherwise.
    one_time_buyers_alive_alternative: str | None = None
    #: RFM columns the likelihood needs (predictions need frequency, recency and T only).
    _fit_columns: tuple[str, ...] = ("frequency", "recency", "T")
    #: Where a column beyond frequency, recency and T comes from, for the error that says it is missing.
    _column_hints: dict = {}
    #: Parameters measured in time units: they scale with the time axis (fits run in units of the longest T).
    _time_params: tuple[str, ...] = ("alpha",)
    #: What the expected purchases of an alive customer depend on (the forecast is computed once per distinct row).
    _if_alive_columns: tuple[str, ...] = ("frequency", "T")
    #: Whether ``engine="lifetimes"`` can fit the model (lifetimes has a fitter of it).
    _lifetimes_engine = False

    # ------------------------------------------------------------------ construction from known parameters
    @classmethod
    def from_params(cls, *, time_unit: str | None = None, **params) -> "PurchaseModel":
        """A fitted model from known parameters (published ones, or another tool's), for scoring and plots.

        The parameters are the model's names (``params_`` of a fitted one);
        ``time_unit`` is the unit the time parameters are stated in. Standard
        errors and the log-likelihood are unknown (NaN).

        Examples
        --------
        >>> from clv_predict import BetaGeoModel
        >>> model = BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
        >>> round(model.expected_purchases_new_customer(52), 3)
        1.446
        """
        model = cls()
        model._set_given_params(cls._given(params))
        model.time_unit_ = None if time_unit is None else check_time_unit(time_unit)
        return model

    def _set_given_params(self, values: dict) -> None:
        names = list(self._param_names)
        self.params_ = pd.Series([values[name] for name in names], index=names, name="estimate")
        self.covariance_ = pd.DataFrame(np.nan, index=names, columns=names)
        self.standard_errors_ = pd.Series(np.nan, index=names, name="standard_error")
        self.log_likelihood_ = float("nan")
        self.n_customers_ = self.n_repeat_customers_ = self.n_unique_rows_ = 0
        self.convergence_ = {"engine": "given", "converged": True, "message": "parameters given, not fitted"}
        self.observation_period_end_ = None
        self.training_period_ = (None, None)

    # ------------------------------------------------------------------ fitting
    def _check_settings(self) -> None:
        super()._check_settings()
        if self.engine == "lifetimes" and not self._lifetimes_engine:
            raise DataError(
                f"engine='lifetimes' cannot fit {type(self).__name__} (lifetimes has no fitter of {self.label}); "
                "use engine='native'"
            )

    def _checked(self, rfm, *, need_monetary: bool = False) -> pd.DataFrame:
        """``check_rfm`` plus the further columns this model's likelihood needs, as floats."""
        checked = check_rfm(rfm, need_monetary=need_monetary)
        extra = [column for column in self._fit_columns if column not in checked.columns]
        for column in extra:
            hint = self._column_hints.get(column, "")
            missing = f"{type(self).__name__} needs column {column!r} in rfm{': ' + hint if hint else ''}"
            checked[column] = numeric_column(rfm, column, what="rfm", missing=missing)
        return checked

    def fit(self, rfm: pd.DataFrame, *, time_unit: str | None = None, weights=None):
        """Fit on an RFM summary (``frequency``, ``recency``, ``T``), one row per customer.

        Customers sharing the fitted columns are fitted as one weighted row,
        which gives the same estimates as one row per customer in a time that
        depends on the number of distinct rows, not of customers. ``weights``
        (a column name or an array) says how many customers each row stands
        for, to fit on an already compressed summary (as the Dask path does);
        the default is one per row.
        """
        self._check_settings()
        return self._fit(rfm, self._checked(rfm), time_unit, weights)

    def _time_factors(self, scale: float) -> np.ndarray:
        """Multipliers from natural parameters to the parameters of the time axis scaled by ``scale``."""
        return np.array([scale if name in self._time_params else 1.0 for name in self._param_names])

    def _scaled_columns(self, unique: dict, scale: float) -> dict:
        """The fitted columns with times in units of the longest T (``litt``-like columns override this)."""
        scaled = dict(unique)
        scaled["recency"] = unique["recency"] * scale
        scaled["T"] = unique["T"] * scale
        return scaled

    def _fit(self, rfm, checked, time_unit, weights):
        """``fit`` on the columns ``_checked`` returned for ``rfm``, settings already checked (``CLVModel``
        checks the table once for both of its models)."""
        row_weights = _row_weights(rfm, weights, len(checked))
        if len(checked) == 0:
            raise DataError("rfm has no customers to fit on")
        unique, weights = _compress({column: checked[column] for column in self._fit_columns}, row_weights)
        repeat_rows = unique["frequency"] > 0
        if not repeat_rows.any():
            raise DataError(
                f"none of the {len(checked):,} customers has a repeat purchase, so the {self.label} model of repeat "
                "purchasing cannot be fitted (a longer observation period helps)"
            )
        # times in units of the longest T: the optimiser then sees parameters of similar size (as lifetimes does)
        scale = 1.0 / unique["T"].max()
        columns = self._scaled_columns(unique, scale)
        data = {
            "unique": unique,
            "columns": columns,
            "x": unique["frequency"],
            "weights": weights,
            "n": weights.sum(),
            "scale": scale,
            # the native engine's objective: one pass per step over the distinct rows
            "rows": self._make_rows(columns, weights),
        }
        with np.errstate(all="ignore"):
            scaled = self._optimise(data)
        self._set_estimates(data, scaled)
        self._warn_if_at_edge()
        self.n_customers_ = int(round(data["n"]))
        self.n_repeat_customers_ = int(round(weights[repeat_rows].sum()))
        self.n_unique_rows_ = int(weights.size)
        self.time_unit_ = _time_unit_of(rfm, time_unit)
        self.observation_period_end_ = rfm.attrs.get("observation_period_end")
        self.training_period_ = (rfm.attrs.get("first_purchase"), rfm.attrs.get("last_purchase"))
        return self

    def _set_estimates(self, data, scaled: np.ndarray) -> None:
        """``params_``, ``log_likelihood_`` and the covariance from the optimum in scaled parameters."""
        factors = self._time_factors(data["scale"])
        params = scaled / factors
        self.params_ = pd.Series(params, index=list(self._param_names), name="estimate")
        # rescaling time by s adds log(s) per repeat purchase (one density of an event time each)
        self.log_likelihood_ = float(data["rows"].value(scaled) + np.log(data["scale"]) * (data["weights"] @ data["x"]))

        def total_gradient(natural):
            # the penalty is on the scaled parameters, as in lifetimes
            at = natural * factors
            return factors * (-data["rows"].gradient(at) + 2 * self.penalizer_coef * data["n"] * at)

        with np.errstate(all="ignore"):
            self._set_covariance(total_gradient, params)

    # ------------------------------------------------------------------ the maths each model declares
    def _probability_alive_values(self, params, x, t_x, T) -> np.ndarray:
        raise NotImplementedError

    def _expected_if_alive_values(self, params, x, t_x, T, t) -> np.ndarray:
        raise NotImplementedError

    def _expected_new_customer_values(self, params, t):
        raise NotImplementedError

    def _probability_of_n_values(self, params, t: float, n: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _simulate_repeat_times(self, params, horizons: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
        """Owner (customer position) and time since the first purchase of every repeat purchase made
        within each customer's horizon, sorted by owner and then time."""
        raise NotImplementedError

    def _dropout_distribution(self, params):
        """(frozen scipy distribution, axis label, legend label, whether it lives on [0, 1])."""
        raise NotImplementedError

    # ------------------------------------------------------------------ predictions
    def _params(self) -> np.ndarray:
        self._check_fitted()
        return self.params_.to_numpy()

    def _rfm_arrays(self, rfm, *, need_monetary: bool = False):
        self._check_fitted()
        if isinstance(rfm, pd.DataFrame) and self.time_unit_ and rfm.attrs.get("time_unit") not in (None, self.time_unit_):
            raise DataError(
                f"the RFM table is in time unit {rfm.attrs['time_unit']!r} but the model was fitted in "
                f"{self.time_unit_!r}; rebuild the RFM table with time_unit={self.time_unit_!r}"
            )
        checked = check_rfm(rfm, need_monetary=need_monetary)
        return checked, checked["frequency"].to_numpy(), checked["recency"].to_numpy(), checked["T"].to_numpy()

    def probability_alive(self, rfm: pd.DataFrame) -> pd.Series:
        """P(alive) at the end of the observation period, per customer."""
        checked, x, t_x, T = self._rfm_arrays(rfm)
        values = self._probability_alive_values(self._params(), x, t_x, T)
        return pd.Series(values, index=checked.index, name="p_alive")

    def expected_purchases(self, rfm: pd.DataFrame, t: float) -> pd.Series:
        """Expected number of purchases in the next ``t`` time units, per customer."""
        t = check_nonnegative_number(t, "t")
        checked, x, t_x, T = self._rfm_arrays(rfm)
        values, _ = self._forecast(x, t_x, T, t, 0.0)
        return pd.Series(values, index=checked.index, name="expected_purchases")

    def expected_purchases_new_customer(self, t):
        """Expected repeat purchases of a new customer in the ``t`` time units after the first purchase.

        ``t`` may be a number (a float is returned) or an array (an array is returned).
        """
        values = self._expected_new_customer_values(self._params(), t)
        return float(values) if np.ndim(values) == 0 else values

    def probability_of_n_purchases(self, t: float, n) -> np.ndarray:
        """P(X(t) = n): probability that a new customer makes exactly ``n`` repeat purchases in ``t`` units."""
        params = self._params()
        t = check_nonnegative_number(t, "t")
        return self._probability_of_n_values(params, t, np.atleast_1d(np.asarray(n, dtype=float)))

    def _forecast(self, x, t_x, T, horizon: float, discount_rate: float, *, p_alive=None):
        """Expected purchases in the next ``horizon`` time units and their discounted count, per customer.

        The discounted count is sum over k = 1..horizon of (E(k) - E(k-1)) / (1 + d)^k. E(k) is
        P(alive) times the expectation of an alive customer, which depends on the columns of
        ``_if_alive_columns`` only: it is computed once per distinct row of those and shared.

        The sum is cut off, per distinct row, once what is left of it is provably negligible: the
        increments are non-negative, so with v = 1 / (1 + d) the periods after K add at most
        v^(K+1) (E(horizon) - E(K)). Periods are evaluated block by block (blocks doubling, the grid of
        rows x periods capped at ``_GRID_CELLS`` cells, so memory is bounded) until that bound falls below
        ``_DISCOUNT_TOLERANCE`` times the partial sum. The work is therefore about
        min(horizon, ln(1e9) / d) periods per distinct row, whatever the horizon: some 10,000 periods at
        d = 0.002 even for a horizon of a million; at d = 1e-6 it is the whole horizon (some 20 million
        periods before the cut-off can apply), which takes minutes on thousands of distinct rows.
        With d = 0 the discounted count is E(horizon), one evaluation per row.
        """
        params = self._params()
        if p_alive is None:
            p_alive = self._probability_alive_values(params, x, t_x, T)
        by_name = {"frequency": x, "recency": t_x, "T": T}
        codes, uniques = _distinct_rows([by_name[column] for column in self._if_alive_columns])
        distinct = dict(zip(self._if_alive_columns, uniques))
        size = uniques[0].size
        ux = distinct.get("frequency", np.zeros(size))
        ut_x = distinct.get("recency", np.zeros(size))
        uT = distinct.get("T", np.zeros(size))
        expected = self._expected_if_alive_values(params, ux, ut_x, uT, float(horizon))[codes] * p_alive
        if discount_rate == 0:
            return expected, expected
        return expected, self._discounted_if_alive(params, ux, ut_x, uT, int(horizon), discount_rate)[codes] * p_alive

    def _discounted_if_alive(self, params, ux, ut_x, uT, last: int, discount_rate: float) -> np.ndarray:
        """sum_{k=1..last} (E(k) - E(k-1)) v^k per distinct row, stopped early by the tail bound (see ``_forecast``)."""
        size = ux.size
        values = np.zeros(size)
        if last <= 0 or size == 0:
            return values
        log_v = -np.log1p(discount_rate)
        at_end = self._expected_if_alive_values(params, ux, ut_x, uT, float(last))
        reached = np.zeros(size)  # E(K) at the last period summed
        active = np.arange(size)
        done, block = 0, 64
        while active.size and done < last:
            length = int(min(block, last - done, max(1, _GRID_CELLS // active.size)))
            periods = np.arange(done + 1, done + length + 1, dtype=float)
            cumulative = self._expected_if_alive_values(
                params, ux[active, None], ut_x[active, None], uT[active, None], periods[None, :]
            )
            increments = np.diff(cumulative, axis=1, prepend=reached[active, None])
            values[active] += increments @ np.exp(log_v * periods)
            reached[active] = cumulative[:, -1]
            done += length
            block = min(2 * block, 1024)  # growing blocks, but never far past the cut-off
            tail = np.exp(log_v * (done + 1)) * (at_end[active] - reached[active])
            active = active[tail > _DISCOUNT_TOLERANCE * values[active]]
        return values

    # ------------------------------------------------------------------ simulation
    def simulate(self, n_customers: int, T, *, seed=None) -> pd.DataFrame:
        """Draw RFM summaries of ``n_customers`` from the model's own process with its parameters.

        ``T`` (a number, or one per customer) is each customer's time from the
        first purchase to the end of observation, in the model's time unit. The
        result has ``frequency``, ``recency``, ``T`` and ``litt`` (the sum of the
        log times between repeat purchases), indexed by ``customer_id``; times are
        exact (not rounded to days), so a fit on it recovers the parameters within
        sampling error.

        Examples
        --------
        >>> from clv_predict import BetaGeoModel
        >>> model = BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
        >>> model.simulate(3, 39.0, seed=1).columns.tolist()
        ['frequency', 'recency', 'T', 'litt']
        """
        params = self._params()
        if isinstance(n_customers, bool) or not isinstance(n_customers, (int, np.integer)) or n_customers <= 0:
            raise DataError(f"'n_customers' must be a positive whole number; got {n_customers!r}")
        horizons = np.broadcast_to(np.asarray(T, dtype=float), (int(n_customers),)).copy()
        if not np.all(np.isfinite(horizons)) or (horizons < 0).any():
            raise DataError("'T' must hold finite numbers >= 0 (time from the first purchase to the end)")
        owner, times = self._simulate_repeat_times(params, horizons, np.random.default_rng(seed))
        frequency = np.bincount(owner, minlength=horizons.size)
        recency = np.zeros(horizons.size)
        ends = np.cumsum(frequency)
        has = frequency > 0
        recency[has] = times[ends[has] - 1]
        previous = np.concatenate(([0.0], times[:-1]))
        starts = ends - frequency
        first_of_customer = np.zeros(times.size, dtype=bool)
        first_of_customer[starts[has]] = True
        previous[first_of_customer] = 0.0
        with np.errstate(divide="ignore"):
            gaps = np.log(np.maximum(times - previous, 1e-300))
        litt = np.bincount(owner, weights=gaps, minlength=horizons.size)
        frame = pd.DataFrame(
            {"frequency": frequency.astype(np.int64), "recency": recency, "T": horizons, "litt": litt},
            index=pd.RangeIndex(horizons.size, name="customer_id"),
        )
        frame.attrs["time_unit"] = self.time_unit_
        return frame


def _first_arrival_times(rng, arrivals: np.ndarray, kept: np.ndarray, horizons: np.ndarray):
    """Times of the first ``kept`` of ``arrivals`` Poisson arrivals in (0, horizon], per customer.

    Given N arrivals in (0, H], their times are H times the order statistics of N
    uniforms; the first k of them are H S_i / S_(N+1) with S the partial sums of
    N + 1 unit exponentials, and S_(N+1) = S_k + Gamma(N + 1 - k). So only the k
    kept arrivals are drawn one by one, whatever N is. Returns (owner, times),
    sorted by owner and time.
    """
    kept = np.asarray(kept, dtype=np.int64)
    owner = np.repeat(np.arange(kept.size), kept)
    partial = np.cumsum(rng.standard_exponential(int(kept.sum())))
    ends = np.cumsum(kept)
    before = np.concatenate(([0.0], partial))[ends - kept]  # running sum before each customer's block
    partial -= before[owner]
    last = np.zeros(kept.size)
    has = kept > 0
    last[has] = partial[ends[has] - 1]
    denominator = last + rng.gamma(arrivals - kept + 1.0)
    return owner, horizons[owner] * partial / denominator[owner]
