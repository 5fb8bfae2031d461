"""Covariate coefficients of the spend and retention models (Gamma-Gamma, sBG): one shared fitting scheme.

A model with covariates makes some of its parameters individual, ``theta_i = theta exp(gamma' z_i)``, and
fits ``gamma`` with its own parameters. The shared optimiser works on the logarithm of positive
parameters; here each coefficient is presented to it as the positive multiplier ``exp(gamma)``, whose
logarithm is the coefficient itself, so the starts, the sample-then-polish and the convergence checks
apply unchanged. The penalty ``covariate_penalizer`` falls on the coefficients alone (``penalizer_coef``
keeps weighing the model's own parameters), and numeric covariates are fitted per standard deviation of
their column, then reported per unit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._validation import check_nonnegative_number
from ..covariates import UNSEEN_CHOICES, CovariateEncoding, check_covariate_names
from ..exceptions import DataError


class _CoefficientsMixin:
    """What Gamma-Gamma and sBG share to take covariates; the model class comes after it in the bases.

    The model sets ``_covariate_encoding`` (a :class:`~clv_predict.covariates.CovariateEncoding`) and an
    instance ``_param_names`` (its own parameters, then the coefficients' names) when it fits with
    covariates; ``data["design_columns"]`` tells the objective that the fit has coefficients.
    """

    def __init__(self, penalizer_coef: float = 0.0, engine: str = "native", *, covariates=None,
                 covariate_penalizer: float = 0.0, covariate_reference: dict | None = None, unseen: str = "error"):
        super().__init__(penalizer_coef, engine)
        self.covariates = covariates
        self.covariate_penalizer = covariate_penalizer
        self.covariate_reference = covariate_reference
        self.unseen = unseen

    def _check_covariate_settings(self) -> list[str]:
        columns = check_covariate_names(self.covariates, "covariates")
        check_nonnegative_number(self.covariate_penalizer, "covariate_penalizer")
        if self.unseen not in UNSEEN_CHOICES:
            raise DataError(f"'unseen' must be one of {', '.join(map(repr, UNSEEN_CHOICES))}; got {self.unseen!r}")
        if self.covariate_reference is not None and not isinstance(self.covariate_reference, dict):
            raise DataError(f"'covariate_reference' must be a dict {{column: level}}; got {self.covariate_reference!r}")
        if columns and self.engine != "native":
            raise DataError(
                f"engine={self.engine!r} cannot fit covariates of {type(self).__name__}; use engine='native'"
            )
        return columns

    def _forget_covariates(self) -> None:
        """Back to the class's parameter names (a refit without covariates)."""
        self.__dict__.pop("_param_names", None)
        self._covariate_encoding = None

    def _learn_covariates(self, table: pd.DataFrame, what: str) -> np.ndarray:
        """Fit the encoding on ``table`` and take it; the design divided by each column's spread."""
        encoding = CovariateEncoding.fit(table, self.covariates, reference=self.covariate_reference, what=what)
        self._adopt_encoding(encoding)
        return encoding.transform(table, what=what).to_numpy() / encoding.scales

    def _covariate_state(self) -> dict | None:
        """What a saved file keeps beyond the settings: the encoding learnt in training (names follow from it)."""
        encoding = getattr(self, "_covariate_encoding", None)
        return None if encoding is None else {"encoding": encoding.to_dict()}

    def _restore_covariate_state(self, state: dict) -> None:
        self._adopt_encoding(CovariateEncoding.from_dict(state["encoding"]))

    def _adopt_encoding(self, encoding: CovariateEncoding) -> None:
        """Use ``encoding`` as if learnt in training: the coefficients' names follow from it."""
        self._covariate_encoding = encoding
        self._param_names = (*type(self)._param_names, *self._coefficient_names_of(encoding.names))

    def _coefficient_names_of(self, design_names: list[str]) -> list[str]:
        """The coefficients' names in ``params_`` for the design columns ``design_names``."""
        raise NotImplementedError

    @property
    def _n_own(self) -> int:
        return len(type(self)._param_names)

    def _penalty_factors(self, size: int) -> np.ndarray:
        """Penalty per parameter: ``penalizer_coef`` on the model's own, ``covariate_penalizer`` on the rest."""
        own = self._n_own
        return np.concatenate([np.full(own, float(self.penalizer_coef)),
                               np.full(size - own, float(self.covariate_penalizer))])

    def _sample(self, data):
        """The shared sample of the customers (see ``_ParametricModel._sample``), told that it has coefficients:
        without ``design_columns`` its objective would read the multipliers as the coefficients themselves
        (a wrong optimum, which the polish on all customers then failed to leave)."""
        sample = super()._sample(data)
        if sample is not None and "design_columns" in data:
            sample.update({key: data[key] for key in ("design_columns", "penalty_units") if key in data})
        return sample

    def _natural(self, positive: np.ndarray) -> np.ndarray:
        """The model's parameters and the coefficients from the optimiser's positive coordinates."""
        natural = np.array(positive, dtype=float)
        natural[self._n_own :] = np.log(natural[self._n_own :])
        return natural

    def _negative_objective(self, data, scaled):
        if "design_columns" not in data:
            return super()._negative_objective(data, scaled)
        at = self._natural(scaled)
        penalty = data.get("penalty_units", 1.0)
        return -data["rows"].value(at) / data["n"] + self._penalty_factors(at.size) @ (at * penalty) ** 2

    def _negative_objective_gradient(self, data, scaled):
        if "design_columns" not in data:
            return super()._negative_objective_gradient(data, scaled)
        at = self._natural(scaled)
        penalty = data.get("penalty_units", 1.0)
        gradient = -data["rows"].gradient(at) / data["n"] + 2 * self._penalty_factors(at.size) * at * penalty**2
        gradient[self._n_own :] /= scaled[self._n_own :]  # the optimiser's coordinate is the multiplier exp(gamma)
        return gradient

    def _fit_coefficients(self, data, coefficient_scales: np.ndarray) -> None:
        """Optimise; set ``params_``, ``log_likelihood_``, ``covariance_``, ``standard_errors_`` in natural units.

        ``coefficient_scales`` is the spread of each coefficient's design column: the fit sees the
        columns divided by it, so a coefficient of the fit is ``spread * gamma``.
        """
        own = self._n_own
        # the penalty is on the coefficients per unit of their column, as the user states them
        data["penalty_units"] = np.concatenate([np.ones(own), 1.0 / coefficient_scales])
        with np.errstate(all="ignore"):
            positive = self._optimise(data)
        natural = self._natural(positive)
        self.log_likelihood_ = float(data["rows"].value(natural))

        def total_gradient(point):
            # in (own parameters, exp(gamma)): every coordinate positive and of size ~1, so the shared
            # finite-difference steps (relative to the point) suit the coefficients too
            at = self._natural(point)
            units = data["penalty_units"]
            gradient = -data["rows"].gradient(at) + 2 * data["n"] * self._penalty_factors(at.size) * at * units**2
            gradient[own:] /= point[own:]
            return gradient

        with np.errstate(all="ignore"):
            self._set_covariance(total_gradient, positive)
        # d gamma = d multiplier / multiplier; then per unit of each column
        factors = np.concatenate([np.ones(own), 1.0 / (positive[own:] * coefficient_scales)])
        covariance = self.covariance_.to_numpy() * np.outer(factors, factors)
        natural[own:] /= coefficient_scales
        names = list(self._param_names)
        self.params_ = pd.Series(natural, index=names, name="estimate")
        self.covariance_ = pd.DataFrame(covariance, index=names, columns=names)
        self.standard_errors_ = pd.Series(np.sqrt(np.diag(covariance)), index=names, name="standard_error")

    # ------------------------------------------------------------------ the hooks of _ParametricModel._pattern_models
    def _coefficient_param_names(self) -> list[str]:
        return list(self._param_names[self._n_own :])

    def _covariate_design(self, frame, *, what: str = "rfm", unseen: str | None = None) -> np.ndarray | None:
        return self._design(frame, unseen=unseen, what=what)

    def _without_covariates(self) -> None:
        self._forget_covariates()
        self.covariates = None

    # ------------------------------------------------------------------ fitted figures
    @property
    def coefficients_(self) -> pd.Series:
        """The covariate coefficients of ``params_`` (empty without covariates)."""
        self._check_fitted()
        return self.params_.iloc[self._n_own :].rename("coefficient")

    @property
    def covariate_encoding_(self) -> CovariateEncoding | None:
        """How the covariate columns were encoded in training (levels, reference levels), or None."""
        self._check_fitted()
        return getattr(self, "_covariate_encoding", None)

    def _design(self, frame: pd.DataFrame, *, unseen: str | None = None, what: str = "rfm") -> np.ndarray | None:
        """The encoded covariates of ``frame`` in natural units (None for a model without covariates)."""
        encoding = getattr(self, "_covariate_encoding", None)
        if encoding is None:
            return None
        return encoding.transform(frame, unseen=unseen or self.unseen, what=what).to_numpy()

    def _profile_design(self, profile, *, unseen: str | None = None) -> tuple[pd.DataFrame, np.ndarray | None]:
        """The profiles' table and design; one row and no design for a model without covariates."""
        encoding = getattr(self, "_covariate_encoding", None)
        if encoding is None:
            return pd.DataFrame(index=pd.RangeIndex(1)), None
        if profile is None:
            raise DataError(
                f"this {type(self).__name__} has covariates: give a 'profile' with "
                f"{', '.join(map(repr, encoding.columns))}"
            )
        frame = encoding.profile_frame(profile)
        return frame, encoding.transform(frame, unseen=unseen or self.unseen, what="profile").to_numpy()
