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

from .._validation import check_nonnegative_number, numeric_column
from ..discrete import check_opportunity_summary, check_whole_number
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


class OpportunityModel(_DiscreteModel):
    """The protocol every model of purchasing at discrete opportunities answers to, and what they share.

    Such a model (BG/BB, :mod:`.beta_geo_beta_binom`) is one module with a
    subclass of this class that declares ``name``, ``label``, its parameters,
    ``_make_rows`` (the weighted log-likelihood over compressed rows of
    ``frequency``, ``recency``, ``T``) and its maths on numpy arrays, horizons
    counted in opportunities:

    * ``_probability_alive_values(params, x, t_x, n)``: P(alive at the next opportunity);
    * ``_expected_values(params, x, t_x, n, horizon)``: expected purchases at the
      next ``horizon`` opportunities;
    * ``_discounted_values(params, x, t_x, n, horizon, discount_rate)``: the same
      with the purchase at opportunity ``n + k`` discounted by
      ``(1 + discount_rate) ** -k``; ``horizon`` may be ``inf`` (DERT);
    * ``expected_purchases_new_customer(n)``, ``probability_of_n_purchases(n, x)``
      and ``simulate(n_customers, n_opportunities)``;
    * for the bounds of :meth:`predict` and ``CLVModel.predict(..., interval=)``
      (the same hooks as the continuous models', read by
      :class:`~._intervals.PurchaseBounds`): ``_survival_if_alive_values(params,
      x, t_x, n, horizon, counts)``, P(X >= count | alive at the next
      opportunity) of the purchases at the next ``horizon`` opportunities,
      ``_expected_if_alive_values(params, x, t_x, n, horizon)``, their mean, and
      ``_if_alive_columns``, the summary columns those depend on. A model
      without them answers the point forecasts and refuses ``interval``.

    The rest (fitting, the checks of a summary and of its opportunity period,
    the public forecasts) is here, and it answers the private methods
    :class:`~clv_predict.CLVModel`, :func:`~clv_predict.evaluate`,
    :func:`~clv_predict.compare_models` and :func:`~clv_predict.score_file` call on
    a :class:`~._base.PurchaseModel`, so that they take either. Registering the
    module in :data:`clv_predict.models.OPPORTUNITY_MODELS` makes it available by
    name (``CLVModel(purchase_model="bg_bb")``, ``clv-predict fit --model bg_bb``).

    A fitted model records ``period_``, the pandas period alias of one
    opportunity (``"Y"`` for a yearly appeal), from the summary's
    ``attrs["opportunity_period"]`` (None when the summary does not say, as for
    the donations data), and refuses a summary in another period.
    """

    name = ""
    #: What the model's horizons count, for tables and sentences.
    unit_name = "opportunities"
    family = "purchases at discrete opportunities"
    _fit_columns = ("frequency", "recency", "T")
    _column_hints: dict = {}
    _extra_param_names: tuple[str, ...] = ()
    #: The pandas period alias of one opportunity, when the training summary stated it (set by ``fit``).
    period_ = None

    # ------------------------------------------------------------------ the maths each model declares
    def _probability_alive_values(self, params, x, t_x, n) -> np.ndarray:
        raise NotImplementedError

    def _expected_values(self, params, x, t_x, n, horizon) -> np.ndarray:
        raise NotImplementedError

    def _discounted_values(self, params, x, t_x, n, horizon, discount_rate: float) -> np.ndarray:
        raise NotImplementedError

    # ------------------------------------------------------------------ fitting
    def _checked(self, summary, *, need_monetary: bool = False) -> pd.DataFrame:
        """The summary's ``frequency``, ``recency``, ``T`` checked (+ ``monetary_value``), as floats."""
        checked = check_opportunity_summary(summary)
        if need_monetary:
            spend = numeric_column(
                summary, "monetary_value", what="summary",
                missing="summary has no column 'monetary_value' (mean spend per opportunity with a purchase after "
                        "the first), which CLV needs: build it with opportunity_summary from a log with amounts",
            )
            if (spend < 0).any():
                raise DataError("summary column 'monetary_value' must hold amounts >= 0")
            checked["monetary_value"] = spend
        return checked

    def fit(self, summary: pd.DataFrame, weights=None):
        """Fit by maximum likelihood on a discrete-opportunity summary (``frequency``, ``recency``, ``T``).

        ``weights`` (a column name or an array) says how many customers each row
        stands for, to fit on a compressed summary; the default is one per row.
        """
        self._check_settings()
        return self._fit(summary, self._checked(summary), None, weights)

    def _fit(self, summary, checked, time_unit, weights):
        """``fit`` on checked columns (``CLVModel`` checks the table once for both of its models)."""
        if time_unit is not None:
            raise DataError(
                f"{type(self).__name__} counts opportunities, not time: give no time_unit (got {time_unit!r}); "
                "the summary's opportunity period is recorded instead"
            )
        self._fit_rows(summary, checked, weights, events="frequency")
        self.period_ = summary.attrs.get("opportunity_period")
        self.observation_period_end_ = summary.attrs.get("observation_period_end")
        return self

    def _set_no_training(self) -> None:
        super()._set_no_training()
        self.period_ = None

    # ------------------------------------------------------------------ predictions
    def _rfm_arrays(self, summary, *, need_monetary: bool = False):
        """Checked columns and the arrays x, t_x, n; a summary in another opportunity period is refused."""
        self._check_fitted()
        stated = summary.attrs.get("opportunity_period") if isinstance(summary, pd.DataFrame) else None
        if stated is not None and self.period_ is not None and stated != self.period_:
            raise DataError(
                f"the summary counts opportunities of period {stated!r} but the model was fitted on period "
                f"{self.period_!r}; rebuild it with opportunity_summary(log, period={self.period_!r})"
            )
        checked = self._checked(summary, need_monetary=need_monetary)
        return checked, checked["frequency"].to_numpy(), checked["recency"].to_numpy(), checked["T"].to_numpy()

    def _forecast(self, x, t_x, n, horizon, discount_rate: float, *, p_alive=None, params=None):
        """Expected purchases at the next ``horizon`` opportunities and their discounted count, per customer."""
        params = self._params() if params is None else params
        expected = self._expected_values(params, x, t_x, n, horizon)
        if discount_rate == 0:
            return expected, expected
        return expected, self._discounted_values(params, x, t_x, n, horizon, discount_rate)

    def predict(self, summary: pd.DataFrame, *, horizon, interval: float | None = None, n_draws: int | None = None,
                seed=0) -> pd.DataFrame:
        """Each customer's expected purchases at the next ``horizon`` opportunities and P(alive at the next one),
        with bounds.

        Parameters
        ----------
        summary : DataFrame
            Discrete-opportunity summary (``frequency``, ``recency``, ``T``).
        horizon : int
            Opportunities ahead.
        interval : float, optional
            With a level such as 0.9, adds the bounds the continuous models give (see
            :meth:`clv_predict.models.BetaGeoModel.predict`): ``purchases_lower`` /
            ``purchases_upper`` (predictive: quantiles of the customer's purchases at the
            next ``horizon`` opportunities, their exact conditional distribution mixed over
            the estimates' sigma points; whole numbers, covering at least the level) and
            ``purchases_ci_lower`` / ``purchases_ci_upper`` (confidence: the expected
            purchases alone, parameter uncertainty only, log-normal by the unscented transform).
        n_draws : int, optional
            Take the confidence bounds over this many sampled parameter vectors instead.
        seed : int or None, default 0
            Seed of the parameter draws.

        Examples
        --------
        >>> import pandas as pd
        >>> from clv_predict import BetaGeoBetaBinomModel
        >>> truth = BetaGeoBetaBinomModel.from_params(alpha=1.2, beta=0.75, gamma=0.66, delta=2.8)
        >>> model = BetaGeoBetaBinomModel().fit(truth.simulate(5000, 6, seed=1))
        >>> summary = pd.DataFrame({"frequency": [0, 6], "recency": [0, 6], "T": [6, 6]})
        >>> model.predict(summary, horizon=5, interval=0.9)[["purchases_lower", "purchases_upper"]].values.tolist()
        [[0, 0], [0, 5]]
        """
        from . import _intervals

        horizon = check_whole_number(horizon, "horizon")
        checked, x, t_x, n = self._rfm_arrays(summary)
        params = self._params()
        p_alive = self._probability_alive_values(params, x, t_x, n)
        frame = pd.DataFrame({"expected_purchases": self._expected_values(params, x, t_x, n, horizon),
                              "p_alive": p_alive}, index=checked.index)
        frame.index.name = "customer_id"
        frame.attrs.update({"opportunity_period": self.period_, "horizon": horizon})
        _intervals.add_purchase_bounds(frame, self, summary, x, t_x, n, horizon, interval, n_draws, seed,
                                       forecast=(p_alive, frame["expected_purchases"].to_numpy(),
                                                 frame["expected_purchases"].to_numpy()))
        return frame

    def probability_alive(self, summary: pd.DataFrame) -> pd.Series:
        """P(alive at the next opportunity), per customer."""
        checked, x, t_x, n = self._rfm_arrays(summary)
        return pd.Series(self._probability_alive_values(self._params(), x, t_x, n), index=checked.index,
                         name="p_alive")

    def expected_purchases(self, summary: pd.DataFrame, t) -> pd.Series:
        """Expected number of purchases at the next ``t`` opportunities, per customer."""
        t = check_whole_number(t, "t")
        checked, x, t_x, n = self._rfm_arrays(summary)
        return pd.Series(self._expected_values(self._params(), x, t_x, n, t), index=checked.index,
                         name="expected_purchases")

    def expected_residual_purchases(self, summary: pd.DataFrame, *, discount_rate: float, horizon=None) -> pd.Series:
        """DERT: discounted expected residual transactions, per customer.

        The purchases at all future opportunities (or the next ``horizon``), the
        one at ``T + k`` discounted by ``(1 + discount_rate) ** -k``;
        ``discount_rate`` (> 0) is per opportunity.
        """
        discount_rate = check_nonnegative_number(discount_rate, "discount_rate", allow_zero=False)
        last = np.inf if horizon is None else check_whole_number(horizon, "horizon")
        checked, x, t_x, n = self._rfm_arrays(summary)
        values = self._discounted_values(self._params(), x, t_x, n, last, discount_rate)
        return pd.Series(values, index=checked.index, name="expected_residual_purchases")

    # ------------------------------------------------------------------ from a log
    def _summary_of_arrays(self, ids, days, amounts, end_day: int, policy_counts=None) -> pd.DataFrame:
        """The opportunity summary of transactions given as day numbers (what batch scoring holds per chunk)."""
        from ..discrete import _end_period, _opportunity_frame, _period_numbers, _stamp

        if self.period_ is None:
            raise DataError(
                f"this {self.label} model was fitted on a summary that does not state its opportunity period, "
                "so it cannot summarise transactions itself: score an opportunity summary instead "
                "(input_kind='rfm'), or fit on opportunity_summary(log, period=...)"
            )
        end = pd.Timestamp(np.datetime64(int(end_day), "D"))
        end_period = _end_period(end, self.period_)
        dates = np.asarray(days, dtype="int64").astype("datetime64[D]")
        number = _period_numbers(dates, self.period_, end_period)
        summary = _opportunity_frame(np.asarray(ids), number, None if amounts is None else np.asarray(amounts))
        return _stamp(summary, self.period_, end_period)

    def _holdout_split(self, log, train_period_end, test_period_end) -> pd.DataFrame:
        """A calibration/holdout split of ``log`` in this model's opportunities (for ``evaluate``)."""
        from ..discrete import opportunity_train_test_split

        if self.period_ is None:
            raise DataError(f"this {self.label} model does not know its opportunity period: give a split made "
                            "with opportunity_train_test_split")
        return opportunity_train_test_split(log, period=self.period_, train_period_end=train_period_end,
                                            test_period_end=test_period_end)


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
