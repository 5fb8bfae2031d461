"""The Gamma-Gamma model of spend per purchase (Fader & Hardie 2013)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .. import _lifetimes, _math, _rows
from .._validation import check_rfm, plural
from ..exceptions import DataError, DataWarning, ModelWarning
from ._base import _compress, _ParametricModel, _row_weights, _time_unit_of


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
                f"{plural(n_repeat - n_usable, 'repeat customer')} whose mean repeat spend is 0 "
                f"{'was' if n_repeat - n_usable == 1 else 'were'} left out of the Gamma-Gamma fit "
                "(the model describes positive spend)",
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
