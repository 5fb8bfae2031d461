"""The CDNOW transaction logs that ``lifetimes`` ships, as tidy DataFrames.

CDNOW is the data set the BG/NBD and Gamma-Gamma papers report their tables on:
purchases of CDs by the cohort of customers whose first purchase was in the first
quarter of 1997, followed to the end of June 1998.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd


def _lifetimes_datasets_dir() -> Path:
    # find_spec does not execute lifetimes/__init__.py, so none of its global
    # side effects (warning filters, pandas options) are triggered here.
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the 'lifetimes' package is required for the CDNOW data; pip install lifetimes")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets"


def load_cdnow(sample: bool = True) -> pd.DataFrame:
    """Load the CDNOW transaction log.

    Parameters
    ----------
    sample : bool, default True
        True for the 1/10 sample of 2,357 customers (6,919 rows) used in the
        papers, with the sample's customer ids 1..2,357; False for the full
        master file of 23,570 customers (69,659 rows), ids 1..23,570.

    Returns
    -------
    DataFrame
        One row per purchase record, columns ``customer_id`` (int64),
        ``date`` (datetime64) and ``amount`` (float64, dollars). Several rows of
        one customer may fall on the same day.

    Examples
    --------
    >>> log = load_cdnow()
    >>> log.shape
    (6919, 3)
    >>> int(log["customer_id"].nunique())
    2357
    """
    folder = _lifetimes_datasets_dir()
    if sample:
        raw = pd.read_csv(
            folder / "CDNOW_sample.txt",
            sep=r"\s+",
            header=None,
            names=["master_id", "customer_id", "date", "cds", "amount"],
            dtype={"master_id": np.int64, "customer_id": np.int64, "date": str, "cds": np.int64, "amount": np.float64},
        )
    else:
        raw = pd.read_csv(
            folder / "CDNOW_master.txt",
            sep=r"\s+",
            header=0,
            names=["customer_id", "date", "cds", "amount"],
            dtype={"customer_id": np.int64, "date": str, "cds": np.int64, "amount": np.float64},
        )
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"].astype(np.int64),
            "date": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "amount": raw["amount"].astype(np.float64),
        }
    )
