import numpy as np
import pandas as pd
import pytest

from clv_predict import DataError, DataWarning, rfm_summary, rfm_train_test_split

COLUMNS = {"customer_id_col": "customer_id", "datetime_col": "date", "monetary_value_col": "amount"}


def test_split_reproduces_the_published_cdnow_summary(cdnow_split, published_summary):
    ours = cdnow_split.loc[published_summary.index]
    assert len(cdnow_split) == 2357
    np.testing.assert_array_equal(ours["frequency"], published_summary["x"])
    np.testing.assert_allclose(ours["recency"], published_summary["t_x"], atol=1e-6)
    np.testing.assert_allclose(ours["T"], published_summary["T_cal"], atol=1e-6)
    np.testing.assert_allclose(ours["monetary_value"], published_summary["m_x"], atol=1e-6)
    np.testing.assert_array_equal(ours["test_frequency"], published_summary["x_star"])


def test_published_headline_figures(cdnow_split):
    first = cdnow_split.loc[1]
    assert first["frequency"] == 2
    assert first["recency"] == pytest.approx(30.428571, abs=1e-6)
    assert first["T"] == pytest.approx(38.857143, abs=1e-6)
    assert first["monetary_value"] == pytest.approx(22.345)
    assert (cdnow_split["frequency"] > 0).sum() == 946
    assert cdnow_split["frequency"].sum() == 2457
    assert cdnow_split["test_frequency"].sum() == 1882
    assert (cdnow_split["test_T"] == 39).all()
    assert cdnow_split.attrs["time_unit"] == "W"
    assert cdnow_split.attrs["observation_period_end"] == "1997-09-30"
    assert cdnow_split.attrs["test_period_end"] == "1998-06-30"


def _log(rows):
    return pd.DataFrame(rows, columns=["customer_id", "date", "amount"])


def test_conventions_on_a_hand_made_log():
    log = _log(
        [
            ("a", "2024-01-01 09:00", 10.0),
            ("a", "2024-01-01 17:30", 5.0),  # same day: one transaction of 15
            ("a", "2024-01-08", 20.0),
            ("a", "2024-01-22", 0.0),  # a zero-value purchase is a purchase
            ("b", "2024-01-15", 7.0),
        ]
    )
    days = rfm_summary(log, **COLUMNS, observation_period_end="2024-01-29")
    # a: first 01-01, repeats 01-08 and 01-22; recency 21 days, T 28 days; repeat mean (20 + 0) / 2
    assert days.loc["a"].to_dict() == {"frequency": 2, "recency": 21.0, "T": 28.0, "monetary_value": 10.0}
    assert days.loc["b"].to_dict() == {"frequency": 0, "recency": 0.0, "T": 14.0, "monetary_value": 0.0}
    weeks = rfm_summary(log, **COLUMNS, observation_period_end="2024-01-29", time_unit="W")
    assert weeks.loc["a", "recency"] == 3.0 and weeks.loc["a", "T"] == 4.0
    months = rfm_summary(log, **COLUMNS, observation_period_end="2024-01-29", time_unit="M")
    assert months.loc["a", "T"] == pytest.approx(28 / (365.25 / 12))


def test_default_observation_end_is_the_last_date_and_no_value_column_is_fine():
    log = _log([(1, "2024-01-01", 1.0), (1, "2024-01-03", 1.0), (2, "2024-01-05", 1.0)])
    rfm = rfm_summary(log, customer_id_col="customer_id", datetime_col="date")
    assert list(rfm.columns) == ["frequency", "recency", "T"]
    assert rfm.attrs["observation_period_end"] == "2024-01-05"
    assert rfm.loc[1, "T"] == 4.0 and rfm.loc[2, "T"] == 0.0


def test_row_order_and_id_type_do_not_change_the_summary(cdnow_log):
    base = rfm_summary(cdnow_log, **COLUMNS, time_unit="W")
    shuffled = cdnow_log.sample(frac=1.0, random_state=7)
    shuffled = shuffled.assign(customer_id=shuffled["customer_id"].astype(str))
    other = rfm_summary(shuffled, **COLUMNS, time_unit="W")
    other.index = other.index.astype(np.int64)
    pd.testing.assert_frame_equal(base, other.sort_index())


def test_split_keeps_only_customers_first_seen_in_training():
    log = _log(
        [
            (1, "2024-01-01", 5.0),
            (1, "2024-02-10", 8.0),
            (1, "2024-02-10", 2.0),
            (1, "2024-02-20", 4.0),
            (2, "2024-02-05", 3.0),  # first seen in the test period: not in the split
        ]
    )
    split = rfm_train_test_split(log, **COLUMNS, train_period_end="2024-01-31", test_period_end="2024-03-01")
    assert list(split.index) == [1]
    row = split.loc[1]
    assert row["frequency"] == 0 and row["T"] == 30
    assert row["test_frequency"] == 2  # 02-10 (two rows, one day) and 02-20
    assert row["test_monetary_value"] == pytest.approx((10.0 + 4.0) / 2)
    assert row["test_T"] == 30  # 02-01 .. 03-01


@pytest.mark.parametrize(
    "frame, message",
    [
        (_log([(1, "2024-01-01", 1.0)]).drop(columns="amount"), "no column 'amount'"),
        (_log([(None, "2024-01-01", 1.0), (1, "2024-01-02", 1.0)]), "1 row without a customer id"),
        (_log([(1, "2024-01-01", 1.0), (1, "not a date", 1.0)]), "'date' has 1 value that is not a date"),
        (_log([(1, "2024-01-01", -3.0), (2, "2024-01-02", 1.0)]), "1 negative amount from 1 customer"),
        (_log([(1, "2024-01-01", "twelve")]), "'amount' has 1 missing or non-numeric"),
        (_log([]), "empty"),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_it(frame, message):
    with pytest.raises(DataError, match=message):
        rfm_summary(frame, **COLUMNS)


def test_observation_end_before_the_data_is_refused_and_later_rows_are_reported():
    log = _log([(1, "2024-01-10", 1.0), (1, "2024-02-10", 1.0)])
    with pytest.raises(DataError, match="before the first transaction"):
        rfm_summary(log, **COLUMNS, observation_period_end="2024-01-01")
    with pytest.warns(DataWarning, match="1 transaction dated after observation_period_end 2024-01-31"):
        rfm = rfm_summary(log, **COLUMNS, observation_period_end="2024-01-31")
    assert rfm.loc[1, "frequency"] == 0
    with pytest.raises(DataError, match="'time_unit' must be one of 'D', 'W', 'M'; got 'weeks'"):
        rfm_summary(log, **COLUMNS, time_unit="weeks")
    with pytest.raises(DataError, match="must be after 'train_period_end'"):
        rfm_train_test_split(log, **COLUMNS, train_period_end="2024-02-10", test_period_end="2024-02-01")


def test_zero_value_purchases_count_as_in_the_published_summary(cdnow_log):
    assert (cdnow_log["amount"] == 0).sum() == 8
    rfm = rfm_summary(cdnow_log, **COLUMNS)
    # dropping the zero-value rows would lose customers that the published table counts
    without = rfm_summary(cdnow_log[cdnow_log["amount"] > 0], **COLUMNS)
    assert len(rfm) == 2357
    assert len(without) == 2349


def _plain_pandas_summary(log, end):
    """The RFM definitions written the slow, obvious way: one row per (customer, day), then per customer."""
    days = log.assign(day=log["date"].dt.normalize()).groupby(["customer_id", "day"])["amount"].sum().reset_index()
    days["first"] = days.groupby("customer_id")["day"].transform("min")
    per_customer = days.groupby("customer_id").agg(n=("day", "size"), first=("day", "min"), last=("day", "max"))
    repeat_value = days[days["day"] > days["first"]].groupby("customer_id")["amount"].mean()
    return pd.DataFrame({
        "frequency": per_customer["n"] - 1,
        "recency": (per_customer["last"] - per_customer["first"]).dt.days / 7.0,
        "T": (pd.Timestamp(end) - per_customer["first"]).dt.days / 7.0,
        "monetary_value": repeat_value.reindex(per_customer.index).fillna(0.0),
    })


@pytest.mark.parametrize("ids", ["dense from 0", "dense from 50,000", "with gaps", "sparse", "text"])
def test_summary_equals_the_plain_pandas_definition_with_many_same_day_purchases(ids):
    rng = np.random.default_rng(7)
    n_rows, n_customers = 20_000, 3_000
    code = rng.integers(0, n_customers, n_rows)
    # few days per customer, so most customers buy several times on some day: first, last and days between
    day = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 6, n_rows) * 9 + code % 5, unit="D")
    code[:n_customers] = np.arange(n_customers)  # every code occurs
    values = {
        "dense from 0": code,
        "dense from 50,000": code + 50_000,
        "with gaps": code * 3,
        "sparse": code.astype(np.int64) * 7_919_993 + 10**12,
        "text": np.char.add("c", code.astype(str)),
    }[ids]
    log = pd.DataFrame({"customer_id": values, "date": day, "amount": np.round(rng.gamma(2.0, 5.0, n_rows), 2)})
    log = log.sample(frac=1.0, random_state=3)  # no order to lean on
    end = "2024-03-31"
    got = rfm_summary(log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
                      observation_period_end=end, time_unit="W")
    expected = _plain_pandas_summary(log, end)
    assert got.index.tolist() == expected.index.tolist()
    np.testing.assert_array_equal(got["frequency"].to_numpy(), expected["frequency"].to_numpy())
    assert (got["frequency"] >= 2).mean() > 0.5  # the rows between first and last day are exercised
    np.testing.assert_allclose(got[["recency", "T"]].to_numpy(), expected[["recency", "T"]].to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["monetary_value"].to_numpy(), expected["monetary_value"].to_numpy(), rtol=1e-12)
