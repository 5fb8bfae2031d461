"""The only module that touches ``lifetimes``.

lifetimes 0.11.3 changes global state when imported (warning filters, the pandas
option ``mode.chained_assignment``), prints the optimiser's report before it
raises on non-convergence, and keeps lambdas on fitted objects. Here it is
imported and called with all of that contained, and only plain numbers leave.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pandas as pd

_MISSING = object()


@contextlib.contextmanager
def _contained():
    """Run lifetimes code and undo what it does to warnings, pandas options and stdout."""
    option = "mode.chained_assignment"
    with warnings.catch_warnings():
        # lifetimes' own calls to simplefilter land in this saved-and-restored state
        warnings.simplefilter("ignore")
        try:
            saved_option = pd.get_option(option)
        except (KeyError, pd.errors.OptionError):  # pragma: no cover - option removed in a future pandas
            saved_option = _MISSING
        stdout = io.StringIO()
        try:
            with contextlib.redirect_stdout(stdout):
                yield stdout
        finally:
            if saved_option is not _MISSING:
                pd.set_option(option, saved_option)


def _fitters():
    with _contained():
        from lifetimes import BetaGeoFitter, GammaGammaFitter
        from lifetimes.utils import ConvergenceError
    return BetaGeoFitter, GammaGammaFitter, ConvergenceError


class LifetimesFitFailed(RuntimeError):
    """lifetimes' optimiser did not converge; ``report`` is what it printed."""

    def __init__(self, report: str):
        super().__init__(report)
        self.report = report


def _fit_purchases(fitter_name: str, names: list, frequency, recency, T, weights, penalizer_coef: float,
                   initial_log_params=None) -> np.ndarray:
    """The parameters ``names`` from lifetimes' purchase-model fitter ``fitter_name`` on already-compressed rows."""
    _, _, ConvergenceError = _fitters()
    with _contained() as stdout:
        import lifetimes

        fitter = getattr(lifetimes, fitter_name)(penalizer_coef=penalizer_coef)
        try:
            fitter.fit(frequency, recency, T, weights=weights, initial_params=initial_log_params)
        except ConvergenceError:
            raise LifetimesFitFailed(stdout.getvalue().strip()) from None
        params = fitter.params_[names].to_numpy(dtype=float, copy=True)
    return params


def fit_bgnbd(frequency, recency, T, weights, penalizer_coef: float, initial_log_params=None) -> np.ndarray:
    """(r, alpha, a, b) from lifetimes' BetaGeoFitter on already-compressed rows."""
    return _fit_purchases("BetaGeoFitter", ["r", "alpha", "a", "b"], frequency, recency, T, weights, penalizer_coef,
                          initial_log_params)


def fit_mbgnbd(frequency, recency, T, weights, penalizer_coef: float, initial_log_params=None) -> np.ndarray:
    """(r, alpha, a, b) from lifetimes' ModifiedBetaGeoFitter on already-compressed rows."""
    return _fit_purchases("ModifiedBetaGeoFitter", ["r", "alpha", "a", "b"], frequency, recency, T, weights,
                          penalizer_coef, initial_log_params)


def fit_pareto_nbd(frequency, recency, T, weights, penalizer_coef: float, initial_log_params=None) -> np.ndarray:
    """(r, alpha, s, beta) from lifetimes' ParetoNBDFitter on already-compressed rows."""
    return _fit_purchases("ParetoNBDFitter", ["r", "alpha", "s", "beta"], frequency, recency, T, weights,
                          penalizer_coef, initial_log_params)


def fit_gamma_gamma(frequency, monetary_value, weights, penalizer_coef: float, initial_log_params=None) -> np.ndarray:
    """(p, q, v) from lifetimes' GammaGammaFitter on repeat customers."""
    _, GammaGammaFitter, ConvergenceError = _fitters()
    with _contained() as stdout:
        fitter = GammaGammaFitter(penalizer_coef=penalizer_coef)
        try:
            fitter.fit(frequency, monetary_value, weights=weights, initial_params=initial_log_params)
        except ConvergenceError:
            raise LifetimesFitFailed(stdout.getvalue().strip()) from None
        params = fitter.params_[["p", "q", "v"]].to_numpy(dtype=float, copy=True)
    return params


def lifetimes_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lifetimes")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"
