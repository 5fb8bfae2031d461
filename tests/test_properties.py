"""Invariants on generated logs and parameters (hypothesis, derandomized, modest example counts).

P(alive) in [0, 1]; expected purchases non-negative and non-decreasing in the horizon; CLV non-increasing in
the discount rate; summaries and forecasts unchanged by row order, by the type of the customer ids and by
scoring in chunks.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clv_predict import BetaGeoModel, DataWarning, _math, rfm_summary, score_file

PROPERTY_SETTINGS = settings(
    max_examples=25, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
END = "2024-12-31"


@st.composite
def logs(draw, max_rows=60):
    """A transaction log: up to 12 customers over 2024, amounts in cents, some zero, same-day repeats likely."""
    n = draw(st.integers(1, max_rows))
    ids = draw(st.lists(st.integers(1, 12), min_size=n, max_size=n))
    days = draw(st.lists(st.integers(0, 365), min_size=n, max_size=n))
    cents = draw(st.lists(st.one_of(st.just(0), st.integers(1, 50_000)), min_size=n, max_size=n))
    return pd.DataFrame(
        {
            "customer_id": np.array(ids, dtype=np.int64),
            "date": pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D"),
            "amount": np.array(cents, dtype=float) / 100,
        }
    )


def _summary(log):
    return rfm_summary(
        log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
        observation_period_end=END, time_unit="W",
    )


parameters = st.tuples(
    st.floats(0.01, 50.0),  # r
    st.floats(0.01, 100.0),  # alpha
    st.floats(1e-4, 20.0),  # a
    st.floats(1e-4, 100.0),  # b
)


@PROPERTY_SETTINGS
@given(params=parameters, x=st.integers(0, 2_000), T=st.floats(1e-3, 200.0), recency_share=st.floats(0.0, 1.0))
def test_probability_alive_and_expected_purchases_for_any_valid_parameters(params, x, T, recency_share):
    t_x = 0.0 if x == 0 else T * recency_share
    alive = _math.bgnbd_probability_alive(params, x, t_x, T)
    assert 0.0 <= alive <= 1.0
    horizons = np.array([0.0, 1.0, 4.0, 13.0, 52.0, 104.0])
    expected = _math.bgnbd_conditional_expected(params, np.full(6, x), np.full(6, t_x), np.full(6, T), horizons)
    assert np.all(np.isfinite(expected)) and expected[0] == 0 and np.all(expected >= 0)
    assert np.all(np.diff(expected) >= -1e-9 * max(expected[-1], 1e-300))


@PROPERTY_SETTINGS
@given(params=parameters, x=st.integers(0, 500), T=st.floats(0.5, 150.0), rates=st.lists(st.floats(0.0, 0.2), min_size=2, max_size=4))
def test_discounted_purchases_fall_as_the_discount_rate_rises(params, x, T, rates):
    model = BetaGeoModel.from_params(**dict(zip(("r", "alpha", "a", "b"), params)))
    one = np.array([1.0])
    values = [model._forecast(np.array([float(x)]), one * 0.0, np.array([T]), 26, rate, p_alive=one)[1][0]
              for rate in sorted(rates)]
    assert np.all(np.isfinite(values)) and values[0] >= 0
    assert np.all(np.diff(values) <= 1e-9 * max(values[0], 1e-300))


@PROPERTY_SETTINGS
@given(log=logs())
def test_forecasts_on_generated_logs_obey_the_invariants(cdnow_model, log):
    rfm = _summary(log)
    short = cdnow_model.predict(rfm, horizon=4)
    long = cdnow_model.predict(rfm, horizon=52)
    assert long["p_alive"].between(0, 1).all()
    assert (short["expected_purchases"] >= 0).all()
    assert (long["expected_purchases"] >= short["expected_purchases"] - 1e-12).all()
    clv = [cdnow_model.predict(rfm, horizon=52, discount_rate=rate)["clv"] for rate in (0.0, 0.002, 0.02)]
    assert all((later <= earlier * (1 + 1e-12) + 1e-12).all() for earlier, later in zip(clv, clv[1:]))
    assert all(np.isfinite(c).all() and (c >= 0).all() for c in clv)


@PROPERTY_SETTINGS
@given(log=logs(), seed=st.integers(0, 2**32 - 1))
def test_row_order_and_id_type_change_nothing(cdnow_model, log, seed):
    rfm = _summary(log)
    shuffled = _summary(log.sample(frac=1.0, random_state=np.random.RandomState(seed)).reset_index(drop=True))
    pd.testing.assert_frame_equal(shuffled, rfm)
    as_text = _summary(log.assign(customer_id=log["customer_id"].map(lambda i: f"{i}")))
    as_text.index = as_text.index.astype(np.int64)
    pd.testing.assert_frame_equal(as_text.sort_index(), rfm, check_index_type=False)
    pd.testing.assert_frame_equal(
        cdnow_model.predict(as_text, horizon=26).sort_index(), cdnow_model.predict(rfm, horizon=26)
    )


@settings(max_examples=10, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=logs(max_rows=80), chunk_rows=st.integers(1, 40))
def test_scoring_in_chunks_equals_scoring_at_once(cdnow_model, log, chunk_rows):
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "log.csv"
        log.assign(date=log["date"].dt.strftime("%Y-%m-%d")).to_csv(source, index=False)
        outputs = []
        for rows in (chunk_rows, 1_000_000):
            target = Path(folder) / f"scores_{rows}.csv"
            score_file(cdnow_model, source, target, horizon=26, discount_rate=0.002, observation_period_end=END, chunk_rows=rows)
            outputs.append(pd.read_csv(target, dtype={"customer_id": str}).sort_values("customer_id").reset_index(drop=True))
    pd.testing.assert_frame_equal(outputs[0], outputs[1], rtol=1e-12)
    expected = cdnow_model.predict(_summary(log), horizon=26, discount_rate=0.002)
    np.testing.assert_allclose(
        outputs[1].set_index(outputs[1]["customer_id"].astype(np.int64)).sort_index()["clv"], expected["clv"], rtol=1e-10
    )


@PROPERTY_SETTINGS
@given(log=logs(), returns=st.lists(st.tuples(st.integers(0, 59), st.integers(1, 100_000)), max_size=10))
def test_netting_returns_keeps_a_subset_of_purchase_days(log, returns):
    """Returns added to a log: 'net' keeps a subset of the purchase days 'drop' keeps, and no negative spend."""
    extra = [
        {"customer_id": log["customer_id"].iloc[i % len(log)], "date": log["date"].iloc[i % len(log)], "amount": -c / 100}
        for i, c in returns
    ]
    messy = pd.concat([log, pd.DataFrame(extra, columns=log.columns)], ignore_index=True) if extra else log
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        try:
            net = rfm_summary(messy, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
                              observation_period_end=END, negative_amounts="net")
        except ValueError:
            return  # every purchase returned: an error, never a summary
        drop = rfm_summary(messy, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
                           observation_period_end=END, negative_amounts="drop")
    assert set(net.index) <= set(drop.index)
    common = net.index
    assert (net["frequency"] <= drop.loc[common, "frequency"]).all()
    assert (net["monetary_value"] >= 0).all() and np.isfinite(net["monetary_value"]).all()
