"""sBG: the shifted-beta-geometric model of contract renewals (Fader & Hardie 2007, 2010).

References: P. S. Fader and B. G. S. Hardie, "How to project customer retention",
Journal of Interactive Marketing 21(1), 2007; "Customer-base valuation in a
contractual setting: the perils of ignoring heterogeneity", Marketing Science
29(1), 2010 (DERL).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma

from .._rows import _Cached
from .._validation import check_nonnegative_number
from ..discrete import check_contract_summary, check_whole_number, survivor_summary
from ..exceptions import DataError
from ._base import _compress, _distinct_rows, _row_weights
from ._coefficients import _CoefficientsMixin
from ._discrete import _DiscreteModel, hyp2f1_one


class _ShiftedBetaGeoRows(_Cached):
    """Sum of weighted sBG log-likelihoods over rows (T, churned) and its gradient in (alpha, beta).

    A churned customer contributes P(lifetime = T) = B(alpha + 1, beta + T - 1) / B(alpha, beta),
    one still active S(T) = P(lifetime > T) = B(alpha, beta + T) / B(alpha, beta).
    """

    def __init__(self, T, churned, weights):
        super().__init__()
        T, churned = np.asarray(T, dtype=float), np.asarray(churned, dtype=float) > 0
        self.w = np.asarray(weights, dtype=float)
        # as B(alpha + c, beta + m) with c = 1, m = T - 1 (churned) or c = 0, m = T (active)
        self.c = churned.astype(float)
        self.m = np.where(churned, T - 1, T)

    def _evaluate(self, params):
        a, b = params
        c, m, w = self.c, self.m, self.w
        value = w @ (betaln(a + c, b + m) - betaln(a, b))
        common = digamma(a + b) - digamma(a + b + c + m)
        d_a = w @ (digamma(a + c) - digamma(a) + common)
        d_b = w @ (digamma(b + m) - digamma(b) + common)
        return float(value), np.array([d_a, d_b])


def retention_log_likelihood(params, T, churned, design=None):
    """Per-customer sBG log-likelihood with covariates on retention.

    ``params`` is ``(alpha, beta, gamma_churn_1..k, gamma_retention_1..k)`` and ``design`` the ``(n, k)``
    matrix of encoded covariates ``z_i``: ``alpha_i = alpha exp(gamma_churn' z_i)`` and
    ``beta_i = beta exp(gamma_retention' z_i)`` (as in Fader & Hardie's sBG with the Beta's parameters
    made individual, the usual way of bringing covariates into a beta mixture). A churned customer
    contributes ``B(alpha_i + 1, beta_i + T - 1) / B(alpha_i, beta_i)``, an active one
    ``B(alpha_i, beta_i + T) / B(alpha_i, beta_i)``.
    """
    T = np.asarray(T, dtype=float)
    churned = np.asarray(churned, dtype=float) > 0
    a, b = _individual_shapes(params, design, T.size)
    c = churned.astype(float)
    m = np.where(churned, T - 1, T)
    return betaln(a + c, b + m) - betaln(a, b)


def _individual_shapes(params, design, size: int):
    """``alpha_i`` and ``beta_i`` per customer from ``(alpha, beta, gamma_churn, gamma_retention)``."""
    params = np.asarray(params, dtype=float)
    k = (params.size - 2) // 2
    if design is None or k == 0:
        return np.full(size, params[0]), np.full(size, params[1])
    design = np.asarray(design, dtype=float)
    return params[0] * np.exp(design @ params[2 : 2 + k]), params[1] * np.exp(design @ params[2 + k :])


class _ShiftedBetaGeoCovariateRows(_Cached):
    """Weighted sBG log-likelihood with covariates over rows (T, churned, z) and its gradient in
    (alpha, beta, gamma_churn, gamma_retention); see :func:`retention_log_likelihood`."""

    def __init__(self, T, churned, design, weights):
        super().__init__()
        T, churned = np.asarray(T, dtype=float), np.asarray(churned, dtype=float) > 0
        self.w = np.asarray(weights, dtype=float)
        self.c = churned.astype(float)
        self.m = np.where(churned, T - 1, T)
        self.design = np.asarray(design, dtype=float).reshape(T.size, -1)

    def _evaluate(self, params):
        a, b = _individual_shapes(params, self.design, self.w.size)
        c, m, w = self.c, self.m, self.w
        value = w @ (betaln(a + c, b + m) - betaln(a, b))
        common = digamma(a + b) - digamma(a + b + c + m)
        in_log_a = w * a * (digamma(a + c) - digamma(a) + common)  # d/d log alpha_i, weighted
        in_log_b = w * b * (digamma(b + m) - digamma(b) + common)
        gradient = np.concatenate([[in_log_a.sum() / params[0], in_log_b.sum() / params[1]],
                                   self.design.T @ in_log_a, self.design.T @ in_log_b])
        return float(value), gradient


class ShiftedBetaGeoModel(_CoefficientsMixin, _DiscreteModel):
    """The shifted-beta-geometric model of contract renewals (Fader & Hardie 2007).

    At the end of each contract period a customer fails to renew with
    probability ``theta``, the same every period; across customers
    ``theta ~ Beta(alpha, beta)``. Retention rises with tenure because the
    customers likely to churn leave first.

    It is fitted on a contract summary with one row per customer: ``T``, the
    periods completed, and ``churned``, whether the customer did not renew at
    the end of period ``T`` (see :func:`clv_predict.discrete.check_contract_summary`),
    or on the number of survivors of a cohort at the start of each period
    (:meth:`fit_survivors`).

    Parameters
    ----------
    penalizer_coef : float, default 0
        L2 penalty on the parameters.
    engine : {"native"}
        The optimiser (the model has only this package's own).
    covariates : list of str, optional
        Columns of the summary retention depends on (a plan, a channel, a numeric score). Each
        customer's churn probability is then ``theta ~ Beta(alpha_i, beta_i)`` with
        ``alpha_i = alpha exp(gamma_churn' z_i)`` and ``beta_i = beta exp(gamma_retention' z_i)``,
        ``z_i`` her encoded covariates (a categorical column as indicators of its levels but the
        reference one). The coefficients are in ``params_`` as ``churn:<column>`` (a positive one
        raises the churn probability) and ``retention:<column>`` (a positive one raises retention);
        ``churn:<column>[<level>]`` for a level. The mean churn probability of a profile is
        ``alpha_i / (alpha_i + beta_i)``; at all coefficients 0 the model is the one without covariates.
    covariate_penalizer : float, default 0
        L2 penalty on the covariate coefficients alone.
    covariate_reference : dict, optional
        ``{column: level}``: the reference level of a categorical covariate (default: its most frequent).
    unseen : {"error", "reference"}, default "error"
        What a level not seen in training does at prediction.

    Examples
    --------
    >>> from clv_predict import ShiftedBetaGeoModel
    >>> model = ShiftedBetaGeoModel().fit_survivors([1000, 631, 468, 382, 326, 289, 262, 241])
    >>> model.params_.round(3).to_dict()
    {'alpha': 0.704, 'beta': 1.182}
    >>> (1000 * model.survival_function([8, 9, 10])).round().tolist()
    [220.0, 204.0, 191.0]
    """

    label = "sBG"
    _kind = "ShiftedBetaGeoModel"
    _param_names = ("alpha", "beta")
    _shape_params = ("alpha", "beta")
    _edge_meaning = "the data show (almost) no churn or no spread in churn probabilities across customers."
    _fit_columns = ("T", "churned")
    #: The contract period (pandas alias) of the summary it was fitted on, when the summary stated it.
    period_ = None

    def fit(self, summary: pd.DataFrame, weights=None):
        """Fit by maximum likelihood on a contract summary (``T``, ``churned``).

        ``weights`` (a column name or an array) says how many customers each row
        stands for; the default is one per row. With ``covariates``, the summary
        holds those columns too.
        """
        checked = check_contract_summary(summary)
        if self._check_covariate_settings():
            self._fit_covariates(summary, checked, weights)
        else:
            self._forget_covariates()
            self._fit_rows(summary, checked, weights, events="churned")
        self.period_ = summary.attrs.get("contract_period")
        self.observation_period_end_ = summary.attrs.get("observation_period_end")
        return self

    def _fit_covariates(self, summary, checked, weights):
        """The fit with ``alpha_i = alpha exp(gamma_churn' z_i)``, ``beta_i = beta exp(gamma_retention' z_i)``."""
        self._check_settings()
        row_weights = _row_weights(summary, weights, len(checked))
        if len(checked) == 0:
            raise DataError("the summary has no customers to fit on")
        design = self._learn_covariates(summary, "summary")
        columns = {"T": checked["T"].to_numpy(), "churned": checked["churned"].to_numpy()}
        columns.update({f"z{j}": design[:, j] for j in range(design.shape[1])})
        unique, counts = _compress(columns, row_weights)
        if counts.size == 0:
            raise DataError("the summary has no customers to fit on (every weight is 0)")
        design = np.column_stack([unique[f"z{j}"] for j in range(design.shape[1])])
        data = {
            "columns": unique,
            "design_columns": design.shape[1],
            "weights": counts,
            "n": counts.sum(),
            "rows": _ShiftedBetaGeoCovariateRows(unique["T"], unique["churned"], design, counts),
        }
        scales = self._covariate_encoding.scales
        self._fit_coefficients(data, np.concatenate([scales, scales]))
        self._warn_if_at_edge()
        self.n_customers_ = int(round(data["n"]))
        self.n_repeat_customers_ = int(round(counts[unique["churned"] > 0].sum()))
        self.n_unique_rows_ = int(counts.size)
        self._set_no_training()
        return self

    def _coefficient_names_of(self, design_names):
        return [f"churn:{name}" for name in design_names] + [f"retention:{name}" for name in design_names]

    def _coefficient_loadings(self, patterns: np.ndarray) -> np.ndarray:
        # log alpha(z) = log alpha + z' gamma_churn, log beta(z) = log beta + z' gamma_retention
        width = patterns.shape[1]
        out = np.zeros((patterns.shape[0], self._n_own, 2 * width))
        out[:, 0, :width] = patterns
        out[:, 1, width:] = patterns
        return out

    def _params(self) -> np.ndarray:
        """(alpha, beta): with covariates, those of the reference profile (reference levels, numbers at 0)."""
        return super()._params()[:2]

    def _rows_of(self, data, keep, weights):
        if "design_columns" in data:
            columns = data["columns"]
            design = np.column_stack([columns[f"z{j}"][keep] for j in range(data["design_columns"])])
            return _ShiftedBetaGeoCovariateRows(columns["T"][keep], columns["churned"][keep], design, weights)
        return super()._rows_of(data, keep, weights)

    def _shapes(self, frame=None, *, unseen=None, profile=False):
        """(alpha_i, beta_i) per row of ``frame`` (a summary, or profiles with ``profile=True``); the shared
        (alpha, beta) for a model without covariates (or without ``frame``: the reference profile)."""
        params = self.params_.to_numpy()
        if getattr(self, "_covariate_encoding", None) is None or (frame is None and not profile):
            return params[0], params[1]
        if profile:
            _, design = self._profile_design(frame, unseen=unseen)
        else:
            design = self._design(frame, unseen=unseen, what="summary")
        return _individual_shapes(params, design, design.shape[0])

    def retention_by_profile(self, profile, periods, *, unseen: str | None = None) -> pd.DataFrame:
        """Survival ``S(t)`` of a new customer of each covariate profile, by tenure ``t`` (one column per profile).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(2)
        >>> plan = rng.choice(["monthly", "annual"], 3000)
        >>> churn = rng.beta(np.where(plan == "annual", 0.5, 1.0), 2.0)
        >>> lifetime = rng.geometric(churn)
        >>> summary = pd.DataFrame({"T": np.minimum(lifetime, 8), "churned": lifetime <= 8, "plan": plan})
        >>> model = ShiftedBetaGeoModel(covariates=["plan"]).fit(summary)
        >>> curves = model.retention_by_profile({"plan": ["annual", "monthly"]}, [4])
        >>> bool(curves.iloc[0, 0] > curves.iloc[0, 1])
        True
        """
        self._check_fitted()
        t = _periods(periods, "periods")
        a, b = self._shapes(profile, unseen=unseen, profile=True)
        a, b = np.atleast_1d(a), np.atleast_1d(b)
        values = np.exp(betaln(a[None, :], b[None, :] + t[:, None]) - betaln(a, b)[None, :])
        return pd.DataFrame(values, index=pd.Index(t.astype(np.int64), name="period"))

    def fit_survivors(self, survivors):
        """Fit on a cohort's survivors: ``survivors[t]`` customers still active at the start of period ``t + 1``.

        ``survivors[0]`` is the cohort's size; ``survivors[t - 1] - survivors[t]``
        customers churned at the end of period ``t``; the last number are still active.
        """
        summary = survivor_summary(survivors)
        return self.fit(summary, weights="weights")

    def _make_rows(self, columns, weights):
        return _ShiftedBetaGeoRows(columns["T"], columns["churned"], weights)

    # ------------------------------------------------------------------ predictions
    def survival_function(self, periods) -> pd.Series:
        """S(t) = P(still a customer after ``t`` periods) = B(alpha, beta + t) / B(alpha, beta), by tenure ``t``."""
        t = _periods(periods, "periods")
        a, b = self._params()
        return pd.Series(np.exp(betaln(a, b + t) - betaln(a, b)), index=pd.Index(t.astype(np.int64), name="period"),
                         name="survival")

    def retention_rate(self, periods) -> pd.Series:
        """r(t) = S(t) / S(t - 1) = (beta + t - 1) / (alpha + beta + t - 1): the share of customers active in
        period ``t - 1`` who renew for period ``t`` (``t >= 1``)."""
        t = _periods(periods, "periods", minimum=1)
        a, b = self._params()
        return pd.Series((b + t - 1) / (a + b + t - 1), index=pd.Index(t.astype(np.int64), name="period"),
                         name="retention_rate")

    def expected_lifetime(self) -> float:
        """The mean number of periods a new customer stays, ``(alpha + beta - 1) / (alpha - 1)``.

        Infinite when ``alpha <= 1``: the survival curve then falls so slowly (as
        ``t ** -alpha``) that its sum diverges, though most customers leave early;
        :meth:`median_lifetime` is the figure to quote then.

        Examples
        --------
        >>> round(ShiftedBetaGeoModel.from_params(alpha=3.80, beta=15.20).expected_lifetime(), 3)
        6.429
        >>> ShiftedBetaGeoModel.from_params(alpha=0.704, beta=1.182).expected_lifetime()
        inf
        """
        a, b = self._params()
        return float("inf") if a <= 1 else float((a + b - 1) / (a - 1))

    def median_lifetime(self) -> int:
        """The smallest number of periods ``t`` with S(t) <= 1/2: half of a new cohort has left after it.

        Examples
        --------
        >>> ShiftedBetaGeoModel.from_params(alpha=0.704, beta=1.182).median_lifetime()
        2
        """
        a, b = self._params()
        low, high = 0, 1
        while np.exp(betaln(a, b + high) - betaln(a, b)) > 0.5:
            low, high = high, high * 2
        while high - low > 1:
            middle = (low + high) // 2
            if np.exp(betaln(a, b + middle) - betaln(a, b)) > 0.5:
                low = middle
            else:
                high = middle
        return int(high)

    def expected_residual_lifetime(self, summary: pd.DataFrame, *, discount_rate: float, horizon=None) -> pd.Series:
        """DERL: discounted expected residual lifetime, per customer (Fader & Hardie 2010, eq. 6).

        For a customer active after ``T`` completed periods, the expected number
        of further periods (renewals) he pays for, the one starting now
        undiscounted and the ``k``-th after it discounted by
        ``(1 + discount_rate) ** -k``:
        ``(beta + T) / (alpha + beta + T) * 2F1(1, beta + T + 1; alpha + beta + T + 1; 1 / (1 + d))``.
        Customers who churned have 0. Multiply by the margin per period for the
        residual value. ``horizon`` (whole periods) counts only the next ``horizon``
        renewals; ``discount_rate`` may then be 0 (the expected renewals within it).

        Examples
        --------
        >>> import pandas as pd
        >>> model = ShiftedBetaGeoModel.from_params(alpha=3.80, beta=15.20)
        >>> summary = pd.DataFrame({"T": [0, 1, 2, 3, 4], "churned": False})
        >>> model.expected_residual_lifetime(summary, discount_rate=0.1).round(2).tolist()
        [3.31, 3.45, 3.59, 3.72, 3.84]
        >>> model.expected_residual_lifetime(summary.iloc[:1], discount_rate=0.0, horizon=2).round(3).tolist()
        [1.448]
        """
        horizon = None if horizon is None else check_whole_number(horizon, "horizon")
        discount_rate = check_nonnegative_number(discount_rate, "discount_rate", allow_zero=horizon is not None)
        checked = check_contract_summary(summary)
        T = checked["T"].to_numpy()
        self._check_fitted()
        a, b = self._shapes(summary)  # each customer's own with covariates
        # once per distinct (alpha_i, beta_i, T): a handful of covariate patterns times the tenures
        codes, (ua, ub, uT) = _distinct_rows([np.broadcast_to(a, T.shape), np.broadcast_to(b, T.shape), T])
        values = _residual_lifetime(ua, ub, uT, discount_rate, horizon)[codes]
        values[checked["churned"].to_numpy() > 0] = 0.0
        return pd.Series(values, index=checked.index, name="expected_residual_lifetime")

    def renewal_bounds(self, summary: pd.DataFrame, *, interval: float = 0.9, discount_rate: float, horizon=None,
                       n_draws: int | None = None, seed=0) -> pd.DataFrame:
        """How sure each active subscriber's future is: predictive bounds of her renewals and their discounted
        count, and confidence bounds of DERL.

        Active after ``T`` completed periods, a customer renews ``R`` more times with
        P(R >= k) = B(alpha, beta + T + k) / B(alpha, beta + T) (her churn probability's
        posterior is Beta(alpha, beta + T)); within ``horizon`` renewals the count is
        min(R, horizon); with covariates, alpha and beta are the customer's own. That
        distribution, mixed over the estimates' asymptotic distribution (normal in log alpha,
        log beta and the coefficients, with the fit's covariance) by its 2k + 1 sigma points,
        gives (computed once per distinct covariate pattern and ``T``):

        * ``renewals_lower``, ``renewals_upper`` (predictive): its equal-tailed quantiles,
          whole numbers covering at least ``interval`` (the upper one can be very large
          without a horizon when alpha is small: the lifetime's tail is heavy);
        * ``residual_lower``, ``residual_upper`` (predictive): the discounted renewals at
          those quantiles, ``sum_{k=1..R} (1 + d) ** -(k - 1)``, exact because the discounted
          count grows with R (multiply by the margin per period for the value);
        * ``expected_residual_lifetime_ci_lower``, ``..._ci_upper`` (confidence): DERL with
          the parameter uncertainty only, log-normal with the mean and variance of log DERL
          over the sigma points (or over ``n_draws`` sampled parameter vectors).

        Churned customers have 0 throughout. A model built with ``from_params`` has no
        covariance: a ``ModelWarning`` says so, the predictive bounds leave the parameter
        uncertainty out and the confidence bounds are NaN.

        Examples
        --------
        >>> import pandas as pd
        >>> model = ShiftedBetaGeoModel().fit_survivors([1000, 631, 468, 382, 326, 289, 262, 241])
        >>> summary = pd.DataFrame({"T": [0, 7, 3], "churned": [False, False, True]})
        >>> bounds = model.renewal_bounds(summary, interval=0.8, discount_rate=0.1, horizon=24)
        >>> bounds[["renewals_lower", "renewals_upper"]].values.tolist()
        [[0, 24], [1, 24], [0, 0]]
        >>> bounds["expected_residual_lifetime_ci_lower"].round(2).tolist()
        [2.72, 6.24, 0.0]
        """
        from . import _intervals

        interval = _intervals.check_interval(interval)
        if interval is None:
            raise DataError("'interval' must be a number between 0 and 1 (such as 0.9); got None")
        n_draws = _intervals.check_draws(n_draws)
        horizon = None if horizon is None else check_whole_number(horizon, "horizon")
        discount_rate = check_nonnegative_number(discount_rate, "discount_rate", allow_zero=horizon is not None)
        checked = check_contract_summary(summary)
        self._check_fitted()
        active = checked["churned"].to_numpy() == 0
        T = checked["T"].to_numpy()[active]
        # the distinct (covariate pattern, T) rows of the active customers
        design = self._design(summary.loc[active], what="summary") if self._has_encoding() else None
        columns = [T] if design is None else [*design.T, T]
        codes, uniques = _distinct_rows(columns) if T.size else (np.zeros(0, dtype=np.int64), [np.zeros(0)] * 2)
        tenure = uniques[-1]
        distinct_design = None if design is None else np.column_stack(uniques[:-1])
        points, weights = self._parameter_points(None)
        alpha = (1.0 - interval) / 2
        out = np.zeros((len(checked), 6))
        if tenure.size:
            a, b = self._point_shapes(points, distinct_design, tenure.size)  # (rows, points)
            lower = _mixture_quantile(a, b, weights, tenure, 1.0 - alpha, horizon)
            upper = _mixture_quantile(a, b, weights, tenure, alpha, horizon)
            if n_draws is not None and len(weights) > 1:
                drawn, _ = self._parameter_points(n_draws, seed=seed)
                a, b = self._point_shapes(drawn, distinct_design, tenure.size)
                weights = None
            if a.shape[1] > 1:
                # every point's DERL on every row in one call (the series runs once per distinct pair)
                derl = _residual_lifetime(a.T.ravel(), b.T.ravel(), np.tile(tenure, a.shape[1]), discount_rate,
                                          horizon).reshape(a.shape[1], tenure.size)
                ci = _intervals._log_normal(*_intervals._log_moments(derl, weights), alpha)
            else:
                ci = np.full((2, tenure.size), np.nan)
            values = [lower, upper, _discounted_count(lower, discount_rate), _discounted_count(upper, discount_rate),
                      ci[0], ci[1]]
            out[active] = np.column_stack(values)[codes]
        frame = pd.DataFrame(out, index=checked.index, columns=[
            "renewals_lower", "renewals_upper", "residual_lower", "residual_upper",
            "expected_residual_lifetime_ci_lower", "expected_residual_lifetime_ci_upper"])
        frame = frame.astype({"renewals_lower": np.int64, "renewals_upper": np.int64})
        frame.attrs.update({"interval": interval, "horizon": horizon, "discount_rate": discount_rate,
                            "n_draws": n_draws})
        return frame

    def _has_encoding(self) -> bool:
        return getattr(self, "_covariate_encoding", None) is not None

    def _parameter_points(self, n_draws: int | None, *, seed=None) -> tuple[np.ndarray, np.ndarray]:
        """The estimates' asymptotic distribution, normal in (log alpha, log beta, coefficients) with the fit's
        covariance (the delta method for the logs): its 2k + 1 sigma points and their weights (as
        :func:`~._intervals.sigma_point_models` takes them), or ``n_draws`` draws (weights None), as rows of
        parameter vectors in natural units. Without a known covariance (``from_params``, a Hessian that was not
        positive definite): the estimate alone, with a ``ModelWarning`` that the bounds leave the parameter
        uncertainty out."""
        import warnings

        from ..exceptions import ModelWarning

        estimate = self.params_.to_numpy(dtype=float)
        covariance = self.covariance_.to_numpy(dtype=float)
        given = getattr(self, "convergence_", {}).get("engine") == "given"
        if given or not np.all(np.isfinite(covariance)):
            if n_draws is None:
                warnings.warn(
                    f"{type(self).__name__}: the covariance of the estimates is unknown ("
                    + ("built from known parameters" if given else "the Hessian was not positive definite")
                    + "). The predictive bounds leave the parameter uncertainty out and the confidence bounds "
                    "are NaN.", ModelWarning, stacklevel=4,
                )
            return estimate[None, :], np.ones(1)
        k, own = estimate.size, 2
        scale = np.ones(k)
        scale[:own] = estimate[:own]
        transformed = covariance / np.outer(scale, scale)
        values, vectors = np.linalg.eigh((transformed + transformed.T) / 2)
        root = vectors * np.sqrt(np.clip(values, 0.0, None))
        centre = estimate.copy()
        centre[:own] = np.log(estimate[:own])
        if n_draws is not None:
            points = centre + np.random.default_rng(seed).standard_normal((n_draws, k)) @ root.T
            weights = None
        else:
            steps = np.sqrt(k + 1.0) * root.T  # row i: the i-th column of the root
            points = np.vstack([centre, centre + steps, centre - steps])
            weights = np.concatenate([[1.0 / (k + 1)], np.full(2 * k, 1.0 / (2 * (k + 1)))])
        points[:, :own] = np.exp(points[:, :own])
        return points, weights

    @staticmethod
    def _point_shapes(points: np.ndarray, design, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """(alpha_i, beta_i) of each row (its covariate pattern in ``design``, natural units) at each parameter
        vector of ``points``: two (rows, points) arrays."""
        shapes = [_individual_shapes(point, design, rows) for point in points]
        return np.column_stack([a for a, _ in shapes]), np.column_stack([b for _, b in shapes])

    # ------------------------------------------------------------------ simulation
    def simulate(self, n_customers: int, n_periods: int, *, seed=None) -> pd.DataFrame:
        """Draw contract summaries of ``n_customers`` acquired together and observed for ``n_periods`` periods.

        Examples
        --------
        >>> ShiftedBetaGeoModel.from_params(alpha=0.704, beta=1.182).simulate(3, 7, seed=1).columns.tolist()
        ['T', 'churned']
        """
        a, b = self._params()
        size = check_whole_number(n_customers, "n_customers", minimum=1)
        n = check_whole_number(n_periods, "n_periods")
        rng = np.random.default_rng(seed)
        lifetime = rng.geometric(np.maximum(rng.beta(a, b, size), 1e-300))
        churned = lifetime <= n
        return pd.DataFrame(
            {"T": np.minimum(lifetime, n).astype(np.int64), "churned": churned},
            index=pd.RangeIndex(size, name="customer_id"),
        )


def _residual_lifetime(a, b, T, discount_rate: float, horizon) -> np.ndarray:
    """sum_{k >= 1} P(R >= k) v^(k - 1), v = 1 / (1 + d), P(R >= k) = B(a, b + T + k) / B(a, b + T); up to k =
    ``horizon`` if it is given: the infinite sum (2F1) less v^h P(R >= h) times the same sum from T + h, or (d = 0)
    the direct sum."""
    T = np.asarray(T, dtype=float)
    a, b = np.broadcast_to(a, T.shape).astype(float), np.broadcast_to(b, T.shape).astype(float)
    if horizon is not None and discount_rate == 0:
        total = np.zeros(T.shape)
        for first in range(1, horizon + 1, 1024):
            k = np.arange(first, min(first + 1024, horizon + 1), dtype=float)
            total += np.exp(betaln(a[:, None], b[:, None] + T[:, None] + k[None, :])
                            - betaln(a, b + T)[:, None]).sum(axis=1)
        return total
    z = 1.0 / (1.0 + discount_rate)

    def from_tenure(tenure):
        return (b + tenure) / (a + b + tenure) * hyp2f1_one(b + tenure + 1, a + b + tenure + 1, z)

    total = from_tenure(T)
    if horizon is not None:
        stay = np.exp(betaln(a, b + T + horizon) - betaln(a, b + T))
        total = total - z ** float(horizon) * stay * from_tenure(T + horizon)
    return np.maximum(total, 0.0)


def _discounted_count(renewals: np.ndarray, discount_rate: float) -> np.ndarray:
    """sum_{k=1..R} (1 + d)^-(k - 1): what R renewals are worth per unit of margin, the first undiscounted."""
    renewals = np.asarray(renewals, dtype=float)
    if discount_rate == 0:
        return renewals
    z = 1.0 / (1.0 + discount_rate)
    return -np.expm1(renewals * np.log(z)) / (1.0 - z)


#: The largest count of renewals the quantile search goes to (the lifetime's tail can be heavier than any horizon).
_MOST_RENEWALS = 2.0**52


def _mixture_quantile(a, b, weights, tenure, level: float, horizon) -> np.ndarray:
    """The smallest whole m with P(R >= m + 1) <= ``level`` for the customers of each row (active at ``tenure``),
    R mixed over the parameter points (columns of the (rows, points) shapes ``a``, ``b``) with ``weights``
    (min(R, horizon) with a horizon, which is at most it): doubling, then bisection on the closed-form survival,
    which falls with m. Without a horizon the search stops at ``_MOST_RENEWALS`` (a heavier tail returns it)."""
    tenure = np.asarray(tenure, dtype=float)
    cap = _MOST_RENEWALS if horizon is None else float(horizon)

    def above(m, rows):  # P(R >= m + 1) > level, for the mixture; 0 beyond the horizon
        T = tenure[rows][:, None]
        ra, rb = a[rows], b[rows]
        survival = np.exp(betaln(ra, rb + T + m[:, None] + 1.0) - betaln(ra, rb + T)) @ weights
        return (survival > level) & (m < cap)

    rows = np.arange(tenure.size)
    low = np.full(tenure.size, -1.0)  # P(R >= low + 1) = 1 > level
    high = np.minimum(np.ones(tenure.size), cap)
    while True:
        grow = rows[above(high[rows], rows)]
        if not grow.size:
            break
        low[grow] = high[grow]
        high[grow] = np.minimum(high[grow] * 2.0, cap)
        rows = grow
    rows = np.arange(tenure.size)
    while True:
        gap = rows[high - low > 1]
        if not gap.size:
            break
        middle = np.floor((low[gap] + high[gap]) / 2.0)
        up = above(middle, gap)
        low[gap[up]] = middle[up]
        high[gap[~up]] = middle[~up]
    return high.astype(np.int64)


def _periods(periods, name: str, *, minimum: int = 0) -> np.ndarray:
    values = np.atleast_1d(np.asarray(periods, dtype=float)).ravel()
    if not np.all(np.isfinite(values)) or (values < minimum).any() or (np.floor(values) != values).any():
        raise DataError(f"{name!r} must hold whole numbers >= {minimum}; got {periods!r}")
    return values
