"""Customer tables: what a business knows about each customer (channel, region, plan), joined to her RFM row.

A model with covariates reads them from the columns of the RFM table it is given. They come from the RFM
table itself or from a separate customer table, one row per customer, joined on the customer id:
:func:`read_customer_table` reads and checks one (CSV or Parquet), :func:`join_customers` adds its columns
to an RFM table and refuses customers it does not describe. Ids are matched as text, so that ``7`` in a
transaction log and ``"7"`` in a CSV customer table are one customer (``"007"`` is another).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import io as _io
from ._validation import plural
from .exceptions import DataError


def _listed(values, limit: int = 5) -> str:
    values = list(values)
    shown = ", ".join(repr(value) for value in values[:limit])
    return shown + (", ..." if len(values) > limit else "")


def read_customer_table(path, *, customer_id_col: str = "customer_id", columns=None, sep=None,
                        decimal: str = ".") -> pd.DataFrame:
    """Read a customer table (CSV or Parquet), one row per customer, indexed by ``customer_id`` (text).

    Parameters
    ----------
    path : path
        ``.csv``, ``.csv.gz``, ``.parquet`` or a folder of Parquet parts.
    customer_id_col : str
        Column of the customer ids.
    columns : list of str, optional
        The columns needed (covariates); an error names those the file lacks. Default: all.
    sep, decimal
        CSV separator (default: read off the header) and decimal mark; see :mod:`clv_predict.io`.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "customers.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("customer_id,channel\\n007,web\\n8,shop\\n")
    >>> read_customer_table(path)
                channel
    customer_id
    007             web
    8              shop
    """
    path = Path(path)
    where = f"customer table {str(path)!r}"
    if not path.exists():
        raise DataError(f"{where} does not exist")
    table = _io.read_transactions(path, sep=sep, decimal=decimal, string_columns=(customer_id_col,))
    if customer_id_col not in table.columns:
        raise DataError(
            f"{where} has no customer id column {customer_id_col!r}; it has {_listed(map(str, table.columns), 12)}"
        )
    wanted = list(dict.fromkeys(columns)) if columns is not None else [c for c in table.columns if c != customer_id_col]
    absent = [column for column in wanted if column not in table.columns]
    if absent:
        raise DataError(
            f"{where} lacks the covariate column{'s' if len(absent) > 1 else ''} {_listed(absent)}; "
            f"it has {_listed(map(str, table.columns), 12)}"
        )
    ids = table[customer_id_col]
    if ids.isna().any():
        raise DataError(f"{where} has {plural(int(ids.isna().sum()), 'row')} without a customer id")
    ids = ids.astype(str)
    repeated = ids[ids.duplicated(keep=False)]
    if len(repeated):
        distinct = pd.unique(repeated)
        raise DataError(
            f"{where} has {plural(len(distinct), 'customer id')} on more than one row ({_listed(distinct)}): "
            "a customer table needs one row per customer"
        )
    out = table[wanted].copy()
    out.index = pd.Index(ids.to_numpy(), name="customer_id")
    return out


def join_customers(rfm: pd.DataFrame, customers: pd.DataFrame, columns=None, *,
                   source: str = "the customer table") -> pd.DataFrame:
    """``rfm`` with the ``columns`` of ``customers`` (indexed by customer id) added, matched on the id as text.

    A column ``rfm`` already has is taken from ``rfm`` (the input's own wins). Customers of ``rfm``
    missing from ``customers`` are an error that counts them and names the first ones.

    Examples
    --------
    >>> import pandas as pd
    >>> rfm = pd.DataFrame({"frequency": [2, 0]}, index=pd.Index([7, 8], name="customer_id"))
    >>> customers = pd.DataFrame({"channel": ["web", "shop"]}, index=pd.Index(["7", "8"], name="customer_id"))
    >>> join_customers(rfm, customers, ["channel"])["channel"].tolist()
    ['web', 'shop']
    """
    if not isinstance(customers, pd.DataFrame):
        raise DataError(f"the customer table must be a pandas DataFrame; got {type(customers).__name__}")
    columns = list(customers.columns) if columns is None else list(dict.fromkeys(columns))
    needed = [column for column in columns if column not in rfm.columns]
    if not needed:
        return rfm
    absent = [column for column in needed if column not in customers.columns]
    if absent:
        raise DataError(
            f"neither the input nor {source} has the covariate column{'s' if len(absent) > 1 else ''} "
            f"{_listed(absent)}"
        )
    keys = pd.Index(customers.index.astype(str))
    if keys.has_duplicates:
        distinct = pd.unique(keys[keys.duplicated(keep=False)])
        raise DataError(f"{source} has {plural(len(distinct), 'customer id')} on more than one row ({_listed(distinct)})")
    wanted = pd.Index(rfm.index.astype(str))
    positions = keys.get_indexer(wanted)
    missing = positions < 0
    if missing.any():
        ids = pd.unique(wanted[missing])
        raise DataError(
            f"{plural(len(ids), 'customer')} of the input {'is' if len(ids) == 1 else 'are'} missing from "
            f"{source} ({_listed(ids)}): every customer needs a row there with her covariates"
        )
    out = rfm.copy()
    for column in needed:
        out[column] = customers[column].to_numpy()[positions]
    return out
