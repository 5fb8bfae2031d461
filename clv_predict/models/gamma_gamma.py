"""The Gamma-Gamma model of spend per purchase (Fader & Hardie 2013)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln

from .. import _lifetimes, _rows
from .._rows import _Cached
from .._validation import check_rfm, plural
from ..covariates import check_covariate_names
from ..exceptions import DataError, DataWarning, ModelWarning
from ._base import (
    _compress,
    _distinct_rows,
    _ParametricModel,
    _row_weights,
    _time_unit_of,
)
from ._coefficients import _CoefficientsMixin


def spend_log_likelihood(params, x, m, design=None):
    """Per-customer Gamma-Gamma log-likelihood of the mean repeat spend ``m`` over ``x > 0`` purchases,
    with the spend scale ``v_i = v exp(gamma' z_i)``.

    ``params`` is ``(p, q, v, gamma_1, ..., gamma_k)`` and ``design`` the ``(n, k)`` matrix of the
    customers' encoded covariates ``z_i`` (None or no columns: the model without covariates). The
    customer's mean spend per purchase is then ``p v_i / (q - 1)``: a coefficient multiplies it by
    ``exp(gamma)`` per unit of its covariate, so a positive one raises expected spend.
    """
    p, q, v = params[:3]
    x = np.asarray(x, dtype=float)
    m = np.asarray(m, dtype=float)
    log_v = np.log(v) + _linear(design, params[3:], x.size)
    px = p * x
    return (
        gammaln(px + q) - gammaln(px) - gammaln(q) + q * log_v
        + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.logaddexp(np.log(x * m), log_v)
    )


def _linear(design, coefficients, size: int) -> np.ndarray:
    """``gamma' z_i`` per customer (zeros without covariates)."""
    coefficients = np.asarray(coefficients, dtype=float)
    if design is None or coefficients.size == 0:
        return np.zeros(size)
    return np.asarray(design, dtype=float) @ coefficients


def _usable(checked, row_weights):
    """Frequency and mean spend, which customers the fit uses (repeat buyers with positive spend) and how many
    customers are repeat buyers and usable (weighted by ``row_weights``, if given)."""
    frequency = checked["frequency"].to_numpy()
    spend = checked["monetary_value"].to_numpy()
    repeat = frequency > 0
    usable = repeat & (spend > 0)
    if row_weights is None:
        return frequency, spend, usable, int(repeat.sum()), int(usable.sum())
    return frequency, spend, usable, int(round(row_weights[repeat].sum())), int(round(row_weights[usable].sum()))


class _GammaGammaCovariateRows(_Cached):
    """Sum of weighted Gamma-Gamma log-likelihoods with spend covariates over rows (x, m, z) and its
    gradient in (p, q, v, gamma_1..gamma_k); see :func:`spend_log_likelihood`."""

    def __init__(self, x, m, design, weights):
        super().__init__()
        self.x = np.asarray(x, dtype=float)
        self.m = np.asarray(m, dtype=float)
        self.design = np.asarray(design, dtype=float).reshape(self.x.size, -1)
        self.w = np.asarray(weights, dtype=float)
        self.n = self.w.sum()
        self.xm = self.x * self.m
        self.wx = self.w * self.x
        # the terms free of the parameters' scale, summed once
        self.sum_w_log_m = self.w @ np.log(self.m)
        self.sum_wx_log_m = self.wx @ np.log(self.m)
        self.sum_wx_log_x = self.wx @ np.log(self.x)
        # the special functions depend on x alone (a handful of counts): once per distinct x, with its weight
        codes, (self.counts,) = _distinct_rows([self.x])
        self.w_of_count = np.bincount(codes, weights=self.w, minlength=self.counts.size)
        # and the spend scale on the distinct covariate patterns (few with categorical covariates)
        if self.design.shape[1]:
            self.pattern, columns = _distinct_rows(list(self.design.T))
            self.patterns = np.column_stack(columns)
        else:
            self.pattern, self.patterns = np.zeros(self.x.size, dtype=np.int64), np.zeros((1, 0))
        self.w_of_pattern = np.bincount(self.pattern, weights=self.w, minlength=len(self.patterns))

    def _evaluate(self, params):
        p, q, v = params[:3]
        w, wx = self.w, self.wx
        coefficients = np.asarray(params[3:], dtype=float)
        log_v_pattern = np.log(v) + (self.patterns @ coefficients if coefficients.size else 0.0)
        v_i = np.exp(log_v_pattern)[self.pattern]
        total = self.xm + v_i
        log_sum = np.log(total)  # log(x m + v_i)
        pc = p * self.counts
        wc, wcx = self.w_of_count, self.w_of_count * self.counts
        sum_w_log_sum, sum_wx_log_sum = w @ log_sum, wx @ log_sum
        value = (
            wc @ (gammaln(pc + q) - gammaln(pc)) + q * (self.w_of_pattern @ log_v_pattern) - p * sum_wx_log_sum
            - q * sum_w_log_sum
            - self.n * gammaln(q) + p * (self.sum_wx_log_m + self.sum_wx_log_x) - self.sum_w_log_m
        )
        d_p = wcx @ (digamma(pc + q) - digamma(pc)) - sum_wx_log_sum + self.sum_wx_log_m + self.sum_wx_log_x
        d_q = wc @ digamma(pc + q) + self.w_of_pattern @ log_v_pattern - sum_w_log_sum - self.n * digamma(q)
        # d/d log v_i = q - (p x + q) v_i / (x m + v_i)
        d_log_v = w * q - (p * wx + q * w) * (v_i / total)
        d_v = d_log_v.sum() / v
        d_gamma = self.patterns.T @ np.bincount(self.pattern, weights=d_log_v, minlength=len(self.patterns))
        return float(value), np.concatenate([[d_p, d_q, d_v], d_gamma])


class GammaGammaModel(_CoefficientsMixin, _ParametricModel):
    """The Gamma-Gamma model of the mean value of a customer's repeat purchases (Fader & Hardie 2013).

    A customer's purchase values are Gamma(p, nu) around his own mean; across
    customers ``nu ~ Gamma(q, v)``. It assumes spend is independent of how
    often a customer buys; fit it on repeat customers only.

    With ``covariates`` (columns of the RFM table: a channel, a region, a
    numeric score), each customer's spend scale is ``v_i = v exp(gamma' z_i)``
    with ``z_i`` her encoded covariates (a categorical column as indicators of
    its levels but the reference one, a numeric one as given). Her expected
    spend per purchase before any is seen is ``p v_i / (q - 1)``: ``exp(gamma)``
    multiplies it per unit of the covariate (or against the reference level),
    so a positive coefficient raises expected spend. The coefficients are in
    ``params_`` as ``spend:<column>`` (``spend:<column>[<level>]`` for a level).
    With all of them at zero the model is the one without covariates.

    Parameters
    ----------
    penalizer_coef : float, default 0
        L2 penalty on p, q and v.
    engine : {"native", "lifetimes"}, default "native"
        The optimiser; covariates are fitted by the native one only.
    covariates : list of str, optional
        Columns of the RFM table the spend scale depends on.
    covariate_penalizer : float, default 0
        L2 penalty on the covariate coefficients alone (per unit of their column).
    covariate_reference : dict, optional
        ``{column: level}``: the reference level of a categorical covariate (default: its most
        frequent level among the customers fitted).
    unseen : {"error", "reference"}, default "error"
        What a level not seen in training does at prediction: an error naming it, or counting as
        the reference level (with a warning).

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
    label = "Gamma-Gamma"
    #: Prefix of the covariate coefficients' names in ``params_``.
    _coefficient_prefix = "spend"

    def fit(self, rfm: pd.DataFrame, *, time_unit: str | None = None, weights=None) -> GammaGammaModel:
        """Fit on the repeat customers (``frequency > 0``) of an RFM summary with ``monetary_value``.

        ``weights`` as in :meth:`BetaGeoModel.fit`: customers each row stands for.
        """
        self._check_settings()
        return self._fit(rfm, check_rfm(rfm, need_monetary=True), time_unit, weights)

    def _check_settings(self) -> None:
        super()._check_settings()
        self._check_covariate_settings()

    def _fit(self, rfm, checked, time_unit, weights, prepared=None) -> GammaGammaModel:
        """``fit`` on the columns ``check_rfm(rfm, need_monetary=True)`` returned.

        ``prepared`` is ``_prepare(checked, None)`` computed beforehand (``CLVModel`` does it
        in a thread while BG/NBD fits).
        """
        row_weights = _row_weights(rfm, weights, len(checked))
        if check_covariate_names(self.covariates, "covariates"):
            return self._fit_covariates(rfm, checked, time_unit, row_weights)
        self._forget_covariates()
        n_repeat, n_usable, unique, weights = self._prepare(checked, row_weights) if prepared is None else prepared
        _check_usable(n_repeat, n_usable, weights.size)
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
        return self._finish(rfm, time_unit, n_usable, n_repeat, weights.size)

    def _finish(self, rfm, time_unit, n_usable, n_repeat, n_rows) -> GammaGammaModel:
        self._warn_if_at_edge()
        self.n_customers_ = n_usable
        self.n_repeat_customers_ = n_repeat
        self.n_unique_rows_ = int(n_rows)
        self.time_unit_ = _time_unit_of(rfm, time_unit)
        self.observation_period_end_ = rfm.attrs.get("observation_period_end")
        self.training_period_ = (rfm.attrs.get("first_purchase"), rfm.attrs.get("last_purchase"))
        self._warn_if_infinite_mean()
        return self

    # ------------------------------------------------------------------ covariates
    def _fit_covariates(self, rfm, checked, time_unit, row_weights) -> GammaGammaModel:
        """The fit with the spend scale ``v exp(gamma' z)``, on the repeat customers with positive spend.

        The encoding is learnt on those customers: a level seen only among the others would have no
        spend to estimate its effect from.
        """
        frequency, spend, usable, n_repeat, n_usable = _usable(checked, row_weights)
        if row_weights is not None:
            usable &= row_weights > 0
        _check_usable(n_repeat, n_usable, int(usable.sum()))
        table = rfm[usable]
        design = self._learn_covariates(table, "the repeat customers with positive spend")
        columns = {"x": frequency[usable], "m": spend[usable]}
        columns.update({f"z{j}": design[:, j] for j in range(design.shape[1])})
        unique, weights = _compress(columns, None if row_weights is None else row_weights[usable])
        design = np.column_stack([unique[f"z{j}"] for j in range(design.shape[1])])
        data = {
            "columns": unique,
            "design_columns": design.shape[1],
            "weights": weights,
            "n": weights.sum(),
            "rows": _GammaGammaCovariateRows(unique["x"], unique["m"], design, weights),
        }
        self._fit_coefficients(data, self._covariate_encoding.scales)
        return self._finish(rfm, time_unit, n_usable, n_repeat, weights.size)

    def _coefficient_names_of(self, design_names):
        return [f"{self._coefficient_prefix}:{name}" for name in design_names]

    def _coefficient_loadings(self, patterns: np.ndarray) -> np.ndarray:
        # log v(z) = log v + z' gamma; p and q do not move
        out = np.zeros((patterns.shape[0], self._n_own, patterns.shape[1]))
        out[:, 2, :] = patterns
        return out

    def _spend_scales(self, design) -> np.ndarray | float:
        """Each customer's spend scale ``v exp(gamma' z)`` (``v`` without covariates)."""
        params = self.params_.to_numpy()
        if design is None:
            return params[2]
        return params[2] * np.exp(design @ params[3:])

    @staticmethod
    def _prepare(checked, row_weights):
        """Customer counts and the compressed (frequency, mean spend) rows of the repeat buyers with positive spend.

        Pure (no warnings, nothing raised), so that it can run in a thread.
        """
        frequency, spend, usable, n_repeat, n_usable = _usable(checked, row_weights)
        usable_weights = None if row_weights is None else row_weights[usable]
        unique, weights = _compress({"x": frequency[usable], "m": spend[usable]}, usable_weights)
        return n_repeat, n_usable, unique, weights

    def _rows_of(self, data, keep, weights):
        if "design_columns" in data:
            columns = data["columns"]
            design = np.column_stack([columns[f"z{j}"][keep] for j in range(data["design_columns"])])
            return _GammaGammaCovariateRows(columns["x"][keep], columns["m"][keep], design, weights)
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

    def expected_spend(self, rfm: pd.DataFrame, *, unseen: str | None = None) -> pd.Series:
        """Conditional expected mean transaction value per customer (equation 5 of Fader & Hardie's note).

        Customers without repeat purchases get the population mean ``p v / (q - 1)`` (with covariates,
        the mean of their profile, ``p v_i / (q - 1)``). A model with covariates reads them from
        ``rfm``; ``unseen`` overrides the model's setting for levels not seen in training.
        """
        self._check_fitted()
        checked = check_rfm(rfm, need_monetary=True)
        values = self._expected_spend_values(
            checked["frequency"].to_numpy(), checked["monetary_value"].to_numpy(), rfm=rfm, unseen=unseen
        )
        return pd.Series(values, index=checked.index, name="expected_spend")

    def _expected_spend_values(self, frequency: np.ndarray, monetary_value: np.ndarray, *, rfm=None,
                               unseen: str | None = None) -> np.ndarray:
        """Expected spend per purchase; ``rfm`` (the table the arrays come from) holds the covariates, if any."""
        params = self.params_.to_numpy()
        design = None
        if getattr(self, "_covariate_encoding", None) is not None:
            if rfm is None:
                raise DataError("this Gamma-Gamma model has spend covariates: pass the table that holds them")
            design = self._design(rfm, unseen=unseen)
        p, q = params[0], params[1]
        frequency = np.asarray(frequency, dtype=float)
        mean = np.where(frequency > 0, np.asarray(monetary_value, dtype=float), 0.0)
        values = p * (self._spend_scales(design) + frequency * mean) / (p * frequency + q - 1)
        if q <= 1:
            values = np.where(frequency > 0, values, np.nan)
        return values

    def _mean_spend_density(self, frequency, grid, rfm=None) -> np.ndarray:
        """Density of a customer's mean spend per repeat purchase at ``grid``, averaged over customers with
        ``frequency`` repeat purchases (and, with covariates, the profiles of the rows of ``rfm``)."""
        self._check_fitted()
        params = self.params_.to_numpy()
        frequency = np.asarray(frequency, dtype=float)
        design = None
        if getattr(self, "_covariate_encoding", None) is not None:
            if rfm is None:
                raise DataError("this Gamma-Gamma model has spend covariates: pass the table that holds them")
            design = self._design(rfm)
        log_scale = np.log(params[2]) + (np.zeros(frequency.size) if design is None else design @ params[3:])
        pairs = pd.DataFrame({"x": frequency, "log_scale": log_scale}).value_counts()
        grid = np.asarray(grid, dtype=float)
        density = np.zeros_like(grid)
        for (x, scale), customers in pairs.items():
            density += customers * np.exp(spend_log_likelihood([params[0], params[1], np.exp(scale)], x, grid))
        return density / frequency.size

    def expected_spend_new_customer(self, profile=None, *, unseen: str | None = None) -> pd.Series:
        """Expected spend per purchase of a customer not yet seen to buy again: ``p v_i / (q - 1)``.

        Parameters
        ----------
        profile : dict or DataFrame, optional
            The covariate values of one profile (a dict, whose values may be lists for several) or a
            table of profiles; needed when the model has covariates, ignored without.

        Returns
        -------
        Series
            One value per profile (one value without covariates), infinite when ``q <= 1``.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(1)
        >>> rfm = pd.DataFrame({"frequency": rng.integers(1, 6, 400), "recency": 1.0, "T": 2.0,
        ...                     "channel": rng.choice(["shop", "web"], 400)})
        >>> rfm["monetary_value"] = rng.gamma(4, 5, 400) * np.where(rfm["channel"] == "web", 1.5, 1.0)
        >>> model = GammaGammaModel(covariates=["channel"]).fit(rfm)
        >>> spend = model.expected_spend_new_customer({"channel": ["shop", "web"]})
        >>> bool(spend[1] > spend[0])
        True
        """
        self._check_fitted()
        p, q = self.params_.iloc[0], self.params_.iloc[1]
        frame, design = self._profile_design(profile, unseen=unseen)
        scales = np.broadcast_to(self._spend_scales(design), (len(frame),))
        values = p * scales / (q - 1) if q > 1 else np.full(len(frame), np.inf)
        return pd.Series(values, index=frame.index, name="expected_spend")

    @property
    def population_mean_spend_(self) -> float:
        """Mean spend per transaction across customers, p v / (q - 1) (infinite when q <= 1).

        With covariates, that of the reference profile (reference levels, numeric covariates at 0).
        """
        self._check_fitted()
        p, q, v = self.params_.to_numpy()
        return float(p * v / (q - 1)) if q > 1 else float("inf")


def _check_usable(n_repeat: int, n_usable: int, n_rows: int) -> None:
    """Warn about repeat customers left out for spending 0; refuse a fit without any usable one."""
    if n_usable < n_repeat:
        warnings.warn(
            f"{plural(n_repeat - n_usable, 'repeat customer')} whose mean repeat spend is 0 "
            f"{'was' if n_repeat - n_usable == 1 else 'were'} left out of the Gamma-Gamma fit "
            "(the model describes positive spend)",
            DataWarning,
            stacklevel=4,
        )
    if n_usable == 0 or n_rows == 0:
        raise DataError(
            "no customer has repeat purchases with positive value, so the Gamma-Gamma spend model "
            "cannot be fitted"
        )
