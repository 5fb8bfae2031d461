"""Contract customers (subscriptions, insurance, telecom): the sBG by segment, lifetimes, and the practitioners'
constant-retention formula set against the sBG for the same customers.

The practitioners' formulas ("margin x retention / (1 + discount - retention)")
assume one retention rate for every customer at every tenure. The
shifted-beta-geometric model (Fader & Hardie 2007) lets each customer have his
own churn probability: the likely churners leave first, so the survivors are
more loyal and retention rises with tenure. The constant rate is therefore too
low for long-standing customers and a customer base valued with it is
undervalued; :func:`constant_retention_comparison` says by how much.

Summaries come from :mod:`clv_predict.discrete` (``subscription_summary``,
``renewal_summary``, ``survivor_summary``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._validation import check_nonnegative_number, numeric_column, plural
from .discrete import check_contract_summary, observed_retention
from .exceptions import DataError
from .models import ShiftedBetaGeoModel

__all__ = [
    "RetentionComparison",
    "constant_retention_comparison",
    "fit_segments",
    "lifetime_table",
    "probability_subscribed",
    "retention_by_tenure",
    "retention_curves",
    "score_contracts",
]


def _weights(summary: pd.DataFrame, weights) -> np.ndarray | None:
    if weights is None:
        return None
    if isinstance(weights, str):
        return numeric_column(summary, weights, what="summary")
    return np.asarray(weights, dtype=float)


def fit_segments(summary: pd.DataFrame, by: str, *, weights=None, penalizer_coef: float = 0.0) -> dict:
    """One sBG per segment (or acquisition cohort), fitted in one call: ``{segment: fitted model}``.

    ``by`` names the column of ``summary`` that says each customer's segment;
    segments are in sorted order. ``weights`` as in :meth:`ShiftedBetaGeoModel.fit`.

    Examples
    --------
    >>> from clv_predict.discrete import survivor_summary
    >>> regular = survivor_summary([1000, 631, 468, 382, 326, 289, 262, 241]).assign(cohort="regular")
    >>> high_end = survivor_summary([1000, 869, 743, 653, 593, 551, 517, 491]).assign(cohort="high end")
    >>> models = fit_segments(pd.concat([regular, high_end]), "cohort", weights="weights")
    >>> {name: model.params_.round(3).tolist() for name, model in models.items()}
    {'high end': [0.668, 3.806], 'regular': [0.704, 1.182]}
    """
    if not isinstance(summary, pd.DataFrame):
        raise DataError(f"summary must be a DataFrame; got {type(summary).__name__}")
    if by not in summary.columns:
        raise DataError(f"summary has no column {by!r} naming the segments")
    segments = summary[by]
    if segments.isna().any():
        raise DataError(f"summary column {by!r} has {plural(int(segments.isna().sum()), 'customer')} without a segment")
    row_weights = _weights(summary, weights)
    models = {}
    for name in sorted(segments.unique(), key=str):
        rows = (segments == name).to_numpy()
        part = summary.loc[rows]
        part.attrs = dict(summary.attrs)
        models[name] = ShiftedBetaGeoModel(penalizer_coef=penalizer_coef).fit(
            part, weights=None if row_weights is None else row_weights[rows])
    return models


def _as_models(models) -> dict:
    if isinstance(models, ShiftedBetaGeoModel):
        return {"all": models}
    if not isinstance(models, dict) or not models:
        raise DataError("'models' must be a fitted ShiftedBetaGeoModel or a non-empty dict of them (fit_segments)")
    return models


def _discounted_lifetime(model: ShiftedBetaGeoModel, discount_rate: float) -> float:
    """Expected discounted periods a new customer pays for, the first at acquisition: 1 + DERL(0) / (1 + d); with
    covariates, of the reference profile (whose alpha and beta the tables show)."""
    from .models.shifted_beta_geo import _residual_lifetime

    model._check_fitted()
    alpha, beta = model.params_["alpha"], model.params_["beta"]
    derl = float(_residual_lifetime(alpha, beta, np.zeros(1), discount_rate, None)[0])
    return 1.0 + derl / (1.0 + discount_rate)


def lifetime_table(models, *, discount_rate: float = 0.1) -> pd.DataFrame:
    """Each segment's parameters and lifetime, one row per segment.

    Columns: ``customers``, ``churned``, ``alpha``, ``beta`` (with standard errors),
    ``mean_churn`` (alpha / (alpha + beta), the average churn probability of a new
    customer), ``retention_1`` (share renewing after the first period),
    ``expected_lifetime`` (periods; ``inf`` when alpha <= 1), ``median_lifetime``,
    ``discounted_lifetime`` (expected periods paid, the k-th discounted by
    ``(1 + discount_rate) ** -(k - 1)``) and ``note`` (says when the mean is infinite).

    Examples
    --------
    >>> table = lifetime_table({"regular": ShiftedBetaGeoModel.from_params(alpha=0.704, beta=1.182)})
    >>> table.loc["regular", ["expected_lifetime", "median_lifetime"]].astype(float).tolist()
    [inf, 2.0]
    >>> print(table.loc["regular", "note"])
    alpha <= 1: the mean lifetime is infinite (a few customers stay almost forever); quote the median
    """
    discount_rate = check_nonnegative_number(discount_rate, "discount_rate", allow_zero=False)
    rows = {}
    for name, model in _as_models(models).items():
        a, b = model.params_["alpha"], model.params_["beta"]
        expected = model.expected_lifetime()
        rows[name] = {
            "customers": model.n_customers_,
            "churned": model.n_repeat_customers_,
            "alpha": a,
            "alpha_se": model.standard_errors_["alpha"],
            "beta": b,
            "beta_se": model.standard_errors_["beta"],
            "mean_churn": a / (a + b),
            "retention_1": float(model.retention_rate([1]).iloc[0]),
            "expected_lifetime": expected,
            "median_lifetime": model.median_lifetime(),
            "discounted_lifetime": _discounted_lifetime(model, discount_rate),
            "note": "" if np.isfinite(expected) else (
                "alpha <= 1: the mean lifetime is infinite (a few customers stay almost forever); quote the median"),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "segment"
    table.attrs["discount_rate"] = discount_rate
    return table


def retention_curves(models, periods=range(1, 13)) -> pd.DataFrame:
    """The sBG retention rate by tenure, one column per segment (rows: period ``t``, renewal at its end)."""
    return pd.DataFrame({name: model.retention_rate(list(periods)) for name, model in _as_models(models).items()})


def _constant_rate(table: pd.DataFrame, retention) -> float:
    if retention is None:
        decided = table["decided"].sum()
        if decided <= 0:
            raise DataError("no customer has completed a period: the observed retention rate is undefined")
        return float(table["renewed"].sum() / decided)
    if isinstance(retention, bool) or not isinstance(retention, (int, float, np.number)) or not 0 < retention < 1:
        raise DataError(f"'retention' must be a number between 0 and 1 (a share renewing); got {retention!r}")
    return float(retention)


def retention_by_tenure(model: ShiftedBetaGeoModel, summary: pd.DataFrame, *, retention=None, weights=None,
                        periods: int | None = None) -> pd.DataFrame:
    """Retention by tenure: ``observed`` (with ``decided`` and ``renewed``), the ``sbg`` model's and the
    ``constant`` rate (default: the observed rate pooled over every tenure, as a practitioner quotes it).

    ``periods`` (default: the longest observed tenure + 6) sets how far the model's curve goes.
    """
    observed = observed_retention(summary, weights=weights)
    constant = _constant_rate(observed, retention)
    last = int(periods) if periods is not None else int(observed.index.max() if len(observed) else 0) + 6
    index = pd.Index(np.arange(1, max(last, 1) + 1), name="period")
    table = observed.reindex(index)
    table = table.rename(columns={"retention": "observed"})
    table["sbg"] = model.retention_rate(index.to_numpy()).to_numpy()
    table["constant"] = constant
    return table


@dataclass
class RetentionComparison:
    """What :func:`constant_retention_comparison` found; DataFrames first, with text and HTML views.

    Attributes
    ----------
    by_tenure : DataFrame
        Retention by tenure: observed, sBG, constant (:func:`retention_by_tenure`).
    by_customer_tenure : DataFrame
        Active customers by completed periods ``T``: ``customers``, the residual value of
        one customer by the sBG (``sbg_value`` = margin x DERL) and by the constant
        formula (``constant_value``), and ``percent_off`` of the latter.
    totals : dict
        ``active_customers``, ``sbg_value`` and ``constant_value`` (summed over them),
        ``percent_off``, the new-customer figures ``new_sbg_value`` and ``new_constant_value``,
        ``retention`` (the constant rate), ``discount_rate``, ``margin``.
    """

    by_tenure: pd.DataFrame
    by_customer_tenure: pd.DataFrame
    totals: dict = field(default_factory=dict)

    def headline(self) -> str:
        t = self.totals
        direction = "undervalues" if t["percent_off"] < 0 else "overvalues"
        return (
            f"A constant retention of {t['retention']:.1%} (the observed rate pooled over every tenure) values the "
            f"{t['active_customers']:,.0f} active customers at {t['constant_value']:,.2f}; the sBG, whose retention "
            f"rises with tenure, at {t['sbg_value']:,.2f}: the constant-retention formula {direction} them by "
            f"{abs(t['percent_off']):.1f}%. A new customer: {t['new_constant_value']:,.2f} against "
            f"{t['new_sbg_value']:,.2f} ({t['new_percent_off']:+.1f}%)."
        )

    def __repr__(self) -> str:
        return self.headline() + "\n\n" + self.by_customer_tenure.to_string(float_format=lambda v: f"{v:,.3f}")

    def _repr_html_(self) -> str:
        table = self.by_customer_tenure.to_html(float_format=lambda v: f"{v:,.3f}", border=0)
        return f"<p>{html.escape(self.headline())}</p>{table}"


def constant_retention_comparison(model: ShiftedBetaGeoModel, summary: pd.DataFrame, *, discount_rate: float,
                                  margin: float = 1.0, retention=None, weights=None) -> RetentionComparison:
    """The practitioners' constant-retention value of the same customers next to the sBG's.

    For an active customer with ``T`` completed periods, the sBG's residual value is
    ``margin x DERL`` (:meth:`ShiftedBetaGeoModel.expected_residual_lifetime`: the next
    renewal undiscounted, the k-th after it discounted by ``(1 + d) ** -k``); the
    constant formula's is ``margin x r (1 + d) / (1 + d - r)``, the same sum with
    every renewal probability ``r`` (the practitioners' ``m r / (1 + d - r)``
    discounts the next renewal too). A new customer: ``margin x (1 + d) / (1 + d - r)``
    against the sBG's discounted lifetime (:func:`lifetime_table`). ``margin`` is the
    margin per period (price x margin rate); ``discount_rate`` is per period.

    Examples
    --------
    >>> from clv_predict.discrete import survivor_summary
    >>> summary = survivor_summary([1000, 631, 468, 382, 326, 289, 262, 241])
    >>> model = ShiftedBetaGeoModel().fit(summary, weights="weights")
    >>> result = constant_retention_comparison(model, summary, discount_rate=0.1, weights="weights")
    >>> round(result.totals["retention"], 3), round(result.totals["percent_off"], 1)
    (0.774, -61.8)
    """
    discount_rate = check_nonnegative_number(discount_rate, "discount_rate", allow_zero=False)
    margin = check_nonnegative_number(margin, "margin")
    checked = check_contract_summary(summary)
    row_weights = _weights(summary, weights)
    w = np.ones(len(checked)) if row_weights is None else row_weights
    tenure = retention_by_tenure(model, summary, retention=retention, weights=row_weights)
    r = float(tenure["constant"].iloc[0])
    d = discount_rate
    active = checked["churned"].to_numpy() == 0
    # each active customer's sBG value (with covariates, her own), averaged over the customers of each tenure
    values = margin * model.expected_residual_lifetime(summary.loc[active], discount_rate=d).to_numpy()
    frame = pd.DataFrame({"T": checked["T"].to_numpy()[active].astype(np.int64), "customers": w[active],
                          "value": w[active] * values})
    by_T = frame.groupby("T")[["customers", "value"]].sum()
    by_T["sbg_value"] = by_T.pop("value") / by_T["customers"]
    by_T["constant_value"] = margin * r * (1 + d) / (1 + d - r)
    by_T["percent_off"] = 100.0 * (by_T["constant_value"] - by_T["sbg_value"]) / by_T["sbg_value"]
    sbg_total = float((by_T["customers"] * by_T["sbg_value"]).sum())
    constant_total = float((by_T["customers"] * by_T["constant_value"]).sum())
    new_sbg = margin * _discounted_lifetime(model, d)
    new_constant = margin * (1 + d) / (1 + d - r)
    totals = {
        "active_customers": float(by_T["customers"].sum()),
        "sbg_value": sbg_total,
        "constant_value": constant_total,
        "percent_off": 100.0 * (constant_total - sbg_total) / sbg_total if sbg_total else float("nan"),
        "new_sbg_value": new_sbg,
        "new_constant_value": new_constant,
        "new_percent_off": 100.0 * (new_constant - new_sbg) / new_sbg,
        "retention": r,
        "discount_rate": d,
        "margin": margin,
    }
    return RetentionComparison(tenure, by_T, totals)


def probability_subscribed(model: ShiftedBetaGeoModel, summary: pd.DataFrame, periods) -> pd.DataFrame:
    """P(still subscribed ``t`` periods from now), per customer (rows) and ``t`` of ``periods`` (columns).

    For a customer active after ``T`` completed periods it is S(T + t) / S(T); after churn, 0.

    Examples
    --------
    >>> model = ShiftedBetaGeoModel.from_params(alpha=0.704, beta=1.182)
    >>> summary = pd.DataFrame({"T": [0, 7, 3], "churned": [False, False, True]})
    >>> probability_subscribed(model, summary, [1, 5]).round(3).values.tolist()
    [[0.627, 0.292], [0.921, 0.711], [0.0, 0.0]]
    """
    from scipy.special import betaln

    checked = check_contract_summary(summary)
    steps = np.atleast_1d(np.asarray(periods, dtype=float))
    if not np.all(np.isfinite(steps)) or (steps < 0).any() or (np.floor(steps) != steps).any():
        raise DataError(f"'periods' must hold whole numbers >= 0; got {periods!r}")
    a, b = model._shapes(summary)  # each customer's own with covariates
    a, b = np.broadcast_to(a, len(checked))[:, None], np.broadcast_to(b, len(checked))[:, None]
    T = checked["T"].to_numpy()[:, None]
    values = np.exp(betaln(a, b + T + steps[None, :]) - betaln(a, b + T))
    values[checked["churned"].to_numpy() > 0] = 0.0
    return pd.DataFrame(values, index=checked.index, columns=pd.Index(steps.astype(np.int64), name="periods_ahead"))


def score_contracts(model: ShiftedBetaGeoModel, summary: pd.DataFrame, *, discount_rate: float,
                    margin: float = 1.0, horizon=None, interval: float | None = None, n_draws: int | None = None,
                    seed=0) -> pd.DataFrame:
    """Per customer of a contract summary: ``T``, ``churned``, ``p_renew`` (probability of renewing at the end
    of the current period; 0 after churn), ``expected_residual_lifetime`` (DERL) and ``clv`` = margin x DERL,
    the residual value with ``margin`` per period (price x margin rate) and ``discount_rate`` per period.

    ``horizon`` (whole periods) counts only the next ``horizon`` renewals (``discount_rate`` may then be 0).
    With ``interval`` (such as 0.9) the bounds of :meth:`ShiftedBetaGeoModel.renewal_bounds` are added, the
    value ones times ``margin``: ``renewals_lower``, ``renewals_upper`` and ``clv_lower``, ``clv_upper``
    (predictive: the renewals the customer will actually pay for and their discounted value, exact quantiles
    of their distribution mixed over the parameter uncertainty), then ``expected_residual_lifetime_ci_lower``,
    ``..._ci_upper``, ``clv_ci_lower``, ``clv_ci_upper`` (confidence: DERL and its value, parameter
    uncertainty only); ``n_draws`` and ``seed`` as there.

    Examples
    --------
    >>> model = ShiftedBetaGeoModel.from_params(alpha=3.80, beta=15.20)
    >>> summary = pd.DataFrame({"T": [0, 4, 2], "churned": [False, False, True]})
    >>> score_contracts(model, summary, discount_rate=0.1, margin=10)["clv"].round(1).tolist()
    [33.1, 38.4, 0.0]
    """
    margin = check_nonnegative_number(margin, "margin")
    checked = check_contract_summary(summary)
    derl = model.expected_residual_lifetime(summary, discount_rate=discount_rate, horizon=horizon)
    T = checked["T"].to_numpy()
    churned = checked["churned"].to_numpy() > 0
    a, b = model._shapes(summary)  # each customer's own with covariates
    p_renew = np.where(churned, 0.0, (b + T) / (a + b + T))
    out = pd.DataFrame({"T": T.astype(np.int64), "churned": churned, "p_renew": p_renew,
                        "expected_residual_lifetime": derl.to_numpy(), "clv": margin * derl.to_numpy()},
                       index=checked.index)
    out.index.name = "customer_id"
    if interval is not None:
        bounds = model.renewal_bounds(summary, interval=interval, discount_rate=discount_rate, horizon=horizon,
                                      n_draws=n_draws, seed=seed)
        out["renewals_lower"] = bounds["renewals_lower"].to_numpy()
        out["renewals_upper"] = bounds["renewals_upper"].to_numpy()
        out["clv_lower"] = margin * bounds["residual_lower"].to_numpy()
        out["clv_upper"] = margin * bounds["residual_upper"].to_numpy()
        for end in ("lower", "upper"):
            out[f"expected_residual_lifetime_ci_{end}"] = bounds[f"expected_residual_lifetime_ci_{end}"].to_numpy()
        out["clv_ci_lower"] = margin * out["expected_residual_lifetime_ci_lower"]
        out["clv_ci_upper"] = margin * out["expected_residual_lifetime_ci_upper"]
        out.attrs.update(bounds.attrs)
    return out
