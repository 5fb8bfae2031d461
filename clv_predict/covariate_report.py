"""What the covariates say, in tables a reader can act on: coefficients as multipliers, value by profile.

:func:`coefficient_table` turns every covariate coefficient of a fitted model (a :class:`~clv_predict.CLVModel`,
a purchase model, Gamma-Gamma or sBG) into a row: the estimate and its standard error, ``exp(coef)`` as the
multiplier it is (with its confidence bounds), a p-value and one sentence that says what it multiplies.
:func:`value_by_profile` gives a new customer's expected purchases, spend, CLV and the most one may pay to
acquire her, for each profile of the model's categorical covariates. :func:`covariates_section` puts both in
a ``(title, html)`` section of the HTML report, which :func:`clv_predict.report.build_report` adds by itself
for a model with covariates.
"""

from __future__ import annotations

import html
import itertools

import numpy as np
import pandas as pd
from scipy.stats import norm

from .exceptions import DataError

__all__ = ["coefficient_table", "covariates_section", "value_by_profile"]

_UNITS = {"D": "days", "W": "weeks", "M": "months"}

#: What exp(coefficient) multiplies, by the prefix of the coefficient's name, for models that state it.
_PLAIN = {
    "spend": "expected spend per purchase",
    "churn": "alpha of the churn probability's Beta (a higher churn probability)",
    "retention": "beta of the churn probability's Beta (a higher renewal probability)",
}


def _parts(model) -> list:
    """(part label, fitted model) for every model inside ``model`` that may have covariates."""
    purchase, spend = getattr(model, "purchase_model_", None), getattr(model, "spend_model_", None)
    if purchase is not None and spend is not None:
        return [(purchase.label, purchase), ("Gamma-Gamma", spend)]
    return [(getattr(model, "label", "") or type(model).__name__, model)]


def _effect(part, prefix: str, multiplier: float) -> str:
    """What ``exp(coefficient)`` multiplies for a coefficient named ``<prefix>:...`` of ``part``."""
    if prefix in _PLAIN:
        return _PLAIN[prefix]
    links = getattr(part, "_covariate_links", {}) or {}
    processes = prefix.split("+")
    linked = [(name, sign) for name, (process, sign) in links.items() if process in processes]
    if len(processes) == 1 and len(linked) == 1 and linked[0][1] < 0:
        return f"the mean {prefix} rate"
    if linked and all(sign > 0 for _, sign in linked):
        names = " and ".join(name for name, _ in linked)
        if len(linked) > 1:  # a and b together: the mean a / (a + b) stays, the spread changes
            spread = "less" if multiplier > 1 else "more"
            return f"{names} of the {prefix} probability's Beta (the same mean, {spread} spread between customers)"
        return f"{names} of the {prefix} distribution"
    described = ", ".join(f"{name} x exp({'-' if sign < 0 else ''}coef)" for name, sign in linked)
    return f"the {prefix} parameters ({described})" if described else f"the {prefix} process"


def _subject(column: str, level, reference) -> tuple[str, str]:
    """(covariate as read, what it is compared with) for a design column."""
    if level is None:
        return f"{column} (per unit)", "one unit less"
    return f"{column} = {level}", f"{column} = {reference}"


def coefficient_table(model, *, alpha: float = 0.05) -> pd.DataFrame:
    """Every covariate coefficient of a fitted model, with its multiplier and a plain reading.

    Parameters
    ----------
    model : CLVModel, purchase model, GammaGammaModel or ShiftedBetaGeoModel
        Fitted, with covariates (a model without any gives an empty table).
    alpha : float, default 0.05
        The confidence bounds are at level ``1 - alpha``.

    Returns
    -------
    DataFrame
        Indexed by ``parameter`` (the name in ``params_``): ``model``, ``covariate``, ``compared_with``,
        ``estimate``, ``standard_error``, ``multiplier`` (``exp(estimate)``), ``multiplier_lower`` and
        ``multiplier_upper`` (``exp`` of the bounds), ``p_value`` (of the Wald test of zero) and
        ``reading`` (one sentence).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from clv_predict import GammaGammaModel
    >>> rng = np.random.default_rng(1)
    >>> rfm = pd.DataFrame({"frequency": rng.integers(1, 6, 600), "recency": 1.0, "T": 2.0,
    ...                     "channel": rng.choice(["shop", "web"], 600)})
    >>> rfm["monetary_value"] = rng.gamma(4, 5, 600) * np.where(rfm["channel"] == "web", 1.5, 1.0)
    >>> table = coefficient_table(GammaGammaModel(covariates=["channel"]).fit(rfm))
    >>> table.loc["spend:channel[web]", ["covariate", "compared_with"]].tolist()
    ['channel = web', 'channel = shop']
    >>> print(table.loc["spend:channel[web]", "reading"][:45])
    channel = web multiplies expected spend per p
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise DataError(f"'alpha' must be a number between 0 and 1; got {alpha!r}")
    z = norm.ppf(1 - alpha / 2)
    rows = []
    for label, part in _parts(model):
        encoding = getattr(part, "covariate_encoding_", None)
        if encoding is None:
            continue
        levels = {}
        for column in encoding.columns:
            if column in encoding.levels:
                for level in encoding.levels[column][1:]:
                    levels[f"{column}[{level}]"] = (column, level, encoding.levels[column][0])
            else:
                levels[column] = (column, None, None)
        for name, estimate in part.params_.items():
            prefix, _, design = str(name).partition(":")
            if design not in levels:
                continue
            column, level, reference = levels[design]
            covariate, compared = _subject(column, level, reference)
            error = float(part.standard_errors_[name])
            multiplier = float(np.exp(estimate))
            effect = _effect(part, prefix, multiplier)
            p_value = float(2 * norm.sf(abs(estimate) / error)) if error > 0 else float("nan")
            reading = (f"{covariate} multiplies {effect} by {multiplier:.3g} against {compared}"
                       if level is not None else f"each unit of {column} multiplies {effect} by {multiplier:.4g}")
            if np.isfinite(p_value):
                verdict = "clear" if p_value < alpha else "not clear"
                reading += f"; {verdict} at the {1 - alpha:.0%} level (p = {p_value:.2g})"
            rows.append({
                "parameter": name, "model": label, "covariate": covariate, "compared_with": compared,
                "estimate": float(estimate), "standard_error": error, "multiplier": multiplier,
                "multiplier_lower": float(np.exp(estimate - z * error)),
                "multiplier_upper": float(np.exp(estimate + z * error)), "p_value": p_value, "reading": reading,
            })
    columns = ["model", "covariate", "compared_with", "estimate", "standard_error", "multiplier", "multiplier_lower",
               "multiplier_upper", "p_value", "reading"]
    table = pd.DataFrame(rows, columns=["parameter", *columns]).set_index("parameter")
    table.attrs["alpha"] = alpha
    return table


def _encodings(model) -> list:
    return [part.covariate_encoding_ for _, part in _parts(model) if getattr(part, "covariate_encoding_", None)]


def profiles_of(model, data: pd.DataFrame | None = None, *, max_profiles: int = 24) -> pd.DataFrame:
    """The profiles worth a row: every combination of the levels of the model's categorical covariates
    (the reference first), numeric covariates at their median in ``data`` (at 0 without data).

    With more combinations than ``max_profiles``, each categorical covariate is varied alone, the
    others at their reference level.
    """
    levels, numeric = {}, []
    for encoding in _encodings(model):
        for column in encoding.columns:
            if column in encoding.levels:
                levels.setdefault(column, list(encoding.levels[column]))
            elif column not in numeric:
                numeric.append(column)
    if not levels and not numeric:
        raise DataError("the model has no covariates: it has one profile")
    combinations = int(np.prod([len(values) for values in levels.values()])) if levels else 1
    if combinations <= max_profiles:
        rows = [dict(zip(levels, values, strict=True)) for values in itertools.product(*levels.values())] or [{}]
    else:
        reference = {column: values[0] for column, values in levels.items()}
        rows = [dict(reference)]
        for column, values in levels.items():
            rows += [{**reference, column: value} for value in values[1:]]
    frame = pd.DataFrame(rows, index=pd.RangeIndex(len(rows), name="profile"))
    for column in numeric:
        have = data is not None and column in data.columns
        frame[column] = float(pd.to_numeric(data[column], errors="coerce").median()) if have else 0.0
    return frame


def value_by_profile(model, profiles: pd.DataFrame | None = None, *, horizon, discount_rate: float = 0.0,
                     margin: float = 1.0, target_ratio: float = 3.0, data: pd.DataFrame | None = None,
                     interval: float | None = None, n_draws: int = 500, seed=0) -> pd.DataFrame:
    """A new customer's expected purchases, spend and value by covariate profile, and the acquisition budget.

    Parameters
    ----------
    model : CLVModel
        Fitted with covariates (purchase, dropout or spend).
    profiles : DataFrame, optional
        Profiles to value; default :func:`profiles_of` the model (every combination of its levels).
    horizon, discount_rate, margin
        As in :meth:`CLVModel.expected_clv_new_customer`.
    target_ratio : float, default 3
        Required ratio of value to acquisition cost: ``max_acquisition_cost = value / target_ratio``.
    data : DataFrame, optional
        Customers whose medians set the numeric covariates of the default profiles.
    interval, n_draws, seed
        With ``interval`` (such as 0.9), the confidence bounds of the value (parameter uncertainty of both
        models, over ``n_draws`` drawn parameter vectors; see :meth:`CLVModel.expected_clv_new_customer`) and
        of the budget: ``max_acquisition_cost_lower`` / ``_upper`` (the value's bounds over the ratio).

    Returns
    -------
    DataFrame
        The profiles' covariates, then ``expected_purchases``, ``expected_spend``, ``clv``,
        ``first_purchase_value``, ``value`` and ``max_acquisition_cost`` (and the bounds with ``interval``).
    """
    if not hasattr(model, "expected_clv_new_customer"):
        raise DataError(f"value by profile needs a CLVModel (purchases and spend); got {type(model).__name__}")
    from ._validation import check_nonnegative_number

    target_ratio = check_nonnegative_number(target_ratio, "target_ratio", allow_zero=False)
    profiles = profiles_of(model, data) if profiles is None else profiles
    bounds = {} if interval is None else {"interval": interval, "n_draws": n_draws, "seed": seed}
    table = model.expected_clv_new_customer(profiles, horizon=horizon, discount_rate=discount_rate, margin=margin,
                                            **bounds)
    table["max_acquisition_cost"] = table["value"] / target_ratio
    if interval is not None:
        table["max_acquisition_cost_lower"] = table["value_ci_lower"] / target_ratio
        table["max_acquisition_cost_upper"] = table["value_ci_upper"] / target_ratio
        table.attrs["interval"] = interval
    table.attrs["target_ratio"] = target_ratio
    return table


def covariates_section(model, data: pd.DataFrame | None = None, *, horizon=None, discount_rate: float = 0.0,
                       margin: float = 1.0, target_ratio: float = 3.0) -> tuple[str, str]:
    """The report's "Covariates" section: the coefficients as multipliers and, for a CLVModel, value by profile.

    ``data`` (the customers the report is about) sets the numeric covariates of the profiles at their median.
    """
    from .report import table_html

    esc = html.escape
    coefficients = coefficient_table(model)
    shown = coefficients.drop(columns="reading")
    parts = [
        "<p>Each coefficient acts through <code>exp(coef)</code>: the multiplier below, against the reference "
        "level named (or per unit of a numeric covariate), with its 95% confidence bounds and the p-value of "
        "the test that it is 1.</p>",
        table_html(shown),
        "<ul>" + "".join(f"<li>{esc(reading)}</li>" for reading in coefficients["reading"]) + "</ul>",
    ]
    if hasattr(model, "expected_clv_new_customer"):
        unit = {"D": 365, "W": 52, "M": 12}.get(model.time_unit_, 52)
        horizon = unit if horizon is None else horizon
        table = value_by_profile(model, horizon=horizon, discount_rate=discount_rate, margin=margin,
                                 target_ratio=target_ratio, data=data, interval=0.9)
        parts += [
            f"<h3>A new customer's value by profile</h3><p>Expected repeat purchases, spend per purchase and "
            f"value of a customer just acquired, over {horizon} {_UNITS.get(model.time_unit_, 'time units')} "
            f"(margin {margin:g}, discount "
            f"{discount_rate:g} per time unit; <code>value</code> counts the first purchase), and the most one may pay "
            f"to acquire her at a value-to-cost ratio of {target_ratio:g}. The <code>_ci_</code> and "
            "<code>_lower</code>/<code>_upper</code> columns are 90% bounds of these expectations from the "
            "estimates' uncertainty (both models, coefficients included), not of what one customer will do.</p>",
            table_html(table),
        ]
    return "Covariates", "\n".join(parts)


def report_sections(model, data: pd.DataFrame | None = None, *, discount_rate: float = 0.0,
                    margin: float = 1.0) -> list:
    """The sections the HTML report adds for a model with covariates (none without), valuing profiles at the
    report's ``margin`` and ``discount_rate`` (per time unit)."""
    if coefficient_table(model).empty:
        return []
    return [covariates_section(model, data, discount_rate=discount_rate, margin=margin)]
