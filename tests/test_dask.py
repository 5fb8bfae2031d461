"""The Dask path gives the single-machine results, on a two-worker local cluster."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")
dd = pytest.importorskip("dask.dataframe")

from distributed import Client, LocalCluster

from clv_predict import CLVModel, DataError, rfm_summary
from clv_predict import dask as clv_dask
from clv_predict.synthetic import simulate_transactions

END = "2021-04-14"


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            yield client


@pytest.fixture(scope="module")
def log():
    # ordered by date, so each customer's purchases are spread over several partitions
    return simulate_transactions(3000, seed=7, order="date")


@pytest.fixture(scope="module")
def local_rfm(log):
    return rfm_summary(log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
                       observation_period_end=END, time_unit="W")


@pytest.fixture(scope="module")
def dask_rfm(client, log):
    transactions = dd.from_pandas(log, npartitions=4, sort=False)
    return clv_dask.rfm_summary(transactions, customer_id_col="customer_id", datetime_col="date",
                                monetary_value_col="amount", observation_period_end=END, time_unit="W").persist()


def test_customers_spread_over_partitions_are_summarised_whole(log, local_rfm, dask_rfm):
    transactions = dd.from_pandas(log, npartitions=4, sort=False)
    ids_per_partition = [set(part["customer_id"]) for part in transactions.partitions]
    assert any(ids_per_partition[0] & other for other in ids_per_partition[1:])  # the test means something
    summary = dask_rfm.compute().sort_index()
    assert summary.index.is_unique and len(summary) == len(local_rfm)
    pd.testing.assert_frame_equal(summary[["frequency", "recency", "T"]], local_rfm[["frequency", "recency", "T"]],
                                  check_index_type=False)
    np.testing.assert_allclose(summary["monetary_value"], local_rfm["monetary_value"], rtol=1e-12)


def test_fit_on_compressed_rows_equals_the_single_machine_fit(dask_rfm, local_rfm):
    model = clv_dask.fit(dask_rfm, time_unit="W", observation_period_end=END)
    local = CLVModel(engine="native").fit(local_rfm)
    np.testing.assert_allclose(model.params_, local.params_, rtol=1e-7)
    assert model.n_customers_ == local.n_customers_ == 3000
    assert model.n_repeat_customers_ == local.n_repeat_customers_
    assert model.spend_model_.n_customers_ == local.spend_model_.n_customers_
    assert model.time_unit_ == "W" and model.observation_period_end_ == END


@pytest.mark.parametrize("name", ["pareto_nbd", "bg_cnbd_k"])
def test_any_purchase_model_fits_through_dask_as_on_one_machine(client, log, name):
    transactions = dd.from_pandas(log, npartitions=4, sort=False)
    options = {"customer_id_col": "customer_id", "datetime_col": "date", "monetary_value_col": "amount",
               "observation_period_end": END, "time_unit": "W", "regularity": True}
    summary = clv_dask.rfm_summary(transactions, **options)
    model = clv_dask.fit(summary, time_unit="W", purchase_model=name)
    local = CLVModel(purchase_model=name).fit(rfm_summary(log, **options))
    assert model.purchase_model_.name == name
    np.testing.assert_allclose(model.params_, local.params_, rtol=1e-6)
    scores = clv_dask.predict(model, summary, horizon=26).compute().sort_index()
    np.testing.assert_allclose(scores.to_numpy(), local.predict(rfm_summary(log, **options), horizon=26).to_numpy(),
                               rtol=1e-8)


def test_predict_by_partition_equals_single_machine_predict(dask_rfm, local_rfm):
    model = CLVModel(engine="native").fit(local_rfm)
    scores = clv_dask.predict(model, dask_rfm, horizon=52, discount_rate=0.002, margin=0.3).compute().sort_index()
    local = model.predict(local_rfm, horizon=52, discount_rate=0.002, margin=0.3)
    np.testing.assert_allclose(scores.to_numpy(), local.to_numpy(), rtol=1e-10)
    assert list(scores.columns) == list(local.columns)


def test_cdnow_through_dask_gives_the_published_estimates(client, cdnow_log):
    train = cdnow_log[cdnow_log["date"] <= "1997-09-30"]
    transactions = dd.from_pandas(train, npartitions=3, sort=False)
    rfm = clv_dask.rfm_summary(transactions, customer_id_col="customer_id", datetime_col="date",
                               monetary_value_col="amount", observation_period_end="1997-09-30", time_unit="W")
    model = clv_dask.fit(rfm, time_unit="W")
    assert model.purchase_model_.params_.round(3).to_dict() == {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert model.spend_model_.params_.round(2).to_dict() == {"p": 6.25, "q": 3.74, "v": 15.44}
    assert model.n_customers_ == 2357 and model.n_repeat_customers_ == 946


def test_default_observation_end_is_the_last_date(client, log):
    transactions = dd.from_pandas(log, npartitions=3, sort=False)
    summary = clv_dask.rfm_summary(transactions, customer_id_col="customer_id", datetime_col="date",
                                   time_unit="D").compute().sort_index()
    local = rfm_summary(log, customer_id_col="customer_id", datetime_col="date", time_unit="D")
    pd.testing.assert_frame_equal(summary, local, check_index_type=False)


def test_bad_input_is_refused_with_a_clear_error(client, log):
    with pytest.raises(DataError, match="must be a dask DataFrame"):
        clv_dask.rfm_summary(log, customer_id_col="customer_id", datetime_col="date")
    transactions = dd.from_pandas(log, npartitions=2)
    with pytest.raises(DataError, match="no column 'when'"):
        clv_dask.rfm_summary(transactions, customer_id_col="customer_id", datetime_col="when")
    with pytest.raises(DataError, match="'time_unit' must be one of"):
        clv_dask.rfm_summary(transactions, customer_id_col="customer_id", datetime_col="date", time_unit="weeks")


def test_the_core_package_does_not_import_dask():
    import subprocess
    import sys

    code = "import sys, clv_predict, clv_predict.cli; print(any(m == 'dask' or m.startswith('dask.') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_input_policies_pass_through_to_the_partitions(client, log):
    returns = log.sample(300, random_state=3).assign(amount=lambda f: -f["amount"] / 2)
    with_returns = pd.concat([log, returns], ignore_index=True)
    transactions = dd.from_pandas(with_returns, npartitions=3, sort=False)
    summary = clv_dask.rfm_summary(transactions, customer_id_col="customer_id", datetime_col="date",
                                   monetary_value_col="amount", observation_period_end=END, time_unit="W",
                                   negative_amounts="net").compute().sort_index()
    with pytest.warns(Warning, match="netted"):
        local = rfm_summary(with_returns, customer_id_col="customer_id", datetime_col="date",
                            monetary_value_col="amount", observation_period_end=END, time_unit="W",
                            negative_amounts="net")
    pd.testing.assert_frame_equal(summary[["frequency", "recency", "T"]], local[["frequency", "recency", "T"]],
                                  check_index_type=False)
    np.testing.assert_allclose(summary["monetary_value"], local["monetary_value"], rtol=1e-12)
    with pytest.raises(DataError, match="negative amounts? from"):
        clv_dask.rfm_summary(transactions, customer_id_col="customer_id", datetime_col="date",
                             monetary_value_col="amount", observation_period_end=END).compute()


def test_regularity_passes_through_and_policies_are_checked_on_the_client(client, log):
    transactions = dd.from_pandas(log, npartitions=3, sort=False)
    summary = clv_dask.rfm_summary(transactions, customer_id_col="customer_id", datetime_col="date",
                                   monetary_value_col="amount", observation_period_end=END, time_unit="W",
                                   regularity=True).compute().sort_index()
    local = rfm_summary(log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
                        observation_period_end=END, time_unit="W", regularity=True)
    np.testing.assert_allclose(summary["litt"], local["litt"], rtol=1e-12)
    with pytest.raises(DataError, match="'negative_amounts' must be one of"):
        clv_dask.rfm_summary(transactions, customer_id_col="customer_id", datetime_col="date", negative_amounts="x")
    with pytest.raises(TypeError, match="unexpected keyword argument 'negative_amount'"):
        clv_dask.rfm_summary(transactions, customer_id_col="customer_id", datetime_col="date", negative_amount="net")


def test_predict_with_intervals_by_partition_equals_single_machine_predict(dask_rfm, local_rfm):
    model = CLVModel(engine="native").fit(local_rfm)
    settings = {"horizon": 52, "discount_rate": 0.002, "margin": 0.3, "interval": 0.8}
    scores = clv_dask.predict(model, dask_rfm, **settings).compute().sort_index()
    local = model.predict(local_rfm, **settings)
    assert list(scores.columns) == list(local.columns)
    assert list(scores.dtypes) == list(local.dtypes)
    np.testing.assert_allclose(scores.to_numpy(), local.to_numpy(), rtol=1e-10)
    assert (scores["clv_lower"] <= scores["clv_upper"]).all() and scores["clv_upper"].gt(0).mean() > 0.5
    # parameter draws: the same on every partition, also when the seed is left to the client
    drawn = clv_dask.predict(model, dask_rfm, **settings, n_draws=20, seed=3).compute().sort_index()
    np.testing.assert_allclose(drawn.to_numpy(), model.predict(local_rfm, **settings, n_draws=20, seed=3).to_numpy(),
                               rtol=1e-10)
    unseeded = clv_dask.predict(model, dask_rfm.repartition(npartitions=3), **settings, n_draws=20, seed=None)
    unseeded = unseeded.compute().sort_index()
    # one draw of parameter vectors for all customers: the confidence bounds' widths agree with a local run's
    # for customers who share a (frequency, recency, T) row, whatever partition they are in
    rows = local_rfm[["frequency", "recency", "T"]].astype(str).agg("|".join, axis=1).loc[unseeded.index]
    spread = unseeded.groupby(rows.to_numpy())["purchases_ci_upper"].agg(lambda v: v.max() / v.min() - 1)
    assert spread.max() < 1e-12
    assert unseeded["purchases_ci_upper"].to_numpy() != pytest.approx(drawn["purchases_ci_upper"].to_numpy())


def test_predict_interval_is_checked_on_the_client(dask_rfm, local_rfm):
    model = CLVModel(engine="native").fit(local_rfm)
    with pytest.raises(DataError, match="'interval' must be"):
        clv_dask.predict(model, dask_rfm, horizon=52, interval=1.5)
    with pytest.raises(DataError, match="'n_draws' must be"):
        clv_dask.predict(model, dask_rfm, horizon=52, interval=0.9, n_draws=1)
