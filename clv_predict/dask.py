"""The same pipeline on Dask, for transaction logs that outgrow one machine.

Needs the optional extra: ``pip install "clv-predict[dask]"``. Nothing else in
the package imports this module, so the core never needs Dask.

The three steps mirror the single-machine ones and give the same results:

* :func:`rfm_summary`: a Dask DataFrame of transactions (customers may be
  spread over partitions) is shuffled on the customer id so that every customer
  is whole in one partition, then each partition is summarised by
  :func:`clv_predict.rfm_summary` with one observation end for all;
* :func:`fit`: each partition of the summary is compressed to its distinct
  (frequency, recency, T) and (frequency, monetary value) rows with counts, the
  counts are added up, and :class:`~clv_predict.CLVModel` is fitted on those
  weighted rows on the client. The BG/NBD table is small whatever the number of
  customers (distinct day pairs); the Gamma-Gamma one has at most one row per
  repeat customer with a distinct mean spend;
* :func:`predict`: the fitted model scores each partition (``map_partitions``),
  with the per-customer bounds of ``interval`` if asked.

Examples
--------
On a laptop, a local cluster; on a real cluster, pass its scheduler's address
to ``Client`` instead (``Client("tcp://scheduler:8786")``) and read the log
from storage every worker can see (``dd.read_parquet("s3://bucket/log/")``)::

    from distributed import Client, LocalCluster
    import dask.dataframe as dd
    from clv_predict import dask as clv_dask

    client = Client(LocalCluster(n_workers=2))
    log = dd.read_parquet("transactions/")
    rfm = clv_dask.rfm_summary(log, customer_id_col="customer_id", datetime_col="date",
                               monetary_value_col="amount", time_unit="W").persist()
    model = clv_dask.fit(rfm, time_unit="W")
    scores = clv_dask.predict(model, rfm, horizon=52, discount_rate=0.002)
    scores.to_parquet("scores/")
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

try:
    import dask.dataframe as dd
except ImportError as exc:  # the optional extra: say how to get it
    raise ImportError('clv_predict.dask needs Dask, which is not installed: pip install "clv-predict[dask]"') from exc

from . import rfm as _rfm
from ._validation import (
    check_discount_rate,
    check_horizon,
    check_margin,
    check_time_unit,
    to_timestamp,
)
from .clv import PREDICTION_COLUMNS, CLVModel
from .exceptions import DataError, DataWarning, ModelWarning
from .models import GammaGammaModel
from .scoring import INTERVAL_COLUMNS
from .transactions import _INPUT_OPTIONS, _Policy, _unknown_option, late_rows_message


def _end_day(transactions: dd.DataFrame, datetime_col: str, observation_period_end) -> int:
    if observation_period_end is not None:
        return _rfm._day(to_timestamp(observation_period_end, "observation_period_end"))
    dates = transactions[datetime_col]
    if not pd.api.types.is_datetime64_any_dtype(dates.dtype):
        dates = dd.to_datetime(dates)
    return _rfm._day(pd.Timestamp(dates.max().compute()))


def _summarise_partition(part: pd.DataFrame, meta: pd.DataFrame, options: dict) -> pd.DataFrame:
    if len(part) == 0:
        return meta
    with warnings.catch_warnings():
        # late transactions are counted once on the client, not once per partition
        warnings.simplefilter("ignore", DataWarning)
        frame = _rfm.rfm_summary(part, **options)
    frame = frame[list(meta.columns)]
    frame.index = frame.index.astype(meta.index.dtype)
    frame.attrs = {}
    return frame


def rfm_summary(
    transactions: dd.DataFrame,
    *,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str | None = None,
    observation_period_end=None,
    time_unit: str = "D",
    npartitions: int | None = None,
    regularity: bool = False,
    **policies,
) -> dd.DataFrame:
    """RFM summary of a Dask DataFrame of transactions, one row per customer, as a Dask DataFrame.

    Parameters are those of :func:`clv_predict.rfm_summary`, whose input
    policies (``negative_amounts``, ``duplicates``, ``missing_ids``, ...) are
    passed through to every partition; their warnings stay on the workers.
    ``npartitions``
    sets the number of partitions after the shuffle on the customer id
    (default: as many as the input). The observation end defaults to the last
    date in the log (one pass over it). Rows are in no global order; within a
    partition they are sorted by customer id. Dask DataFrames carry no
    ``attrs``, so pass the same ``time_unit`` (and observation end) to :func:`fit`.
    Each partition is summarised through its own :class:`~clv_predict.TransactionLog`
    (customers are whole within a partition), so ``regularity=True`` adds ``litt`` as there.
    """
    time_unit = check_time_unit(time_unit)
    if not isinstance(transactions, dd.DataFrame):
        raise DataError(f"transactions must be a dask DataFrame; got {type(transactions).__name__}")
    unknown = sorted(set(policies) - _INPUT_OPTIONS)
    if unknown:
        raise TypeError(_unknown_option(unknown[0]))
    policy = _Policy(**policies).check(monetary_value_col)  # refused on the client, before any partition is read
    columns = [c for c in (customer_id_col, datetime_col, monetary_value_col, policy.quantity_col,
                           policy.unit_price_col, policy.transaction_col) if c is not None]
    missing = [c for c in columns if c not in transactions.columns]
    if missing:
        raise DataError(f"transactions has no column {', '.join(map(repr, missing))}; available columns: "
                        f"{', '.join(map(repr, map(str, transactions.columns)))}")
    end_day = _end_day(transactions, datetime_col, observation_period_end)
    end = _rfm._iso(end_day)
    if observation_period_end is not None:
        dates = transactions[datetime_col]
        if not pd.api.types.is_datetime64_any_dtype(dates.dtype):
            dates = dd.to_datetime(dates)
        late = int((dates > pd.Timestamp(end) + pd.Timedelta(days=1) - pd.Timedelta(1)).sum().compute())
        if late:
            warnings.warn(
                late_rows_message(late, str(end)),
                DataWarning,
                stacklevel=2,
            )
    whole = transactions[columns].shuffle(on=customer_id_col, npartitions=npartitions or transactions.npartitions)
    id_dtype = transactions[customer_id_col].dtype
    meta = pd.DataFrame(
        {"frequency": pd.Series(dtype=np.int64), "recency": pd.Series(dtype=float), "T": pd.Series(dtype=float)},
        index=pd.Index([], dtype=id_dtype, name="customer_id"),
    )
    if monetary_value_col is not None or policy.quantity_col is not None:
        meta["monetary_value"] = pd.Series(dtype=float)
    if regularity:
        meta["litt"] = pd.Series(dtype=float)
    options = {
        "customer_id_col": customer_id_col,
        "datetime_col": datetime_col,
        "monetary_value_col": monetary_value_col,
        "observation_period_end": end,
        "time_unit": time_unit,
        "regularity": regularity,
        **policies,
    }
    return whole.map_partitions(_summarise_partition, meta, options, meta=meta)


_SPEND_COLUMNS = ["frequency", "monetary_value"]


def _compressed_partition(part: pd.DataFrame, columns: list) -> pd.DataFrame:
    if columns == _SPEND_COLUMNS:
        part = part[(part["frequency"] > 0) & (part["monetary_value"] > 0)]
    counts = part.groupby(columns, sort=False).size().rename("customers").reset_index()
    return counts.astype({c: float for c in columns}).astype({"customers": np.int64})


def _compressed(rfm: dd.DataFrame, columns: list) -> pd.DataFrame:
    """The distinct rows of ``columns`` (the spend model's: repeat buyers with positive spend only) and
    how many customers share each."""
    meta = pd.DataFrame({c: pd.Series(dtype=float) for c in columns}).assign(customers=pd.Series(dtype=np.int64))
    parts = rfm.map_partitions(_compressed_partition, columns, meta=meta)
    return parts.groupby(columns).customers.sum().compute().reset_index()


def fit(
    rfm: dd.DataFrame,
    *,
    penalizer_coef: float = 0.0,
    spend_penalizer_coef: float = 0.0,
    engine: str = "native",
    purchase_model="bg_nbd",
    time_unit: str,
    observation_period_end=None,
) -> CLVModel:
    """Fit a :class:`~clv_predict.CLVModel` on a Dask RFM summary, on its compressed rows.

    Equal to ``CLVModel(...).fit(rfm.compute())``; only the distinct rows and
    their customer counts travel to the client. ``time_unit`` must be the one
    the summary was built with; ``observation_period_end`` is recorded in the
    model (and its saved file) when given. ``purchase_model`` as in
    :class:`~clv_predict.CLVModel`.
    """
    if not isinstance(rfm, dd.DataFrame):
        raise DataError(f"rfm must be a dask DataFrame; got {type(rfm).__name__}")
    model = CLVModel(penalizer_coef, spend_penalizer_coef, engine=engine, purchase_model=purchase_model)
    purchase_part = model._new_purchase_model()
    purchase_columns = list(purchase_part._fit_columns)
    missing = [c for c in (*purchase_columns, "monetary_value") if c not in rfm.columns]
    if missing:
        raise DataError(f"rfm has no column {', '.join(map(repr, missing))}")
    time_unit = check_time_unit(time_unit)
    purchases = _compressed(rfm, purchase_columns)
    spend = _compressed(rfm, _SPEND_COLUMNS)
    attrs = {"time_unit": time_unit}
    if observation_period_end is not None:
        attrs["observation_period_end"] = str(to_timestamp(observation_period_end, "observation_period_end").date())
    purchases.attrs.update(attrs)
    spend.attrs.update(attrs)
    model.purchase_model_ = purchase_part.fit(purchases, time_unit=time_unit, weights="customers")
    # the spend model reads frequency and monetary value only; recency and T complete a valid RFM table
    model.spend_model_ = GammaGammaModel(spend_penalizer_coef, engine=engine).fit(
        spend.assign(recency=0.0, T=1.0), time_unit=time_unit, weights="customers"
    )
    model._take_training_figures()
    return model


def _predict_partition(part: pd.DataFrame, model: CLVModel, settings: dict, time_unit, meta: pd.DataFrame) -> pd.DataFrame:
    part = part.copy()
    part.attrs["time_unit"] = time_unit
    if len(part) == 0:
        return pd.DataFrame({c: pd.Series(dtype=meta[c].dtype) for c in meta.columns}, index=part.index)
    with warnings.catch_warnings():
        # an unknown covariance is said once, on the client
        warnings.simplefilter("ignore", ModelWarning)
        frame = model.predict(part, **settings)
    frame.attrs = {}
    return frame


def predict(
    model: CLVModel, rfm: dd.DataFrame, *, horizon, discount_rate: float = 0.0, margin: float = 1.0,
    interval: float | None = None, n_draws: int | None = None, seed=0,
) -> dd.DataFrame:
    """Score every customer of a Dask RFM summary with a fitted model, partition by partition.

    Returns a Dask DataFrame with the columns of :meth:`CLVModel.predict`,
    indexed like ``rfm``, which must be in the model's time unit. ``interval``,
    ``n_draws`` and ``seed`` are those of :meth:`CLVModel.predict` and add its
    bounds (the columns of :data:`clv_predict.scoring.INTERVAL_COLUMNS`), each
    customer's the same as on one machine: every partition mixes over the same
    sigma points, or with ``n_draws`` over the same parameter draws (with
    ``seed=None`` a seed is drawn once on the client, so that the partitions
    still share them).
    """
    from .models import _intervals

    model._check_fitted()
    settings = {
        "horizon": check_horizon(horizon),
        "discount_rate": check_discount_rate(discount_rate),
        "margin": check_margin(margin),
    }
    columns = {c: float for c in PREDICTION_COLUMNS}
    interval = _intervals.check_interval(interval)
    if interval is not None:
        n_draws = _intervals.check_draws(n_draws)
        if n_draws is not None and seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        settings.update(interval=interval, n_draws=n_draws, seed=seed)
        _intervals.warn_if_unknown(model.purchase_model_, stacklevel=3)
        _intervals.warn_if_unknown(model.spend_model_, stacklevel=3)
        columns.update({c: float for c in INTERVAL_COLUMNS}, purchases_lower=np.int64, purchases_upper=np.int64)
    time_unit = model.time_unit_  # a Dask summary carries no attrs: it is taken to be in the model's unit
    meta = pd.DataFrame({c: pd.Series(dtype=kind) for c, kind in columns.items()},
                        index=pd.Index([], dtype=rfm.index.dtype, name="customer_id"))
    return rfm.map_partitions(_predict_partition, model, settings, time_unit, meta, meta=meta)
