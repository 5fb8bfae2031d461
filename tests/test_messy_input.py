"""Messy transaction logs: each doubtful input has a defined policy or one clear error naming it."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from clv_predict import (
    CLVModel,
    DataError,
    DataWarning,
    GammaGammaModel,
    rfm_summary,
    rfm_train_test_split,
    score_file,
)
from clv_predict.cli import main
from clv_predict.io import read_transactions

COLUMNS = {"customer_id_col": "id", "datetime_col": "date", "monetary_value_col": "amount"}


def _log(rows, columns=("id", "date", "amount")):
    return pd.DataFrame(rows, columns=list(columns))


# Customer 1: a purchase; a day bought and fully returned; a zero-value purchase.
# Customer 2: one day with a partial return.  Customer 3: only a return (of something bought before the log).
RETURNS = _log(
    [
        (1, "2024-01-01", 10.0),
        (1, "2024-01-05", 5.0),
        (1, "2024-01-05", -5.0),
        (1, "2024-01-09", 0.0),
        (2, "2024-01-02", 7.0),
        (2, "2024-01-02", -3.0),
        (2, "2024-01-06", 4.0),
        (3, "2024-01-03", -4.0),
    ]
)


def test_negative_amounts_are_refused_by_default_naming_rows_and_customers():
    with pytest.raises(DataError, match=r"3 negative amounts from 3 customers .*negative_amounts='net'"):
        rfm_summary(RETURNS, **COLUMNS)


def test_net_policy_a_fully_returned_day_is_not_a_purchase_but_a_zero_value_day_is():
    with pytest.warns(DataWarning) as caught:
        rfm = rfm_summary(RETURNS, **COLUMNS, negative_amounts="net", observation_period_end="2024-01-10")
    message = str(caught[0].message)
    assert "3 rows with a negative amount from 3 customers were netted" in message
    assert "2 customer-days whose purchases were all returned" in message
    assert "1 customer has no purchase left" in message
    assert list(rfm.index) == [1, 2]
    # customer 1: 01-01 first purchase, 01-05 all returned (not a purchase), 01-09 zero-value (a purchase)
    assert rfm.loc[1, "frequency"] == 1 and rfm.loc[1, "recency"] == 8
    assert rfm.loc[1, "monetary_value"] == 0.0
    # customer 2: first day netted to 4, repeat 4
    assert rfm.loc[2, "frequency"] == 1 and rfm.loc[2, "monetary_value"] == 4.0
    report = rfm.attrs["input_report"]
    assert report["days_not_purchases"] == 2 and report["days_netted"] == 1
    assert report["customers_without_purchase"] == 1


def test_drop_policy_counts_gross_purchases():
    with pytest.warns(DataWarning, match="3 rows with a negative amount from 3 customers were dropped"):
        rfm = rfm_summary(RETURNS, **COLUMNS, negative_amounts="drop", observation_period_end="2024-01-10")
    assert list(rfm.index) == [1, 2]
    assert rfm.loc[1, "frequency"] == 2 and rfm.loc[1, "monetary_value"] == pytest.approx(2.5)
    assert rfm.loc[2, "frequency"] == 1 and rfm.loc[2, "monetary_value"] == 4.0


def test_netting_tolerates_rounding_when_everything_was_returned():
    log = _log([(1, "2024-01-01", 1.0), (1, "2024-01-02", 0.1), (1, "2024-01-02", 0.2), (1, "2024-01-02", -0.3)])
    with pytest.warns(DataWarning, match="1 customer-day whose purchases were all returned"):
        rfm = rfm_summary(log, **COLUMNS, negative_amounts="net")
    assert rfm.loc[1, "frequency"] == 0


def test_split_nets_test_period_spend_exactly_as_training_spend():
    log = _log(
        [
            (1, "2024-01-01", 10.0),
            (1, "2024-01-10", 8.0),
            (1, "2024-01-10", -2.0),
            (1, "2024-02-05", 6.0),
            (1, "2024-02-05", -6.0),
            (1, "2024-02-10", 9.0),
            (1, "2024-02-10", -1.0),
        ]
    )
    with pytest.warns(DataWarning):
        split = rfm_train_test_split(log, **COLUMNS, train_period_end="2024-01-31", negative_amounts="net")
    row = split.loc[1]
    assert row["frequency"] == 1 and row["monetary_value"] == 6.0
    assert row["test_frequency"] == 1  # 02-05 was all returned
    assert row["test_monetary_value"] == 8.0


def test_only_returns_leave_nothing_to_summarise():
    log = _log([(1, "2024-01-01", -1.0), (2, "2024-01-02", -2.0)])
    with pytest.raises(DataError, match="only negative amounts"):
        rfm_summary(log, **COLUMNS, negative_amounts="drop")
    with pytest.raises(DataError, match="no purchase is left"):
        rfm_summary(log, **COLUMNS, negative_amounts="net")


def test_policy_names_are_checked():
    with pytest.raises(DataError, match="'negative_amounts' must be one of 'refuse', 'net', 'drop'; got 'ignore'"):
        rfm_summary(RETURNS, **COLUMNS, negative_amounts="ignore")
    with pytest.raises(DataError, match="'duplicates' must be one of"):
        rfm_summary(RETURNS, **COLUMNS, duplicates=True)
    with pytest.raises(DataError, match="'dayfirst' must be True, False or None"):
        rfm_summary(RETURNS, **COLUMNS, dayfirst="yes")


def test_exact_duplicates_are_reported_or_dropped():
    log = _log([(1, "2024-01-01", 5.0), (1, "2024-01-01", 5.0), (1, "2024-01-03", 2.0), (1, "2024-01-03", 2.0)])
    kept = rfm_summary(log, **COLUMNS)  # default: taken as they are, as CDNOW needs
    assert kept.loc[1, "monetary_value"] == 4.0
    with pytest.warns(DataWarning, match="2 rows are exact duplicates of an earlier row and were kept"):
        reported = rfm_summary(log, **COLUMNS, duplicates="report")
    pd.testing.assert_frame_equal(reported, kept, check_like=True)
    with pytest.warns(DataWarning, match="2 rows are exact duplicates of an earlier row and were dropped"):
        dropped = rfm_summary(log, **COLUMNS, duplicates="drop")
    assert dropped.loc[1, "frequency"] == 1 and dropped.loc[1, "monetary_value"] == 2.0


def test_missing_ids_are_refused_or_dropped_with_their_count():
    log = _log([(1, "2024-01-01", 5.0), (None, "2024-01-02", 1.0), ("  ", "2024-01-03", 1.0), (2, "2024-01-04", 1.0)])
    with pytest.raises(DataError, match=r"2 rows without a customer id \(first at row 1\).*missing_ids='drop'"):
        rfm_summary(log, **COLUMNS)
    with pytest.warns(DataWarning, match="2 rows without a customer id were dropped"):
        rfm = rfm_summary(log.astype({"id": object}), **COLUMNS, missing_ids="drop")
    assert sorted(rfm.index) == [1, 2]


def test_float_ids_from_a_column_with_gaps_become_integers():
    log = _log([(17850.0, "2024-01-01", 5.0), (np.nan, "2024-01-02", 1.0), (13047.0, "2024-01-03", 1.0)])
    with pytest.warns(DataWarning):
        rfm = rfm_summary(log, **COLUMNS, missing_ids="drop")
    assert list(rfm.index) == [13047, 17850]
    assert rfm.index.dtype == np.int64


def test_text_and_integer_ids_mixed_in_one_column_are_one_customer():
    log = _log([(1, "2024-01-01", 5.0), ("1", "2024-01-03", 2.0), ("b", "2024-01-02", 1.0)])
    with pytest.warns(DataWarning, match="mixes text and numeric customer ids"):
        rfm = rfm_summary(log, **COLUMNS)
    assert rfm.loc["1", "frequency"] == 1 and rfm.loc["b", "frequency"] == 0


def test_ids_as_text_or_integers_give_the_same_numbers(cdnow_log):
    as_int = rfm_summary(cdnow_log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount")
    as_text = rfm_summary(
        cdnow_log.assign(customer_id=cdnow_log["customer_id"].astype(str)),
        customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
    )
    as_text.index = as_text.index.astype(np.int64)
    pd.testing.assert_frame_equal(as_text.sort_index(), as_int, check_index_type=False)


@pytest.mark.parametrize(
    "dates, message",
    [
        (["2024-01-01", "2024-13-45"], r"'date' has 1 value that is not a date \(first at row 1: '2024-13-45'\)"),
        (["2024-01-01", None], r"'date' has 1 missing date \(first at row 1\)"),
        (["01/02/2024", "03/04/2024"], "read differently day-first and month-first; say which with dayfirst"),
        (["13/02/2024", "02/14/2024"], "mixes day-first and month-first dates"),
    ],
)
def test_bad_dates_are_refused_naming_the_rows(dates, message):
    log = _log([(1, d, 1.0) for d in dates])
    with pytest.raises(DataError, match=message):
        rfm_summary(log, **COLUMNS)


def test_day_first_dates_when_the_user_says_so_and_never_against_the_data():
    log = _log([(1, "01/02/2024", 1.0), (1, "03/02/2024", 1.0)])
    assert rfm_summary(log, **COLUMNS, dayfirst=True).loc[1, "recency"] == 2  # 1 Feb to 3 Feb
    assert rfm_summary(log, **COLUMNS, dayfirst=False).loc[1, "recency"] == 60  # 2 Jan to 2 Mar
    proven = _log([(1, "13/01/2024", 1.0), (1, "01/02/2024", 1.0)])
    assert rfm_summary(proven, **COLUMNS).loc[1, "recency"] == 19  # a day above 12 settles it
    with pytest.raises(DataError, match="day-first dates such as '13/01/2024' but dayfirst=False"):
        rfm_summary(proven, **COLUMNS, dayfirst=False)


def test_time_zones_count_on_the_local_calendar_day():
    aware = pd.Series(pd.to_datetime(["2024-01-01 23:30", "2024-01-03 00:30"]).tz_localize("America/New_York"))
    log = pd.DataFrame({"id": [1, 1], "date": aware, "amount": [1.0, 1.0]})
    assert rfm_summary(log, **COLUMNS).loc[1, "recency"] == 2  # not the UTC days 01-02 and 01-03
    mixed = _log([(1, "2024-01-01 23:30-05:00", 1.0), (1, "2024-01-03", 1.0), (1, "2024-01-04 01:00+09:00", 1.0)])
    with pytest.warns(DataWarning, match="mixes 2 timestamps with a time zone and 1 without one"):
        rfm = rfm_summary(mixed, **COLUMNS)
    assert rfm.loc[1, "recency"] == 3 and rfm.loc[1, "frequency"] == 2


def test_transactions_after_the_test_period_are_reported():
    log = _log([(1, "2024-01-01", 1.0), (1, "2024-02-01", 1.0), (1, "2024-04-01", 1.0)])
    with pytest.warns(DataWarning, match="1 transaction dated after test_period_end 2024-03-01 was left out"):
        split = rfm_train_test_split(log, **COLUMNS, train_period_end="2024-01-15", test_period_end="2024-03-01")
    assert split.loc[1, "test_frequency"] == 1


LINES = pd.DataFrame(
    {
        "InvoiceNo": ["100", "100", "100", "C101", "102", "103", "103"],
        "CustomerID": [7.0, 7.0, 7.0, 7.0, 7.0, np.nan, 8.0],
        "InvoiceDate": ["2024-01-01 10:00", "2024-01-01 10:00", "2024-01-01 10:00", "2024-01-02 09:00",
                        "2024-01-05 12:00", "2024-01-05 12:00", "2024-01-06 12:00"],
        "Quantity": [2, 1, 4, -1, 3, 1, 1],
        "UnitPrice": [1.5, 2.0, 0.0, 2.0, 1.0, 9.0, 3.0],
    }
)
LINE_COLUMNS = {
    "customer_id_col": "CustomerID", "datetime_col": "InvoiceDate", "quantity_col": "Quantity",
    "unit_price_col": "UnitPrice", "transaction_col": "InvoiceNo", "missing_ids": "drop",
}


def test_line_items_amount_is_quantity_times_price_and_invoices_are_transactions():
    with pytest.raises(DataError, match=r"1 transaction \(InvoiceNo\) with a negative total from 1 customer\b"):
        rfm_summary(LINES, **LINE_COLUMNS)
    with pytest.warns(DataWarning, match="1 transaction with a negative amount from 1 customer was dropped"):
        rfm = rfm_summary(LINES, **LINE_COLUMNS, negative_amounts="drop")
    assert rfm.attrs["input_report"]["transactions"] == 4
    assert rfm.loc[7, "frequency"] == 1 and rfm.loc[7, "monetary_value"] == 3.0
    with pytest.warns(DataWarning):
        netted = rfm_summary(LINES, **LINE_COLUMNS, negative_amounts="net")
    # the cancellation (of 01-01's invoice, on another day) is a day of returns only: not a purchase
    assert netted.loc[7, "frequency"] == 1 and netted.loc[7, "monetary_value"] == 3.0
    np.testing.assert_array_equal(netted.to_numpy(), rfm.to_numpy())


def test_line_item_options_are_checked():
    with pytest.raises(DataError, match="'quantity_col' and 'unit_price_col' go together"):
        rfm_summary(LINES, customer_id_col="CustomerID", datetime_col="InvoiceDate", quantity_col="Quantity")
    with pytest.raises(DataError, match="either 'monetary_value_col' or 'quantity_col'"):
        rfm_summary(LINES, **LINE_COLUMNS, monetary_value_col="UnitPrice")
    with pytest.raises(DataError, match="'Quantity' has 1 missing or non-numeric value"):
        rfm_summary(LINES.assign(Quantity=["2", "1", "x", "-1", "3", "1", "1"]), **LINE_COLUMNS)


# ------------------------------------------------------------------ Gamma-Gamma: exactly the customers it can use
def _rfm(frequency, monetary):
    n = len(frequency)
    frame = pd.DataFrame(
        {"frequency": frequency, "recency": [float(f) for f in frequency], "T": [40.0] * n, "monetary_value": monetary},
        index=pd.Index(range(n), name="customer_id"),
    )
    return frame


def test_gamma_gamma_leaves_out_zero_spend_repeaters_and_non_repeaters():
    rng = np.random.default_rng(3)
    frequency = list(rng.integers(1, 8, 60)) + [0] * 30 + [2, 3]
    monetary = list(rng.gamma(4.0, 10.0, 60)) + [0.0] * 30 + [0.0, 0.0]
    with pytest.warns(DataWarning, match="2 repeat customers whose mean repeat spend is 0 were left out"):
        model = GammaGammaModel(engine="native").fit(_rfm(frequency, monetary))
    assert model.n_customers_ == 60 and model.n_repeat_customers_ == 62
    reference = GammaGammaModel(engine="native").fit(_rfm(frequency[:60], monetary[:60]))
    np.testing.assert_allclose(model.params_, reference.params_, rtol=1e-6)


def test_gamma_gamma_without_usable_customers_is_a_clear_error():
    with pytest.raises(DataError, match="no customer has repeat purchases with positive value"):
        GammaGammaModel().fit(_rfm([0, 0, 0], [0.0, 0.0, 0.0]))  # no repeat buyers at all
    with pytest.raises(DataError, match="no customer has repeat purchases with positive value"), pytest.warns(DataWarning):
        GammaGammaModel().fit(_rfm([1, 2, 0], [0.0, 0.0, 0.0]))  # repeat buyers, all zero spend
    log = _log([(1, "2024-01-01", 3.0), (2, "2024-01-02", 4.0), (3, "2024-01-05", 1.0)])
    with pytest.raises(DataError, match="none of the 3 customers has a repeat purchase"):
        CLVModel().fit(rfm_summary(log, **COLUMNS))


# ------------------------------------------------------------------ CSV variants
def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_with_bom_spaced_header_semicolons_and_decimal_comma(tmp_path):
    path = _write(tmp_path / "log.csv", '\ufeff customer_id ; date ; amount \n1;2024-01-01;"12,50"\n1;2024-01-08;"3,25"\n')
    with pytest.raises(DataError, match=r"'amount' has 2 missing or non-numeric values .*decimal comma"):
        rfm_summary(read_transactions(path), customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount")
    frame = read_transactions(path, decimal=",")
    assert list(frame.columns) == ["customer_id", "date", "amount"]
    rfm = rfm_summary(frame, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount")
    assert rfm.loc[1, "monetary_value"] == 3.25


def test_quoted_numbers_and_tab_separated_files(tmp_path):
    path = _write(tmp_path / "log.tsv", 'customer_id\tdate\tamount\n"1"\t2024-01-01\t"12.5"\n')
    frame = read_transactions(path)
    assert frame["amount"].tolist() == [12.5]


def test_a_separator_guess_is_never_silent(tmp_path):
    ambiguous = _write(tmp_path / "a.csv", "customer_id;date,amount\n1;2024-01-01,1\n")
    with pytest.raises(DataError, match=r"holds comma \(','\) and semicolon \(';'\); say which .* sep="):
        read_transactions(ambiguous)
    assert read_transactions(ambiguous, sep=",").columns.tolist() == ["customer_id;date", "amount"]
    wrong = _write(tmp_path / "b.csv", "customer_id;date;amount\n1;2024-01-01;1\n")
    with pytest.raises(DataError, match=r"read with comma separator\) has no column 'customer_id', 'date'; available columns: 'customer_id;date;amount'"):
        read_transactions(wrong, ["customer_id", "date"], sep=",")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty"),
        (b"\n\n", "is empty"),
        (b"customer_id,date\n1,2\n", "has no column 'amount'"),
        (b"customer_id,date,amount\n", "has a header but no rows"),
        (b"customer_id,date,amount\n1,2,3,4,5\n", "is not valid CSV"),
        (b"customer_id,date,amount\n\xff\xfe\x00\x01,2,3\n", "is not UTF-8 text"),
    ],
)
def test_malformed_csv_files_are_data_errors_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as error:
        read_transactions(path, ["customer_id", "date", "amount"])
    assert "bad.csv" in str(error.value)


def test_truncated_gzip_and_parquet_are_data_errors(tmp_path):
    good = gzip.compress(b"customer_id,date,amount\n" + b"1,2024-01-01,1.0\n" * 5000)
    (tmp_path / "cut.csv.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="cut.csv.gz"):
        read_transactions(tmp_path / "cut.csv.gz", ["customer_id", "date", "amount"])
    frame = pd.DataFrame({"customer_id": [1, 2], "date": ["2024-01-01", "2024-01-02"], "amount": [1.0, 2.0]})
    frame.to_parquet(tmp_path / "ok.parquet")
    data = (tmp_path / "ok.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.parquet"):
        read_transactions(tmp_path / "cut.parquet", ["customer_id", "date", "amount"])


def test_parquet_float_ids_read_as_the_text_of_the_integer(tmp_path):
    frame = pd.DataFrame({"customer_id": [17850.0, np.nan], "date": ["2024-01-01", "2024-01-02"], "amount": [1.0, 2.0]})
    frame.to_parquet(tmp_path / "ids.parquet")
    read = read_transactions(tmp_path / "ids.parquet", ["customer_id"], string_columns=["customer_id"])
    assert read["customer_id"].iloc[0] == "17850" and pd.isna(read["customer_id"].iloc[1])


# ------------------------------------------------------------------ the same policies from files and the command line
def test_cli_and_score_file_apply_the_line_item_policies_like_the_library(tmp_path, capsys):
    rng = np.random.default_rng(11)
    rows = []
    for customer in range(1, 201):
        # BG/NBD by hand: Poisson purchases, dropout after each with probability p
        rate, dropout, day, days = rng.gamma(1.0, 1 / 25), rng.beta(1.0, 3.0), rng.uniform(0, 120), []
        while day < 300:
            days.append(int(day))
            if rng.random() < dropout:
                break
            day += rng.exponential(1 / rate)
        days, price_scale = sorted(set(days)), rng.gamma(4.0, 2.0)
        for k, day in enumerate(days):
            date = (pd.Timestamp("2023-01-01") + pd.Timedelta(days=int(day))).strftime("%d/%m/%Y")
            invoice = f"{customer}-{k}"
            for _ in range(rng.integers(1, 4)):
                rows.append((invoice, customer, date, int(rng.integers(1, 5)), round(float(rng.gamma(3.0, price_scale)), 2)))
            if rng.random() < 0.2:
                rows.append(("C" + invoice, customer, date, -1, rows[-1][4]))
    lines = pd.DataFrame(rows, columns=["InvoiceNo", "CustomerID", "InvoiceDate", "Quantity", "UnitPrice"])
    path = tmp_path / "lines.csv"
    lines.to_csv(path, index=False, sep=";")
    options = ["--customer-col", "CustomerID", "--date-col", "InvoiceDate", "--quantity-col", "Quantity",
               "--unit-price-col", "UnitPrice", "--invoice-col", "InvoiceNo", "--negative-amounts", "net"]
    assert main(["fit", "--input", str(path), *options, "--monthfirst", "--output", str(tmp_path / "m.joblib")]) == 1
    assert "has day-first dates such as" in capsys.readouterr().err
    assert not (tmp_path / "m.joblib").exists()
    assert main(["fit", "--input", str(path), *options, "--dayfirst", "--output", str(tmp_path / "m.joblib")]) == 0
    assert "were netted against the same day's purchases" in capsys.readouterr().err
    assert main(["score", "--model", str(tmp_path / "m.joblib"), "--input", str(path), *options, "--dayfirst",
                 "--chunk-rows", "100", "--output", str(tmp_path / "s.csv")]) == 0

    with pytest.warns(DataWarning):
        rfm = rfm_summary(lines, customer_id_col="CustomerID", datetime_col="InvoiceDate", quantity_col="Quantity",
                          unit_price_col="UnitPrice", transaction_col="InvoiceNo", negative_amounts="net",
                          dayfirst=True, time_unit="W")
    model = CLVModel().fit(rfm)
    expected = model.predict(rfm, horizon=52)
    scored = pd.read_csv(tmp_path / "s.csv", dtype={"customer_id": str}).set_index("customer_id")
    scored.index = scored.index.astype(np.int64)
    scored = scored.sort_index()
    np.testing.assert_allclose(scored["frequency"], rfm["frequency"])
    np.testing.assert_allclose(scored["monetary_value"], rfm["monetary_value"])
    np.testing.assert_allclose(scored["clv"], expected["clv"], rtol=1e-6)
    # the library directly, with the same file: identical to the command line
    with pytest.warns(DataWarning, match="customer-days whose purchases were all returned"):
        result = score_file(model, path, tmp_path / "lib.csv", horizon=52, customer_id_col="CustomerID",
                            datetime_col="InvoiceDate", quantity_col="Quantity", unit_price_col="UnitPrice",
                            transaction_col="InvoiceNo", negative_amounts="net", dayfirst=True, chunk_rows=250)
    assert result["customers"] == len(rfm)


def test_cli_reads_semicolon_files_with_decimal_commas_only_when_told(tmp_path, capsys, cdnow_log):
    path = tmp_path / "export.csv"
    text = cdnow_log.assign(
        date=cdnow_log["date"].dt.strftime("%d/%m/%Y"), amount=cdnow_log["amount"].map(lambda v: f"{v:.2f}".replace(".", ","))
    ).to_csv(sep=";", index=False)
    path.write_text("\ufeff" + text.replace("customer_id;date;amount", " customer_id ; date ; amount "), encoding="utf-8")
    model = tmp_path / "m.joblib"
    assert main(["fit", "--input", str(path), "--output", str(model)]) == 1
    assert "read the file with --decimal ,;" in capsys.readouterr().err and not model.exists()
    assert main(["fit", "--input", str(path), "--sep", ";", "--decimal", ",", "--output", str(model)]) == 0
    # day-first dates (settled by the data), decimal commas, BOM and spaced header: the same model as from the frame
    from clv_predict import load_model

    expected = CLVModel().fit(rfm_summary(cdnow_log, customer_id_col="customer_id", datetime_col="date",
                                          monetary_value_col="amount", time_unit="W"))
    np.testing.assert_allclose(load_model(model).params_, expected.params_, rtol=1e-6)


@pytest.mark.parametrize(
    "content, line, fields",
    [
        # the first data row too long: pandas warns without saying where
        ("customer_id,date,amount\n1,1997-01-01,5,7\n1,1997-02-01,10\n", 2, 4),
        # a later row too long: pandas' tokenizer error, said in the same words
        ("customer_id,date,amount\n1,1997-01-01,5\n2,1997-02-01,10\n3,1997-02-02,4,4,4\n", 4, 5),
        # a quoted field over two lines before it: the line of the file, not the record's number
        ('customer_id,date,amount\n"a\nb",1997-01-01,5\n9,1997-02-02,1,2\n', 4, 4),
    ],
)
def test_a_row_with_more_fields_than_the_header_is_named_by_its_line(tmp_path, content, line, fields):
    from clv_predict import io as clv_io

    path = tmp_path / "long.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=rf"not valid CSV: line {line} has {fields} fields, the header 3"):
        list(clv_io.iter_transactions(path, ["customer_id", "date", "amount"], chunk_rows=1))
