"""Example data: the CDNOW transaction logs and the donations summary that ``lifetimes`` ships, and a real
line-item log.

CDNOW is the data set the BG/NBD and Gamma-Gamma papers report their tables on:
purchases of CDs by the cohort of customers whose first purchase was in the first
quarter of 1997, followed to the end of June 1998. The Online Retail extract is
what real exports look like: invoice lines, cancellations, returns, missing ids.
The donations data are the discrete-opportunity example of the BG/BB paper.
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


def load_donations() -> pd.DataFrame:
    """Load the donations data of the BG/BB paper (Fader, Hardie & Shang 2010), one row per donor.

    The 11,104 first-time supporters of a nonprofit organisation in 1995, followed
    over the 6 annual donation opportunities 1996 to 2001. ``lifetimes`` ships them
    compressed (one row per distinct pattern with a count); here every donor is a
    row of their own, so the table reads like any other summary and a model fits
    on it without weights.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` (1..11,104), columns ``frequency`` (number of
        years 1996-2001 with a donation), ``recency`` (the last such year, 1 for
        1996 ... 6 for 2001; 0 without any) and ``T`` (the 6 opportunities), all int64.
        ``attrs`` say that the opportunities are years (``opportunity_period`` "Y").

    Examples
    --------
    >>> donations = load_donations()
    >>> donations.shape
    (11104, 3)
    >>> donations.iloc[0].to_dict()
    {'frequency': 0, 'recency': 0, 'T': 6}
    """
    raw = pd.read_csv(
        _lifetimes_datasets_dir() / "donations.csv",
        dtype={"frequency": np.int64, "recency": np.int64, "periods": np.int64, "weights": np.int64},
    )
    counts = raw["weights"].to_numpy()
    frame = pd.DataFrame(
        {
            "frequency": np.repeat(raw["frequency"].to_numpy(), counts),
            "recency": np.repeat(raw["recency"].to_numpy(), counts),
            "T": np.repeat(raw["periods"].to_numpy(), counts),
        },
        index=pd.RangeIndex(1, int(counts.sum()) + 1, name="customer_id"),
    )
    # annual opportunities ending with 2001, as opportunity_summary(log, period="Y") would mark them
    frame.attrs.update({"summary": "opportunities", "opportunity_period": "Y", "observation_period_end": "2001-12-31"})
    return frame


def load_online_retail() -> pd.DataFrame:
    """Load a small extract of the UCI "Online Retail" log, as published: one row per invoice line.

    A UK online gift retailer, 2010-12-01 to 2011-12-09 (CC0, via the R package
    onlineretail 0.1.2): every line of 150 randomly chosen customers plus 400 lines
    without a customer id, 18,335 rows. Columns: ``InvoiceNo`` (text; a leading "C"
    marks a cancellation), ``StockCode``, ``Description``, ``Quantity`` (negative on
    cancellations and returns), ``InvoiceDate`` (datetime64), ``UnitPrice`` (GBP; a few
    are 0), ``CustomerID`` (float, empty on some rows) and ``Country``. A purchase is an
    invoice, its value the sum of Quantity x UnitPrice: build the summary with
    ``quantity_col``, ``unit_price_col``, ``transaction_col``, ``missing_ids="drop"`` and a
    ``negative_amounts`` policy.

    Examples
    --------
    >>> log = load_online_retail()
    >>> log.shape
    (18335, 8)
    >>> int(log["CustomerID"].isna().sum())
    400
    """
    path = Path(__file__).resolve().parent / "data" / "online_retail_extract.csv.gz"
    log = pd.read_csv(path, dtype={"InvoiceNo": str, "StockCode": str, "Description": str, "Country": str})
    log["InvoiceDate"] = pd.to_datetime(log["InvoiceDate"], format="%Y-%m-%d %H:%M:%S")
    return log
