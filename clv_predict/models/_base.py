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

import copy as copy_module
import inspect
import warnings
from dataclasses import dataclass
from typing import ClassVar

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
from ..covariates import UNSEEN_CHOICES, CovariateEncoding, check_covariate_names
from ..exceptions import ConvergenceWarning, DataError, ModelWarning, NotFittedError
from . import _covariates

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
        """Mean penalised negative log-likelihood; ``data["rows"]`` sums the weighted log-likelihood.

        ``penalizer_coef`` weighs the model's own parameters; covariate coefficients, if any, have their own
        penalty (``_covariate_penalty``).
        """
        k = len(self._param_names)
        return (
            -data["rows"].value(scaled) / data["n"] + self.penalizer_coef * np.sum(scaled[:k] ** 2)
            + self._covariate_penalty(data, scaled[k:])[0]
        )

    def _negative_objective_gradient(self, data, scaled):
        k = len(self._param_names)
        penalty = np.concatenate((2 * self.penalizer_coef * scaled[:k], self._covariate_penalty(data, scaled[k:])[1]))
        return -data["rows"].gradient(scaled) / data["n"] + penalty

    def _covariate_penalty(self, data, coefficients):
        """Penalty on covariate coefficients (value, gradient): none unless the model has covariates."""
        return 0.0, np.zeros(coefficients.size)

    def _n_coefficients(self) -> int:
        """Covariate coefficients fitted besides ``_param_names`` (real numbers; the others are > 0)."""
        return 0

    def _to_scaled(self, point: np.ndarray) -> np.ndarray:
        """Optimiser coordinates to the objective's parameters: the model's parameters are optimised in logs,
        covariate coefficients as they are."""
        k = len(self._param_names)
        return np.concatenate((np.exp(point[:k]), point[k:]))

    def _from_scaled(self, scaled: np.ndarray) -> np.ndarray:
        k = len(self._param_names)
        return np.concatenate((np.log(scaled[:k]), scaled[k:]))

    def _chain(self, scaled: np.ndarray) -> np.ndarray:
        """Derivative of the objective's parameters in the optimiser's coordinates (a diagonal)."""
        k = len(self._param_names)
        return np.concatenate((scaled[:k], np.ones(scaled.size - k)))

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
        scaled = self._to_scaled(optimum.log_params)
        gradient = self._negative_objective_gradient(data, scaled) * self._chain(scaled)
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
            # covariate coefficients start at 0: every customer as the model without covariates
            x0 = np.concatenate((np.full(k, start, dtype=float), np.zeros(self._n_coefficients())))
            candidate = self._minimise(data, x0)
            tried.append(candidate)
            if candidate.success:
                return candidate, number, tried
        objective = [self._negative_objective(data, self._to_scaled(c.log_params)) for c in tried]
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
        return {"rows": self._rows_of(data, keep, thinned[keep]), "n": float(thinned[keep].sum()),
                "coefficient_scales": data.get("coefficient_scales")}

    def _rows_of(self, data, keep, weights):
        """The objective's rows object on the rows ``keep`` of ``data["columns"]``, with new ``weights``."""
        return self._likelihood_rows({name: values[keep] for name, values in data["columns"].items()}, weights)

    def _likelihood_rows(self, columns: dict, weights: np.ndarray):
        """The objective's rows: the model's own (``_make_rows``) unless covariates make parameters individual."""
        return self._make_rows(columns, weights)

    def _objective(self, data):
        """The objective in log-parameters, with its gradient, as the optimiser wants it."""

        def fun(log_params):
            scaled = self._to_scaled(log_params)
            value = self._negative_objective(data, scaled)
            gradient = self._negative_objective_gradient(data, scaled) * self._chain(scaled)
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

    def _set_covariance(self, hessian_function, params, *, steps=None, to_natural=None) -> None:
        """Covariance of the estimates: the inverse of the Hessian of the total penalised negative log-likelihood.

        ``steps`` are the difference steps (default relative to each parameter); with ``to_natural``, a diagonal,
        the Hessian is in other units (covariate coefficients per standard deviation of their column) and the
        covariance is turned into the natural ones.
        """
        k = params.size
        if steps is None:
            steps = 1e-6 * np.maximum(np.abs(params), 1e-8)
        hessian = _hessian(hessian_function, params, steps)
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
        if to_natural is not None:
            covariance = covariance * np.outer(to_natural, to_natural)
        names = self._all_param_names()
        self.covariance_ = pd.DataFrame(covariance, index=names, columns=names)
        self.standard_errors_ = pd.Series(np.sqrt(np.diag(covariance)), index=names, name="standard_error")

    def _all_param_names(self) -> list[str]:
        """The names in ``params_``: the model's parameters, then any covariate coefficients."""
        return list(self._param_names)

    def _default_settings(self) -> dict:
        """The constructor's defaults (settings left at them need not be saved)."""
        return {
            name: parameter.default for name, parameter in inspect.signature(type(self).__init__).parameters.items()
            if parameter.default is not inspect.Parameter.empty
        }

    def _covariate_state(self) -> dict | None:
        """What a saved file needs to rebuild the covariates' encoding (None: the model has none)."""
        return None

    def _customer_params(self, frame, *, what: str = "rfm", unseen: str | None = None) -> np.ndarray:
        """Each customer's parameters (k, n), or the shared ones (k,): shared unless the model has covariates."""
        return self._params()

    def _probability_alive_values_of(self, params, *arrays) -> np.ndarray:
        """``_probability_alive_values`` with the parameters ``_customer_params`` gave."""
        return self._probability_alive_values(params, *arrays)

    def _restore_covariate_state(self, state: dict) -> None:
        raise DataError(f"{type(self).__name__} does not take covariates")

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

    # ------------------------------------------------------------------ parameter uncertainty
    def parameter_draws(self, n_draws: int = 1000, *, seed=None) -> pd.DataFrame:
        """Parameter vectors drawn from the estimates' asymptotic distribution, one row per draw.

        The estimates are taken as normal on the log scale of the (positive)
        parameters, with the covariance of the logs from ``covariance_`` by the
        delta method (``cov(log a, log b) = cov(a, b) / (a b)``): draws stay
        positive, and a parameter whose standard error is large against its
        value is skewed as its likelihood is. Covariate coefficients (real
        numbers) are drawn jointly with them on their own scale, so the draws
        carry the whole uncertainty of a model with covariates. Parameters the
        fit does not estimate (CNBD-k's ``k``, chosen by a search) are held at
        their value.

        Parameters
        ----------
        n_draws : int, default 1000
            Number of parameter vectors.
        seed : int, Generator or None
            Seed of the draws (``numpy.random.default_rng``), for repeatable results.

        Returns
        -------
        DataFrame
            One column per parameter (the index of ``params_``), one row per draw
            (index ``draw``). Evaluate the model at a row with ``_with_params(row)``.

        Raises
        ------
        DataError
            If the covariance of the estimates is unknown (a model built with
            ``from_params``) or not finite (a Hessian that was not positive definite).

        Examples
        --------
        >>> from clv_predict import BetaGeoModel
        >>> import pandas as pd
        >>> rfm = BetaGeoModel.from_params(r=0.25, alpha=4.0, a=0.8, b=2.4, time_unit="W").simulate(2000, 39.0, seed=1)
        >>> draws = BetaGeoModel().fit(rfm).parameter_draws(500, seed=2)
        >>> draws.shape, list(draws.columns)
        ((500, 4), ['r', 'alpha', 'a', 'b'])
        >>> bool((draws > 0).all().all())
        True
        """
        self._check_fitted()
        if isinstance(n_draws, bool) or not isinstance(n_draws, (int, np.integer)) or n_draws <= 0:
            raise DataError(f"'n_draws' must be a positive whole number; got {n_draws!r}")
        log_cov = self._log_covariance()
        centre = self._uncertain_vector()
        # a symmetric square root that tolerates a covariance positive semi-definite to rounding
        values, vectors = np.linalg.eigh(log_cov)
        root = vectors * np.sqrt(np.clip(values, 0.0, None))
        rng = np.random.default_rng(seed)
        points = centre + rng.standard_normal((int(n_draws), centre.size)) @ root.T
        frame = self._params_at_uncertain(points)
        frame.index = pd.RangeIndex(int(n_draws), name="draw")
        return frame

    def _coefficient_param_names(self) -> list[str]:
        """Names in ``params_`` of covariate coefficients: real numbers, drawn on their own scale (none here)."""
        return []

    def _estimated_names(self) -> tuple[list[str], list[str]]:
        """The estimated parameters: the positive ones (uncertain on the log scale), then the coefficients."""
        coefficients = self._coefficient_param_names()
        return [name for name in self._param_names if name not in coefficients], coefficients

    def _uncertain_vector(self) -> np.ndarray:
        """The estimates where their uncertainty is normal: logs of the positive parameters, then coefficients."""
        positive, coefficients = self._estimated_names()
        return np.concatenate((np.log(_values_of(self.params_, positive)), _values_of(self.params_, coefficients)))

    def _params_at_uncertain(self, points) -> pd.DataFrame:
        """Full parameter vectors (the columns of ``params_``) from rows of ``_uncertain_vector`` coordinates;
        parameters not estimated are held at their value."""
        points = np.atleast_2d(np.asarray(points, dtype=float))
        positive, coefficients = self._estimated_names()
        k = len(positive)
        frame = pd.DataFrame(np.exp(points[:, :k]), columns=positive)
        for j, name in enumerate(coefficients):
            frame[name] = points[:, k + j]
        for name in self.params_.index:
            if name not in frame.columns:
                frame[name] = float(self.params_[name])
        return frame[list(self.params_.index)]

    def _log_covariance(self) -> np.ndarray:
        """Covariance of the estimates in ``_uncertain_vector`` coordinates (logs of the positive parameters by
        the delta method, covariate coefficients as they are), or a ``DataError`` saying why there is none."""
        positive, coefficients = self._estimated_names()
        names = positive + coefficients
        if list(self.covariance_.index) == names and list(self.covariance_.columns) == names:
            covariance = self.covariance_.to_numpy(dtype=float)  # the common case, without pandas' indexing
        else:
            covariance = self.covariance_.loc[names, names].to_numpy(dtype=float)
        if getattr(self, "convergence_", {}).get("engine") == "given":
            raise DataError(
                f"this {type(self).__name__} was built from known parameters (from_params), so the uncertainty "
                "of its estimates is unknown: fit it on data to draw parameters or get confidence bounds"
            )
        if not np.all(np.isfinite(covariance)):
            raise DataError(
                f"the covariance of this {type(self).__name__}'s estimates is not finite (the Hessian at the "
                "estimates was not positive definite), so parameters cannot be drawn: more data or a "
                "penalizer_coef gives standard errors"
            )
        scale = np.concatenate((_values_of(self.params_, positive), np.ones(len(coefficients))))
        log_cov = covariance / np.outer(scale, scale)
        return (log_cov + log_cov.T) / 2

    def _with_params(self, params) -> _ParametricModel:
        """A copy of this fitted model that predicts with ``params`` (a Series or mapping by name, or an
        array in the order of ``params_``), without refitting.

        Everything else (time unit, training figures, ``covariance_`` of the original
        fit) is kept; only ``params_`` changes. Used to evaluate a forecast at each of
        :meth:`parameter_draws`. Covariate coefficients may be any finite number; the
        other parameters must be > 0.
        """
        self._check_fitted()
        index = self.params_.index
        if isinstance(params, pd.Series) and params.index.equals(index):
            values = params.to_numpy(dtype=float)
        elif isinstance(params, (pd.Series, dict)):
            series = pd.Series(params, dtype=float).reindex(index)
            if series.isna().any():
                missing = [name for name in index if pd.isna(series[name])]
                raise DataError(f"parameters for {type(self).__name__} miss {', '.join(missing)}")
            values = series.to_numpy()
        else:
            values = np.asarray(params, dtype=float).reshape(-1)
            if values.size != index.size:
                raise DataError(f"{type(self).__name__} has {index.size} parameters; got {values.size} values")
        coefficients = self._coefficient_param_names()
        positive = values if not coefficients else values[~index.isin(coefficients)]
        if not np.all(np.isfinite(values)) or (positive <= 0).any():
            raise DataError(
                "parameters must be finite numbers (> 0 but for covariate coefficients); got "
                f"{dict(zip(index, values.tolist()))}"
            )
        copy = copy_module.copy(self)
        copy.params_ = pd.Series(np.array(values, dtype=float), index=index, name="estimate")  # its own values
        return copy

    # ------------------------------------------------------------------ covariates: one plain model per pattern
    def _covariate_design(self, frame, *, what: str = "rfm", unseen: str | None = None) -> np.ndarray | None:
        """The encoded covariates of ``frame`` (customers x design columns, natural units), or None without."""
        return None

    def _coefficient_loadings(self, patterns: np.ndarray) -> np.ndarray:
        """For each row z of ``patterns`` (distinct design rows), the matrix A (positive parameters x
        coefficients) with ``log theta(z) = log theta + A gamma``: shape (patterns, k, coefficients)."""
        raise NotImplementedError

    def _without_covariates(self) -> None:
        """Turn this copy into the model without covariates (settings and learnt encoding dropped)."""
        raise NotImplementedError

    def _plain_at(self, values: np.ndarray, log_covariance: np.ndarray) -> _ParametricModel:
        """A copy of this model without covariates whose parameters are ``values`` (``params_`` less the
        coefficients) and whose ``_log_covariance()`` is ``log_covariance`` (over the positive parameters)."""
        positive, coefficients = self._estimated_names()
        names = [name for name in self.params_.index if name not in coefficients]
        plain = copy_module.copy(self)
        plain._without_covariates()
        plain.params_ = pd.Series(np.asarray(values, dtype=float), index=names, name="estimate")
        estimates = plain.params_[positive].to_numpy()
        covariance = np.asarray(log_covariance, dtype=float) * np.outer(estimates, estimates)
        plain.covariance_ = pd.DataFrame(covariance, index=positive, columns=positive)
        plain.standard_errors_ = pd.Series(np.sqrt(np.diag(covariance)), index=positive, name="standard_error")
        return plain

    def _pattern_models(self, frame, *, what: str = "rfm", unseen: str | None = None):
        """The customers of ``frame`` grouped by covariate pattern, each group with a plain model: pairs
        (positions of the rows in ``frame``, model without covariates).

        A customer with covariates z has the parameters theta(z) = theta exp(A(z) gamma) (see
        :meth:`_coefficient_loadings`): their logarithm is linear in (log theta, gamma), so under the
        estimates' normal distribution (:meth:`_log_covariance`, covariance Sigma) it is normal with mean
        log theta(z) and covariance J Sigma J', J = [I | A(z)]. The plain model of a pattern has theta(z)
        as its parameters and J Sigma J' as its log-covariance: whatever works on a model without
        covariates (distributions, bounds, sigma points, parameter draws) is then exact for the
        customers of the pattern, run once per pattern. Without covariates: one group, the model itself.
        Patterns are as many as the distinct rows of encoded covariates (a few for categorical columns;
        up to one per customer for a numeric one, each pattern then a pass of the per-pattern code).
        """
        found = self._covariate_patterns(frame, what=what, unseen=unseen)
        if found is None:
            yield np.arange(len(frame)), self
            return
        codes, loadings = found
        positive, coefficients = self._estimated_names()
        try:
            sigma = self._log_covariance()
        except DataError:  # unknown (from_params) or not finite: the plain models say so in turn
            sigma = np.full((len(positive) + len(coefficients),) * 2, np.nan)
        values = self._params_of_patterns(self.params_.to_numpy(dtype=float), loadings)
        order = np.argsort(codes, kind="stable")
        ends = np.searchsorted(codes[order], np.arange(loadings.shape[0] + 1))
        for group in range(loadings.shape[0]):
            jacobian = np.hstack((np.eye(len(positive)), loadings[group]))
            plain = self._plain_at(values[group], jacobian @ sigma @ jacobian.T)
            yield order[ends[group]: ends[group + 1]], plain

    def _covariate_patterns(self, frame, *, what: str = "rfm", unseen: str | None = None):
        """The covariate pattern of each customer of ``frame`` (codes) and each pattern's loadings A (see
        :meth:`_coefficient_loadings`), shape (patterns, k, coefficients); None without covariates."""
        design = self._covariate_design(frame, what=what, unseen=unseen)
        if design is None:
            return None
        codes, columns = _distinct_rows(list(design.T))
        patterns = np.column_stack(columns) if columns else np.zeros((1, 0))
        if len(frame) == 0:  # no customer: the reference pattern, so that callers still get a model
            codes, patterns = np.zeros(0, dtype=np.int64), np.zeros((1, design.shape[1]))
        return codes, self._coefficient_loadings(patterns)

    def _params_of_patterns(self, values, loadings) -> np.ndarray:
        """The parameters (``params_`` less the coefficients, in its order) of each pattern, (patterns, k'),
        under the full parameter vector ``values`` (in the order of ``params_``)."""
        values = np.asarray(values, dtype=float)
        names = list(self.params_.index)  # a handful of names: plain Python, no pandas indexing in draw loops
        at = {name: i for i, name in enumerate(names)}
        positive, coefficients = self._estimated_names()
        plain = [at[name] for name in names if name not in set(coefficients)]  # the not estimated stay as they are
        out = np.repeat(values[plain][None, :], loadings.shape[0], axis=0)
        where = [plain.index(at[name]) for name in positive]
        out[:, where] = values[[at[n] for n in positive]] * np.exp(loadings @ values[[at[n] for n in coefficients]])
        return out

    # ------------------------------------------------------------------ hooks of the per-customer bounds
    def _probability_alive_at(self, params_list, x, t_x, T) -> np.ndarray:
        """P(alive) of the rows (x, t_x, T) under each parameter vector of ``params_list``, (vectors, rows):
        what the bounds of :mod:`._intervals` ask at the sigma points or draws. By default one
        ``_probability_alive_values`` per vector; a model whose P(alive) prepares work that does not depend
        on the parameters (Pareto/NBD's distinct pairs of columns) overrides it to do that once."""
        return np.stack([np.asarray(self._probability_alive_values(params, x, t_x, T), dtype=float)
                         for params in params_list]) if len(params_list) else np.zeros((0, np.size(x)))

    def _survival_walk(self, params, x, t_x, T, t: float):
        """A walk over the counts of an alive customer's future: an object whose ``survival(rows, n)``
        gives P(X(T, T + t] >= n | alive at T) (``_survival_if_alive_values``) of the rows ``rows``
        (positions in x, t_x, T) for a block ``n`` of consecutive counts. The bounds of :mod:`._intervals`
        ask for n = 1, 2, ... block after block, for the same rows or fewer each time. By default each block
        is answered afresh; a model whose counts come by a recursion (Pareto/NBD) overrides it to carry its
        state from one block to the next (the same values, without redoing the counts below the block)."""
        return _FreshSurvivalWalk(self, params, x, t_x, T, t)


class _FreshSurvivalWalk:
    """The default walk of :meth:`_ParametricModel._survival_walk`: every block afresh."""

    def __init__(self, model, params, x, t_x, T, t: float):
        self.model, self.params, self.t = model, params, t
        self.columns = [np.asarray(column, dtype=float) for column in (x, t_x, T)]

    def survival(self, rows, n) -> np.ndarray:
        return self.model._survival_if_alive_values(self.params, *(c[rows] for c in self.columns), self.t, n)


def _values_of(series: pd.Series, names: list) -> np.ndarray:
    """The values of ``series`` at ``names`` as floats (without pandas' label indexing when they are all of it)."""
    if list(series.index) == list(names):
        return series.to_numpy(dtype=float)
    return series[list(names)].to_numpy(dtype=float)


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


#: Distinct rows evaluated at once by the conditional distributions (bounds their memory).
_CHUNK_ROWS = 20_000


def _check_counts(n) -> np.ndarray:
    """The counts of ``n``: 0..n for a whole number, else the given whole numbers >= 0 (floats)."""
    if isinstance(n, (int, np.integer)) and not isinstance(n, bool):
        if n < 0:
            raise DataError(f"'n' must be a whole number >= 0 or a list of them; got {n!r}")
        return np.arange(int(n) + 1, dtype=float)
    try:
        counts = np.atleast_1d(np.asarray(n, dtype=float))
    except (TypeError, ValueError):
        counts = np.array([np.nan])
    if counts.ndim != 1 or counts.size == 0 or not np.all(np.isfinite(counts)) or (counts < 0).any() \
            or (np.floor(counts) != counts).any():
        raise DataError(f"'n' must be a whole number >= 0 or a list of them; got {n!r}")
    return counts


def _median(cdf, size: int) -> np.ndarray:
    """Per row, the w > 0 where ``cdf(w)`` (rows, increasing from 0 to 1) crosses 1/2: bisection on log w,
    after bracketing by doubling (rows whose cdf never reaches 1/2 within 1e12 time units get infinity)."""
    low, high = np.zeros(size), np.ones(size)
    for _ in range(45):
        short = cdf(high) < 0.5
        if not short.any():
            break
        low = np.where(short, high, low)
        high = np.where(short, high * 2.0, high)
    unreached = cdf(high) < 0.5
    for _ in range(60):
        middle = np.where(low > 0, np.sqrt(low * high), high / 2)
        below = cdf(middle) < 0.5
        low, high = np.where(below, middle, low), np.where(below, high, middle)
    return np.where(unreached, np.inf, (low + high) / 2)


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
    * ``_dropout_distribution(params)``: the fitted heterogeneity in dropout;
    * optionally ``_second_moment_if_alive_values(params, x, t_x, T, t)``, E[X^2] of an alive customer's
      future count, for the variance of forecasts (by default from the conditional distribution).
    * optionally, for the per-customer bounds, ``_probability_alive_at(params_list, x, t_x, T)`` (P(alive) under
      several parameter vectors) and ``_survival_walk(params, x, t_x, T, t)`` (the survival of an alive customer
      block of counts after block), whose defaults call the methods above.

    Everything else (fitting, discounting, the public methods, persistence, the
    summary, the RFM summary of a chunk of transactions for batch scoring and the
    calibration/holdout split for ``evaluate``) comes from here, so that CLV,
    scoring, evaluation, plots and the command line work with any model. Models of
    purchasing at discrete opportunities answer the same private methods through
    :class:`~._discrete.OpportunityModel`. Registering a new module in
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
    #: The family, whose log-likelihoods compare with each other (``compare_models`` refuses to mix families).
    family = "purchases in continuous time"
    #: Which parameters covariates act on: {parameter: (process, sign)}, ``p_i = p exp(sign z_i' gamma_process)``
    #: (see :mod:`clv_predict.models._covariates`). Empty: the model takes no covariates.
    _covariate_links: ClassVar[dict] = {}

    # covariate settings of models whose constructor does not take them (CNBD-k): none
    purchase_covariates = None
    dropout_covariates = None
    constrain = None
    covariate_penalizer = 0.0
    covariate_reference = None
    unseen = "error"

    def __init__(
        self,
        penalizer_coef: float = 0.0,
        engine: str = "native",
        *,
        purchase_covariates=None,
        dropout_covariates=None,
        constrain=None,
        covariate_penalizer: float = 0.0,
        covariate_reference: dict | None = None,
        unseen: str = "error",
    ):
        super().__init__(penalizer_coef, engine)
        self.purchase_covariates = purchase_covariates
        self.dropout_covariates = dropout_covariates
        self.constrain = constrain
        self.covariate_penalizer = covariate_penalizer
        self.covariate_reference = covariate_reference
        self.unseen = unseen

    # ------------------------------------------------------------------ construction from known parameters
    @classmethod
    def from_params(cls, *, time_unit: str | None = None, coefficients: dict | None = None,
                    covariates: pd.DataFrame | None = None, **params) -> PurchaseModel:
        """A fitted model from known parameters (published ones, or another tool's), for scoring and plots.

        The parameters are the model's names (``params_`` of a fitted one);
        ``time_unit`` is the unit the time parameters are stated in. Standard
        errors and the log-likelihood are unknown (NaN).

        ``coefficients`` gives covariate coefficients by their names in ``params_`` (``purchase:channel[web]``,
        ``dropout:age``, ``purchase+dropout:...``); ``covariates``, a table holding those columns, gives their
        levels. Every non-reference level of a categorical covariate needs its coefficient: the level left out is
        the reference.

        Examples
        --------
        >>> from clv_predict import BetaGeoModel
        >>> model = BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
        >>> round(model.expected_purchases_new_customer(52), 3)
        1.446
        """
        model = cls()
        if coefficients:
            model._set_given_coefficients(dict(coefficients), covariates)
        model._set_given_params(cls._given(params))
        model.time_unit_ = None if time_unit is None else check_time_unit(time_unit)
        return model

    def _set_given_coefficients(self, coefficients: dict, covariates) -> None:
        if not self._covariate_links:
            raise DataError(f"{type(self).__name__} does not take covariates")
        if not isinstance(covariates, pd.DataFrame):
            raise DataError("'covariates' must be a DataFrame holding the covariate columns that 'coefficients' name")
        by_process = {"purchase": [], "dropout": [], _covariates.CONSTRAINED: []}
        named_levels = {}
        for name in coefficients:
            prefix, _, design = str(name).partition(":")
            columns = [c for c in covariates.columns if design == c or design.startswith(f"{c}[")]
            if prefix not in by_process or not columns:
                raise DataError(
                    f"coefficient {name!r} must be '<process>:<covariate>' with process purchase, dropout or "
                    "purchase+dropout and a column of 'covariates' (a level as column[level])"
                )
            column = max(columns, key=len)
            if column not in by_process[prefix]:
                by_process[prefix].append(column)
            if design != column:
                named_levels.setdefault(column, []).append(design[len(column) + 1: -1])
        reference = {}
        for column, levels in named_levels.items():
            present = [str(level) for level in pd.unique(covariates[column])]
            left = [level for level in present if level not in levels]
            if len(left) != 1:
                raise DataError(
                    f"covariate {column!r} has levels {', '.join(map(repr, present))}: give a coefficient for every "
                    "level but one (the reference)"
                )
            reference[column] = next(v for v in pd.unique(covariates[column]) if str(v) == left[0])
        constrained = by_process[_covariates.CONSTRAINED]
        self.purchase_covariates = by_process["purchase"] + constrained
        self.dropout_covariates = by_process["dropout"] + constrained
        self.constrain = constrained or None
        self.covariate_reference = reference or None
        self._check_settings()
        self._start_covariates(covariates)
        missing = [name for name in self._coefficient_names if name not in coefficients]
        if missing:
            raise DataError(f"'coefficients' lacks {', '.join(map(repr, missing))}")
        values = [coefficients[name] for name in self._coefficient_names]
        bad = [v for v in values
               if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not np.isfinite(v)]
        if bad:
            raise DataError(f"coefficients must be finite numbers; got {bad[0]!r}")
        self._given_coefficients = np.asarray(values, dtype=float)

    def _set_given_params(self, values: dict) -> None:
        names = self._all_param_names()
        given = [values[name] for name in self._param_names] + list(getattr(self, "_given_coefficients", []))
        self.__dict__.pop("_given_coefficients", None)
        self.params_ = pd.Series(given, index=names, name="estimate")
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
        purchase, dropout, constrain = self._covariate_settings()
        check_nonnegative_number(self.covariate_penalizer, "covariate_penalizer")
        if self.unseen not in UNSEEN_CHOICES:
            raise DataError(f"'unseen' must be one of {', '.join(map(repr, UNSEEN_CHOICES))}; got {self.unseen!r}")
        if purchase or dropout:
            if not self._covariate_links:
                raise DataError(f"{type(self).__name__} does not take covariates")
            if self.engine != "native":
                raise DataError("covariates are fitted by the native engine only; use engine='native'")
        outside = [column for column in constrain if column not in purchase or column not in dropout]
        if outside:
            raise DataError(
                f"'constrain' names {', '.join(map(repr, outside))}, which must be in both purchase_covariates and "
                "dropout_covariates (a constrained covariate has one coefficient for both processes)"
            )
        if self.covariate_reference is not None and not isinstance(self.covariate_reference, dict):
            raise DataError(f"'covariate_reference' must be a dict {{column: level}}; got {self.covariate_reference!r}")

    def _covariate_settings(self) -> tuple[list, list, list]:
        return (
            check_covariate_names(self.purchase_covariates, "purchase_covariates"),
            check_covariate_names(self.dropout_covariates, "dropout_covariates"),
            check_covariate_names(self.constrain, "constrain"),
        )

    @property
    def has_covariates(self) -> bool:
        """Whether the model is set to use covariates (``purchase_covariates`` or ``dropout_covariates``)."""
        purchase, dropout, _ = self._covariate_settings()
        return bool(purchase or dropout)

    def _n_coefficients(self) -> int:
        return len(getattr(self, "_coefficient_names", ()))

    def _all_param_names(self) -> list[str]:
        return list(self._param_names) + list(getattr(self, "_coefficient_names", ()))

    def _coefficient_param_names(self) -> list[str]:
        return list(getattr(self, "_coefficient_names", ()))

    def _covariate_design(self, frame, *, what: str = "rfm", unseen: str | None = None) -> np.ndarray | None:
        if not self._n_coefficients():
            return None
        unseen = self.unseen if unseen is None else unseen
        return self._covariate_encoding.transform(frame, unseen=unseen, what=what).to_numpy()

    def _coefficient_loadings(self, patterns: np.ndarray) -> np.ndarray:
        # log theta_j(z) = log theta_j + sign_j z' L_process(j) gamma (see _covariates.individual_params)
        out = np.zeros((patterns.shape[0], len(self._param_names), self._n_coefficients()))
        for j, name in enumerate(self._param_names):
            if name in self._covariate_links:
                process, sign = self._covariate_links[name]
                out[:, j, :] = sign * (patterns @ self._loadings[process])
        return out

    def _without_covariates(self) -> None:
        for name in ("_covariate_encoding", "_coefficient_names", "_loadings"):
            self.__dict__.pop(name, None)
        self.purchase_covariates = self.dropout_covariates = self.constrain = None

    def _per_pattern(self, rfm, answer):
        """``answer(plain, part)`` on the customers of each covariate pattern of ``rfm`` with the pattern's
        plain model (see :meth:`_pattern_models`), gathered back in the order of ``rfm``; None for a model
        without covariates (the caller then answers itself)."""
        if not self._n_coefficients():
            return None
        checked, *_ = self._rfm_arrays(rfm)
        values, first = None, None
        for rows, plain in self._pattern_models(rfm):
            part = answer(plain, rfm.iloc[rows])
            if first is None:
                first = part
                values = np.empty((len(checked),) + part.shape[1:], dtype=part.to_numpy().dtype)
            values[rows] = part.to_numpy()
        if isinstance(first, pd.Series):
            out = pd.Series(values, index=checked.index, name=first.name)
        else:
            out = pd.DataFrame(values, index=checked.index, columns=first.columns)
        out.index.name = first.index.name
        out.attrs.update(first.attrs)
        return out

    def _covariate_penalty(self, data, coefficients):
        if coefficients.size == 0 or not self.covariate_penalizer:
            return 0.0, np.zeros(coefficients.size)
        # on the natural coefficients (per unit of each column), as the user states them
        per_unit = 1.0 / data["coefficient_scales"]
        natural = coefficients * per_unit
        return self.covariate_penalizer * np.sum(natural**2), 2 * self.covariate_penalizer * natural * per_unit

    def _start_covariates(self, rfm) -> np.ndarray | None:
        """Learn the encoding and the coefficients' layout from the training table; its design matrix, or None."""
        for name in ("_covariate_encoding", "_coefficient_names", "_loadings"):
            self.__dict__.pop(name, None)
        purchase, dropout, constrain = self._covariate_settings()
        if not (purchase or dropout):
            return None
        columns = list(dict.fromkeys(purchase + dropout))
        encoding = CovariateEncoding.fit(rfm, columns, reference=self.covariate_reference)
        self._covariate_encoding = encoding
        self._coefficient_names, self._loadings = _covariates.coefficient_layout(encoding, purchase, dropout, constrain)
        return encoding.transform(rfm).to_numpy()

    def _covariate_state(self) -> dict | None:
        if not self._n_coefficients():
            return None
        return {"encoding": self._covariate_encoding.to_dict(), "coefficients": list(self._coefficient_names)}

    def _restore_covariate_state(self, state: dict) -> None:
        self._covariate_encoding = CovariateEncoding.from_dict(state["encoding"])
        purchase, dropout, constrain = self._covariate_settings()
        self._coefficient_names, self._loadings = _covariates.coefficient_layout(
            self._covariate_encoding, purchase, dropout, constrain
        )
        if self._coefficient_names != list(state["coefficients"]):
            raise ValueError("the saved covariate coefficients do not match the saved covariate settings")

    def _coefficient_scales(self) -> np.ndarray:
        """Spread of each coefficient's design column in training: the fit works per spread, not per unit."""
        encoding = self._covariate_encoding
        return encoding.scales[_covariates.design_column_of(self._coefficient_names, encoding.names)]

    def _likelihood_rows(self, columns, weights):
        if not self._n_coefficients():
            return self._make_rows(columns, weights)
        width = len(self._covariate_encoding.names)
        design = np.column_stack([columns[f"_z{i}"] for i in range(width)])
        # the fit sees each design column divided by its spread (coefficients per standard deviation)
        design = design / self._covariate_encoding.scales
        patterns = _distinct_rows(list(design.T))[1][0].size
        if patterns <= _covariates.PATTERN_LIMIT:
            return _covariates.PatternRows(
                self._make_rows, columns, design, weights, self._loadings, self._covariate_links, self._param_names
            )
        return _covariates.CovariateRows(
            self._row_log_likelihood, columns, design, weights, self._loadings, self._covariate_links,
            self._param_names,
        )

    def _row_log_likelihood(self, params, columns):
        """Each row's log-likelihood and its derivatives (k x n) under individual parameters ``params`` (k x n),
        times in the fit's scaled units: what a model needs to take covariates."""
        raise NotImplementedError

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
        fitted = {column: checked[column] for column in self._fit_columns}
        design = self._start_covariates(rfm)
        if design is not None:
            # customers sharing their RFM row and their covariates are one weighted row: categorical covariates
            # multiply the distinct rows by at most their number of patterns
            fitted.update({f"_z{i}": design[:, i] for i in range(design.shape[1])})
        unique, weights = _compress(fitted, row_weights)
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
            "coefficient_scales": self._coefficient_scales() if design is not None else None,
            # the native engine's objective: one pass per step over the distinct rows
            "rows": self._likelihood_rows(columns, weights),
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
        k = len(self._param_names)
        # natural parameters = scaled / factors; coefficients are fitted per spread of their column
        coefficient_scales = data["coefficient_scales"] if self._n_coefficients() else np.zeros(0)
        factors = np.concatenate((self._time_factors(data["scale"]), np.ones(coefficient_scales.size)))
        params = scaled / factors
        to_natural = np.concatenate((np.ones(k), 1.0 / coefficient_scales))
        self.params_ = pd.Series(params * to_natural, index=self._all_param_names(), name="estimate")
        # rescaling time by s adds log(s) per repeat purchase (one density of an event time each)
        self.log_likelihood_ = float(data["rows"].value(scaled) + np.log(data["scale"]) * (data["weights"] @ data["x"]))

        def total_gradient(natural):
            # the penalty is on the scaled parameters, as in lifetimes
            at = natural * factors
            penalty = np.concatenate(
                (2 * self.penalizer_coef * at[:k], self._covariate_penalty(data, at[k:])[1])
            )
            return factors * (-data["rows"].gradient(at) + data["n"] * penalty)

        # coefficients are near 0 as often as not: steps on their own scale, not relative to them
        steps = 1e-6 * np.concatenate((np.maximum(np.abs(params[:k]), 1e-8), np.maximum(np.abs(params[k:]), 1e-2)))
        with np.errstate(all="ignore"):
            self._set_covariance(total_gradient, params, steps=steps,
                                 to_natural=to_natural if k < params.size else None)

    # ------------------------------------------------------------------ the maths each model declares
    def _probability_alive_values(self, params, x, t_x, T) -> np.ndarray:
        raise NotImplementedError

    def _expected_if_alive_values(self, params, x, t_x, T, t) -> np.ndarray:
        raise NotImplementedError

    def _second_moment_if_alive_values(self, params, x, t_x, T, t) -> np.ndarray:
        """E[X(T, T + t]^2] of a customer alive at ``T`` (same arguments and columns as
        ``_expected_if_alive_values``): with it, the variance of a forecast (:func:`clv_predict.uncertainty.forecast_total`).

        By default from the survival of an alive customer's count: E[X^2 | alive] =
        sum_(n >= 1) (2n - 1) P(X >= n | alive), summed until P(X >= n | alive) < 1e-12 for every row.
        Models with a closed form declare it instead (much faster).
        """
        x, t_x, T, t = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, t_x, T, t)))
        out = np.empty(x.shape)
        for horizon in np.unique(t):
            cells = t == horizon
            rows = [v[cells] for v in (x, t_x, T)]
            most = 64
            while True:
                counts = np.arange(1, most + 1, dtype=float)
                survival = self._survival_if_alive_values(params, *rows, float(horizon), counts)
                if survival[:, -1].max() < 1e-12 or most >= 1 << 14:
                    break
                most *= 4
            out[cells] = survival @ (2 * counts - 1)
        return out

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
        """The model's parameters (without covariate coefficients: those of a customer of the reference profile)."""
        self._check_fitted()
        return self.params_.to_numpy()[: len(self.params_) - self._n_coefficients()]

    @property
    def coefficients_(self) -> pd.Series:
        """The covariate coefficients of ``params_`` (empty without covariates)."""
        self._check_fitted()
        return self.params_.iloc[len(self.params_) - self._n_coefficients():].rename("coefficient")

    @property
    def covariate_encoding_(self) -> CovariateEncoding | None:
        """How the covariate columns were encoded in training (levels, reference levels), or None."""
        self._check_fitted()
        return getattr(self, "_covariate_encoding", None)

    def _customer_params(self, frame, *, what: str = "rfm", unseen: str | None = None) -> np.ndarray:
        """The parameters of each customer of ``frame``, shape (k, n); without covariates the shared ones (k,).

        ``unseen`` overrides the model's own setting for levels not seen in training (``CLVModel`` passes its own).
        """
        params = self._params()
        if not self._n_coefficients():
            return params
        unseen = self.unseen if unseen is None else unseen
        design = self._covariate_encoding.transform(frame, unseen=unseen, what=what).to_numpy()
        return _covariates.individual_params(
            params[: len(self._param_names)], self.coefficients_.to_numpy(), design, self._loadings,
            self._covariate_links, self._param_names,
        )

    def log_likelihood(self, rfm: pd.DataFrame) -> pd.Series:
        """Each customer's log-likelihood of her (frequency, recency, T) under the fitted model, with her
        covariates: what the fit maximises, summed (for models that declare ``_row_log_likelihood``)."""
        checked, x, t_x, T = self._rfm_arrays(rfm)
        params = self._customer_params(rfm)
        if params.ndim == 1:
            params = np.repeat(params[:, None], x.size, axis=1)
        values, _ = self._row_log_likelihood(params, {"frequency": x, "recency": t_x, "T": T})
        return pd.Series(values, index=checked.index, name="log_likelihood")

    def _by_pattern(self, params, function, *arrays):
        """``function(params, *arrays)`` with per-customer ``params`` (k, n): once per distinct set of parameters."""
        if np.ndim(params) == 1:
            return function(params, *arrays)
        codes, distinct = _distinct_rows(list(params))
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(distinct[0].size + 1))
        out = None
        for group in range(distinct[0].size):
            rows = order[bounds[group]: bounds[group + 1]]
            values = function(np.array([column[group] for column in distinct]), *(a[rows] for a in arrays))
            if out is None:
                out = np.empty(codes.size) if np.ndim(values) == 1 else [np.empty(codes.size) for _ in values]
            if isinstance(out, list):
                for target, part in zip(out, values):
                    target[rows] = part
            else:
                out[rows] = values
        return tuple(out) if isinstance(out, list) else out

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
        """P(alive) at the end of the observation period, per customer (with her covariates, if any)."""
        checked, x, t_x, T = self._rfm_arrays(rfm)
        values = self._probability_alive_values_of(self._customer_params(rfm), x, t_x, T)
        return pd.Series(values, index=checked.index, name="p_alive")

    def _probability_alive_values_of(self, params, x, t_x, T) -> np.ndarray:
        """``_probability_alive_values`` with shared (k,) or per-customer (k, n) parameters."""
        if np.ndim(params) == 2 and self._alive_takes_row_params:
            return self._probability_alive_values(params, x, t_x, T)
        return self._by_pattern(params, self._probability_alive_values, x, t_x, T)

    #: Whether ``_probability_alive_values`` takes parameters per customer (k, n) as they are (else: once per
    #: distinct set of parameters, which is slow when a numeric covariate takes many values).
    _alive_takes_row_params = False

    def expected_purchases(self, rfm: pd.DataFrame, t: float) -> pd.Series:
        """Expected number of purchases in the next ``t`` time units, per customer (with her covariates, if any)."""
        t = check_nonnegative_number(t, "t")
        checked, x, t_x, T = self._rfm_arrays(rfm)
        values, _ = self._forecast(x, t_x, T, t, 0.0, params=self._customer_params(rfm))
        return pd.Series(values, index=checked.index, name="expected_purchases")

    def expected_purchases_new_customer(self, t, *, profile=None):
        """Expected repeat purchases of a new customer in the ``t`` time units after the first purchase.

        ``t`` may be a number (a float is returned) or an array (an array is returned). For a model with
        covariates, ``profile`` gives the new customer's covariates: a dict (one customer) or a DataFrame (a
        Series indexed like it is returned, ``t`` then a number); without it, a customer of the reference
        profile (every categorical covariate at its reference level, numeric ones at 0).
        """
        if profile is None or not self._n_coefficients():
            values = self._expected_new_customer_values(self._params(), t)
            return float(values) if np.ndim(values) == 0 else values
        frame = self._covariate_encoding.profile_frame(profile)
        params = self._customer_params(frame, what="profile")
        values = np.array([self._expected_new_customer_values(params[:, i], t) for i in range(params.shape[1])])
        if isinstance(profile, pd.DataFrame):
            if np.ndim(t) != 0:
                raise DataError("'t' must be a number when 'profile' is a DataFrame of several profiles")
            return pd.Series(values.astype(float), index=frame.index, name="expected_purchases")
        values = values[0]
        return float(values) if np.ndim(values) == 0 else values

    def probability_of_n_purchases(self, t: float, n) -> np.ndarray:
        """P(X(t) = n): probability that a new customer makes exactly ``n`` repeat purchases in ``t`` units."""
        params = self._params()
        t = check_nonnegative_number(t, "t")
        return self._probability_of_n_values(params, t, np.atleast_1d(np.asarray(n, dtype=float)))

    # ------------------------------------------------------------------ conditional distributions
    def _survival_if_alive_values(self, params, x, t_x, T, t: float, n: np.ndarray) -> np.ndarray:
        """P(X(T, T + t] >= n | alive at T, x, t_x, T), rows x n (whole numbers >= 0). Depends on the
        columns of ``_if_alive_columns`` only (the others may be anything)."""
        raise NotImplementedError

    def _conditional_pmf_values(self, params, x, t_x, T, t: float, n: np.ndarray) -> np.ndarray:
        """P(X(T, T + t] = n | x, t_x, T), rows x n: alive, differences of the survival; dead, no purchase."""
        p_alive = np.asarray(self._probability_alive_values(params, x, t_x, T), dtype=float)
        n = np.asarray(n, dtype=float)
        survival = self._survival_if_alive_values(params, x, t_x, T, t, np.concatenate([n, n + 1]))
        if_alive = np.clip(survival[:, : n.size] - survival[:, n.size :], 0.0, 1.0)
        return p_alive[:, None] * if_alive + (1.0 - p_alive)[:, None] * (n[None, :] == 0)

    def _future_alive_values(self, params, x, t_x, T, t: float) -> np.ndarray:
        """P(alive at T + t | x, t_x, T)."""
        raise NotImplementedError

    def _next_purchase_values(self, params, x, t_x, T, times):
        """(P(a next purchase ever comes), P(it comes within ``times`` of T | it comes) rows x times, its
        expected time after T given that it comes). ``times`` is 1-d (the same for every row) or rows x m."""
        raise NotImplementedError

    def _by_distinct_rows(self, rfm, compute, *, columns: int | None = None):
        """``compute(x, t_x, T)`` on the distinct (frequency, recency, T) rows of ``rfm``, chunk by chunk
        (memory bounded whatever the number of customers), gathered back to the customers. The shared
        parameters only: a model with covariates answers through :meth:`_per_pattern` first, whose plain
        models come here."""
        checked, x, t_x, T = self._rfm_arrays(rfm)
        codes, (ux, ut_x, uT) = _distinct_rows([x, t_x, T])
        parts = [
            compute(ux[start : start + _CHUNK_ROWS], ut_x[start : start + _CHUNK_ROWS], uT[start : start + _CHUNK_ROWS])
            for start in range(0, ux.size, _CHUNK_ROWS)
        ]
        if not parts:
            return checked, np.zeros((0,) if columns is None else (0, columns))
        return checked, np.concatenate(parts)[codes]

    def conditional_probability_of_n_purchases(self, rfm: pd.DataFrame, t: float, n) -> pd.DataFrame:
        """P(X(T, T + t] = n | the customer's history): the distribution of each customer's purchases in
        the next ``t`` time units.

        Computed exactly (closed forms, or for Pareto/NBD a checked quadrature of
        the death time) once per distinct (frequency, recency, T) row; with covariates,
        each customer's with her parameters, once per covariate pattern.

        Parameters
        ----------
        rfm : DataFrame
            RFM summary (``frequency``, ``recency``, ``T``) in the model's time unit.
        t : float
            Horizon, in the model's time unit.
        n : int or sequence of int
            An int gives the columns 0..n; a sequence, those counts.

        Returns
        -------
        DataFrame
            Indexed by ``customer_id``, one column per count (the columns' name is
            ``purchases``). Over all counts a row sums to 1; with ``n`` an int,
            ``1 - row.sum()`` is P(more than n).

        Examples
        --------
        >>> import pandas as pd
        >>> from clv_predict import BetaGeoModel
        >>> model = BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
        >>> rfm = pd.DataFrame({"frequency": [0, 2], "recency": [0.0, 30.43], "T": [38.86, 38.86]})
        >>> model.conditional_probability_of_n_purchases(rfm, 39, 2).round(3).values.tolist()
        [[0.855, 0.11, 0.024], [0.445, 0.239, 0.144]]
        """
        t = check_nonnegative_number(t, "t")
        counts = _check_counts(n)
        routed = self._per_pattern(rfm, lambda plain, part: plain.conditional_probability_of_n_purchases(part, t, n))
        if routed is not None:
            return routed
        params = self._params()
        checked, values = self._by_distinct_rows(
            rfm, lambda x, t_x, T: self._conditional_pmf_values(params, x, t_x, T, t, counts), columns=counts.size
        )
        frame = pd.DataFrame(values, index=checked.index, columns=pd.Index(counts.astype(int), name="purchases"))
        frame.index.name = "customer_id"
        return frame

    def probability_alive_at(self, rfm: pd.DataFrame, t: float) -> pd.Series:
        """P(alive at T + t | the customer's history): P(alive) ``t`` time units after the end of observation.

        With ``t = 0`` it is :meth:`probability_alive`. A customer who is alive now may
        drop out in the meantime (after a purchase for the BG models, at any time for
        Pareto/NBD), so it falls with ``t``.
        """
        t = check_nonnegative_number(t, "t")
        routed = self._per_pattern(rfm, lambda plain, part: plain.probability_alive_at(part, t))
        if routed is not None:
            return routed
        params = self._params()
        checked, values = self._by_distinct_rows(rfm, lambda x, t_x, T: self._future_alive_values(params, x, t_x, T, t))
        return pd.Series(values, index=checked.index, name="p_alive_at")

    def probability_of_purchase(self, rfm: pd.DataFrame, t: float) -> pd.Series:
        """P(at least one purchase in (T, T + t] | the customer's history), per customer."""
        none = self.conditional_probability_of_n_purchases(rfm, t, [0])[0]
        return (1.0 - none).clip(0.0, 1.0).rename("p_purchase")

    def next_purchase_cdf(self, rfm: pd.DataFrame, times) -> pd.DataFrame:
        """P(the next purchase comes within ``w`` time units of the end of observation), for each ``w`` of
        ``times``: the distribution of the time to the next purchase, one column per time.

        It does not reach 1: its limit is the probability that a next purchase comes at all
        (see :meth:`time_to_next_purchase`, whose ``p_never`` is one minus that limit).
        """
        w = np.atleast_1d(np.asarray(times, dtype=float))
        if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)) or (w < 0).any():
            raise DataError(f"'times' must be finite numbers >= 0 (time units after T); got {times!r}")
        routed = self._per_pattern(rfm, lambda plain, part: plain.next_purchase_cdf(part, times))
        if routed is not None:
            return routed
        params = self._params()

        def compute(x, t_x, T):
            p_ever, cdf, _ = self._next_purchase_values(params, x, t_x, T, w)
            return p_ever[:, None] * cdf

        checked, values = self._by_distinct_rows(rfm, compute, columns=w.size)
        frame = pd.DataFrame(values, index=checked.index, columns=pd.Index(w, name="within"))
        frame.index.name = "customer_id"
        return frame

    def time_to_next_purchase(self, rfm: pd.DataFrame) -> pd.DataFrame:
        """The time from the end of observation to each customer's next purchase.

        Returns
        -------
        DataFrame
            Indexed by ``customer_id``: ``p_never`` (the probability that no purchase
            ever comes: the customer has dropped out, or will before buying),
            ``median_if_purchase`` and ``mean_if_purchase`` (the median and the
            expectation of the time to it, in the model's time unit, given that it
            comes; the expectation is infinite when the posterior purchase rate's
            shape is at most 1, as a heavy-tailed waiting time has no mean).

        Examples
        --------
        >>> import pandas as pd
        >>> from clv_predict import BetaGeoModel
        >>> model = BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
        >>> rfm = pd.DataFrame({"frequency": [2], "recency": [30.43], "T": [38.86]})
        >>> model.time_to_next_purchase(rfm).round(2).values.tolist()
        [[0.27, 15.67, 34.81]]
        """
        routed = self._per_pattern(rfm, lambda plain, part: plain.time_to_next_purchase(part))
        if routed is not None:
            return routed
        params = self._params()

        def compute(x, t_x, T):
            p_ever, _, mean = self._next_purchase_values(params, x, t_x, T, np.zeros(1))

            def cdf(w):
                return self._next_purchase_values(params, x, t_x, T, w[:, None])[1][:, 0]

            return np.column_stack([1.0 - p_ever, _median(cdf, x.size), mean])

        checked, values = self._by_distinct_rows(rfm, compute, columns=3)
        frame = pd.DataFrame(
            values, index=checked.index, columns=["p_never", "median_if_purchase", "mean_if_purchase"]
        )
        frame["p_never"] = frame["p_never"].clip(0.0, 1.0)
        frame.index.name = "customer_id"
        return frame

    def predict(self, rfm: pd.DataFrame, *, horizon: float, interval: float | None = None, n_draws: int | None = None,
                seed=0) -> pd.DataFrame:
        """Each customer's expected purchases in the next ``horizon`` time units and P(alive) now, with bounds.

        Parameters
        ----------
        rfm : DataFrame
            RFM summary in the model's time unit.
        horizon : float
            Time units ahead.
        interval : float, optional
            With a level such as 0.9, adds two kinds of equal-tailed bounds:
            ``purchases_lower`` / ``purchases_upper`` (predictive: the purchases the
            customer will actually make, the quantiles of the conditional distribution
            of her purchases mixed over the estimates' asymptotic distribution, normal
            on the log scale, by its 2k + 1 sigma points; whole numbers, so they cover
            at least the level) and ``purchases_ci_lower`` / ``purchases_ci_upper``
            (confidence: the expected purchases alone, parameter uncertainty only,
            log-normal with the mean and variance of the log forecast over the same
            sigma points: the unscented transform, exact to second order).

            With covariates, each customer's bounds are those of her parameters and their
            uncertainty, the coefficients' included: computed once per covariate pattern
            (see :meth:`_pattern_models`).
        n_draws : int, optional
            Take the confidence bounds' log mean and variance over this many sampled
            parameter vectors (:meth:`parameter_draws`, seeded by ``seed``) instead.
        seed : int or None, default 0
            Seed of the parameter draws.

        Returns
        -------
        DataFrame
            Indexed by ``customer_id``.

        Examples
        --------
        >>> import pandas as pd
        >>> from clv_predict import BetaGeoModel
        >>> model = BetaGeoModel.from_params(r=0.25, alpha=4.0, a=0.8, b=2.4, time_unit="W")
        >>> model = BetaGeoModel().fit(model.simulate(3000, 39.0, seed=1))
        >>> rfm = pd.DataFrame({"frequency": [0, 6], "recency": [0.0, 35.0], "T": [39.0, 39.0]})
        >>> model.predict(rfm, horizon=52, interval=0.9)[["purchases_lower", "purchases_upper"]].values.tolist()
        [[0, 2], [0, 12]]
        """
        horizon = check_nonnegative_number(horizon, "horizon")
        checked, x, t_x, T = self._rfm_arrays(rfm)
        params = self._customer_params(rfm)  # each customer's, from her covariates, if the model has any
        p_alive = self._probability_alive_values_of(params, x, t_x, T)
        expected, _ = self._forecast(x, t_x, T, horizon, 0.0, p_alive=p_alive, params=params)
        frame = pd.DataFrame({"expected_purchases": expected, "p_alive": p_alive}, index=checked.index)
        frame.index.name = "customer_id"
        frame.attrs.update({"time_unit": self.time_unit_, "horizon": horizon})
        from . import _intervals

        _intervals.add_purchase_bounds(frame, self, rfm, x, t_x, T, horizon, interval, n_draws, seed,
                                       forecast=(p_alive, expected, expected))
        return frame

    def _forecast(self, x, t_x, T, horizon: float, discount_rate: float, *, p_alive=None, params=None):
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

        ``params`` are the shared parameters (default) or each customer's (k, n), from her covariates: the
        forecast then runs once per distinct set of parameters.
        """
        params = self._params() if params is None else np.asarray(params, dtype=float)
        if params.ndim == 2:
            if p_alive is None:
                p_alive = self._probability_alive_values_of(params, x, t_x, T)

            def one(shared, x, t_x, T, p_alive):
                return self._forecast(x, t_x, T, horizon, discount_rate, p_alive=p_alive, params=shared)

            return self._by_pattern(params, one, x, t_x, T, p_alive)
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

    # ------------------------------------------------------------------ from a log
    def _summary_of_arrays(self, ids, days, amounts, end_day: int, policy_counts=None) -> pd.DataFrame:
        """The RFM summary of transactions given as day numbers, in the model's time unit (batch scoring)."""
        from .. import rfm

        return rfm._rfm_from_arrays(ids, days, amounts, end_day, self.time_unit_, policy_counts)

    def _holdout_split(self, log, train_period_end, test_period_end) -> pd.DataFrame:
        """A calibration/holdout split of ``log`` in the model's time unit (for ``evaluate``)."""
        return log.split(train_period_end=train_period_end, test_period_end=test_period_end, time_unit=self.time_unit_)

    # ------------------------------------------------------------------ simulation
    def simulate(self, n_customers: int, T, *, seed=None, covariates: pd.DataFrame | None = None) -> pd.DataFrame:
        """Draw RFM summaries of ``n_customers`` from the model's own process with its parameters.

        ``T`` (a number, or one per customer) is each customer's time from the
        first purchase to the end of observation, in the model's time unit. The
        result has ``frequency``, ``recency``, ``T`` and ``litt`` (the sum of the
        log times between repeat purchases), indexed by ``customer_id``; times are
        exact (not rounded to days), so a fit on it recovers the parameters within
        sampling error.

        A model with covariates needs ``covariates``: a table of ``n_customers`` rows holding its covariate
        columns; each customer's parameters follow from hers, and the result carries those columns (so that a
        fit on it sees them).

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
        if self._n_coefficients():
            if not isinstance(covariates, pd.DataFrame) or len(covariates) != n_customers:
                raise DataError(
                    f"{type(self).__name__} has covariates: 'covariates' must be a DataFrame of {n_customers} rows "
                    f"with the columns {', '.join(map(repr, self._covariate_encoding.columns))}"
                )
            params = self._customer_params(covariates, what="covariates")
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
        if self._n_coefficients():
            for column in self._covariate_encoding.columns:
                frame[column] = covariates[column].to_numpy()
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
