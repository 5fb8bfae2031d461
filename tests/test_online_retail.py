"""Proof on real messy data: the UCI Online Retail extract, from line items to CLV, under each returns policy.

The extract (tests/data/online_retail_extract.csv.gz, see /work/shared/data/README.md
for its origin) holds every line item of 150 customers plus 400 lines without a
customer id: cancellations (invoices starting with "C", negative quantities), zero
prices and exact duplicate lines. Invoice totals are built by the package
(``quantity_col``, ``unit_price_col``, ``transaction_col``); this test checks them
against an independent pandas computation.

Print the README table with::

    python tests/test_online_retail.py
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clv_predict import CLVModel, DataError, DataWarning, rfm_summary
from clv_predict.io import read_transactions

DATA = Path(__file__).parent / "data" / "online_retail_extract.csv.gz"
LINE_ITEMS = {
    "customer_id_col": "CustomerID",
    "datetime_col": "InvoiceDate",
    "quantity_col": "Quantity",
    "unit_price_col": "UnitPrice",
    "transaction_col": "InvoiceNo",
    "missing_ids": "drop",
    "time_unit": "W",
}
HORIZON, DISCOUNT = 52, 0.0019  # one year, ~10 % a year, weekly


def load() -> pd.DataFrame:
    return read_transactions(DATA, string_columns=["InvoiceNo"])


def policy_row(log: pd.DataFrame, policy: str, **extra) -> dict:
    """Customers, frequency, spend and CLV under one negative-amounts policy (warnings recorded, not raised)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            rfm = rfm_summary(log, **LINE_ITEMS, negative_amounts=policy, **extra)
        except DataError as error:
            return {"policy": policy, "error": str(error)}
        model = CLVModel().fit(rfm)
        forecast = model.predict(rfm, horizon=HORIZON, discount_rate=DISCOUNT)
    repeat = rfm["frequency"] > 0
    return {
        "policy": policy,
        "customers": len(rfm),
        "repeat_customers": int(repeat.sum()),
        "mean_frequency": float(rfm["frequency"].mean()),
        "mean_repeat_spend": float(rfm.loc[repeat, "monetary_value"].mean()),
        "total_clv": float(forecast["clv"].sum()),
        "median_clv": float(forecast["clv"].median()),
        "rfm": rfm,
        "forecast": forecast,
        "warnings": [str(w.message) for w in caught],
    }


POLICIES = (("refuse", {}), ("drop", {}), ("net", {}), ("net", {"duplicates": "drop"}))


def policy_rows(log: pd.DataFrame) -> list:
    return [policy_row(log, policy, **extra) | {"extra": extra} for policy, extra in POLICIES]


def policy_table(rows: list | None = None) -> str:
    rows = policy_rows(load()) if rows is None else rows
    lines = [
        "| negative_amounts | customers | repeat customers | mean frequency | mean repeat spend (GBP) | "
        f"{HORIZON}-week CLV, total (GBP) | median CLV (GBP) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        name = f"`{row['policy']}`" + (" + `duplicates='drop'`" if row["extra"] else "")
        if "error" in row:
            lines.append(f"| {name} | error: {row['error'].split(' (returns')[0]} | | | | | |")
            continue
        lines.append(
            f"| {name} | {row['customers']} | {row['repeat_customers']} | {row['mean_frequency']:.3f} | "
            f"{row['mean_repeat_spend']:,.2f} | {row['total_clv']:,.0f} | {row['median_clv']:,.2f} |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------ an independent computation with pandas
def _expected_summary(log: pd.DataFrame, policy: str) -> pd.DataFrame:
    """Frequency and mean repeat spend per customer, by pandas group-bys (not the package's arrays)."""
    lines = log.dropna(subset=["CustomerID"]).assign(
        customer=lambda f: f["CustomerID"].astype(np.int64),
        value=lambda f: f["Quantity"] * f["UnitPrice"],
        day=lambda f: pd.to_datetime(f["InvoiceDate"]).dt.normalize(),
    )
    invoices = lines.groupby(["customer", "InvoiceNo"]).agg(value=("value", "sum"), day=("day", "min")).reset_index()
    if policy == "drop":
        invoices = invoices[invoices["value"] >= 0]
    days = invoices.groupby(["customer", "day"]).agg(
        value=("value", "sum"),
        returns=("value", lambda v: (v < 0).any()),
        gross=("value", lambda v: v[v > 0].sum()),
    ).reset_index()
    purchase = ~days["returns"] | (days["value"] > 1e-9 * np.maximum(days["gross"], 1.0))
    days = days[purchase].sort_values(["customer", "day"])
    repeat = days[days.duplicated("customer")]  # every day after each customer's first
    out = pd.DataFrame({"frequency": days.groupby("customer").size() - 1})
    out["monetary_value"] = repeat.groupby("customer")["value"].mean().reindex(out.index).fillna(0.0)
    return out


@pytest.fixture(scope="module")
def log():
    return load()


@pytest.fixture(scope="module")
def rows(log):
    return policy_rows(log)


def test_the_extract_is_as_its_readme_describes(log):
    assert len(log) == 18_335
    assert log["CustomerID"].isna().sum() == 400
    assert log["CustomerID"].nunique() == 150
    assert log["InvoiceNo"].str.startswith("C").sum() > 0 and (log["UnitPrice"] == 0).sum() > 0


def test_refuse_names_the_cancellations(log):
    with pytest.raises(DataError, match=r"has \d+ transactions \(InvoiceNo\) with a negative total from \d+ customers"):
        rfm_summary(log, **LINE_ITEMS)


@pytest.mark.parametrize("policy", ["drop", "net"])
def test_invoice_totals_built_by_the_package_match_pandas(log, policy):
    with pytest.warns(DataWarning, match="400 rows without a customer id were dropped"):
        rfm = rfm_summary(log, **LINE_ITEMS, negative_amounts=policy)
    expected = _expected_summary(log, policy)
    assert list(rfm.index) == list(expected.index)
    np.testing.assert_array_equal(rfm["frequency"], expected["frequency"])
    np.testing.assert_allclose(rfm["monetary_value"], expected["monetary_value"], rtol=1e-12, atol=1e-9)


def test_each_policy_gives_finite_forecasts_and_the_expected_ordering(rows):
    refuse, drop, net, net_unique = rows
    assert "error" in refuse
    for row in (drop, net):
        assert np.all(np.isfinite(row["forecast"].to_numpy()))
        assert row["forecast"]["p_alive"].between(0, 1).all() and (row["forecast"]["clv"] >= 0).all()
        assert not any("NaN" in message or "overflow" in message for message in row["warnings"])
    # netting removes fully-returned days and same-day returns: never more purchases, never more spend
    common = net["rfm"].index.intersection(drop["rfm"].index)
    assert (net["rfm"].loc[common, "frequency"] <= drop["rfm"].loc[common, "frequency"]).all()
    assert net["mean_frequency"] < drop["mean_frequency"]
    assert len(net["rfm"]) <= len(drop["rfm"]) <= 150
    # dropping exact duplicate lines changes spend, never the number of purchase days
    np.testing.assert_array_equal(net_unique["rfm"]["frequency"], net["rfm"]["frequency"])
    assert net_unique["mean_repeat_spend"] < net["mean_repeat_spend"]


def test_the_readme_table_is_the_one_this_module_prints(rows):
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert policy_table(rows) in readme


if __name__ == "__main__":  # pragma: no cover
    print(policy_table())
