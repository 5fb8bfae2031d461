"""Customer lifetime value: a purchase model's purchases x Gamma-Gamma spend, discounted per time unit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from ._validation import check_discount_rate, check_horizon, check_margin, plural
from .exceptions import DataError, NotFittedError
from .models import GammaGammaModel, PurchaseModel, purchase_model

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
        unfitted model instance, whose own settings are then used.
    penalizer_coef : float, default 0
        L2 penalty of the purchase model's fit (when given by name).
    spend_penalizer_coef : float, default 0
        L2 penalty of the Gamma-Gamma fit.
    engine : {"native", "lifetimes"}, default "native"
        Optimiser used for both fits (see :class:`BetaGeoModel`): the
        package's own, or lifetimes' fitters (the reference; slow at millions
        of customers).

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
    ):
        self.penalizer_coef = penalizer_coef
        self.spend_penalizer_coef = spend_penalizer_coef
        self.engine = engine
        self.purchase_model = purchase_model

    def _new_purchase_model(self) -> PurchaseModel:
        """An unfitted copy of the chosen purchase model (an instance given by the user is never fitted in place)."""
        if isinstance(self.purchase_model, PurchaseModel):
            chosen = self.purchase_model
            return type(chosen)(**chosen._settings())
        model = purchase_model(self.purchase_model)
        model.penalizer_coef, model.engine = self.penalizer_coef, self.engine
        return model

    def fit(self, rfm: pd.DataFrame, *, time_unit: str | None = None) -> "CLVModel":
        """Fit the purchase model on every customer and Gamma-Gamma on the repeat customers of ``rfm``."""
        purchases = self._new_purchase_model()
        spend = GammaGammaModel(self.spend_penalizer_coef, engine=self.engine)
        purchases._check_settings()
        checked = purchases._checked(rfm, need_monetary=True)  # once, for both models
        spend._check_settings()
        if len(checked) < _PARALLEL_ROWS:
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

    def predict(self, rfm: pd.DataFrame, *, horizon, discount_rate: float = 0.0, margin: float = 1.0) -> pd.DataFrame:
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

        Returns
        -------
        DataFrame
            Indexed by ``customer_id``: ``expected_purchases`` in the horizon,
            ``p_alive`` now, ``expected_spend`` per purchase and
            ``clv = margin * expected_spend * sum_k (E[X(k)] - E[X(k-1)]) / (1 + discount_rate)^k``.
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
        p_alive = purchases._probability_alive_values(purchases._params(), x, t_x, T)
        expected_purchases, discounted = purchases._forecast(x, t_x, T, horizon, discount_rate, p_alive=p_alive)
        self.spend_model_._check_fitted()
        spend = self.spend_model_._expected_spend_values(x, checked["monetary_value"].to_numpy())
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
        return frame

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
        return f"<CLVModel: {params}; time unit {self.time_unit_!r}; {plural(self.n_customers_, 'customer')}>"

    def _repr_html_(self) -> str:
        if not hasattr(self, "purchase_model_"):
            return "<p>CLVModel (not fitted)</p>"
        caption = (
            f"CLVModel ({self.purchase_model_.label} + Gamma-Gamma): {plural(self.n_customers_, 'customer')} ({self.n_repeat_customers_:,} repeat), "
            f"time unit {self.time_unit_!r}, observation end {self.observation_period_end_}"
        )
        return self.summary().to_html(float_format=lambda v: f"{v:.4f}").replace(
            "<thead>", f"<caption>{caption}</caption><thead>", 1
        )
