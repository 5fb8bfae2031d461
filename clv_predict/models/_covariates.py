"""Time-invariant covariates in the purchase models: the coefficients, the individual parameters, the likelihood.

Fader & Hardie's note "Incorporating time-invariant covariates into the Pareto/NBD and BG/NBD models" (2007)
and CLVTools make the scale of the purchase-rate distribution and the dropout parameters customer-specific:

* purchase process, every model: ``alpha_i = alpha * exp(-gamma_purchase' z_i)``. The purchase rate
  ``lambda ~ Gamma(r, alpha_i)`` has mean ``r / alpha_i``: a positive coefficient raises the purchase rate.
* Pareto/NBD dropout: ``beta_i = beta * exp(-gamma_dropout' z_i)``; the dropout rate ``mu ~ Gamma(s, beta_i)``
  has mean ``s / beta_i``: a positive coefficient raises the dropout rate.
* BG/NBD and MBG/NBD dropout (CLVTools' ``bgnbd`` with static covariates): ``a_i = a * exp(gamma_dropout' z_i)``
  and ``b_i = b * exp(gamma_dropout' z_i)``, one coefficient for both. The mean dropout probability
  ``a / (a + b)`` does not move; a positive coefficient concentrates ``p`` around it (fewer customers who leave
  at once or never), a negative one spreads it.

A model declares which of its parameters carry which process (``_covariate_links``) and its log-likelihood per
row with individual parameters (``_row_log_likelihood``); everything else is here, shared.
"""

from __future__ import annotations

import numpy as np

from .. import _rows

PROCESSES = ("purchase", "dropout")
#: Prefix of a coefficient held equal across the two processes (``constrain=[...]``).
CONSTRAINED = "purchase+dropout"


def coefficient_layout(encoding, purchase, dropout, constrain):
    """Names of the coefficients and, per process, the (design columns x coefficients) 0/1 loading matrix.

    A design column of a constrained covariate has one coefficient ``purchase+dropout:<name>`` loading on both
    processes; the others one per process they are named in: ``purchase:<name>``, ``dropout:<name>``.
    """
    names = []
    design = encoding.names
    source = []  # the source column of each design column
    for column in encoding.columns:
        count = len(encoding.levels[column]) - 1 if column in encoding.levels else 1
        source.extend([column] * count)
    loads = {process: [] for process in PROCESSES}
    for prefix, wanted in ((CONSTRAINED, set(constrain)), ("purchase", set(purchase) - set(constrain)),
                           ("dropout", set(dropout) - set(constrain))):
        for position, (name, column) in enumerate(zip(design, source)):
            if column in wanted:
                names.append(f"{prefix}:{name}")
                for process in PROCESSES:
                    loads[process].append(position if prefix in (CONSTRAINED, process) else -1)
    loadings = {}
    for process in PROCESSES:
        matrix = np.zeros((len(design), len(names)))
        for coefficient, position in enumerate(loads[process]):
            if position >= 0:
                matrix[position, coefficient] = 1.0
        loadings[process] = matrix
    return names, loadings


def design_column_of(names, design_names) -> np.ndarray:
    """Position in the design matrix of each coefficient (coefficient names are ``<prefix>:<design name>``)."""
    positions = {name: i for i, name in enumerate(design_names)}
    return np.array([positions[name.split(":", 1)[1]] for name in names], dtype=np.int64)


def individual_params(base, coefficients, design, loadings, links, param_names) -> np.ndarray:
    """Each row's parameters, shape (k, n): ``base`` times ``exp(sign * z' gamma_process)`` where linked."""
    base = np.asarray(base, dtype=float)
    out = np.repeat(base[:, None], design.shape[0], axis=1)
    for process in PROCESSES:
        linked = [(j, links[name][1]) for j, name in enumerate(param_names) if links.get(name, ("", 0))[0] == process]
        if not linked:
            continue
        eta = design @ (loadings[process] @ coefficients)
        for j, sign in linked:
            out[j] = base[j] * np.exp(sign * eta)
    return out


#: Up to this many covariate patterns, the likelihood runs the model's own compressed-rows code once per pattern
#: (its rows share parameters); above (numeric covariates), it runs per row with individual parameters.
PATTERN_LIMIT = 64


def _chain_rule(base, in_logs, design, loadings, links, param_names) -> np.ndarray:
    """Gradient in (base parameters, coefficients) from the derivatives in the log of each row's individual
    parameters, ``in_logs`` (k x rows), through ``p_i = p exp(sign z_i' gamma_process)``."""
    k = len(param_names)
    n_coefficients = next(iter(loadings.values())).shape[1]
    gradient = np.zeros(k + n_coefficients)
    gradient[:k] = in_logs.sum(axis=1) / base
    for j, name in enumerate(param_names):
        if name in links:
            process, sign = links[name]
            gradient[k:] += sign * (loadings[process].T @ (design.T @ in_logs[j]))
    return gradient


class CovariateRows(_rows._Cached):
    """Sum of weighted log-likelihoods over rows with individual parameters, and its gradient.

    The parameter vector is the model's parameters (scaled time) followed by the coefficients; ``row_function``
    gives each row's log-likelihood and its derivatives in the individual parameters, which the chain rule
    through ``p_i = p exp(sign z_i' gamma)`` turns into derivatives in ``p`` and ``gamma``.
    """

    def __init__(self, row_function, columns, design, weights, loadings, links, param_names):
        super().__init__()
        self.row_function = row_function
        self.columns = columns
        self.design = np.asarray(design, dtype=float)
        self.w = np.asarray(weights, dtype=float)
        self.loadings, self.links, self.param_names = loadings, links, list(param_names)
        self.k = len(self.param_names)

    def _evaluate(self, params):
        base, coefficients = params[: self.k], params[self.k :]
        individual = individual_params(base, coefficients, self.design, self.loadings, self.links, self.param_names)
        values, derivatives = self.row_function(individual, self.columns)
        in_logs = derivatives * individual * self.w
        gradient = _chain_rule(base, in_logs, self.design, self.loadings, self.links, self.param_names)
        return float(_rows._dot(self.w, values)), gradient


class PatternRows(_rows._Cached):
    """The same sum when the covariates take few patterns: the model's own compressed rows, once per pattern.

    Customers of one pattern share their parameters, so each pattern's rows are the model's fast
    ``_make_rows`` object (terms shared across equal x, T, t_x), evaluated at the pattern's parameters.
    """

    def __init__(self, make_rows, columns, design, weights, loadings, links, param_names):
        super().__init__()
        from ._base import (
            _distinct_rows,  # the models package imports this module first
        )

        codes, patterns = _distinct_rows(list(np.asarray(design, dtype=float).T))
        self.patterns = np.column_stack(patterns)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(self.patterns.shape[0] + 1))
        weights = np.asarray(weights, dtype=float)
        self.groups = []
        for group in range(self.patterns.shape[0]):
            rows = order[bounds[group]: bounds[group + 1]]
            self.groups.append(make_rows({name: values[rows] for name, values in columns.items()}, weights[rows]))
        self.loadings, self.links, self.param_names = loadings, links, list(param_names)
        self.k = len(self.param_names)

    def _evaluate(self, params):
        base, coefficients = params[: self.k], params[self.k :]
        individual = individual_params(base, coefficients, self.patterns, self.loadings, self.links, self.param_names)
        value = 0.0
        in_logs = np.empty_like(individual)
        for group, rows in enumerate(self.groups):
            group_value, group_gradient = rows(individual[:, group])
            value += group_value
            in_logs[:, group] = group_gradient * individual[:, group]
        gradient = _chain_rule(base, in_logs, self.patterns, self.loadings, self.links, self.param_names)
        return float(value), gradient
