"""The fast computation of the per-customer bounds (one survival walk for the bounds and the moments, the value
bounds' gamma quantiles once per distinct purchase row, the buyers' spend pairs only) gives what the direct one
gives: the direct computation is written out here as it stood before, and compared on random tables."""

import functools
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

from clv_predict import GammaGammaModel
from clv_predict.models import _intervals, purchase_model_class
from clv_predict.models._base import _distinct_rows

GIVEN = {
    "bg_nbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    "mbg_nbd": {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614},
    "pareto_nbd": {"r": 0.553, "alpha": 10.58, "s": 0.606, "beta": 11.67},
    "bg_cnbd_k": {"r": 0.5, "alpha": 10.0, "a": 0.8, "b": 2.5, "k": 2},
}


# --------------------------------------------------------------------------- the direct computation
def direct_survival(bounds, models, alive_rows, horizon, n):
    """P(X >= n | alive) of the alive rows at every model, (rows, D, n), each block afresh."""
    columns = [c[alive_rows] for c in bounds.alive_columns]
    return np.stack([m._survival_if_alive_values(m._params(), *columns, horizon, n) for m in models], axis=1)


def direct_counts(bounds, models, alive_of_draw, horizon):
    """The bounds by a walk of their own (blocks of 4 doubling to 256), the moments by another from n = 1."""
    rows, draws = alive_of_draw.shape
    lower, upper, none = np.full(rows, -1), np.full(rows, -1), np.zeros(rows)
    active, start, block = np.arange(rows), 1, 4
    while active.size and start <= _intervals._MOST_COUNTS:
        needed, position = np.unique(bounds.alive_codes[active], return_inverse=True)
        n = np.arange(start, start + block, dtype=float)
        survival = direct_survival(bounds, models, needed, horizon, n)
        mixed = np.einsum("rd,rdb->rb", alive_of_draw[active], survival[position])
        if start == 1:
            none[active] = 1.0 - mixed[:, 0]
        for bound, level in ((lower, 1 - bounds.alpha), (upper, bounds.alpha)):
            reached = mixed <= level
            found = (bound[active] < 0) & reached.any(axis=1)
            bound[active[found]] = start + np.argmax(reached, axis=1)[found] - 1
        active = active[upper[active] < 0]
        start += block
        block = min(2 * block, 256)
    size = bounds.alive_columns[0].size
    first_sum, second_sum = np.zeros((size, draws)), np.zeros((size, draws))
    active, start, block = np.arange(size), 1, 16
    while active.size and start <= _intervals._MOST_COUNTS:
        block = int(max(1, min(block, _intervals._CELLS // max(1, draws * active.size))))
        n = np.arange(start, start + block, dtype=float)
        survival = direct_survival(bounds, models, active, horizon, n)
        first_sum[active] += survival.sum(axis=2)
        second_sum[active] += survival @ (2 * n - 1)
        active = active[survival[:, :, -1].max(axis=1) >= _intervals._TAIL]
        start += block
        block = min(2 * block, 1024)
    mean = np.einsum("rd,rd->r", alive_of_draw, first_sum[bounds.alive_codes])
    second = np.einsum("rd,rd->r", alive_of_draw, second_sum[bounds.alive_codes])
    return lower, upper, none, mean, second


def direct_value_bounds(bounds, spend_model, x, m, interval, margin):
    """Moment matching per customer's distinct (purchase row, mean spend)."""
    alpha = (1.0 - interval) / 2
    p, q, v = spend_model.params_.to_numpy()
    m = np.where(x > 0, m, 0.0)
    codes, (row, m) = _distinct_rows([bounds.codes.astype(float), m])
    row = row.astype(np.int64)
    x = bounds.frequency[row]
    shape, rate = q + p * x, v + x * m
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        first = np.where(shape > 1, p * rate / (shape - 1), np.inf)
        cross = np.where(shape > 2, rate**2 / ((shape - 1) * (shape - 2)), np.inf)
        none = np.clip(bounds.none[row], 0.0, 1.0)
        total_mean = bounds.mean[row] * first
        total_second = (p * p * bounds.second[row] + p * bounds.mean[row]) * cross
        positive = np.maximum(1.0 - none, 1e-300)
        mean_pos = total_mean / positive
        var_pos = np.maximum(total_second / positive - mean_pos**2, 1e-12 * mean_pos**2)
        usable = np.isfinite(var_pos) & (mean_pos > 0)
        k, scale = np.where(usable, mean_pos**2 / var_pos, 1.0), np.where(usable, var_pos / mean_pos, 0.0)
        ratio = np.where(bounds.expected[row] > 0, bounds.discounted[row] / bounds.expected[row], 1.0)
        out = []
        for level in (alpha, 1 - alpha):
            quantile = np.zeros(row.size)
            needed = (level > none) & (mean_pos > 0)
            u = np.clip((level - none[needed]) / positive[needed], 0.0, 1.0)
            quantile[needed] = special.gammaincinv(k[needed], u) * scale[needed]
            quantile = np.where(np.isfinite(total_second) | (level <= none), quantile, np.inf)
            out.append((margin * ratio * quantile)[codes])
    return out


def direct_value_confidence(bounds, spend_model, x, m, interval, margin):
    """The spend's log moments over the sigma points per distinct (frequency, mean spend) of all customers."""
    points, weights = _intervals.sigma_point_models(spend_model)
    pairs, (ux, um) = _distinct_rows([x, np.where(x > 0, m, 0.0)])
    spend = np.stack([s._expected_spend_values(ux, um) for s in points])
    spend_mean, spend_var = _intervals._log_moments(spend, weights)
    log_mean = bounds.customers(bounds.log_mean + bounds.log_factor) + spend_mean[pairs] + np.log(margin)
    log_var = bounds.customers(bounds.log_var) + spend_var[pairs]
    return _intervals._log_normal(log_mean, log_var, (1.0 - interval) / 2)


# --------------------------------------------------------------------------- the comparison
@functools.lru_cache
def fitted(name):
    truth = purchase_model_class(name).from_params(**GIVEN[name], time_unit="W")
    training = truth.simulate(1500, np.random.default_rng(2).uniform(20, 60, 1500), seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return purchase_model_class(name)(**({"k": GIVEN[name]["k"]} if "k" in GIVEN[name] else {})).fit(training)


@pytest.fixture(scope="module")
def spend_model():
    rng = np.random.default_rng(5)
    frequency = rng.integers(1, 12, 800)
    spend = rng.gamma(6.0, 1.0 / rng.gamma(3.0, 1 / 15.0, 800)) * 1.0
    return GammaGammaModel().fit(pd.DataFrame({"frequency": frequency, "recency": 1.0, "T": 2.0,
                                               "monetary_value": spend}))


def random_table(seed, customers=600, buyers_only=False):
    """Customers drawn with repeated (frequency, recency, T) rows and repeated mean spends, as real tables have."""
    rng = np.random.default_rng(seed)
    T = rng.choice(np.arange(10.0, 60.0, 1 / 7), customers)
    x = rng.integers(1 if buyers_only else 0, 25, customers) * (rng.random(customers) < 0.7)
    if buyers_only:
        x = np.maximum(x, 1)
    t_x = np.where(x > 0, np.round(T * rng.beta(3, 1, customers) * 7) / 7, 0.0)
    m = np.where(x > 0, rng.choice(np.round(rng.gamma(3, 12, 200), 2), customers), 0.0)
    return x.astype(float), t_x, T, m


CASES = [(name, interval) for name in ("bg_nbd", "mbg_nbd", "bg_cnbd_k") for interval in (0.9, 0.5, 1 - 1e-6 / 2)]


# an interval so wide that its bounds' walk goes past the moments' (1 - 1e-6 / 2); Pareto/NBD's survival is the
# slow one (a quadrature per count): once, on fewer customers
@pytest.mark.parametrize(("name", "interval"), [*CASES, ("pareto_nbd", 0.9)])
def test_fast_bounds_equal_the_direct_computation(name, interval, spend_model):
    model = fitted(name)
    x, t_x, T, m = random_table(len(name) + int(interval * 10), customers=150 if name == "pareto_nbd" else 600)
    horizon, rate, margin = 52.0, 0.003, 0.3
    bounds = _intervals.PurchaseBounds(model, x, t_x, T, horizon, interval, discount_rate=rate, moments=True)
    models, weights = _intervals.sigma_point_models(model)
    assert len(models) > 1  # the mixture over the parameters is what is compared
    rows = _rows(bounds, x, t_x, T)
    alive = np.column_stack([point._probability_alive_values(point._params(), *rows) for point in models])
    lower, upper, none, mean, second = direct_counts(bounds, models, alive * weights[None, :], horizon)
    np.testing.assert_array_equal(bounds.lower, lower)
    np.testing.assert_array_equal(bounds.upper, upper)
    np.testing.assert_allclose(bounds.none, none, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(bounds.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(bounds.second, second, rtol=1e-12)
    for fast, direct in zip(_intervals.value_bounds(bounds, spend_model, x, m, interval, margin),
                            direct_value_bounds(bounds, spend_model, x, m, interval, margin)):
        assert np.array_equal(np.isinf(fast), np.isinf(direct))
        np.testing.assert_allclose(fast, direct, rtol=1e-12)
    for fast, direct in zip(_intervals.value_confidence(bounds, spend_model, None, x, m, interval, margin),
                            direct_value_confidence(bounds, spend_model, x, m, interval, margin)):
        np.testing.assert_allclose(fast, direct, rtol=1e-12)


def _rows(bounds, x, t_x, T):
    first = np.unique(bounds.codes, return_index=True)[1]  # a customer of each distinct row, in the rows' order
    return x[first], t_x[first], T[first]


@pytest.mark.parametrize("buyers_only", [True, False])
def test_fast_bounds_without_moments_and_on_tables_of_one_kind_of_customer(buyers_only, spend_model):
    model = fitted("bg_nbd")
    x, t_x, T, m = random_table(11, customers=300, buyers_only=buyers_only)
    if not buyers_only:
        x, t_x, m = np.zeros_like(x), np.zeros_like(t_x), np.zeros_like(m)  # nobody has bought again
    with_moments = _intervals.PurchaseBounds(model, x, t_x, T, 26.0, 0.8, moments=True)
    alone = _intervals.PurchaseBounds(model, x, t_x, T, 26.0, 0.8)
    np.testing.assert_array_equal(alone.lower, with_moments.lower)
    np.testing.assert_array_equal(alone.upper, with_moments.upper)
    for fast, direct in zip(_intervals.value_confidence(with_moments, spend_model, None, x, m, 0.8, 1.0),
                            direct_value_confidence(with_moments, spend_model, x, m, 0.8, 1.0)):
        np.testing.assert_allclose(fast, direct, rtol=1e-12)


@pytest.mark.parametrize("params", [(0.553, 10.58, 0.606, 11.67), (2.0, 1.0, 0.3, 50.0), (0.2, 0.5, 3.0, 0.5)])
def test_pareto_nbd_survival_walk_gives_each_block_what_a_fresh_computation_gives(params):
    """The walk carries its recursions from block to block; its values are those computed afresh for each block,
    through rows whose rule stops agreeing (they start the next rule), rows no rule serves (quadrature,
    the last two parameter vectors) and rows leaving the walk; a block out of turn is answered afresh. The same
    sums in the same order: equal but for the last bit where a matrix product's rounding follows a row's place."""
    from clv_predict.models import pareto_nbd

    params = np.asarray(params)
    rng = np.random.default_rng(5)
    x = rng.integers(0, 150, 300).astype(float)
    T = rng.uniform(0.5, 80.0, 300)
    walk = purchase_model_class("pareto_nbd")()._survival_walk(params, x, x * 0, T, 52.0)
    rows, start, block, switched = np.arange(x.size), 1, 4, 0
    while rows.size and start < 200:
        n = np.arange(start, start + block, dtype=float)
        fresh = pareto_nbd.pareto_nbd_survival_if_alive(params, x[rows], T[rows], 52.0, n)
        before = walk.rule.copy()
        np.testing.assert_allclose(walk.survival(rows, n), fresh, rtol=0, atol=1e-15)
        switched += np.sum((before >= 0) & (walk.rule != before))
        rows = rows[(fresh[:, -1] >= 1e-6) & (rng.random(rows.size) < 0.9)]
        start, block = start + block, min(2 * block, 64)
    assert switched > 0  # rows changed rule after their first block
    assert np.any(walk.rule == len(pareto_nbd._RULES))  # and some took the quadrature
    # out of turn: afresh
    n = np.arange(1.0, 5.0)
    some = np.arange(0, x.size, 7)
    np.testing.assert_array_equal(walk.survival(some, n),
                                  pareto_nbd.pareto_nbd_survival_if_alive(params, x[some], T[some], 52.0, n))


@pytest.mark.parametrize("name", sorted(GIVEN))
def test_probability_alive_at_several_parameter_vectors_is_each_ones(name):
    model = fitted(name)
    x, t_x, T, _ = random_table(3, customers=400)
    points = [model._params() * factor for factor in (1.0, 0.9, 1.1)]
    together = model._probability_alive_at(points, x, t_x, T)
    for one, params in zip(together, points):
        np.testing.assert_array_equal(one, model._probability_alive_values(params, x, t_x, T))


def test_pareto_nbd_survival_walk_beyond_its_state_budget_answers_afresh(monkeypatch):
    from clv_predict.models import pareto_nbd

    monkeypatch.setattr(pareto_nbd, "_WALK_CELLS", 10)
    params = np.array(list(GIVEN["pareto_nbd"].values()))
    x, T = np.array([0.0, 3.0, 12.0]), np.array([30.0, 40.0, 52.0])
    walk = pareto_nbd._SurvivalWalk(params, x, T, 26.0)
    assert not walk.stateful
    for start in (1, 5):
        n = np.arange(start, start + 4, dtype=float)
        np.testing.assert_array_equal(walk.survival(np.arange(3), n),
                                      pareto_nbd.pareto_nbd_survival_if_alive(params, x, T, 26.0, n))


def test_value_bounds_in_two_threads_are_the_same(spend_model, monkeypatch):
    # large tables compute the two levels' quantiles side by side: bitwise the values of one after the other
    model = fitted("bg_nbd")
    x, t_x, T, m = random_table(3)
    bounds = _intervals.PurchaseBounds(model, x, t_x, T, 52.0, 0.9, discount_rate=0.003, moments=True)
    one_thread = _intervals.value_bounds(bounds, spend_model, x, m, 0.9, 0.3)
    monkeypatch.setattr(_intervals, "_THREADED_ROWS", 0)
    for threaded, single in zip(_intervals.value_bounds(bounds, spend_model, x, m, 0.9, 0.3), one_thread):
        np.testing.assert_array_equal(threaded, single)
