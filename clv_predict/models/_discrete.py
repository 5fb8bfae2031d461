"""What the discrete-time models share: fitting on weighted rows, ``from_params``, the saved state.

The BG/BB and shifted-beta-geometric models count opportunities or contract
periods, not time, so they do not answer the :class:`~._base.PurchaseModel`
protocol (whose horizons are in time units and whose summaries come from
purchase dates). They reuse :class:`~._base._ParametricModel` for the optimiser,
the covariance, ``summary``, ``_repr_html_`` and ``save``; a subclass declares
``_param_names`` and a ``_make_rows(columns, weights)`` whose ``value`` and
``gradient`` are the weighted log-likelihood and its gradient in the parameters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import gammaln

from ..exceptions import DataError
from ._base import _compress, _ParametricModel, _row_weights


class _DiscreteModel(_ParametricModel):
    label = ""
    #: Columns of the summary the likelihood is computed on (customers sharing them are one weighted row).
    _fit_columns: tuple[str, ...] = ()

    def _check_settings(self) -> None:
        super()._check_settings()
        if self.engine != "native":
            raise DataError(f"{type(self).__name__} has only the native engine; got engine={self.engine!r}")

    @classmethod
    def from_params(cls, **params):
        """A fitted model from known parameters (published ones, or another tool's).

        Standard errors and the log-likelihood are unknown (NaN).
        """
        names = list(cls._param_names)
        params = cls._given(params)
        model = cls()
        model.params_ = pd.Series([float(params[name]) for name in names], index=names, name="estimate")
        model.covariance_ = pd.DataFrame(np.nan, index=names, columns=names)
        model.standard_errors_ = pd.Series(np.nan, index=names, name="standard_error")
        model.log_likelihood_ = float("nan")
        model.n_customers_ = model.n_repeat_customers_ = model.n_unique_rows_ = 0
        model.convergence_ = {"engine": "given", "converged": True, "message": "parameters given, not fitted"}
        model._set_no_training()
        return model

    def _set_no_training(self) -> None:
        # what persistence saves of every model; a count of opportunities or periods has no calendar
        self.time_unit_ = None
        self.observation_period_end_ = None
        self.training_period_ = (None, None)

    def _params(self) -> np.ndarray:
        self._check_fitted()
        return self.params_.to_numpy()

    # ------------------------------------------------------------------ fitting
    def _fit_rows(self, summary: pd.DataFrame, checked: pd.DataFrame, weights, *, events: str):
        """Fit on the checked columns of ``summary``; ``events`` names the column whose positive rows
        count as ``n_repeat_customers_`` (donors who gave again, customers who churned)."""
        self._check_settings()
        row_weights = _row_weights(summary, weights, len(checked))
        if len(checked) == 0:
            raise DataError("the summary has no customers to fit on")
        unique, counts = _compress({column: checked[column] for column in self._fit_columns}, row_weights)
        if counts.size == 0:
            raise DataError("the summary has no customers to fit on (every weight is 0)")
        data = {"columns": unique, "weights": counts, "n": counts.sum(), "rows": self._make_rows(unique, counts)}
        with np.errstate(all="ignore"):
            estimates = self._optimise(data)
        names = list(self._param_names)
        self.params_ = pd.Series(estimates, index=names, name="estimate")
        self.log_likelihood_ = float(data["rows"].value(estimates))

        def total_gradient(at):
            return -data["rows"].gradient(at) + 2 * self.penalizer_coef * data["n"] * at

        with np.errstate(all="ignore"):
            self._set_covariance(total_gradient, estimates)
        self._warn_if_at_edge()
        self.n_customers_ = int(round(data["n"]))
        self.n_repeat_customers_ = int(round(counts[unique[events] > 0].sum()))
        self.n_unique_rows_ = int(counts.size)
        self._set_no_training()
        return self

    def __repr__(self) -> str:
        if not hasattr(self, "params_"):
            return f"{type(self).__name__}(penalizer_coef={self.penalizer_coef!r})"
        return super().__repr__()


def hyp2f1_one(b, c, z: float, *, block: int = 512) -> np.ndarray:
    """The Gaussian hypergeometric function 2F1(1, b; c; z) for c > b > 0 and 0 <= z < 1, by its series.

    Every term is positive and the ratio of consecutive terms, z (b + k) / (c + k),
    stays below z, so the sum is summed in blocks until the next term is below
    1e-17 of it. scipy's ``hyp2f1`` returns NaN for some large b and z near 1
    (b = 1000, z = 1 / 1.001); the series does not.
    """
    b, c = np.broadcast_arrays(np.asarray(b, dtype=float), np.asarray(c, dtype=float))
    shape = b.shape
    b, c = b.ravel(), c.ravel()
    total = np.zeros(b.size)
    if z == 0 or b.size == 0:
        return np.ones(shape) if z == 0 else total.reshape(shape)
    log_z = np.log(z)
    # many customers share b and c: each distinct pair is summed once
    pairs, inverse = np.unique(np.stack([b, c]), axis=1, return_inverse=True)
    ub, uc = pairs
    sums = np.zeros(ub.size)
    start = 0
    pending = np.arange(ub.size)
    while pending.size:
        k = np.arange(start, start + block, dtype=float)
        bb, cc = ub[pending, None], uc[pending, None]
        logs = k * log_z + gammaln(bb + k) - gammaln(bb) - gammaln(cc + k) + gammaln(cc)
        terms = np.exp(logs)
        sums[pending] += terms.sum(axis=1)
        start += block
        pending = pending[terms[:, -1] > 1e-17 * sums[pending]]
    return sums[inverse.ravel()].reshape(shape)
