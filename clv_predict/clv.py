"""Customer lifetime value: a purchase model's purchases x Gamma-Gamma spend, discounted per time unit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from ._validation import check_discount_rate, check_horizon, check_margin, plural
from .exceptions import DataError, NotFittedError
from .models import GammaGammaModel, PurchaseModel, is_purchase_model, purchase_model
from .models._base import _distinct_rows

PREDICTION_COLUMNS = ("expected_purchases", "p_alive", "expected_spend", "clv")

# From this many customers on, CLVModel.fit prepares the Gamma-Gamma rows in a thread while the purchases fit.
_PARALLEL_ROWS = 1_000_000

class CLVModel:
    """A purchase model and Gamma-Gamma fitted together on one RFM summary, predicting CLV.

    Parameters
    ----------
    purchase_model : str or PurchaseModel, default "bg_nbd"
        The model of purchasing and dropout: a name of
        :data:`clv_predict.models.PURCHASE_MODELS` (``"bg_nbd"``,
        ``"pareto_nbd"``, ``"mbg_nbd"``, ``"bg_cnbd_k"``, ``"mbg_cnbd_k"``) or an
        unfitted model instance, whose own settings are then used. A model of
        purchasing at discrete opportunities (``"bg_bb"``, of
        :data:`clv_predict.models.OPPORTUNITY_MODELS`) is fitted on an
        opportunity summary with ``monetary_value``
        (:func:`clv_predict.discrete.opportunity_summary`); its horizons and
        discount rate are then per opportunity, and ``p_alive`` is the
        probability of being alive at the next one.
    penalizer_coef : float, default 0
        L2 penalty of the purchase model's fit (when given by name).
    spend_penalizer_coef : float, default 0
        L2 penalty of the Gamma-Gamma fit.
    engine : {"native", "lifetimes"}, default "native"
        Optimiser used for both fits (see :class:`BetaGeoModel`): the
        package's own, or lifetimes' fitters (the reference; slow at millions
        of customers).
    purchase_covariates, dropout_covariates : list of str, optional
        Columns of the RFM table that act on the purchase rate and on dropout of the purchase model
        (BG/NBD, MBG/NBD, Pareto/NBD; see :mod:`clv_predict.models._covariates` for the links). Categorical
        columns are encoded against a reference level, numeric ones used as given.
    constrain : list of str, optional
        Covariates (in both lists) with one coefficient for both processes.
    covariate_penalizer : float, default 0
        L2 penalty on the covariate coefficients alone.
    covariate_reference : dict, optional
        ``{column: level}``: reference levels (default: each column's most frequent level).
    unseen : {"error", "reference"}, default "error"
        What a covariate level not seen in training does at prediction.
    spend_covariates : list of str, optional
        Columns of the RFM table the Gamma-Gamma spend scale depends on
        (``GammaGammaModel(covariates=...)``): coefficients ``spend:<column>``,
        a positive one raising expected spend per purchase. ``covariate_penalizer``,
        ``covariate_reference`` and ``unseen`` apply to them too.

    Examples
    --------
    >>> from clv_predict import rfm_summary
    >>> from clv_predict.datasets import load_cdnow
    >>> log = load_cdnow()
    >>> rfm = rfm_summary(log[log["date"] <= "1997-09-30"], customer_id_col="customer_id",
    ...                   datetime_col="date", monetary_value_col="amount",
    ...                   observation_period_end="1997-09-30", time_unit="W")
    >>> model = CLVModel().fit(rfm)
    >>> forecast = model.predict(rfm, horizon=52, discount_rate=0.002, margin=0.3)
    >>> list(forecast.columns)
    ['expected_purchases', 'p_alive', 'expected_spend', 'clv']
    >>> round(float(forecast.loc[1, "expected_purchases"]), 3)
    1.559
    """

    _kind = "CLVModel"

    def __init__(
        self,
        penalizer_coef: float = 0.0,
        spend_penalizer_coef: float = 0.0,
        engine: str = "native",
        purchase_model="bg_nbd",
        *,
        purchase_covariates=None,
        dropout_covariates=None,
        constrain=None,
        covariate_penalizer: float = 0.0,
        covariate_reference: dict | None = None,
        unseen: str = "error",
        spend_covariates=None,
    ):
        self.penalizer_coef = penalizer_coef
        self.spend_penalizer_coef = spend_penalizer_coef
        self.engine = engine
        self.purchase_model = purchase_model
        self.spend_covariates = spend_covariates
        self.purchase_covariates = purchase_covariates
        self.dropout_covariates = dropout_covariates
        self.constrain = constrain
        self.covariate_penalizer = covariate_penalizer
        self.covariate_reference = covariate_reference
        self.unseen = unseen

    _COVARIATE_SETTINGS = (
        "purchase_covariates", "dropout_covariates", "constrain", "covariate_penalizer", "covariate_reference", "unseen"
    )

    def _new_purchase_model(self) -> PurchaseModel:
        """An unfitted copy of the chosen purchase model (an instance given by the user is never fitted in place)."""
        covariates = {name: getattr(self, name) for name in self._COVARIATE_SETTINGS}
        if is_purchase_model(self.purchase_model):
            chosen = self.purchase_model
            if self.purchase_covariates or self.dropout_covariates:
                raise DataError(
                    "give the covariates either to CLVModel or to the purchase model instance, not to both"
                )
            return type(chosen)(**chosen._settings())
        model = purchase_model(self.purchase_model)
        model.penalizer_coef, model.engine = self.penalizer_coef, self.engine
        if self.purchase_covariates or self.dropout_covariates:
            for name, value in covariates.items():
                setattr(model, name, value)
            model.covariate_reference = self._reference_for([self.purchase_covariates, self.dropout_covariates])
        return model

    def _reference_for(self, lists) -> dict | None:
        """The reference levels of ``covariate_reference`` among the columns of ``lists`` (each a name or names);
        a column that no covariate list of the model names is an error."""
        reference = self.covariate_reference
        if not isinstance(reference, dict):
            return reference  # None, or a wrong type the model's own check names

        def named(given) -> list:
            return [given] if isinstance(given, str) else list(given or [])

        every = {c for given in (self.purchase_covariates, self.dropout_covariates, self.spend_covariates)
                 for c in named(given)}
        unknown = sorted(str(column) for column in reference if column not in every)
        if unknown:
            raise DataError(f"'covariate_reference' names {', '.join(map(repr, unknown))}, which is not a covariate")
        wanted = {c for given in lists for c in named(given)}
        return {column: level for column, level in reference.items() if column in wanted} or None

    def _new_spend_model(self) -> GammaGammaModel:
        """An unfitted Gamma-Gamma model with the spend covariates and the shared covariate settings."""
        if not self.spend_covariates:
            return GammaGammaModel(self.spend_penalizer_coef, engine=self.engine)
        reference = self._reference_for([self.spend_covariates])
        return GammaGammaModel(
            self.spend_penalizer_coef, engine=self.engine, covariates=self.spend_covariates,
            covariate_penalizer=self.covariate_penalizer, covariate_reference=reference, unseen=self.unseen,
        )

    def fit(self, rfm: pd.DataFrame, *, time_unit: str | None = None) -> CLVModel:
        """Fit the purchase model on every customer and Gamma-Gamma on the repeat customers of ``rfm``."""
        purchases = self._new_purchase_model()
        spend = self._new_spend_model()
        purchases._check_settings()
        checked = purchases._checked(rfm, need_monetary=True)  # once, for both models
        spend._check_settings()
        if len(checked) < _PARALLEL_ROWS or spend._check_covariate_settings():
            self.purchase_model_ = purchases._fit(rfm, checked, time_unit, None)
            self.spend_model_ = spend._fit(rfm, checked, time_unit, None)
        else:
            # millions of customers: the spend model's rows are compressed in a thread while the purchases fit
            # (both are long passes of numpy and pandas, which release the GIL)
            with ThreadPoolExecutor(max_workers=1) as pool:  # leaving the block waits for the thread
                prepared = pool.submit(GammaGammaModel._prepare, checked, None)
                self.purchase_model_ = purchases._fit(rfm, checked, time_unit, None)
            prepared = prepared.result()
            self.spend_model_ = spend._fit(rfm, checked, time_unit, None, prepared=prepared)
        self._take_training_figures()
        return self

    def _take_training_figures(self) -> None:
        """The training period and customer counts are the purchase model's (it saw every customer)."""
        purchases = self.purchase_model_
        self.time_unit_ = purchases.time_unit_
        self.observation_period_end_ = purchases.observation_period_end_
        self.n_customers_ = purchases.n_customers_
        self.n_repeat_customers_ = purchases.n_repeat_customers_
        self.training_period_ = purchases.training_period_

    def _check_fitted(self) -> None:
        if not hasattr(self, "purchase_model_"):
            raise NotFittedError("this CLVModel is not fitted yet: call fit(rfm) first")

    @property
    def params_(self) -> pd.Series:
        """All parameters: the purchase model's (r, alpha, a, b for BG/NBD) then p, q, v (Gamma-Gamma)."""
        self._check_fitted()
        return pd.concat([self.purchase_model_.params_, self.spend_model_.params_])

    @property
    def covariate_columns_(self) -> list[str]:
        """The customer columns the fitted model reads (purchase, dropout and spend covariates), in order."""
        self._check_fitted()
        encodings = [getattr(part, "covariate_encoding_", None) for part in (self.purchase_model_, self.spend_model_)]
        return list(dict.fromkeys(column for encoding in encodings if encoding is not None for column in encoding.columns))

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        """Both models' parameter tables, one row per parameter, with a ``model`` column."""
        self._check_fitted()
        tables = [
            self.purchase_model_.summary(alpha).assign(model=self.purchase_model_.label),
            self.spend_model_.summary(alpha).assign(model="Gamma-Gamma"),
        ]
        table = pd.concat(tables)[["model", "estimate", "standard_error", "lower", "upper"]]
        table.attrs["alpha"] = alpha
        return table

    def predict(
        self, rfm: pd.DataFrame, *, horizon, discount_rate: float = 0.0, margin: float = 1.0,
        interval: float | None = None, n_draws: int | None = None, seed=0,
    ) -> pd.DataFrame:
        """Forecast each customer's next ``horizon`` time units.

        Parameters
        ----------
        rfm : DataFrame
            RFM summary with ``monetary_value``, in the model's time unit.
        horizon : int
            Whole number of time units (the unit the model was fitted in).
        discount_rate : float, default 0
            Discount rate per time unit (weekly if fitted in weeks, ...).
        margin : float, default 1
            Profit margin applied to spend.
        interval : float, optional
            With a level such as 0.9, adds equal-tailed bounds of two kinds (see
            "How sure is each forecast" in the README):

            * predictive, the customer's actual purchases and value in the horizon:
              ``purchases_lower``, ``purchases_upper`` (quantiles of the conditional
              distribution of her purchases mixed over parameter draws: exact, whole
              numbers, covering at least the level), ``clv_lower``, ``clv_upper``
              (her spend given her history under Gamma-Gamma added to that count by
              moment matching: value 0 with the probability of no purchase, else a
              Gamma with the exact mean and variance; each purchase discounted by its
              expected factor; Gamma-Gamma's parameter uncertainty left out);
            * confidence, the expected value alone with the parameter uncertainty only:
              ``purchases_ci_lower``, ``purchases_ci_upper``, ``clv_ci_lower``,
              ``clv_ci_upper``, log-normal with the mean and variance of the log
              forecast over the estimates' sigma points (the unscented transform,
              second order; the purchase and spend fits independent, so their log
              variances add; each parameter vector's discounting is the estimate's
              factor, discounted over undiscounted).

            The purchase count mixes over the same sigma points, so the bounds cost
            2k + 1 evaluations of the model per distinct row. With covariates (purchase,
            dropout or spend), each customer's bounds use her parameters and their
            uncertainty, coefficients included, once per joint covariate pattern.
        n_draws : int, optional
            Take the confidence bounds' log mean and variance over this many sampled
            parameter vectors (``parameter_draws``) instead of the sigma points.
        seed : int or None, default 0
            Seed of the parameter draws (with ``n_draws``).

        Returns
        -------
        DataFrame
            Indexed by ``customer_id``: ``expected_purchases`` in the horizon,
            ``p_alive`` now, ``expected_spend`` per purchase and
            ``clv = margin * expected_spend * sum_k (E[X(k)] - E[X(k-1)]) / (1 + discount_rate)^k``,
            then the bounds if ``interval`` is given.
        """
        self._check_fitted()
        horizon = check_horizon(horizon)
        discount_rate = check_discount_rate(discount_rate, self.time_unit_)
        margin = check_margin(margin)
        purchases = self.purchase_model_
        if isinstance(rfm, pd.DataFrame) and "monetary_value" not in rfm.columns:
            raise DataError("rfm has no column 'monetary_value', which CLV needs; build it with monetary_value_col")
        # one validation of the table serves both models
        checked, x, t_x, T = purchases._rfm_arrays(rfm, need_monetary=True)
        # each customer's, from her covariates, if the model has any
        params = purchases._customer_params(rfm, unseen=self.unseen)
        p_alive = purchases._probability_alive_values_of(params, x, t_x, T)
        expected_purchases, discounted = purchases._forecast(
            x, t_x, T, horizon, discount_rate, p_alive=p_alive, params=params
        )
        self.spend_model_._check_fitted()
        spend = self.spend_model_._expected_spend_values(x, checked["monetary_value"].to_numpy(), rfm=rfm)
        frame = pd.DataFrame(
            {
                "expected_purchases": expected_purchases,
                "p_alive": p_alive,
                "expected_spend": spend,
                "clv": margin * spend * discounted,
            },
            index=checked.index,
        )
        frame.index.name = "customer_id"
        frame.attrs.update({"time_unit": self.time_unit_, "horizon": horizon, "discount_rate": discount_rate, "margin": margin})
        if interval is not None:
            self._add_bounds(frame, x, t_x, T, checked["monetary_value"].to_numpy(), horizon, discount_rate, margin,
                             interval, n_draws, seed, rfm, forecast=(p_alive, expected_purchases, discounted))
        return frame

    def _add_bounds(self, frame, x, t_x, T, monetary, horizon, discount_rate, margin, interval, n_draws, seed, rfm, *,
                    forecast=None):
        """The predictive and confidence bounds of ``predict`` (see its docstring), in place: once per joint
        covariate pattern of the purchase and spend models, with their plain models (see ``_pattern_pairs``).
        ``forecast`` is the point forecast already made per customer (P(alive), expected and discounted
        purchases), which the bounds reuse."""
        from .models import _intervals

        interval = _intervals.check_interval(interval)
        n_draws = _intervals.check_draws(n_draws)
        purchases, spend = self.purchase_model_, self.spend_model_
        _intervals.warn_if_unknown(purchases, stacklevel=4)
        _intervals.warn_if_unknown(spend, stacklevel=4)
        columns = ("purchases_lower", "purchases_upper", "clv_lower", "clv_upper",
                   "purchases_ci_lower", "purchases_ci_upper", "clv_ci_lower", "clv_ci_upper")
        values = {name: np.empty(x.size) for name in columns}
        for rows, plain_purchases, plain_spend in self._pattern_pairs(rfm):
            rows = slice(None) if rows.size == x.size else rows  # every customer, in order: no copies
            bounds = _intervals.PurchaseBounds(
                plain_purchases, x[rows], t_x[rows], T[rows], horizon, interval,
                _intervals.drawn_models(plain_purchases, n_draws, seed), discount_rate=discount_rate, moments=True,
                forecast=None if forecast is None else tuple(part[rows] for part in forecast),
            )
            ci = bounds.ci if bounds.ci is not None else np.full((2, bounds.lower.size), np.nan)
            value = _intervals.value_bounds(bounds, plain_spend, x[rows], monetary[rows], interval, margin)
            spend_draws = _intervals.drawn_models(plain_spend, n_draws, None if seed is None else seed + 1)
            value_ci = _intervals.value_confidence(
                bounds, plain_spend, spend_draws, x[rows], monetary[rows], interval, margin
            )
            parts = (bounds.customers(bounds.lower), bounds.customers(bounds.upper), value[0], value[1],
                     bounds.customers(ci[0]), bounds.customers(ci[1]), value_ci[0], value_ci[1])
            for name, part in zip(columns, parts):
                values[name][rows] = part
        for name in columns:
            frame[name] = values[name].astype(np.int64) if name in columns[:2] else values[name]
        frame.attrs.update({"interval": interval, "n_draws": n_draws})

    def _pattern_pairs(self, frame, *, what: str = "rfm"):
        """The customers (rows) of ``frame`` grouped by their joint covariate pattern of the purchase and the
        spend model: triples (positions, plain purchase model, plain spend model), the plain models those of
        :meth:`~clv_predict.models._base._ParametricModel._pattern_models`. Without covariates, one triple:
        every customer with the two fitted models."""
        purchase_groups = list(self.purchase_model_._pattern_models(frame, what=what, unseen=self.unseen))
        spend_groups = list(self.spend_model_._pattern_models(frame, what=what, unseen=self.unseen))
        if len(purchase_groups) == 1 and len(spend_groups) == 1:
            yield purchase_groups[0][0], purchase_groups[0][1], spend_groups[0][1]
            return
        of_purchase, of_spend = np.zeros(len(frame)), np.zeros(len(frame))
        for number, (rows, _) in enumerate(purchase_groups):
            of_purchase[rows] = number
        for number, (rows, _) in enumerate(spend_groups):
            of_spend[rows] = number
        codes, (purchase_pattern, spend_pattern) = _distinct_rows([of_purchase, of_spend])
        order = np.argsort(codes, kind="stable")
        ends = np.searchsorted(codes[order], np.arange(purchase_pattern.size + 1))
        for group in range(purchase_pattern.size):
            yield (order[ends[group]: ends[group + 1]], purchase_groups[int(purchase_pattern[group])][1],
                   spend_groups[int(spend_pattern[group])][1])

    def expected_clv_new_customer(self, profile=None, *, horizon, discount_rate: float = 0.0,
                                  margin: float = 1.0, interval: float | None = None, n_draws: int = 500,
                                  seed=0) -> pd.DataFrame:
        """What a customer just acquired is worth, by covariate profile: her expected purchases, spend and CLV.

        Parameters
        ----------
        profile : dict or DataFrame, optional
            The new customer's covariates: a dict (one profile; lists for several) or a DataFrame of profiles,
            with a value for every covariate of the model. Without covariates (or ``None``): the average new
            customer; with covariates, ``None`` is a customer of the reference profile.
        horizon : int
            Whole number of time units after the first purchase.
        discount_rate : float, default 0
            Discount rate per time unit.
        margin : float, default 1
            Profit margin applied to spend.
        interval : float, optional
            With a level such as 0.9, adds confidence bounds of the expected values (the parameter
            uncertainty alone, covariate coefficients included: what the model knows about a profile, not
            what one customer will do): ``clv_ci_lower``, ``clv_ci_upper``, ``value_ci_lower``,
            ``value_ci_upper``, the equal-tailed quantiles over ``n_draws`` parameter vectors drawn from the
            estimates' distribution (purchase and spend models independently, as they are fitted).
        n_draws : int, default 500
            Parameter draws for the bounds.
        seed : int or None, default 0
            Seed of the draws.

        Returns
        -------
        DataFrame
            One row per profile (indexed like a DataFrame profile, else 0, 1, ...), the profile's covariates then
            ``expected_purchases`` (repeat purchases in the horizon), ``expected_spend`` (per purchase: the
            spend model's population mean), ``clv`` (``margin x spend x`` the discounted repeat purchases),
            ``first_purchase_value`` (``margin x spend``, the purchase that acquires her, at time 0) and
            ``value`` (the two together: what acquiring her brings), then the bounds if ``interval`` is given.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from clv_predict import BetaGeoModel
        >>> covariates = pd.DataFrame({"channel": np.random.default_rng(0).choice(["web", "shop"], 3000)})
        >>> truth = BetaGeoModel.from_params(r=0.5, alpha=6.0, a=0.8, b=2.5, time_unit="W",
        ...                                  coefficients={"purchase:channel[shop]": 0.7}, covariates=covariates)
        >>> rfm = truth.simulate(3000, 52.0, seed=1, covariates=covariates)
        >>> spend = np.random.default_rng(2).gamma(6.0, 5.0, 3000)
        >>> rfm["monetary_value"] = np.where(rfm["frequency"] > 0, spend, 0.0)
        >>> model = CLVModel(purchase_covariates=["channel"]).fit(rfm)
        >>> value = model.expected_clv_new_customer({"channel": ["web", "shop"]}, horizon=52, margin=0.3)
        >>> value.columns.tolist()
        ['channel', 'expected_purchases', 'expected_spend', 'clv', 'first_purchase_value', 'value']
        >>> bool(value.loc[1, "clv"] > value.loc[0, "clv"])
        True
        >>> bounds = model.expected_clv_new_customer({"channel": ["web", "shop"]}, horizon=52, margin=0.3, interval=0.9)
        >>> bool((bounds["value_ci_lower"] < bounds["value"]).all() and (bounds["value"] < bounds["value_ci_upper"]).all())
        True
        """
        self._check_fitted()
        horizon = check_horizon(horizon)
        discount_rate = check_discount_rate(discount_rate, self.time_unit_)
        margin = check_margin(margin)
        frame, out = self._new_customer_profiles(profile)
        patterns = self._new_customer_patterns(frame, profile)
        values = self._new_customer_values(patterns, self.purchase_model_.params_.to_numpy(dtype=float),
                                           self.spend_model_.params_.to_numpy(dtype=float), horizon, discount_rate)
        out["expected_purchases"] = values["expected_purchases"]
        out["expected_spend"] = values["expected_spend"]
        out["clv"] = margin * values["expected_spend"] * values["discounted"]
        out["first_purchase_value"] = margin * values["expected_spend"]
        out["value"] = out["clv"] + out["first_purchase_value"]
        out.attrs.update({"time_unit": self.time_unit_, "horizon": horizon, "discount_rate": discount_rate,
                          "margin": margin})
        if interval is not None:
            from .models import _intervals

            interval = _intervals.check_interval(interval)
            clv, value = self._new_customer_value_draws(patterns, horizon, discount_rate, margin, n_draws, seed)
            alpha = (1 - interval) / 2
            out["clv_ci_lower"], out["clv_ci_upper"] = np.quantile(clv, [alpha, 1 - alpha], axis=0)
            out["value_ci_lower"], out["value_ci_upper"] = np.quantile(value, [alpha, 1 - alpha], axis=0)
            out.attrs.update({"interval": interval, "n_draws": int(n_draws)})
        return out

    def _new_customer_profiles(self, profile) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The profiles' table (the covariates the models read) and the frame the answer is built on."""
        columns = self.covariate_columns_
        if not columns or profile is None:
            frame = pd.DataFrame(index=pd.RangeIndex(1))
            return frame, frame
        encoding = self.purchase_model_.covariate_encoding_ or self.spend_model_.covariate_encoding_
        frame = encoding.profile_frame(profile)
        absent = [column for column in columns if column not in frame.columns]
        if absent:
            raise DataError(f"'profile' lacks the covariate {', '.join(map(repr, absent))}; give a value for each "
                            f"of {', '.join(map(repr, columns))}")
        if not isinstance(profile, pd.DataFrame):
            frame = frame.reset_index(drop=True)
        return frame, frame[columns].copy()

    def _new_customer_patterns(self, frame, profile) -> list:
        """For the purchase and the spend model: (pattern of each profile, each pattern's loadings); a profile
        ``None`` (or a model without covariates) is the reference profile, loadings 0."""
        found = []
        for part in (self.purchase_model_, self.spend_model_):
            pattern = None if profile is None else part._covariate_patterns(frame, what="profile", unseen=self.unseen)
            if pattern is None:
                positive, coefficients = part._estimated_names()
                pattern = (np.zeros(len(frame), dtype=np.int64), np.zeros((1, len(positive), len(coefficients))))
            found.append(pattern)
        return found

    def _new_customer_values(self, patterns, purchase_vector, spend_vector, horizon: int,
                             discount_rate: float) -> dict:
        """Expected repeat purchases, discounted repeat purchases and expected spend per purchase of a new
        customer of each profile, under the full parameter vectors of the two models (in ``params_`` order)."""
        (purchase_codes, purchase_loadings), (spend_codes, spend_loadings) = patterns
        purchases = self.purchase_model_._params_of_patterns(purchase_vector, purchase_loadings)
        spend = self.spend_model_._params_of_patterns(spend_vector, spend_loadings)  # (p, q, v) per pattern
        periods = np.arange(1, horizon + 1, dtype=float)
        # E(k) over the periods, once per purchase pattern; the discounted count sums its increments
        expected = np.vstack([
            np.asarray(self.purchase_model_._expected_new_customer_values(params, periods), dtype=float)
            for params in purchases
        ])
        discounted = np.diff(expected, axis=1, prepend=0.0) @ (1.0 + discount_rate) ** -periods
        p, q, v = spend[:, 0], spend[:, 1], spend[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_spend = np.where(q > 1, p * v / (q - 1), np.inf)
        return {"expected_purchases": expected[purchase_codes, -1], "discounted": discounted[purchase_codes],
                "expected_spend": mean_spend[spend_codes]}

    def _new_customer_value_draws(self, patterns, horizon, discount_rate, margin, n_draws, seed):
        """A new customer's expected CLV and value of each profile at ``n_draws`` parameter vectors (draws x
        profiles): the purchase and spend models drawn independently (two separate fits)."""
        if isinstance(n_draws, bool) or not isinstance(n_draws, (int, np.integer)) or n_draws < 2:
            raise DataError(f"'n_draws' must be a whole number >= 2; got {n_draws!r}")
        purchase_seed, spend_seed = np.random.SeedSequence(seed).spawn(2)
        purchase_draws = self.purchase_model_.parameter_draws(int(n_draws), seed=np.random.default_rng(purchase_seed))
        spend_draws = self.spend_model_.parameter_draws(int(n_draws), seed=np.random.default_rng(spend_seed))
        clv, value = [], []
        for purchase_vector, spend_vector in zip(purchase_draws.to_numpy(), spend_draws.to_numpy()):
            with np.errstate(all="ignore"):
                values = self._new_customer_values(patterns, purchase_vector, spend_vector, horizon, discount_rate)
            clv.append(margin * values["expected_spend"] * values["discounted"])
            value.append(clv[-1] + margin * values["expected_spend"])
        return np.array(clv), np.array(value)

    def expected_purchases(self, rfm: pd.DataFrame, t: float) -> pd.Series:
        """Shortcut to the purchase model's ``expected_purchases``."""
        self._check_fitted()
        return self.purchase_model_.expected_purchases(rfm, t)

    def probability_alive(self, rfm: pd.DataFrame) -> pd.Series:
        self._check_fitted()
        return self.purchase_model_.probability_alive(rfm)

    def expected_spend(self, rfm: pd.DataFrame) -> pd.Series:
        self._check_fitted()
        return self.spend_model_.expected_spend(rfm)

    def save(self, path) -> None:
        """Write the fitted model to ``path`` (one joblib file, atomically); see :func:`clv_predict.load_model`."""
        from .persistence import save_model

        save_model(self, path)

    def __repr__(self) -> str:
        if not hasattr(self, "purchase_model_"):
            return (
                f"CLVModel(purchase_model={self.purchase_model!r}, penalizer_coef={self.penalizer_coef!r}, "
                f"spend_penalizer_coef={self.spend_penalizer_coef!r})"
            )
        params = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return f"<CLVModel: {params}; {self._unit_text()}; {plural(self.n_customers_, 'customer')}>"

    def _unit_text(self) -> str:
        """What the horizons count: a time unit, or (BG/BB) the period of one opportunity."""
        period = getattr(self.purchase_model_, "period_", None)
        if self.time_unit_ is None and period is not None:
            return f"one opportunity per period {period!r}"
        return f"time unit {self.time_unit_!r}"

    def _repr_html_(self) -> str:
        if not hasattr(self, "purchase_model_"):
            return "<p>CLVModel (not fitted)</p>"
        caption = (
            f"CLVModel ({self.purchase_model_.label} + Gamma-Gamma): {plural(self.n_customers_, 'customer')} ({self.n_repeat_customers_:,} repeat), "
            f"{self._unit_text()}, observation end {self.observation_period_end_}"
        )
        return self.summary().to_html(float_format=lambda v: f"{v:.4f}").replace(
            "<thead>", f"<caption>{caption}</caption><thead>", 1
        )
