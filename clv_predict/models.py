"""BG/NBD (purchases and dropout) and Gamma-Gamma (spend per purchase) models.

Both follow the scikit-learn contract: the constructor stores settings, ``fit``
validates and computes, sets attributes ending in ``_`` and returns ``self``.
The shared machinery (optimisation from several starts, convergence checks,
covariance from the Hessian of our own log-likelihood, the summary table)
lives once in :class:`_ParametricModel`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.stats import norm

from . import _lifetimes, _math, _rows
from ._validation import check_nonnegative_number, check_rfm, check_time_unit
from .exceptions import ConvergenceWarning, DataError, DataWarning, ModelWarning, NotFittedError

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
    _kind = ""

    def __init__(self, penalizer_coef: float = 0.0, engine: str = "native"):
        self.penalizer_coef = penalizer_coef
        self.engine = engine

    # ------------------------------------------------------------------ subclass hooks
    def _negative_objective(self, data, scaled_params):  # mean penalised negative log-likelihood
        raise NotImplementedError

    def _negative_objective_gradient(self, data, scaled_params):
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
        """The objective's rows object on the rows ``keep`` of ``data``, with new ``weights``."""
        raise NotImplementedError

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
        table.index.name = "parameter"
        table.attrs["alpha"] = alpha
        return table

    def __repr__(self) -> str:
        name = type(self).__name__
        if not hasattr(self, "params_"):
            return f"{name}(penalizer_coef={self.penalizer_coef!r}, engine={self.engine!r})"
        params = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return f"<{name}: {params}; log-likelihood {self.log_likelihood_:.2f} on {self.n_customers_:,} customers>"

    def _repr_html_(self) -> str:
        if not hasattr(self, "params_"):
            return f"<p>{type(self).__name__} (not fitted)</p>"
        caption = (
            f"{type(self).__name__}: {self.n_customers_:,} customers, log-likelihood {self.log_likelihood_:.2f}, "
            f"time unit {getattr(self, 'time_unit_', None) or 'n/a'}"
        )
        return self.summary().to_html(float_format=lambda v: f"{v:.4f}").replace(
            "<table", f"<table title='{caption}'", 1
        ).replace("<thead>", f"<caption>{caption}</caption><thead>", 1)

    def save(self, path) -> None:
        """Write the fitted model to ``path`` (one joblib file, atomically); see :func:`clv_predict.load_model`."""
        from .persistence import save_model

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


class BetaGeoModel(_ParametricModel):
    """The BG/NBD model of repeat purchasing and dropout (Fader, Hardie & Lee 2005).

    While alive, a customer buys as a Poisson process with rate ``lambda``;
    after each purchase he drops out with probability ``p``. Across customers
    ``lambda ~ Gamma(r, alpha)`` and ``p ~ Beta(a, b)``.

    Parameters
    ----------
    penalizer_coef : float, default 0
        L2 penalty on the parameters (as lifetimes applies it); helps on small
        or degenerate data.
    engine : {"native", "lifetimes"}, default "native"
        "lifetimes" fits with lifetimes' BetaGeoFitter (the reference);
        "native" (the default) maximises this package's vectorised log-likelihood with its
        analytic gradient on the compressed rows: the same estimates (tests
        hold it to lifetimes at 1e-5), several times faster at millions of
        customers.

    Examples
    --------
    >>> from clv_predict import rfm_summary
    >>> from clv_predict.datasets import load_cdnow
    >>> log = load_cdnow()
    >>> rfm = rfm_summary(log[log["date"] <= "1997-09-30"], customer_id_col="customer_id",
    ...                   datetime_col="date", observation_period_end="1997-09-30", time_unit="W")
    >>> model = BetaGeoModel().fit(rfm)
    >>> model.params_.round(3).to_dict()
    {'r': 0.243, 'alpha': 4.414, 'a': 0.793, 'b': 2.426}
    >>> round(model.log_likelihood_, 1)
    -9582.4
    """

    _param_names = ("r", "alpha", "a", "b")
    _shape_params = ("r", "a", "b")
    _edge_meaning = (
        "the data show (almost) no dropout or no spread in purchase rates, so BG/NBD reduces to a simpler "
        "model and P(alive) carries little information."
    )
    _kind = "BetaGeoModel"

    def fit(self, rfm: pd.DataFrame, *, time_unit: str | None = None, weights=None) -> "BetaGeoModel":
        """Fit on an RFM summary (``frequency``, ``recency``, ``T``), one row per customer.

        Customers sharing (frequency, recency, T) are fitted as one weighted
        row, which gives the same estimates as one row per customer in a time
        that depends on the number of distinct rows, not of customers.
        ``weights`` (a column name or an array) says how many customers each
        row stands for, to fit on an already compressed summary (as the Dask
        path does); the default is one per row.
        """
        self._check_settings()
        return self._fit(rfm, check_rfm(rfm), time_unit, weights)

    def _fit(self, rfm, checked, time_unit, weights) -> "BetaGeoModel":
        """``fit`` on the columns ``check_rfm`` returned for ``rfm``, settings already checked (``CLVModel`` checks
        the table once for both models)."""
        row_weights = _row_weights(rfm, weights, len(checked))
        if len(checked) == 0:
            raise DataError("rfm has no customers to fit on")
        unique, weights = _compress(
            {"frequency": checked["frequency"], "recency": checked["recency"], "T": checked["T"]}, row_weights
        )
        repeat_rows = unique["frequency"] > 0
        if not repeat_rows.any():
            raise DataError(
                f"none of the {len(checked):,} customers has a repeat purchase, so the BG/NBD model of repeat "
                "purchasing cannot be fitted (a longer observation period helps)"
            )
        # times in units of the longest T: the optimiser then sees parameters of similar size (as lifetimes does)
        scale = 1.0 / unique["T"].max()
        data = {
            "x": unique["frequency"],
            "t_x": unique["recency"],
            "T": unique["T"],
            "scaled_t_x": unique["recency"] * scale,
            "scaled_T": unique["T"] * scale,
            "weights": weights,
            "n": weights.sum(),
            "scale": scale,
            # the native engine's objective: one pass per step over the distinct rows
            "rows": _rows.BetaGeoRows(unique["frequency"], unique["recency"] * scale, unique["T"] * scale, weights),
        }
        with np.errstate(all="ignore"):
            scaled = self._optimise(data)
        params = scaled.copy()
        params[1] /= scale
        self.params_ = pd.Series(params, index=list(self._param_names), name="estimate")
        # rescaling time by s adds x log(s) to each customer's log-likelihood
        self.log_likelihood_ = float(data["rows"].value(scaled) + np.log(scale) * (weights @ data["x"]))

        to_scaled = np.array([1.0, scale, 1.0, 1.0])

        def total_gradient(natural):
            # the penalty is on the scaled parameters, as in lifetimes
            at = natural * to_scaled
            return to_scaled * (-data["rows"].gradient(at) + 2 * self.penalizer_coef * data["n"] * at)

        with np.errstate(all="ignore"):
            self._set_covariance(total_gradient, params)
        self._warn_if_at_edge()
        self.n_customers_ = int(round(data["n"]))
        self.n_repeat_customers_ = int(round(weights[repeat_rows].sum()))
        self.n_unique_rows_ = int(weights.size)
        self.time_unit_ = _time_unit_of(rfm, time_unit)
        self.observation_period_end_ = rfm.attrs.get("observation_period_end")
        self.training_period_ = (rfm.attrs.get("first_purchase"), rfm.attrs.get("last_purchase"))
        return self

    def _rows_of(self, data, keep, weights):
        return _rows.BetaGeoRows(data["x"][keep], data["scaled_t_x"][keep], data["scaled_T"][keep], weights)

    def _negative_objective(self, data, scaled):
        return -data["rows"].value(scaled) / data["n"] + self.penalizer_coef * np.sum(scaled**2)

    def _negative_objective_gradient(self, data, scaled):
        return -data["rows"].gradient(scaled) / data["n"] + 2 * self.penalizer_coef * scaled

    def _lifetimes_fit(self, data, initial_log_params):
        # lifetimes rescales T to a maximum of 1 itself; give it the original units
        params = _lifetimes.fit_bgnbd(
            data["x"], data["t_x"], data["T"], data["weights"], self.penalizer_coef, initial_log_params
        )
        params[1] *= data["scale"]
        return params

    # ------------------------------------------------------------------ predictions
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
        """P(alive) at the end of the observation period, per customer (1 for customers without repeat purchases)."""
        checked, x, t_x, T = self._rfm_arrays(rfm)
        values = _math.bgnbd_probability_alive(self.params_.to_numpy(), x, t_x, T)
        return pd.Series(values, index=checked.index, name="p_alive")

    def expected_purchases(self, rfm: pd.DataFrame, t: float) -> pd.Series:
        """Expected number of purchases in the next ``t`` time units, per customer (equation 10 of FHL 2005)."""
        t = check_nonnegative_number(t, "t")
        checked, x, t_x, T = self._rfm_arrays(rfm)
        params = self.params_.to_numpy()
        values = _math.bgnbd_conditional_expected(params, x, t_x, T, t)
        return pd.Series(values, index=checked.index, name="expected_purchases")

    def expected_purchases_new_customer(self, t):
        """Expected repeat purchases of a new customer in the ``t`` time units after the first purchase.

        ``t`` may be a number (a float is returned) or an array (an array is returned).
        """
        self._check_fitted()
        values = _math.bgnbd_unconditional_expected(self.params_.to_numpy(), t)
        return float(values) if np.ndim(values) == 0 else values

    def probability_of_n_purchases(self, t: float, n) -> np.ndarray:
        """P(X(t) = n): probability that a new customer makes exactly ``n`` repeat purchases in ``t`` units."""
        self._check_fitted()
        return _math.bgnbd_probability_of_n_purchases(self.params_.to_numpy(), t, n)


class GammaGammaModel(_ParametricModel):
    """The Gamma-Gamma model of the mean value of a customer's repeat purchases (Fader & Hardie 2013).

    A customer's purchase values are Gamma(p, nu) around his own mean; across
    customers ``nu ~ Gamma(q, v)``. It assumes spend is independent of how
    often a customer buys; fit it on repeat customers only.

    Examples
    --------
    >>> from clv_predict import rfm_summary
    >>> from clv_predict.datasets import load_cdnow
    >>> log = load_cdnow()
    >>> rfm = rfm_summary(log[log["date"] <= "1997-09-30"], customer_id_col="customer_id",
    ...                   datetime_col="date", monetary_value_col="amount",
    ...                   observation_period_end="1997-09-30", time_unit="W")
    >>> GammaGammaModel().fit(rfm).params_.round(2).to_dict()
    {'p': 6.25, 'q': 3.74, 'v': 15.44}
    """

    _param_names = ("p", "q", "v")
    _shape_params = ("p", "q")
    _edge_meaning = (
        "the data show (almost) no spread of a customer's purchase values around his mean, or none between "
        "customers' means, so expected spend is driven by very few repeat purchases."
    )
    _kind = "GammaGammaModel"

    def fit(self, rfm: pd.DataFrame, *, time_unit: str | None = None, weights=None) -> "GammaGammaModel":
        """Fit on the repeat customers (``frequency > 0``) of an RFM summary with ``monetary_value``.

        ``weights`` as in :meth:`BetaGeoModel.fit`: customers each row stands for.
        """
        self._check_settings()
        return self._fit(rfm, check_rfm(rfm, need_monetary=True), time_unit, weights)

    def _fit(self, rfm, checked, time_unit, weights, prepared=None) -> "GammaGammaModel":
        """``fit`` on the columns ``check_rfm(rfm, need_monetary=True)`` returned.

        ``prepared`` is ``_prepare(checked, None)`` computed beforehand (``CLVModel`` does it
        in a thread while BG/NBD fits).
        """
        row_weights = _row_weights(rfm, weights, len(checked))
        n_repeat, n_usable, unique, weights = self._prepare(checked, row_weights) if prepared is None else prepared
        if n_usable < n_repeat:
            warnings.warn(
                f"{n_repeat - n_usable} repeat customers whose mean repeat spend is 0 were left out of the "
                "Gamma-Gamma fit (the model describes positive spend)",
                DataWarning,
                stacklevel=3,
            )
        if n_usable == 0 or weights.size == 0:
            raise DataError(
                "no customer has repeat purchases with positive value, so the Gamma-Gamma spend model "
                "cannot be fitted"
            )
        data = {
            "x": unique["x"],
            "m": unique["m"],
            "weights": weights,
            "n": weights.sum(),
            "rows": _rows.GammaGammaRows(unique["x"], unique["m"], weights),
        }
        with np.errstate(all="ignore"):
            params = self._optimise(data)
        self.params_ = pd.Series(params, index=list(self._param_names), name="estimate")
        self.log_likelihood_ = float(data["rows"].value(params))

        def total_gradient(natural):
            penalty = 2 * self.penalizer_coef * data["n"] * natural
            return -data["rows"].gradient(natural) + penalty

        with np.errstate(all="ignore"):
            self._set_covariance(total_gradient, params)
        self._warn_if_at_edge()
        self.n_customers_ = n_usable
        self.n_repeat_customers_ = n_repeat
        self.n_unique_rows_ = int(weights.size)
        self.time_unit_ = _time_unit_of(rfm, time_unit)
        self.observation_period_end_ = rfm.attrs.get("observation_period_end")
        self.training_period_ = (rfm.attrs.get("first_purchase"), rfm.attrs.get("last_purchase"))
        self._warn_if_infinite_mean()
        return self

    @staticmethod
    def _prepare(checked, row_weights):
        """Customer counts and the compressed (frequency, mean spend) rows of the repeat buyers with positive spend.

        Pure (no warnings, nothing raised), so that it can run in a thread.
        """
        frequency = checked["frequency"].to_numpy()
        spend = checked["monetary_value"].to_numpy()
        repeat = frequency > 0
        usable = repeat & (spend > 0)
        if row_weights is None:
            n_repeat, n_usable = int(repeat.sum()), int(usable.sum())
            usable_weights = None
        else:
            n_repeat, n_usable = int(round(row_weights[repeat].sum())), int(round(row_weights[usable].sum()))
            usable_weights = row_weights[usable]
        unique, weights = _compress({"x": frequency[usable], "m": spend[usable]}, usable_weights)
        return n_repeat, n_usable, unique, weights

    def _rows_of(self, data, keep, weights):
        return _rows.GammaGammaRows(data["x"][keep], data["m"][keep], weights)

    def _warn_if_infinite_mean(self) -> None:
        if self.params_["q"] <= 1:
            warnings.warn(
                f"Gamma-Gamma q = {self.params_['q']:.3g} <= 1: the population mean spend is infinite, so "
                "expected spend (and CLV) of customers without repeat purchases is undefined (NaN). "
                "A penalizer_coef or more repeat customers usually helps.",
                ModelWarning,
                stacklevel=3,
            )

    def _negative_objective(self, data, params):
        return -data["rows"].value(params) / data["n"] + self.penalizer_coef * np.sum(params**2)

    def _negative_objective_gradient(self, data, params):
        return -data["rows"].gradient(params) / data["n"] + 2 * self.penalizer_coef * params

    def _lifetimes_fit(self, data, initial_log_params):
        return _lifetimes.fit_gamma_gamma(data["x"], data["m"], data["weights"], self.penalizer_coef, initial_log_params)

    def expected_spend(self, rfm: pd.DataFrame) -> pd.Series:
        """Conditional expected mean transaction value per customer (equation 5 of Fader & Hardie's note).

        Customers without repeat purchases get the population mean ``p v / (q - 1)``.
        """
        self._check_fitted()
        checked = check_rfm(rfm, need_monetary=True)
        values = self._expected_spend_values(checked["frequency"].to_numpy(), checked["monetary_value"].to_numpy())
        return pd.Series(values, index=checked.index, name="expected_spend")

    def _expected_spend_values(self, frequency: np.ndarray, monetary_value: np.ndarray) -> np.ndarray:
        params = self.params_.to_numpy()
        values = _math.gamma_gamma_expected_spend(params, frequency, monetary_value)
        if params[1] <= 1:
            values = np.where(frequency > 0, values, np.nan)
        return values

    @property
    def population_mean_spend_(self) -> float:
        """Mean spend per transaction across customers, p v / (q - 1) (infinite when q <= 1)."""
        self._check_fitted()
        p, q, v = self.params_.to_numpy()
        return float(p * v / (q - 1)) if q > 1 else float("inf")
