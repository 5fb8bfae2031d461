"""Which purchase model describes these customers best: the family fitted side by side on the same data.

:func:`compare_models` fits the chosen models (default: every registered one)
on one RFM summary or calibration/holdout split and tabulates their fit
(log-likelihood, AIC, BIC) and, with a holdout, their forecasts against what
happened. :func:`fit_models` returns the fitted models themselves, for plots
(:func:`clv_predict.plotting.diagnostics.plot_model_comparison`) and scoring.

The log-likelihoods are comparable across the family: each is the density of
the same observed data, every customer's purchase times in the training
period, in the same time unit. BG/NBD, MBG/NBD and Pareto/NBD reach it through
(frequency, recency, T) only because those are sufficient for their Poisson
purchasing; the CNBD-k models, whose Erlang-k purchasing is not memoryless,
also need ``litt`` (the sum of the log times between purchases), so compare
them on a summary built with ``regularity=True``. Tables in different time
units are not comparable (the densities differ by x log of the unit ratio), and
neither are tables built from different logs or periods.

A model with covariates (``BetaGeoModel(purchase_covariates=[...])``) is compared with the same model without
them by a likelihood-ratio test (:func:`likelihood_ratio_test`): ``compare_models`` fits the model without
covariates if it is not in the comparison already, and reports the statistic, its degrees of freedom and the
p-value on the covariate model's row.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
from scipy.stats import chi2

from ._validation import check_rfm, plural
from .evaluation import FREQUENCY_BINS, frequency_bin_labels
from .exceptions import DataError, DataWarning
from .models import (
    OPPORTUNITY_MODELS,
    PURCHASE_MODELS,
    PurchaseModel,
    is_purchase_model,
    purchase_model,
)

_UNIT_NAMES = {"D": "days", "W": "weeks", "M": "months"}

__all__ = ["compare_models", "fit_models", "likelihood_ratio_test"]


def _estimated(model) -> int:
    """How many parameters the fit estimated: the model's, covariate coefficients, a searched k."""
    return len(model._param_names) + model._n_coefficients() + sum(
        1 for extra in model._extra_param_names if getattr(model, extra, None) is None
    )


def likelihood_ratio_test(model, reduced) -> dict:
    """Likelihood-ratio test of ``model`` against ``reduced``, a model nested in it (the same model without
    some or all of its covariates), both fitted on the same customers.

    Returns ``{"statistic": 2 (LL - LL_reduced), "df": the extra parameters, "p_value": chi-square tail}``.
    A small p-value says the covariates explain the purchases and dropout better than chance would.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from clv_predict import BetaGeoModel
    >>> covariates = pd.DataFrame({"channel": np.random.default_rng(0).choice(["web", "shop"], 2000)})
    >>> truth = BetaGeoModel.from_params(r=0.5, alpha=6.0, a=0.8, b=2.5, time_unit="W",
    ...                                  coefficients={"purchase:channel[shop]": 0.7}, covariates=covariates)
    >>> rfm = truth.simulate(2000, 52.0, seed=1, covariates=covariates)
    >>> test = likelihood_ratio_test(BetaGeoModel(purchase_covariates=["channel"]).fit(rfm), BetaGeoModel().fit(rfm))
    >>> test["df"], test["p_value"] < 0.001
    (1, True)
    """
    for which in (model, reduced):
        if not hasattr(which, "params_"):
            raise DataError("likelihood_ratio_test needs two fitted models")
    df = _estimated(model) - _estimated(reduced)
    if type(model) is not type(reduced) or df <= 0:
        raise DataError(
            f"likelihood_ratio_test compares a model with the same model with fewer covariates; got "
            f"{model.label} ({_estimated(model)} parameters) and {reduced.label} ({_estimated(reduced)})"
        )
    if model.n_customers_ != reduced.n_customers_:
        raise DataError(
            f"the two models were fitted on different customers ({model.n_customers_:,} and {reduced.n_customers_:,})"
        )
    statistic = max(2.0 * (float(model.log_likelihood_) - float(reduced.log_likelihood_)), 0.0)
    return {"statistic": statistic, "df": int(df), "p_value": float(chi2.sf(statistic, df))}


def _without_covariates(model) -> PurchaseModel:
    """An unfitted copy of ``model`` with its settings but no covariates."""
    settings = {name: value for name, value in model._settings().items() if name in ("penalizer_coef", "engine")}
    return type(model)(**settings)


def _chosen(models, data=None) -> list:
    if models is None:
        # an opportunity summary (opportunity_summary, load_donations) says so in its attrs
        opportunities = isinstance(data, pd.DataFrame) and data.attrs.get("summary") == "opportunities"
        return list(OPPORTUNITY_MODELS if opportunities else PURCHASE_MODELS)
    if isinstance(models, str) or is_purchase_model(models):
        models = [models]
    chosen = list(models.values()) if isinstance(models, dict) else list(models)
    if not chosen:
        raise DataError("'models' is empty: name at least one model, or pass None for all of them")
    return chosen


def fit_models(data: pd.DataFrame, models=None, *, penalizer_coef: float = 0.0, engine: str = "native") -> dict:
    """Fit each chosen purchase model on ``data``; a dict from model name to fitted model.

    Parameters
    ----------
    data : DataFrame
        An RFM summary or a calibration/holdout split (its training columns are used).
    models : list, optional
        Registry names (``"bg_nbd"``, ``"pareto_nbd"``, ...; ``"bg_bb"`` for discrete
        opportunities) or model instances; fitted instances are kept as they are; models
        of one family only. Default: every registered model of continuous time (of discrete
        opportunities when ``data.attrs["summary"]`` is ``"opportunities"``, as
        :func:`clv_predict.discrete.opportunity_summary` marks it); those whose
        columns ``data`` lacks (``litt`` for the CNBD-k models) are left out with a
        :class:`~clv_predict.DataWarning`.
    penalizer_coef, engine
        Settings of the models given by name.

    Returns
    -------
    dict
        ``{name: model}`` in the order given; ``model.fit_seconds_`` holds the time each fit took.
    """
    fitted = {}
    chosen = [purchase_model(choice) for choice in _chosen(models, data)]
    _check_one_family(dict(enumerate(chosen)))  # before any fit
    for choice, model in zip(_chosen(models, data), chosen):
        if not is_purchase_model(choice):
            model.penalizer_coef, model.engine = penalizer_coef, engine
        missing = [column for column in model._fit_columns if column not in data.columns]
        if missing and not hasattr(model, "params_"):
            hint = model._column_hints.get(missing[0], "")
            if models is None:
                warnings.warn(
                    f"{model.label} left out of the comparison: the data have no column {missing[0]!r}"
                    + (f" ({hint})" if hint else ""),
                    DataWarning,
                    stacklevel=3,
                )
                continue
            raise DataError(f"{model.label} needs column {missing[0]!r} in the data" + (f": {hint}" if hint else ""))
        if not hasattr(model, "params_"):
            started = time.perf_counter()
            model.fit(data)
            model.fit_seconds_ = time.perf_counter() - started
        # a model with covariates and the same model without are told apart by name
        name = f"{model.name}_covariates" if model._n_coefficients() else model.name
        if name in fitted:  # the same model twice (say two settings of k): keep both, numbered
            name = f"{name}_{sum(key.startswith(model.name) for key in fitted) + 1}"
        fitted[name] = model
    if not fitted:
        raise DataError("no model could be fitted on these data")
    return fitted


def _check_one_family(fitted: dict) -> None:
    """Log-likelihoods compare within a family only (densities of purchase times, or probabilities of
    purchase patterns at opportunities): a table mixing them would rank nonsense."""
    families = {model.family: model.label for model in fitted.values()}
    if len(families) > 1:
        raise DataError(
            "models of different kinds cannot be compared on one table: "
            + "; ".join(f"{label} models {family}" for family, label in families.items())
            + ". Compare continuous-time models on an RFM summary and opportunity models on an opportunity summary"
        )


def compare_models(data: pd.DataFrame, models=None, *, penalizer_coef: float = 0.0, engine: str = "native") -> pd.DataFrame:
    """Fit the chosen purchase models on the same data and compare them, one row per model.

    Parameters
    ----------
    data : DataFrame
        An RFM summary (``frequency``, ``recency``, ``T``; with ``litt`` for the CNBD-k
        models: ``rfm_summary(..., regularity=True)``), or a calibration/holdout split
        (:func:`clv_predict.rfm_train_test_split`), which adds the holdout forecasts.
    models : list or dict, optional
        As in :func:`fit_models` (a dict of fitted models from it is taken as it is).
    penalizer_coef, engine
        Settings of the models given by name.

    Returns
    -------
    DataFrame
        Indexed by model name: ``model`` (its label), ``parameters`` (how many were
        estimated), ``log_likelihood``, ``aic``, ``bic`` (lower is better; BIC with the
        number of customers), ``fit_seconds``, ``converged``; for a model with covariates
        ``lr_statistic``, ``lr_df`` and ``lr_p_value``: the likelihood-ratio test against the same
        model without covariates (``lr_against`` names its row; it is fitted and added if
        missing); with a holdout also
        ``predicted_purchases`` and ``actual_purchases`` (repeat purchases of all
        customers in the holdout), ``percent_error``, ``mae`` (per customer) and
        ``error_0``, ``error_1``, ... ``error_7+``: the mean predicted minus the mean
        actual holdout purchases of the customers with that many training repeat purchases.

    Examples
    --------
    >>> from clv_predict import rfm_summary
    >>> from clv_predict.datasets import load_cdnow
    >>> log = load_cdnow()
    >>> rfm = rfm_summary(log[log["date"] <= "1997-09-30"], customer_id_col="customer_id",
    ...                   datetime_col="date", observation_period_end="1997-09-30", time_unit="W")
    >>> table = compare_models(rfm, ["bg_nbd"])
    >>> table[["model", "parameters", "log_likelihood"]].round(1)
             model  parameters  log_likelihood
    name
    bg_nbd  BG/NBD           4         -9582.4
    """
    fitted = models if isinstance(models, dict) and all(hasattr(m, "params_") for m in models.values()) \
        else fit_models(data, models, penalizer_coef=penalizer_coef, engine=engine)
    _check_one_family(fitted)
    fitted = _with_reduced_models(fitted, data)
    checked = check_rfm(data)
    n_customers = len(checked)
    rows = {}
    for name, model in fitted.items():
        estimated = _estimated(model)
        log_likelihood = float(model.log_likelihood_)
        rows[name] = {
            "model": model.label,
            "parameters": estimated,
            "log_likelihood": log_likelihood,
            "aic": 2 * estimated - 2 * log_likelihood,
            "bic": estimated * np.log(max(n_customers, 1)) - 2 * log_likelihood,
            "fit_seconds": float(getattr(model, "fit_seconds_", np.nan)),
            "converged": bool(model.convergence_.get("converged", False)),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    tests = {}
    for name, model in fitted.items():
        if model._n_coefficients():
            against = next(other for other, candidate in fitted.items()
                           if type(candidate) is type(model) and not candidate._n_coefficients())
            test = likelihood_ratio_test(model, fitted[against])
            tests[name] = {"lr_statistic": test["statistic"], "lr_df": test["df"], "lr_p_value": test["p_value"],
                           "lr_against": against}
    if tests:
        table = table.join(pd.DataFrame.from_dict(tests, orient="index"))
        table["lr_df"] = table["lr_df"].astype("Int64")
    if {"test_frequency", "test_T"} <= set(data.columns):
        table = table.join(_holdout(fitted, data))
    table.index.name = "name"
    table.attrs.update({"n_customers": n_customers, "time_unit": next(iter(fitted.values())).time_unit_})
    return table


def _with_reduced_models(fitted: dict, data: pd.DataFrame) -> dict:
    """``fitted`` with, after each model with covariates, the same model without them (fitted if missing)."""
    out = {}
    for name, model in fitted.items():
        out[name] = model
        if not model._n_coefficients():
            continue
        if any(type(other) is type(model) and not other._n_coefficients() for other in fitted.values()):
            continue
        reduced = _without_covariates(model)
        started = time.perf_counter()
        reduced.fit(data)
        reduced.fit_seconds_ = time.perf_counter() - started
        out[reduced.name if reduced.name not in fitted else f"{reduced.name}_without_covariates"] = reduced
    return out


def _holdout(fitted: dict, split: pd.DataFrame) -> pd.DataFrame:
    """Holdout forecasts of each model against the actual repeat purchases."""
    horizon = float(pd.to_numeric(split["test_T"]).iloc[0])
    actual = pd.to_numeric(split["test_frequency"]).to_numpy(dtype=float)
    bins = frequency_bin_labels(check_rfm(split)["frequency"].to_numpy(), FREQUENCY_BINS)
    rows = {}
    for name, model in fitted.items():
        predicted = model.expected_purchases(split, horizon).to_numpy()
        by_bin = pd.DataFrame({"bin": bins, "error": predicted - actual}).groupby("bin", sort=False, observed=True)["error"].mean()
        rows[name] = {
            "predicted_purchases": float(predicted.sum()),
            "actual_purchases": float(actual.sum()),
            "percent_error": 100.0 * (predicted.sum() - actual.sum()) / actual.sum() if actual.sum() else np.nan,
            "mae": float(np.mean(np.abs(predicted - actual))),
            **{f"error_{label}": float(value) for label, value in by_bin.sort_index().items()},
        }
    return pd.DataFrame.from_dict(rows, orient="index")


#: How the comparison section writes each column: log-likelihoods differ in the decimals that matter.
_FORMATS = {"log-likelihood": "{:,.2f}", "BIC": "{:,.1f}", "holdout: predicted": "{:,.0f}", "actual": "{:,.0f}",
            "error (%)": "{:+.1f}", "MAE per customer": "{:.3f}", "fit (s)": "{:.2f}"}


def _formatted(table: pd.DataFrame) -> pd.DataFrame:
    return table.apply(lambda column: column.map(_FORMATS[column.name].format) if column.name in _FORMATS else column)


def model_comparison_section(
    models: dict,
    split: pd.DataFrame,
    transactions: pd.DataFrame | None = None,
    *,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    train_period_end=None,
    dpi: int = 100,
) -> tuple[str, str]:
    """The report's "Model comparison" section, a ``(title, html)`` pair for ``sections``.

    ``models`` are fitted models by name (:func:`fit_models`), ``split`` the data they were
    fitted on (a calibration/holdout split adds the holdout columns), ``transactions`` the
    log for the tracking plot (optional; ``train_period_end`` defaults to the models' own).
    """
    import html as _html

    from matplotlib.figure import Figure

    from .plotting.diagnostics import (
        plot_frequency_comparison,
        plot_tracking_comparison,
    )
    from .report import figure_html, table_html

    table = compare_models(split, models)
    best = table["bic"].idxmin()
    # the columns a reader compares, named for people; every column is in compare_models' table
    headers = {"parameters": "parameters", "log_likelihood": "log-likelihood", "bic": "BIC",
               "predicted_purchases": "holdout: predicted", "actual_purchases": "actual",
               "percent_error": "error (%)", "mae": "MAE per customer", "fit_seconds": "fit (s)"}
    shown = table[[column for column in headers if column in table.columns]].rename(columns=headers)
    shown.index = [
        f"{model.label} (k = {int(model.params_['k'])})" if "k" in model.params_ else model.label
        for model in models.values()
    ]
    as_of = split.attrs.get("observation_period_end")
    holdout = (f"; holdout to {split.attrs['test_period_end']} ({float(split['test_T'].iloc[0]):.4g} "
               f"{_UNIT_NAMES.get(table.attrs['time_unit'], 'time units')})"
               if "test_T" in split.columns and split.attrs.get("test_period_end") and len(split) else "")
    parts = [
        *([f"<p class='meta'>{_html.escape(f'Fitted on the transactions up to {as_of}{holdout}.')}</p>"]
          if as_of else []),
        "<p>" + _html.escape(
            f"The purchase models of the family fitted on the same {plural(table.attrs['n_customers'], 'customer')} "
            f"(time unit {table.attrs['time_unit']!r}). A lower BIC fits better for its number of parameters; here BIC prefers "
            f"{table.loc[best, 'model']}. The log-likelihoods are densities of the same purchase times, so "
            "they compare across models."
        ) + "</p>",
        table_html(_formatted(shown)),
    ]
    figure = Figure(figsize=(8.0, 4.8), layout="constrained")
    plot_frequency_comparison(models, split, ax=figure.subplots())
    parts.append(figure_html(figure, alt="Repeat-purchase frequency, data and each model",
                             caption="Customers by repeat purchases in training: the data and each model's expectation.",
                             dpi=dpi))
    if transactions is not None:
        figure = Figure(figsize=(8.0, 4.8), layout="constrained")
        plot_tracking_comparison(models, transactions, customer_id_col=customer_id_col, datetime_col=datetime_col,
                                 train_period_end=train_period_end, ax=figure.subplots())
        parts.append(figure_html(figure, alt="Tracking of cumulative repeat transactions, data and each model",
                                 caption="Cumulative repeat transactions of the training cohort: data and models.",
                                 dpi=dpi))
    return "Model comparison", "\n".join(parts)
